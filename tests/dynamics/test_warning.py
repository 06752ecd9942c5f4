"""The online g23 warning: fires before a planted decline ends, silent on controls, no lookahead."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spectral_edge.dynamics.warning import (
    GapWarning,
    GapWarningConfig,
    false_alarm_rate,
    first_warning,
    lead_time,
    warning_report,
)
from spectral_edge.errors import SpectralEdgeError

GROK = 6000


def planted_run(seed, noise=0.25, scale=1e-6):
    """g23 per window (every 100 steps): flat, rises 30×, holds, declines 30× until GROK."""
    rng = np.random.default_rng(seed)
    clean = np.r_[
        np.full(10, 1.0),  # ..1000
        np.geomspace(1.0, 30.0, 11)[1:],  # ..2000
        np.full(10, 30.0),  # ..3000: peak ends here
        np.geomspace(30.0, 1.0, 31)[1:],  # ..6000: the decline ends at grokking
        np.full(20, 1.0),
    ]
    steps = 100 * np.arange(1, len(clean) + 1)
    return steps, scale * clean * np.exp(noise * rng.standard_normal(len(clean)))


def flat_control(seed, n=100, noise=0.3, scale=1e-6):
    rng = np.random.default_rng(seed)
    return 100 * np.arange(1, n + 1), scale * np.exp(noise * rng.standard_normal(n))


@pytest.mark.parametrize("seed", range(8))
def test_fires_before_the_planted_decline_ends(seed):
    steps, g = planted_run(seed)
    w = first_warning(steps, g)
    assert w is not None and w["kind"] == "warning"
    assert 3000 < w["step"] < GROK, "after the peak, before the decline ends (grokking)"
    assert lead_time(w["step"], GROK) > 0
    ev = w["evidence"]
    assert ev["quantity"] == "g23"
    assert ev["decline"] >= 2.0 and ev["rise"] >= 3.0
    assert ev["steps"][-1] == w["step"] and len(ev["values"]) == 3
    assert all(v <= ev["running_max"] / 2.0 for v in ev["values"])
    assert ev["thresholds"] == {
        "quantity": "g23",
        "smooth": 3,
        "baseline_windows": 5,
        "rise_factor": 3.0,
        "decline_factor": 2.0,
        "sustain": 3,
    }
    json.dumps(w)  # the evidence is plain data


@pytest.mark.parametrize("seed", range(10))
def test_silent_on_a_flat_noisy_control(seed):
    steps, g = flat_control(seed)
    assert first_warning(steps, g) is None


def test_silent_when_the_gap_rises_and_stays():
    steps, g = planted_run(0)
    g[30:] = g[25]  # no decline
    assert first_warning(steps, g) is None


def test_silent_when_the_gap_only_declines():
    # a decline without an earlier rise (e.g. large early updates) never arms the rule
    steps = 100 * np.arange(1, 61)
    assert first_warning(steps, np.geomspace(30.0, 1.0, 60)) is None


@pytest.mark.parametrize("seed", range(3))
def test_prefix_by_prefix_equals_the_whole(seed):
    steps, g = planted_run(seed)
    whole = first_warning(steps, g)
    assert whole is not None
    for n in range(1, len(g) + 1):
        part = first_warning(steps[:n], g[:n])
        if steps[n - 1] < whole["step"]:
            assert part is None
        else:
            assert part == whole


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(0.0, 100.0), min_size=1, max_size=40), st.integers(1, 40))
def test_no_lookahead_property(values, cut):
    steps = np.arange(len(values)) + 1
    cfg = GapWarningConfig(smooth=1, baseline_windows=2, sustain=2)
    whole = first_warning(steps, values, cfg)
    part = first_warning(steps[:cut], values[:cut], cfg)
    if whole is not None and whole["step"] <= cut:
        assert part == whole
    else:
        assert part is None


def test_fires_once_and_reset_rearms():
    steps, g = planted_run(1)
    warn = GapWarning()
    fired = [warn.update(s, {"g23": v}) for s, v in zip(steps.tolist(), g.tolist(), strict=True)]
    hits = [f for f in fired if f is not None]
    assert len(hits) == 1 and warn.warning == hits[0]
    warn.reset()
    assert warn.warning is None and warn.n_windows == 0 and not warn.armed


def test_rows_from_frames_records_and_numbers():
    steps, g = planted_run(2)
    frame = pd.DataFrame({"step": steps, "g23": g, "gap_ratio": 1.5})
    expected = first_warning(steps, g)
    warn = GapWarning()
    got = [warn.update(int(row["step"]), row) for _, row in frame.iterrows()]
    assert [x for x in got if x is not None] == [expected]
    warn = GapWarning()
    records = [SimpleNamespace(features={"g23": v}) for v in g]
    got = [warn.update(s, r) for s, r in zip(steps.tolist(), records, strict=True)]
    assert [x for x in got if x is not None] == [expected]
    with pytest.raises(SpectralEdgeError, match="no 'g23'"):
        GapWarning().update(100, {"gap": 1.0})
    other = GapWarning(quantity="gap_ratio")
    assert other.config.quantity == "gap_ratio"
    assert all(other.update(s, {"gap_ratio": 1.5}) is None for s in steps.tolist())


def test_missing_windows_are_skipped():
    steps, g = planted_run(3)
    expected = first_warning(steps, g)
    holes = g.copy()
    holes[[5, 17, 33]] = np.nan  # before the warning: skipped entirely
    assert first_warning(steps, holes)["step"] == expected["step"]


def test_state_dict_round_trip():
    steps, g = planted_run(4)
    whole = first_warning(steps, g)
    for cut in (3, 30, 44, len(g) - 5):
        first = GapWarning()
        out = [
            first.update(s, v) for s, v in zip(steps[:cut].tolist(), g[:cut].tolist(), strict=True)
        ]
        resumed = GapWarning()
        resumed.load_state_dict(json.loads(json.dumps(first.state_dict())))
        out += [
            resumed.update(s, v)
            for s, v in zip(steps[cut:].tolist(), g[cut:].tolist(), strict=True)
        ]
        assert [x for x in out if x is not None] == [whole]
    with pytest.raises(SpectralEdgeError, match="different configuration"):
        GapWarning(sustain=4).load_state_dict(first.state_dict())


def test_bad_configuration_and_steps():
    for bad in ({"smooth": 0}, {"sustain": 0}, {"rise_factor": 0.5}, {"decline_factor": np.inf}):
        with pytest.raises(SpectralEdgeError):
            GapWarning(**bad)
    warn = GapWarning(GapWarningConfig(), sustain=5)
    assert warn.config.sustain == 5
    warn.update(100, 1.0)
    with pytest.raises(SpectralEdgeError, match="steps must increase"):
        warn.update(100, 1.0)


def test_lead_false_alarms_and_report():
    assert lead_time(4000, GROK) == 2000
    assert lead_time(GROK + 100, GROK) == -100
    assert lead_time(None, GROK) is None and lead_time(4000, None) is None
    controls = [first_warning(*flat_control(s)) for s in range(5)]
    assert false_alarm_rate([None if c is None else c["step"] for c in controls]) == 0.0
    assert false_alarm_rate([None, 100, 9000], until=5000) == pytest.approx(1 / 3)
    with pytest.raises(SpectralEdgeError, match="no control runs"):
        false_alarm_rate([])
    runs = [(first_warning(*planted_run(s))["step"], GROK) for s in range(3)]
    rep = warning_report(runs + [(6500, GROK), (None, GROK), (3000, None)], [None, None, 4000])
    assert rep["n_runs"] == 6 and rep["early"] == 3
    assert rep["after_the_fact"] == 1 and rep["missed"] == 1
    assert rep["not_grokked"] == 1 and rep["warned_not_grokked"] == 1
    assert rep["false_alarm_rate"] == pytest.approx(1 / 3) and rep["n_controls"] == 3
    assert rep["min_lead"] > 0 and rep["median_lead"] >= rep["min_lead"]
    assert warning_report([])["false_alarm_rate"] is None
