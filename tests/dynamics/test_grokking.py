"""Grokking step, g23 decline and k* at grokking, run against control."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from spectral_edge.dynamics.grokking import (
    compare_with_control,
    gap_decline,
    grokking_step,
    grokking_summary,
    k_star_at,
    shows_gap_dynamics,
)
from spectral_edge.dynamics.summary import summary_from_frames
from spectral_edge.errors import SpectralEdgeError

EVALS = np.arange(1, 41) * 100


def sigmoid_acc(center=2500.0, width=150.0, floor=0.05):
    return floor + (1 - floor) / (1 + np.exp(-(EVALS - center) / width))


def test_thresholds_on_a_planted_accuracy_curve():
    acc = sigmoid_acc()
    # brute force: first eval at or above the threshold
    for thr in (0.90, 0.95, 0.98):
        expected = int(EVALS[np.argmax(acc >= thr)])
        assert grokking_step(EVALS, acc, threshold=thr) == expected
    steps = [grokking_step(EVALS, acc, threshold=t) for t in (0.90, 0.95, 0.98)]
    assert steps == sorted(steps) and steps[0] < steps[-1]
    assert 2500 < steps[0] < 3200


def test_sustain_three_skips_a_blip():
    acc = np.full(len(EVALS), 0.5)
    acc[10] = 0.985  # one lucky evaluation
    acc[11] = 0.97
    acc[20:22] = 0.99  # two in a row, then a dip
    acc[22] = 0.97
    acc[30:] = 0.99  # sustained from here
    assert grokking_step(EVALS, acc, threshold=0.98) == EVALS[10]
    assert grokking_step(EVALS, acc, threshold=0.98, sustain=2) == EVALS[20]
    assert grokking_step(EVALS, acc, threshold=0.98, sustain=3) == EVALS[30]
    assert grokking_step(EVALS, acc, threshold=0.95, sustain=3) == EVALS[20]
    assert grokking_step(EVALS, acc, threshold=0.90, sustain=3) == EVALS[20]


def test_never_and_unconfirmed_are_none():
    acc = np.full(10, 0.5)
    assert grokking_step(EVALS[:10], acc) is None
    acc[-2:] = 0.99  # only two evaluations at the end: not sustained for 3
    assert grokking_step(EVALS[:10], acc, sustain=3) is None
    assert grokking_step(EVALS[:10], acc, sustain=2) == EVALS[8]
    assert grokking_step(EVALS[:2], [0.99, 0.99], sustain=3) is None


def test_nan_breaks_a_sustained_run():
    acc = np.array([0.5, 0.99, np.nan, 0.99, 0.99, 0.99])
    assert grokking_step(np.arange(6), acc, sustain=3) == 3


def test_bad_accuracy_input():
    with pytest.raises(SpectralEdgeError, match="no test accuracy"):
        grokking_step([], [])
    with pytest.raises(SpectralEdgeError, match="no test accuracy"):
        grokking_step([1, 2], [np.nan, np.nan])
    with pytest.raises(SpectralEdgeError, match="percentages"):
        grokking_step([1, 2], [50.0, 97.0])
    with pytest.raises(SpectralEdgeError, match="threshold"):
        grokking_step([1, 2], [0.5, 0.9], threshold=0.0)
    with pytest.raises(SpectralEdgeError, match="sustain"):
        grokking_step([1, 2], [0.5, 0.9], sustain=0)
    with pytest.raises(SpectralEdgeError, match="increasing"):
        grokking_step([2, 1], [0.5, 0.9])


def planted_g23(seed, peak=50.0, at_grok=2.0, noise=0.1):
    """Windows every 100 steps; g23 rises 1 → peak, holds, declines to at_grok by step 3000."""
    rng = np.random.default_rng(seed)
    clean = np.r_[
        np.geomspace(1.0, peak, 10),  # steps 100..1000
        np.full(5, peak),  # ..1500
        np.geomspace(peak, at_grok, 16)[1:],  # ..3000: the decline ends at the grokking step
        np.full(10, at_grok),
    ]
    steps = 100 * np.arange(1, len(clean) + 1)
    return steps, clean * np.exp(noise * rng.standard_normal(len(clean)))


def test_decline_on_planted_g23():
    steps, g = planted_g23(0, noise=0.0)
    assert gap_decline(steps, g, 3000) == pytest.approx(25.0)
    assert gap_decline(steps, g, 3050) == pytest.approx(25.0)  # last window ≤ grok step
    assert gap_decline(steps, g, 1000) == pytest.approx(1.0)  # still rising: no decline
    for seed in range(5):
        steps, g = planted_g23(seed)
        d = gap_decline(steps, g, 3000)
        assert 15 < d < 45 and shows_gap_dynamics(d)
    flat = np.exp(0.1 * np.random.default_rng(9).standard_normal(40))
    assert not shows_gap_dynamics(gap_decline(steps[:40], flat, 3000))


def test_decline_edge_cases():
    assert gap_decline([1, 2, 3], [2.0, np.nan, np.nan], 3) == 1.0  # NaNs skipped
    assert gap_decline([1, 2], [2.0, 0.0], 2) == math.inf
    assert math.isnan(gap_decline([1, 2], [0.0, 0.0], 2))
    with pytest.raises(SpectralEdgeError, match="did not grok"):
        gap_decline([1, 2], [2.0, 1.0], None)
    with pytest.raises(SpectralEdgeError, match="at or before step 5"):
        gap_decline([10, 20], [2.0, 1.0], 5)
    assert shows_gap_dynamics(None) is None and shows_gap_dynamics(float("nan")) is None
    assert shows_gap_dynamics(1.5) is False and shows_gap_dynamics(1.51) is True


def test_k_star_at():
    steps = [100, 200, 300, 400]
    assert k_star_at(steps, [3, 2, 1, 1], 299) == 2
    assert k_star_at(steps, [3, 2, 1, 1], 400) == 1
    assert k_star_at(steps, [3.0, np.nan, 1, 1], 250) == 3
    with pytest.raises(SpectralEdgeError):
        k_star_at(steps, [3, 2, 1, 1], 50)


def test_summaries_and_control_comparison():
    wsteps, g = planted_g23(1)
    kstar = np.where(wsteps < 2000, 2, 1)
    run = grokking_summary(EVALS, sigmoid_acc(2850.0, 40.0), wsteps, g, kstar, label="wd=1")
    assert run["grok_step"] == 3000 and run["measured_at"] == 3000
    assert run["reference"] == "own grokking step"
    assert run["shows_gap_dynamics"] and run["k_star_at_grok"] == 1
    ctl_g = 5.0 * np.exp(0.1 * np.random.default_rng(3).standard_normal(len(wsteps)))
    ctl_acc = np.full(len(EVALS), 0.3)
    ctl = grokking_summary(EVALS, ctl_acc, wsteps, ctl_g, np.full(len(wsteps), 2))
    assert ctl["grok_step"] is None and ctl["decline"] is None
    assert ctl["shows_gap_dynamics"] is None
    ctl = grokking_summary(
        EVALS, ctl_acc, wsteps, ctl_g, np.full(len(wsteps), 2), reference_step=run["grok_step"]
    )
    assert ctl["reference"] == "reference step" and ctl["shows_gap_dynamics"] is False
    cmp = compare_with_control(run, ctl)
    assert cmp["separates"] is True and cmp["same_measurement_step"] is True
    assert cmp["run_grokked"] and not cmp["control_grokked"] and cmp["grok_delay"] is None
    assert cmp["decline_ratio"] == pytest.approx(run["decline"] / ctl["decline"])
    assert cmp["k_star_at_grok"] == (1, 2)
    both = compare_with_control(run, run)
    assert both["separates"] is False and both["grok_delay"] == 0
    with pytest.raises(SpectralEdgeError, match="lacks"):
        compare_with_control(run, {"grok_step": None})


def test_summary_from_frames():
    wsteps, g = planted_g23(2)
    windows = pd.DataFrame({"step": wsteps, "g23": g, "k_star": 1})
    evals = pd.DataFrame({"step": EVALS, "test_acc": sigmoid_acc(2850.0, 40.0)})
    evals.loc[3, "test_acc"] = np.nan  # a missing evaluation is dropped
    s = summary_from_frames(windows, evals, threshold=0.98, sustain=3)
    assert s["grok_step"] == grokking_step(EVALS, sigmoid_acc(2850.0, 40.0), 0.98, 3)
    assert s["threshold"] == 0.98 and s["sustain"] == 3 and s["k_star_at_grok"] == 1
    with pytest.raises(SpectralEdgeError, match="without accuracy"):
        summary_from_frames(windows, evals.drop(columns="test_acc"))
    with pytest.raises(SpectralEdgeError, match="g23"):
        summary_from_frames(windows.drop(columns="g23"), evals)
