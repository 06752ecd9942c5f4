"""Each prediction's evaluator on synthetic stored runs whose right verdict is known."""

import numpy as np
import pytest

from spectral_edge.reproduce.predictions import Runs, evaluate
from spectral_edge.store import open_store

STEPS = np.arange(10, 1010, 10)


def _add(store, name, tags, windows=None, metrics=None, events=(), train=None, probes=None):
    cfg = {
        "train": {
            "monitor_window": 10,
            "monitor_every": 10,
            "grok_threshold": 0.95,
            "lr": 1e-3,
            "warmup": 0,
            "scaled_down": True,
            **(train or {}),
        },
        "reproduce": {"tags": {"role": "score", **tags}, "probes": probes or {}},
        "suite": "t",
    }
    run = store.create_run(name, config=cfg)
    if windows:
        cols = {k: np.broadcast_to(np.asarray(v, float), STEPS.shape) for k, v in windows.items()}
        run.log_windows(
            [(int(s), {k: float(c[i]) for k, c in cols.items()}) for i, s in enumerate(STEPS)]
        )
    if metrics:
        cols = {k: np.broadcast_to(np.asarray(v, float), STEPS.shape) for k, v in metrics.items()}
        for i, s in enumerate(STEPS):
            run.log_metrics(int(s), {k: float(c[i]) for k, c in cols.items()})
    for step, kind, evidence in events:
        run.log_event(step, kind, kind.split(":")[-1], evidence)
    run.finish()


def _verdict(tmp_path, pid, build):
    with open_store(tmp_path / "s") as store:
        build(store)
        rec = evaluate(Runs.from_store(store, "t"), {pid})[0]
    assert rec.id == pid
    assert rec.scale == "scaled-down"
    return rec


def _phase_series(collapse_at):
    t = STEPS.astype(float)
    return np.where(t < 100, 1.0 + t / 50, np.where(t < collapse_at, 3.0, 1.0))


GROK = np.where(STEPS >= 500, 1.0, 0.1)
NO_GROK = np.full(STEPS.shape, 0.1)
DECLINE = np.where(STEPS < 200, STEPS / 10.0, np.maximum(20.0 - (STEPS - 200) / 10.0, 0.5))
rng = np.random.default_rng(0)
NOISE = rng.standard_normal(STEPS.shape)


def _wins(**kw):
    base = {"w": 10, "k_star": 1, "gap": 1.0, "g23": 1.0, "gap_ratio": 2.0, "bbp_ratio": 10.0}
    base.update(kw)
    return base


CASES = {
    "T1": (
        lambda s: _add(s, "a", {"for": ["T1"]}, _wins(bbp_ratio=12.0)),
        lambda s: _add(s, "a", {"for": ["T1"]}, _wins(bbp_ratio=np.linspace(2, 30, 100))),
    ),
    "T2": (
        lambda s: _add(s, "a", {"for": ["T2"]}, _wins(k_star=2)),
        lambda s: _add(s, "a", {"for": ["T2"]}, _wins(k_star=6)),
    ),
    "T3": (
        lambda s: _add(
            s,
            "a",
            {"for": ["T3"]},
            _wins(k_star=2),
            events=[(1000, "probe:hessian", {"eigenvalues": [900.0, 500.0, 300.0, 1.0]})],
            probes={"hessian": {}},
        ),
        lambda s: _add(
            s,
            "a",
            {"for": ["T3"]},
            _wins(k_star=3),
            events=[(1000, "probe:hessian", {"eigenvalues": [900.0, 5.0, 3.0, 1.0]})],
            probes={"hessian": {}},
        ),
    ),
    "T4": (
        lambda s: _add(s, "a", {"for": ["T4"], "wd": True}, _wins(gap_ratio=_phase_series(600))),
        lambda s: _add(s, "a", {"for": ["T4"], "wd": True}, _wins(gap_ratio=1.05)),
    ),
    "T5": (
        lambda s: _add(
            s, "a", {"for": ["T5"]}, _wins(alpha_1=0.9, alpha_2=0.5, alpha_3=0.1, alpha_4=0.0)
        ),
        lambda s: _add(
            s, "a", {"for": ["T5"]}, _wins(alpha_1=0.1, alpha_2=0.5, alpha_3=0.9, alpha_4=0.9)
        ),
    ),
    "T6": (
        lambda s: _add(s, "a", {"for": ["T6"]}, _wins(gap=2 + 3 * np.exp(-STEPS / 200))),
        lambda s: _add(s, "a", {"for": ["T6"]}, _wins(gap=np.exp(STEPS / 300))),
    ),
    "T7": (
        lambda s: _add(s, "a", {"for": ["T7"]}, _wins(gap=NOISE), {"train_loss": 5 - NOISE}),
        lambda s: _add(
            s,
            "a",
            {"for": ["T7"]},
            _wins(gap=NOISE),
            {"train_loss": np.random.default_rng(1).standard_normal(STEPS.shape)},
        ),
    ),
    "T8": (
        lambda s: _add(
            s,
            "a",
            {"for": ["T8"]},
            events=[(1000, "probe:decomposition", {"spearman": 0.8, "sign_agreement": 0.9})],
            probes={"decomposition": {}},
        ),
        lambda s: _add(
            s,
            "a",
            {"for": ["T8"]},
            events=[(1000, "probe:decomposition", {"spearman": 0.1, "sign_agreement": 0.5})],
            probes={"decomposition": {}},
        ),
    ),
}


def _pair(store, pid, wd_windows, ctl_windows, wd_metrics, ctl_metrics, family="f", seed=1):
    t = {"for": [pid], "family": family, "op": "add", "seed": seed}
    _add(store, f"{family}-wd-{seed}", {**t, "wd": True}, wd_windows, wd_metrics)
    _add(store, f"{family}-wd0-{seed}", {**t, "wd": False}, ctl_windows, ctl_metrics)


CASES["C1"] = (
    lambda s: _pair(
        s, "C1", _wins(g23=DECLINE), _wins(g23=1.0), {"test_acc": GROK}, {"test_acc": NO_GROK}
    ),
    lambda s: _pair(
        s, "C1", _wins(g23=1.0), _wins(g23=1.0), {"test_acc": GROK}, {"test_acc": NO_GROK}
    ),
)


def _c2(store, k_adam, k_muon):
    for opt, k in (("adamw", k_adam), ("muon", k_muon)):
        tags = {"for": ["C2"], "optimizer": opt, "window": 10, "params": "all"}
        _add(store, opt, tags, _wins(k_star=k), {"test_loss": 2.0})


CASES["C2"] = (lambda s: _c2(s, 2, 1), lambda s: _c2(s, 1, 1))


def _c3(store, err):
    ev = {
        "sketch_dim": 100,
        "gaussian": {"err_gap_ratio": err, "err_r23": err},
        "fold": {"err_gap_ratio": err, "err_r23": err},
    }
    _add(store, "a", {"for": ["C3"]}, events=[(1000, "probe:updates", ev)], probes={"updates": {}})


CASES["C3"] = (lambda s: _c3(s, 0.03), lambda s: _c3(s, 0.09))


def _c4(store, shift_a, shift_b):
    for w, sh in ((10, shift_a), (20, shift_b)):
        loss = 5 - np.roll(NOISE, sh)
        _add(store, f"w{w}", {"for": ["C4"], "window": w}, _wins(gap=NOISE), {"train_loss": loss})


CASES["C4"] = (lambda s: _c4(s, 1, -1), lambda s: _c4(s, 1, 1))


def _c5(store, jump_at):
    sigma = np.where(STEPS < jump_at, 1.0, 5.0) * (1 + 0.01 * NOISE)
    _add(store, "a", {"for": ["C5"]}, _wins(sigma_1=sigma), train={"shift_step": 500})


CASES["C5"] = (lambda s: _c5(s, 510), lambda s: _c5(s, 800))


def _c6(store, noise):
    for layer in (0, 1):
        loss = 5 - NOISE + noise * np.random.default_rng(layer).standard_normal(STEPS.shape)
        tags = {"for": ["C6"], "params": f"layer:{layer}"}
        _add(store, f"l{layer}", tags, _wins(gap=NOISE), {"train_loss": loss})


CASES["C6"] = (lambda s: _c6(s, 0.05), lambda s: _c6(s, 3.0))


def _c7(store, collapses):
    for seed, c in enumerate(collapses, 1):
        series = _phase_series(c) if c else np.full(STEPS.shape, 1.05)
        tags = {"for": ["C7"], "family": "f", "op": "add", "seed": seed, "wd": True}
        _add(store, f"s{seed}", tags, _wins(gap_ratio=series))


CASES["C7"] = (lambda s: _c7(s, (600, 620, 610)), lambda s: _c7(s, (600, None, 610)))


def _defect(onset):
    return np.where(STEPS >= onset, 100.0, 1.0) if onset else np.full(STEPS.shape, 1.0)


CASES["C8"] = (
    lambda s: _pair(
        s,
        "C8",
        None,
        None,
        {"test_acc": GROK, "commutator_defect": _defect(300)},
        {"test_acc": NO_GROK, "commutator_defect": _defect(None)},
    ),
    lambda s: _pair(
        s,
        "C8",
        None,
        None,
        {"test_acc": GROK, "commutator_defect": _defect(None)},
        {"test_acc": NO_GROK, "commutator_defect": _defect(None)},
    ),
)


def _c9(store, leads):
    for i, (grok, lead) in enumerate(zip((200, 400, 800), leads, strict=True)):
        metrics = {
            "test_acc": np.where(STEPS >= grok, 1.0, 0.1),
            "commutator_defect": _defect(grok - lead),
        }
        _add(store, f"lr{i}", {"for": ["C9"], "family": "lrsweep"}, None, metrics)


CASES["C9"] = (lambda s: _c9(s, (50, 120, 300)), lambda s: _c9(s, (100, 150, 160)))


def _traj(store, pid, pc1, acc):
    ev = {
        "manifold": {"pc1_share": pc1},
        "pca": {"accuracy": {str(k): a for k, a in enumerate(acc, 1)}, "final": 1.0},
    }
    tags = {"for": [pid]}
    _add(store, "a", tags, events=[(1000, "probe:trajectory", ev)], probes={"trajectory": {}})


CASES["C10"] = (
    lambda s: _traj(s, "C10", 0.8, [0.5] * 6),
    lambda s: _traj(s, "C10", 0.3, [0.5] * 6),
)
CASES["C11"] = (
    lambda s: _traj(s, "C11", 0.8, [0.1, 0.5, 0.97, 0.99, 1.0, 1.0]),
    lambda s: _traj(s, "C11", 0.8, [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]),
)


def _c12(store, ctl_groks):
    r23 = _phase_series(900)
    r23 = np.where(STEPS < 550, 1.0, r23)  # plateau starts after grokking (500)
    _pair(
        store,
        "C12",
        _wins(r23=r23),
        _wins(r23=1.0),
        {"test_acc": GROK},
        {"test_acc": GROK if ctl_groks else NO_GROK},
        family="lockin",
    )


CASES["C12"] = (lambda s: _c12(s, False), lambda s: _c12(s, True))


@pytest.mark.parametrize("pid", sorted(CASES))
def test_both_outcomes(tmp_path, pid):
    good, bad = CASES[pid]
    rec = _verdict(tmp_path / "good", pid, good)
    assert rec.verdict == "confirmed", rec
    assert rec.runs and rec.measured
    rec = _verdict(tmp_path / "bad", pid, bad)
    assert rec.verdict == "not confirmed", rec


def test_every_prediction_has_cases():
    assert sorted(CASES) == sorted([f"T{i}" for i in range(1, 9)] + [f"C{i}" for i in range(1, 13)])


def test_empty_store_is_not_run(tmp_path):
    with open_store(tmp_path) as store:
        recs = evaluate(Runs.from_store(store, "t", {"planned-run": {"for": ["C1"]}}))
    assert len(recs) == 20
    assert all(r.verdict == "not run" and r.reason for r in recs)
    assert "planned-run" in next(r for r in recs if r.id == "C1").reason


def test_tuning_runs_are_never_scored(tmp_path):
    with open_store(tmp_path) as store:
        _add(store, "tune", {"for": ["T2"], "role": "tune"}, _wins(k_star=2))
        rec = evaluate(Runs.from_store(store, "t"), {"T2"})[0]
    assert rec.verdict == "not run"


def test_unfinished_probe_says_not_run(tmp_path):
    def build(store):
        _add(
            store,
            "a",
            {"for": ["C3"]},
            events=[(10, "probe_error", {"probe": "updates"})],
            probes={"updates": {}},
        )

    rec = _verdict(tmp_path, "C3", build)
    assert rec.verdict == "not run"
