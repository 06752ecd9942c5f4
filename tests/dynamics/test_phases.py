"""Phase detection on planted series: recovery under noise, short input, τ sensitivity, online."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spectral_edge.dynamics.phases import (
    LABELS,
    SENSITIVITY_TAUS,
    PhaseTracker,
    collapse_sensitivity,
    detect_phases,
    detect_phases_frame,
    min_windows,
)
from spectral_edge.errors import SpectralEdgeError

TAU = 1.20


def planted(
    seed=None,
    *,
    noise=0.0,
    n_before=20,
    n_rise=15,
    n_plateau=40,
    n_fall=10,
    n_after=25,
    low=1.0,
    high=2.0,
    final=None,
    spikes=(),
):
    """A clean three-phase R(t) plus Gaussian noise and isolated spikes; steps every 100."""
    clean = np.r_[
        np.full(n_before, low),
        np.linspace(low, high, n_rise + 1)[1:],
        np.full(n_plateau, high),
        np.linspace(high, low if final is None else final, n_fall + 1)[1:],
        np.full(n_after, low if final is None else final),
    ]
    x = clean.copy()
    if noise:
        x += np.random.default_rng(seed).normal(0.0, noise, size=len(x))
    for i in spikes:
        x[i] += 3.0
    steps = 100 * np.arange(1, len(x) + 1)
    last_peak = int(np.flatnonzero(clean == clean.max())[-1])
    band = np.flatnonzero(clean >= 0.85 * high)
    fall = np.flatnonzero(clean[last_peak:] < TAU)
    truth = {
        "plateau_start": int(band[0]),
        "plateau_end": int(band[-1]),
        "collapse": last_peak + int(fall[0]) if len(fall) else None,
        "rise_start": int(np.argmax(clean >= TAU)),
    }
    return steps, x, truth


def index_of(steps, step):
    return int(np.flatnonzero(steps == step)[0])


# -- offline ---------------------------------------------------------------------------------


def test_clean_series_exact_without_smoothing():
    steps, x, t = planted()
    res = detect_phases(steps, x, smooth=1)
    assert res.found and res.collapsed
    assert index_of(steps, res.plateau_start_step) == t["plateau_start"]
    assert index_of(steps, res.plateau_end_step) == t["plateau_end"]
    assert index_of(steps, res.collapse_step) == t["collapse"]
    assert index_of(steps, res.rise_start_step) == t["rise_start"]
    assert res.peak_value == 2.0


@pytest.mark.parametrize("seed", range(6))
def test_noisy_planted_series_recovered(seed):
    # noise 0.05 on a plateau of 2.0 plus isolated spikes of +3 (before, plateau, after)
    steps, x, t = planted(seed, noise=0.05, spikes=(5, 12, 60, 100))
    centred = detect_phases(steps, x, centered=True)
    causal = detect_phases(steps, x)
    # a spike of +3 must not become the peak: the median removes it
    assert 2.0 <= centred.peak_value < 2.2
    lag = (5 - 1) // 2
    c0, c1 = index_of(steps, centred.collapse_step), index_of(steps, causal.collapse_step)
    assert abs(c0 - t["collapse"]) <= 2
    assert -1 <= c1 - t["collapse"] <= lag + 2
    assert abs(index_of(steps, centred.plateau_start_step) - t["plateau_start"]) <= 3
    assert abs(index_of(steps, centred.plateau_end_step) - t["plateau_end"]) <= 3
    assert abs(index_of(steps, centred.rise_start_step) - t["rise_start"]) <= 3
    for res in (centred, causal):
        order = [LABELS.index(lab) for lab in res.labels]
        assert order == sorted(order), "labels must run before → rise → plateau → collapse → after"
        assert set(res.labels) == set(LABELS)


def test_raw_spike_is_the_peak_without_smoothing_only():
    steps, x, _ = planted(spikes=(5,))
    assert detect_phases(steps, x, smooth=1).peak_step == steps[5]
    assert detect_phases(steps, x).peak_value == 2.0


def test_short_series_errors_with_clear_message():
    need = min_windows(5)
    assert need == 10 and min_windows(1) == 8 and min_windows(7) == 14
    x = np.r_[1.0, 1.5, 2.0, 2.0, 2.0, 1.5, 1.0, 1.0, 1.0, 1.0]
    detect_phases(np.arange(need), x[:need])  # exactly the minimum is fine
    with pytest.raises(SpectralEdgeError, match="too short.*need at least 10"):
        detect_phases(np.arange(need - 1), x[: need - 1])
    with pytest.raises(SpectralEdgeError, match="too short"):
        detect_phases([], [])
    # NaN windows do not count towards the minimum
    y = x.copy()
    y[3] = np.nan
    with pytest.raises(SpectralEdgeError, match="9 finite windows"):
        detect_phases(np.arange(10), y)


def test_bad_input_errors():
    steps, x, _ = planted()
    with pytest.raises(SpectralEdgeError, match="different lengths"):
        detect_phases(steps[:-1], x)
    with pytest.raises(SpectralEdgeError, match="strictly increasing"):
        detect_phases(steps[::-1], x)
    y = x.copy()
    y[50] = np.inf
    with pytest.raises(SpectralEdgeError, match="inf"):
        detect_phases(steps, y)
    for kwargs in ({"plateau_frac": 0.0}, {"plateau_frac": 1.5}, {"smooth": 0}, {"tau": np.nan}):
        with pytest.raises(SpectralEdgeError):
            detect_phases(steps, x, **kwargs)


def test_pattern_absent_when_the_peak_stays_below_tau():
    steps, x, _ = planted(high=1.15)
    res = detect_phases(steps, x)
    assert not res.found and not res.collapsed
    assert set(res.labels) == {"before"}
    assert res.peak_value == pytest.approx(1.15)
    assert res.plateau_start_step is None and res.collapse_step is None


def test_no_collapse_leaves_after_the_plateau():
    steps, x, _ = planted(n_fall=4, n_after=10, low=1.5)  # falls to 1.5 > τ
    res = detect_phases(steps, x, smooth=1)
    assert res.found and not res.collapsed
    assert res.labels[-1] == "after" and "collapse" not in set(res.labels)


def test_collapse_inside_a_low_plateau_band():
    # peak 1.3: the band 0.85·1.3 < τ, so the collapse step lies inside the band
    x = np.r_[np.full(5, 1.0), 1.25, 1.3, 1.3, 1.18, 1.14, 1.12, np.full(5, 1.0)]
    res = detect_phases(np.arange(len(x)), x, smooth=1)
    assert res.collapse_step == 8
    assert (res.plateau_start_step, res.plateau_end_step) == (5, 7)
    assert res.rise_start_step is None  # 1.25 is already inside the band 0.85·1.3
    assert list(res.labels[4:10]) == [
        "before",
        "plateau",
        "plateau",
        "plateau",
        "collapse",
        "after",
    ]


def test_missing_windows_are_skipped():
    steps, x, t = planted(3, noise=0.05)
    y = x.copy()
    y[[30, 60, 61, 90]] = np.nan
    res = detect_phases(steps, y, centered=True)
    assert abs(index_of(steps, res.collapse_step) - t["collapse"]) <= 2
    assert np.all(np.isfinite(res.smoothed))


@pytest.mark.parametrize("seed", range(4))
def test_sensitivity_higher_tau_collapses_no_later(seed):
    steps, x, _ = planted(seed, noise=0.04)
    out = collapse_sensitivity(steps, x)
    assert list(out) == list(SENSITIVITY_TAUS)
    found = [out[t] for t in sorted(out)]
    assert all(v is not None for v in found)
    assert found == sorted(found, reverse=True)
    assert out[1.2] == detect_phases(steps, x).collapse_step


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(0.8, 3.0), min_size=10, max_size=40),
    st.sampled_from([1, 3, 5]),
)
def test_sensitivity_ordering_property(values, smooth):
    steps = np.arange(len(values))
    out = collapse_sensitivity(steps, values, taus=(1.1, 1.2, 1.3, 1.4), smooth=smooth)
    peak = detect_phases(steps, values, smooth=smooth).peak_value
    taus = sorted(out)
    for lo, hi in zip(taus, taus[1:], strict=False):
        if out[lo] is not None and peak >= hi:
            assert out[hi] is not None and out[hi] <= out[lo]


def test_frame_and_serialisation():
    steps, x, _ = planted(1, noise=0.05)
    frame = pd.DataFrame({"step": steps, "gap_ratio": x, "r23": x * 1.1})
    res = detect_phases_frame(frame)
    assert res.definitions["quantity"] == "gap_ratio"
    assert res.collapse_step == detect_phases(steps, x).collapse_step
    assert detect_phases_frame(frame, "r23").peak_value > res.peak_value
    d = json.loads(json.dumps(res.to_dict()))
    assert d["collapse_step"] == res.collapse_step and d["definitions"]["tau"] == 1.2
    table = res.to_frame()
    assert list(table.columns) == ["step", "value", "smoothed", "label"]
    assert len(table) == len(steps)
    with pytest.raises(SpectralEdgeError, match="no column 'g23'"):
        detect_phases_frame(frame, "g23")


# -- online ----------------------------------------------------------------------------------


def feed(tracker, steps, x):
    labels, events = [], []
    for s, v in zip(steps.tolist(), x.tolist(), strict=True):
        label, evs = tracker.update(s, v)
        labels.append(label)
        events.extend(evs)
    return labels, events


SHAPES = [
    {},
    {"n_before": 8, "n_rise": 4, "n_plateau": 12, "n_fall": 3, "n_after": 6},
    {"n_rise": 30, "n_fall": 25, "high": 3.0},
    {"n_before": 0, "n_rise": 10, "low": 1.3, "final": 1.0},  # starts above τ: no "before"
]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("smooth", [1, 3, 5])
def test_online_matches_offline_on_clean_series(shape, smooth):
    steps, x, _ = planted(**shape)
    offline = detect_phases(steps, x, smooth=smooth)
    tracker = PhaseTracker(smooth=smooth)
    labels, events = feed(tracker, steps, x)
    kinds = [e["kind"] for e in events]
    assert kinds == ["rise", "plateau", "collapse"]
    rise, plateau, collapse = events
    assert rise["evidence"]["start_step"] == (offline.rise_start_step or offline.plateau_start_step)
    assert plateau["evidence"]["start_step"] == offline.plateau_start_step
    assert collapse["step"] == offline.collapse_step
    assert collapse["evidence"]["collapse_step"] == offline.collapse_step
    assert collapse["evidence"]["start_step"] == offline.phase_starts()["collapse"]
    assert collapse["evidence"]["peak_step"] == offline.peak_step
    # announcements never precede the phase they announce, and labels only move forward
    assert plateau["step"] >= plateau["evidence"]["start_step"]
    order = [LABELS.index(lab) for lab in labels]
    assert order == sorted(order)
    assert labels[-1] == "after"
    np.testing.assert_array_equal(tracker.result().labels, offline.labels)
    for e in events:
        assert set(e) == {"step", "kind", "message", "evidence"}


@pytest.mark.parametrize("seed", range(3))
def test_tracker_result_equals_offline_on_every_prefix(seed):
    # with the causal smoother the tracker's view of a prefix is exactly detect_phases on it,
    # noise or not
    steps, x, _ = planted(seed, noise=0.08, n_before=10, n_plateau=20, n_after=10)
    tracker = PhaseTracker()
    need = min_windows(5)
    for i, (s, v) in enumerate(zip(steps.tolist(), x.tolist(), strict=True), start=1):
        tracker.update(s, v)
        if i < need:
            with pytest.raises(SpectralEdgeError):
                tracker.result()
            continue
        online = tracker.result()
        offline = detect_phases(steps[:i], x[:i], quantity="gap_ratio")
        np.testing.assert_array_equal(online.smoothed, offline.smoothed)
        np.testing.assert_array_equal(online.labels, offline.labels)
        assert online.to_dict() == offline.to_dict()


def test_tracker_waits_for_the_minimum_then_catches_up():
    steps, x, _ = planted(n_before=0, n_rise=2, n_plateau=12, low=1.3)
    tracker = PhaseTracker(smooth=1, patience=2)
    out = [tracker.update(s, v) for s, v in zip(steps[:8].tolist(), x[:8].tolist(), strict=True)]
    assert [label for label, _ in out[:7]] == ["before"] * 7
    label, events = out[7]
    assert label == "plateau" and [e["kind"] for e in events] == ["rise", "plateau"]
    assert events[1]["evidence"]["confirmed_by"] == "patience"


def test_new_cycle_after_a_collapse_follows_the_global_peak():
    small = planted(n_before=10, n_plateau=10, n_after=5, high=1.6)[1]
    big = planted(n_before=5, n_plateau=20, n_after=10, high=2.5)[1]
    x = np.r_[small, big]
    steps = 100 * np.arange(1, len(x) + 1)
    tracker = PhaseTracker()
    _, events = feed(tracker, steps, x)
    kinds = [e["kind"] for e in events]
    assert kinds == ["rise", "plateau", "collapse"] * 2
    assert events[3]["evidence"]["new_cycle"] is True
    offline = detect_phases(steps, x)
    assert events[-1]["evidence"]["collapse_step"] == offline.collapse_step
    np.testing.assert_array_equal(tracker.result().labels, offline.labels)


def test_tracker_state_dict_round_trip():
    steps, x, _ = planted(2, noise=0.05)
    whole = PhaseTracker()
    labels_whole, events_whole = feed(whole, steps, x)
    half = len(x) // 2
    first = PhaseTracker()
    labels_a, events_a = feed(first, steps[:half], x[:half])
    state = json.loads(json.dumps(first.state_dict()))
    resumed = PhaseTracker()
    resumed.load_state_dict(state)
    labels_b, events_b = feed(resumed, steps[half:], x[half:])
    assert labels_a + labels_b == labels_whole
    assert events_a + events_b == events_whole
    assert resumed.events == whole.events
    np.testing.assert_array_equal(resumed.result().labels, whole.result().labels)
    with pytest.raises(SpectralEdgeError, match="different configuration"):
        PhaseTracker(tau=1.3).load_state_dict(state)


def test_tracker_bad_input():
    tracker = PhaseTracker()
    tracker.update(100, 1.0)
    with pytest.raises(SpectralEdgeError, match="steps must increase"):
        tracker.update(100, 1.0)
    with pytest.raises(SpectralEdgeError, match="inf"):
        tracker.update(200, np.inf)
    with pytest.raises(SpectralEdgeError):
        PhaseTracker(patience=-1)
    tracker.reset()
    assert tracker.n_windows == 0 and tracker.phase == "before"
