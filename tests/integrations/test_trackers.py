"""Trackers, for real: TensorBoard, W&B (offline) and MLflow (a SQLite store) receive the windows
and events, and their own readers give back what was logged, at the right steps.

One training run feeds all three trackers (MLflow's first use of a store creates its tables,
which is the slow part); the tests then read each tracker's files. Stand-ins remain only where
the real library cannot produce the failure: a tracker that raises, a package that is missing.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from _common import tiny_data, tiny_model
from torch import nn

from spectral_edge import SpectralMonitor
from spectral_edge.integrations.trackers import (
    MLflowTracker,
    TensorBoardTracker,
    Tracker,
    WandbTracker,
    window_scalars,
)

STEPS, WINDOW, POISON_AT, POISON_STEP = 7, 4, 3, 100


def train(monitor_kwargs=None, trackers=(), poison_at=None):
    model = tiny_model()
    x, y = tiny_data()
    opt = torch.optim.AdamW(model.parameters(), lr=0.05, weight_decay=0.0)
    monitor = SpectralMonitor(model, window=WINDOW, **(monitor_kwargs or {})).attach(opt)
    for tracker in trackers:
        tracker.attach(monitor)
    for step in range(1, STEPS + 1):
        opt.zero_grad()
        nn.functional.mse_loss(model(x), y).backward()
        opt.step()
        if step == poison_at:
            with torch.no_grad():
                model[0].bias[0] = float("nan")
            monitor.observe(POISON_STEP)  # an extra, poisoned snapshot: a "nonfinite" event
            with torch.no_grad():
                model[0].bias[0] = 0.0
    for tracker in trackers:
        tracker.close()
    return monitor


def offline_wandb(monkeypatch, directory: Path) -> None:
    """W&B with no account and no network: offline files under ``directory``."""
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(directory))
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_CONSOLE", "off")  # leave pytest's capture of stdout alone


def wandb_records(directory: Path) -> list[dict]:
    """The records of the one offline run under ``directory``, read by W&B's own reader of its
    transaction log (``wandb leet inspect --json``)."""
    (log,) = Path(directory).glob("wandb/offline-run-*/run-*.wandb")
    done = subprocess.run(
        [sys.executable, "-m", "wandb", "leet", "inspect", "--json", str(log)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def tracked(tmp_path_factory):
    """One run with all three trackers attached; what each wrote, and the monitor."""
    pytest.importorskip("tensorboard")
    pytest.importorskip("wandb")
    pytest.importorskip("mlflow")
    out = tmp_path_factory.mktemp("trackers")
    with pytest.MonkeyPatch.context() as monkeypatch:
        offline_wandb(monkeypatch, out)
        trackers = [
            TensorBoardTracker(out / "tb"),
            # dir= as well as WANDB_DIR: W&B keeps the settings of its first run in a process
            WandbTracker(project="spectral-edge-tests", mode="offline", dir=str(out)),
            MLflowTracker(tracking_uri=f"sqlite:///{out / 'mlflow.db'}"),
        ]
        monitor = train(trackers=trackers, poison_at=POISON_AT)
    return {"out": out, "monitor": monitor, "mlflow_run": trackers[2].run_id}


def test_tensorboard_for_real(tracked):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    monitor = tracked["monitor"]
    events = EventAccumulator(str(tracked["out"] / "tb")).Reload()
    tags = set(events.Tags()["scalars"])
    expected = {f"spectral_edge/{n}" for n in ("k_star", "gap_ratio", "g23", "adiabatic")}
    assert expected | {"spectral_edge/sigma_1", "spectral_edge/regime"} <= tags
    k_star = [(e.step, e.value) for e in events.Scalars("spectral_edge/k_star")]
    assert k_star == [(h["step"], h["k_star"]) for h in monitor.history]
    sigma1 = [e.value for e in events.Scalars("spectral_edge/sigma_1")]
    assert sigma1 == pytest.approx([h["sigma_1"] for h in monitor.history], rel=1e-6)
    nonfinite = [(e.step, e.value) for e in events.Scalars("spectral_edge/events/nonfinite")]
    assert nonfinite == [(POISON_STEP, 1.0)]


def test_wandb_offline_for_real(tracked):
    monitor = tracked["monitor"]
    records = wandb_records(tracked["out"])
    metrics = [r["metric"] for r in records if r["type"] == "metric"]
    assert {"glob_name": "spectral_edge/*", "step_metric": "spectral_edge/step"} in [
        {k: m.get(k) for k in ("glob_name", "step_metric")} for m in metrics
    ]
    history = [r["history"]["item"] for r in records if r["type"] == "history"]
    windows = [h for h in history if "spectral_edge/k_star" in h]
    assert [h["spectral_edge/step"] for h in windows] == [h["step"] for h in monitor.history]
    assert [h["spectral_edge/k_star"] for h in windows] == [h["k_star"] for h in monitor.history]
    assert [h["spectral_edge/sigma_1"] for h in windows] == pytest.approx(
        [h["sigma_1"] for h in monitor.history], rel=1e-12
    )
    assert [h["spectral_edge/regime_name"] for h in windows] == [
        h["regime"] for h in monitor.history
    ]
    events = [h for h in history if "spectral_edge/events/nonfinite" in h]
    assert [(h["spectral_edge/step"], h["spectral_edge/events/nonfinite"]) for h in events] == [
        (POISON_STEP, 1)
    ]
    assert [r["exit"]["exit_code"] for r in records if r["type"] == "exit"] == [0]  # finished


def test_mlflow_sqlite_for_real(tracked):
    from mlflow.tracking import MlflowClient

    monitor = tracked["monitor"]
    client = MlflowClient(f"sqlite:///{tracked['out'] / 'mlflow.db'}")
    run = client.get_run(tracked["mlflow_run"])
    assert run.info.status == "FINISHED"  # the tracker started the run, so it ended it
    k_star = client.get_metric_history(run.info.run_id, "spectral_edge/k_star")
    assert [(m.step, m.value) for m in k_star] == [
        (h["step"], h["k_star"]) for h in monitor.history
    ]
    gap = client.get_metric_history(run.info.run_id, "spectral_edge/gap_ratio")
    assert [m.value for m in gap] == pytest.approx([h["gap_ratio"] for h in monitor.history])
    assert run.data.tags["spectral_edge/regime"] == monitor.history[-1]["regime"]
    nonfinite = client.get_metric_history(run.info.run_id, "spectral_edge/events/nonfinite")
    assert [(m.step, m.value) for m in nonfinite] == [(POISON_STEP, 1.0)]
    assert all(math.isfinite(v) for v in run.data.metrics.values())


def test_mlflow_writes_into_the_users_active_run(tracked):
    import mlflow
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tracked['out'] / 'mlflow.db'}"  # the tables exist: no slow set-up
    mlflow.set_tracking_uri(uri)
    with mlflow.start_run() as active:
        tracker = MLflowTracker()
        assert tracker.run_id == active.info.run_id
        monitor = train(trackers=[tracker])
        assert mlflow.active_run() is not None  # the user's run is the user's to end
    history = MlflowClient(uri).get_metric_history(active.info.run_id, "spectral_edge/k_star")
    assert [m.step for m in history] == [h["step"] for h in monitor.history]


class Recording(Tracker):
    def __init__(self, fail=False):
        super().__init__()
        self.scalars, self.fail = [], fail

    def write_scalars(self, step, scalars):
        if self.fail:  # a failure no real tracker can be made to produce on demand
            raise OSError("disk full")
        self.scalars.append((step, scalars))


def test_a_failing_tracker_warns_and_training_goes_on():
    with pytest.warns(RuntimeWarning, match="disk full"):
        monitor = train(trackers=[Recording(fail=True)])
    assert len(monitor.history) == STEPS - 2


def test_window_scalars_and_event_counts():
    recording = Recording()
    monitor = train(trackers=[recording], poison_at=2)
    record = monitor.latest
    assert window_scalars(record)["spectral_edge/k_star"] == record.k_star
    assert recording.event_counts["nonfinite"] == 1


def test_trackers_are_imported_only_when_used():
    code = (
        "import sys, spectral_edge.integrations.trackers, spectral_edge.integrations.checkpoints;"
        "print(sorted(m for m in ('wandb','mlflow','tensorboard','lightning','transformers')"
        " if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(
    "module, make", [("wandb", WandbTracker), ("mlflow", MLflowTracker)], ids=["wandb", "mlflow"]
)
def test_missing_package_is_a_clear_error(monkeypatch, module, make):
    from spectral_edge import SpectralEdgeError

    monkeypatch.setitem(sys.modules, module, None)  # as if not installed
    with pytest.raises(SpectralEdgeError, match=rf"pip install 'spectral-edge\[{module}\]'"):
        make()


def test_a_tracker_is_a_sink_like_a_run(tmp_path):
    """The monitor's store= takes any sink: a tracker there gets what a run would, through the
    same guarded writer (so a failing tracker is a store error, and training goes on)."""
    from spectral_edge.integrations.checkpoints import _Recorder
    from spectral_edge.sink import Sink
    from spectral_edge.store import open_store

    recording = Recording()
    monitor = train({"store": recording, "phases": False, "warning": False}, poison_at=POISON_AT)
    assert monitor.run is recording
    windows = [(step, s) for step, s in recording.scalars if "spectral_edge/k_star" in s]
    assert [step for step, _ in windows] == [h["step"] for h in monitor.history]
    assert windows[-1][1] == window_scalars(monitor.latest)
    assert recording.event_counts["nonfinite"] == 1
    with open_store(tmp_path) as store:
        run = store.create_run("r", config={})
        for sink in (recording, _Recorder(), run):
            assert all(callable(getattr(sink, m, None)) for m in vars(Sink) if m.startswith("log_"))
