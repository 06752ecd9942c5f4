"""Small stored runs with known shapes, written once per test session (no training)."""

import numpy as np
import pytest

from spectral_edge.store import open_store

PREDICTIONS = [
    {
        "id": "C1",
        "statement": "gap dynamics with weight decay",
        "paper": "24/24",
        "measured": "3/3",
        "verdict": "confirmed",
        "reason": "decline > 1.5",
        "runs": ["a", "b"],
        "scale": "scaled-down",
    },
    {
        "id": "T5",
        "statement": "lag flip across W",
        "paper": "flip at W=20",
        "measured": None,
        "verdict": "not run",
        "reason": "needs a GPU",
        "runs": [],
        "scale": "-",
    },
]


def gap_series(n_before=8, n_rise=5, n_plateau=15, n_fall=5, n_after=7, peak=2.5):
    return np.r_[
        np.full(n_before, 1.05),
        np.linspace(1.05, peak, n_rise),
        np.full(n_plateau, peak),
        np.linspace(peak, 1.0, n_fall),
        np.full(n_after, 1.0),
    ]


def write_run(
    store,
    name,
    *,
    window=10,
    every=10,
    params="all",
    steps=None,
    status="finished",
    grok=250,
    warning=180,
    n_sigma=4,
    sketch_dim=None,
):
    r = gap_series()
    steps = np.arange(1, len(r) + 1) * every if steps is None else np.asarray(steps)
    r = r[: len(steps)]
    config = {
        "monitor": {
            "window": window,
            "every": every,
            "params": params,
            "n_params": 1000,
            "sketch_dim": sketch_dim,
            "sketch": "fold",
            "k_star": "plain",
            "center": False,
            "regime_low": 0.1,
            "regime_high": 10.0,
        },
        "train": {
            "optimizer": "adamw",
            "weight_decay": 1.0,
            "grok_threshold": 0.95,
            "phase_quantity": "gap_ratio",
            "phase_tau": 1.2,
            "phase_smooth": 3,
        },
    }
    run = store.create_run(
        name,
        config=config,
        seeds={"torch": 0, "data": 0},
        definitions={"k_star": "plain", "update": f"every={every}"},
    )
    rng = np.random.default_rng(0)
    rows = []
    for i, (s, ratio) in enumerate(zip(steps, r, strict=True)):
        sig = 10.0 * 0.6 ** np.arange(n_sigma) * (1 + 0.01 * i)
        row = {
            "step": int(s),
            "w": float(window),
            "k_star": 1.0 if i % 7 else 2.0,
            "gap_ratio": float(ratio),
            "g23": float(sig[1] ** 2 - sig[2] ** 2) / (1 + i),
            "adiabatic_dk": float(10 ** (-2 + 4 * i / len(steps))),
            "adiabatic": float(10 ** (-1 + 3 * i / len(steps))),
            "lr": 1e-3,
        }
        row.update({f"sigma_{j + 1}": float(v) for j, v in enumerate(sig)})
        row.update({f"alpha_{j + 1}": float(rng.uniform(0, 1)) for j in range(3)})
        rows.append(row)
    run.log_windows(rows)
    # Test accuracy first reaches 0.95 at the evaluation ``grok`` (σ(60/20) = 0.953, σ(50/20) =
    # 0.924), as the trainer's grok event says.
    for s in range(0, int(steps[-1]) + 1, 10):
        acc = 1 / (1 + np.exp(-(s - (grok if grok is not None else 5000) + 60) / 20))
        run.log_metrics(
            s,
            {
                "train_acc": min(1.0, s / 100),
                "test_acc": float(acc),
                "train_loss": float(np.exp(-s / 80) + 1e-3),
                "test_loss": float(2 - acc),
            },
        )
    if grok is not None:
        run.log_event(grok, "grok", "test accuracy >= 0.95", {"test_acc": 0.96})
    if warning is not None:
        run.log_event(warning, "warning", "g23 declined", {"decline": 2.5})
    run.log_event(60, "phase", "gap_ratio rose above tau", {"phase": "rise"})
    if status != "running":
        run.finish(status)
    return run


@pytest.fixture(scope="session")
def store_dir(tmp_path_factory):
    """wd (W=10, all params), control (W=20, attention, every 20), live (running, 3 windows),
    empty (no windows yet) and the predictions table."""
    path = tmp_path_factory.mktemp("report-store")
    with open_store(path) as store:
        write_run(store, "wd")
        write_run(
            store, "control", window=20, every=20, params="attention", grok=None, warning=None
        )
        write_run(store, "live", status="running", steps=[10, 20, 30], grok=None, warning=None)
        store.create_run("empty", config={"monitor": {"window": 10}})
        table = store.create_run("predictions", config={"predictions": PREDICTIONS})
        table.finish()
    return path


@pytest.fixture(scope="session")
def report_path(store_dir, tmp_path_factory):
    from spectral_edge.report import write_report

    return write_report(store_dir, tmp_path_factory.mktemp("report") / "report.html")
