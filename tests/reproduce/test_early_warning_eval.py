"""The early-warning evaluation on planted runs: tuning finds the planted rule, scores count
in-time warnings and false alarms, the key test recovers a planted slope."""

import math

import pytest

from spectral_edge.reproduce.early_warning import (
    RunSeries,
    candidate_rules,
    key_test,
    outcome,
    score,
    tune,
    wilson,
    with_llc,
)


def _run(name, t_grok, *, wd=True, t_mem=200, fall_at=None, every=100, steps=4000):
    """Evaluations every 100 steps: train accuracy 1 from t_mem; test loss 5 until ``fall_at``,
    then 1; test accuracy 1 from t_grok."""
    metrics = []
    for s in range(0, steps + 1, every):
        metrics.append(
            (
                s,
                {
                    "train_acc": 1.0 if s >= t_mem else 0.5,
                    "test_loss": 1.0 if fall_at is not None and s >= fall_at else 5.0,
                    "test_acc": 1.0 if t_grok is not None and s >= t_grok else 0.01,
                    "weight_norm": 10.0,
                },
            )
        )
    tags = {"family": "f", "wd": wd, "role": "tune", "seed": 0}
    return RunSeries(name, tags, 10, every, steps, [], metrics, t_grok, t_mem)


def test_in_time_late_and_false_alarm_are_told_apart():
    rule = [r for r in candidate_rules("test_loss") if r.direction == "fall"][3]  # 2x
    runs = [
        _run("early", 2000, fall_at=1500),
        _run("late", 2000, fall_at=2500),
        _run("ctl-silent", None, wd=False),
        _run("ctl-fires", None, wd=False, fall_at=3000),
        _run("wd-no-grok", None, wd=True),
    ]
    s = score("test_loss", rule, runs)
    by = {o["run"]: o for o in s["outcomes"]}
    # smoothed (median of 3) loss reaches 1 at 1600; sustained for 2 points at 1700
    assert by["early"]["in_time"] and by["early"]["t_warn"] == 1700
    assert by["early"]["lead"] == 300 and by["early"]["lead_fraction"] == pytest.approx(300 / 1800)
    assert not by["late"]["in_time"] and by["late"]["lead"] is None
    assert (s["in_time"], s["n_grokking"], s["fired"], s["n_controls"]) == (1, 2, 1, 2)
    assert s["not_grokked"] == 1 and s["j"] == pytest.approx(0.0)


def test_tuning_picks_the_planted_direction_and_the_larger_threshold_on_ties():
    runs = [_run(f"g{i}", 2000 + 200 * i, fall_at=1200 + 200 * i) for i in range(3)]
    runs += [_run(f"c{i}", None, wd=False) for i in range(3)]
    chosen = tune(runs, ["test_loss", "weight_norm"])["test_loss"]
    assert chosen["rule"]["direction"] == "fall"
    assert chosen["j"] == 1.0
    assert chosen["rule"]["threshold"] == pytest.approx(math.log(5))  # 5 → 1: factors ≤ 5 tie
    flat = tune(runs, ["weight_norm"])["weight_norm"]
    assert flat["j"] == 0.0 and flat["in_time"] == 0


def test_the_commutator_onset_rule_is_the_specs():
    run = _run("g", 2000)
    for s, row in run.metrics:
        row["commutator_defect"] = 1.0 if s < 1200 else 40.0
    o = outcome(
        "commutator onset (a priori)", candidate_rules("commutator onset (a priori)")[0], run
    )
    assert o["t_warn"] == 1200 and o["in_time"]


def test_key_test_recovers_a_planted_slope():
    outs = [
        {"t_grok": g, "t_warn": g - 300, "t_mem": 200, "in_time": True}
        for g in range(1000, 3000, 200)
    ]
    kt = key_test(outs)
    assert kt["slope"] == pytest.approx(1.0) and kt["slope_ci"][0] == pytest.approx(1.0)
    fixed = [
        {"t_grok": g, "t_warn": 900, "t_mem": 200, "in_time": True} for g in range(1000, 3000, 200)
    ]
    assert key_test(fixed)["slope"] == pytest.approx(0.0, abs=1e-12)


def test_wilson_interval_against_the_formula_and_edges():
    lo, hi = wilson(0, 10)
    assert lo == 0.0 and hi == pytest.approx(0.2775, abs=1e-4)
    lo, hi = wilson(10, 10)
    assert hi == 1.0 and lo == pytest.approx(0.7225, abs=1e-4)
    assert wilson(0, 0) is None


def test_the_monitors_default_is_the_tuned_spectral_rule():
    """docs/early-warning.md: the default warning is the spectral candidate with the best tuning
    J, as recorded in docs/early-warning/rules.json."""
    import json
    from dataclasses import asdict
    from pathlib import Path

    from spectral_edge.dynamics.early_warning import DEFAULT_RULE
    from spectral_edge.reproduce.early_warning import SPECTRAL

    path = Path(__file__).parents[2] / "docs" / "early-warning" / "rules.json"
    rules = json.loads(path.read_text())["rules"]
    best = max(SPECTRAL, key=lambda c: rules[c]["tuning"]["j"])
    assert asdict(DEFAULT_RULE) == rules[best]["rule"]


def test_the_llc_is_tuned_on_the_runs_that_carry_it():
    """A run without an LLC series is neither a miss nor a silent control for the LLC rule."""
    runs = [_run(f"g{i}", 2000, fall_at=1200) for i in range(4)]
    runs += [_run(f"c{i}", None, wd=False) for i in range(4)]
    for r in runs[:2] + runs[4:6]:  # two grokking runs and two controls have an LLC series
        for s, row in r.metrics:
            row["llc"] = 50.0 if r.t_grok is None or s < 1200 else 100.0
    assert [r.name for r in with_llc(runs)] == ["g0", "g1", "c0", "c1"]
    on_subset = tune(with_llc(runs), ["llc"])["llc"]
    assert (on_subset["in_time"], on_subset["n_grokking"]) == (2, 2)
    assert (on_subset["fired"], on_subset["n_controls"]) == (0, 2)
    assert on_subset["rule"]["direction"] == "rise"
    on_all = tune(runs, ["llc"])["llc"]
    assert on_all["n_grokking"] == 4 and on_all["in_time"] == 2  # what the subset avoids
