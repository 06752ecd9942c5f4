"""The online early-warning rule: memorisation gating, baseline, sustain, the peak-decline and
calendar forms, resume, and parity with an independent vectorised implementation."""

import math

import numpy as np
import pytest

from spectral_edge.dynamics._series import rolling_median
from spectral_edge.dynamics.early_warning import (
    EarlyWarning,
    WarningRule,
    memorised_step,
    replay,
    signal_value,
)
from spectral_edge.errors import SpectralEdgeError


def _metrics(steps, train_acc, **series):
    return [
        (s, {"train_acc": a, **{k: v[i] for k, v in series.items()}})
        for i, (s, a) in enumerate(zip(steps, train_acc, strict=True))
    ]


def test_the_memorisation_burst_is_never_read():
    """A huge test-loss spike before memorisation settles (the burst) cannot set the baseline:
    the rule reads only from t_mem on, and fires on the later fall."""
    steps = list(range(0, 1500, 100))
    acc = [0.1, 0.5, 0.9] + [1.0] * 12
    loss = [4, 50, 9] + [8, 8, 8, 8, 8, 8, 4, 3, 2, 1, 1, 1]
    w = replay(
        WarningRule("test_loss", "fall", math.log(2)), [], _metrics(steps, acc, test_loss=loss)
    )
    assert w["evidence"]["t_mem"] == 300
    assert w["evidence"]["baseline"] == 8.0 and w["evidence"]["baseline_steps"] == [300, 400, 500]
    # smoothed: ... 900 → median(8, 8, 4) = 8, 1000 → 4, 1100 → 3: two hits at 1000 and 1100
    assert w["step"] == 1100 and w["evidence"]["steps"] == [1000, 1100]


def test_a_window_counts_only_once_its_oldest_update_follows_memorisation():
    rule = WarningRule("r23", "rise", math.log(2), smooth=1, baseline=1, sustain=1)
    warn = EarlyWarning(rule, window=3, every=10)
    assert warn.observe_metrics(20, {"train_acc": 1.0}) is None and warn.t_mem == 20
    assert warn.observe_window(40, {"r23": 100.0}) is None  # holds updates from 10 on
    assert warn.observe_window(50, {"r23": 1.0}) is None  # oldest update after 20: baseline 1
    fired = warn.observe_window(60, {"r23": 2.0})
    assert fired["step"] == 60 and fired["evidence"]["baseline"] == 1.0


def test_sustain_needs_consecutive_points():
    rule = WarningRule("test_acc", "rise", 0.2, smooth=1, baseline=1, sustain=2)
    steps = list(range(6))
    acc = [0.3, 0.5, 0.3, 0.5, 0.6, 0.3]
    w = replay(rule, [], _metrics(steps, [1.0] * 6, test_acc=acc))
    assert w["step"] == 4  # 1 alone and 3 alone do not fire; 3 and 4 do


def test_peak_decline_needs_a_rise_after_the_baseline():
    """A control whose g23 only falls after memorisation never arms (the old rule fired on it);
    a run whose g23 rises and then falls does."""
    rule = WarningRule("g23", kind="peak_decline", rise=2.0, decline=2.0, smooth=1, sustain=1)
    falling = [10, 9, 8, 6, 4, 2, 1, 0.5]
    rising = [1, 1, 1, 3, 5, 4, 2, 1]
    steps = [100 * i for i in range(1, 9)]
    windows = [(s, {"g23": v}) for s, v in zip(steps, falling, strict=True)]
    assert replay(rule, windows, [(0, {"train_acc": 1.0})], window=1, every=1) is None
    windows = [(s, {"g23": v}) for s, v in zip(steps, rising, strict=True)]
    w = replay(rule, windows, [(0, {"train_acc": 1.0})], window=1, every=1)
    assert w["step"] == 700 and w["evidence"]["peak"] == 5.0 and w["evidence"]["decline"] == 2.5


def test_calendar_fires_a_fixed_number_of_evaluations_after_memorisation():
    rule = WarningRule("test_acc", kind="calendar", delay=2)
    w = replay(rule, [], _metrics([0, 10, 20, 30, 40, 50], [0.2, 0.99, 1, 1, 1, 1]))
    assert w["step"] == 30


def test_missing_and_non_positive_points_are_skipped():
    rule = WarningRule("test_loss", "fall", math.log(2), smooth=1, baseline=1, sustain=1)
    loss = [4.0, math.nan, 0.0, -1.0, 2.0]
    w = replay(rule, [], _metrics(range(5), [1.0] * 5, test_loss=loss))
    assert w["step"] == 4 and w["evidence"]["baseline"] == 4.0


def test_derived_signals():
    sigma = [3.0, 2.0, 1.0]
    row = {"w": 3, **{f"sigma_{j + 1}": s for j, s in enumerate(sigma)}, "rotation_1": -0.5}
    lam = np.square(sigma)
    assert signal_value("g23_share", row) == pytest.approx((4 - 1) / 14)
    p = lam / lam.sum()
    assert signal_value("effective_rank", row) == pytest.approx(math.exp(-(p * np.log(p)).sum()))
    assert signal_value("rotation_angle", row) == pytest.approx(math.acos(0.5))
    assert math.isnan(signal_value("test_loss", row))


def test_bad_rules_are_clear_errors():
    with pytest.raises(SpectralEdgeError, match="unknown warning signal"):
        WarningRule("nope").validate()
    with pytest.raises(SpectralEdgeError, match="direction"):
        WarningRule(direction="up").validate()
    with pytest.raises(SpectralEdgeError, match="sustain"):
        WarningRule(sustain=0).validate()
    with pytest.raises(SpectralEdgeError, match="window W"):
        EarlyWarning(WarningRule("r23"))


def _vectorised(rule, steps, acc, values):
    """An independent implementation over whole arrays (metric signals only)."""
    t_mem = memorised_step(steps, acc, rule.settle_accuracy)
    if t_mem is None:
        return None
    s = np.asarray(steps)
    v = np.asarray(values, dtype=float)
    keep = (s >= t_mem) & np.isfinite(v) & (v > 0)
    s, v = s[keep], v[keep]
    if len(v) <= rule.baseline:
        return None
    sm = rolling_median(v, rule.smooth)
    base = np.median(sm[: rule.baseline])
    d = np.log(sm) - np.log(base)
    d = d if rule.direction == "rise" else -d
    hit = d >= rule.threshold - 1e-12 * max(1.0, rule.threshold)
    hit[: rule.baseline] = False
    run = 0
    for i, h in enumerate(hit):
        run = run + 1 if h else 0
        if run >= rule.sustain:
            return int(s[i])
    return None


@pytest.mark.parametrize("seed", range(40))
def test_online_rule_equals_an_independent_vectorised_one(seed):
    rng = np.random.default_rng(seed)
    n = 40
    steps = np.arange(n) * 10
    acc = np.clip(np.linspace(0, 1.3, n) + rng.normal(0, 0.05, n), 0, 1)
    values = np.exp(np.cumsum(rng.normal(0, 0.3, n)))
    values[rng.random(n) < 0.1] = np.nan
    rule = WarningRule(
        "weight_norm",
        direction=["rise", "fall"][seed % 2],
        threshold=float(rng.choice([0.1, 0.3, 0.7])),
        smooth=int(rng.integers(1, 4)),
        baseline=int(rng.integers(1, 4)),
        sustain=int(rng.integers(1, 3)),
    )
    got = replay(rule, [], _metrics(steps.tolist(), acc.tolist(), weight_norm=values.tolist()))
    want = _vectorised(rule, steps.tolist(), acc.tolist(), values.tolist())
    assert (None if got is None else got["step"]) == want


def test_resume_mid_stream_is_exact():
    rows = _metrics(list(range(30)), [1.0] * 30, test_loss=np.exp(-np.arange(30) / 8).tolist())
    rule = WarningRule("test_loss", "fall", math.log(3))
    whole = replay(rule, [], rows)
    first = EarlyWarning(rule)
    for step, row in rows[:12]:
        first.observe_metrics(step, row)
    second = EarlyWarning(rule)
    second.load_state_dict(first.state_dict())
    fired = None
    for step, row in rows[12:]:
        fired = fired or second.observe_metrics(step, row)
    assert fired == whole and whole is not None
    with pytest.raises(SpectralEdgeError, match="different rule"):
        EarlyWarning(WarningRule("test_loss", "rise")).load_state_dict(first.state_dict())
