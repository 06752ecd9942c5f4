"""Trackers: namespaced tags per window and event; each package imported only when used."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest
import torch
from _common import fake_mlflow, fake_wandb, tiny_data, tiny_model
from torch import nn

from spectral_edge import SpectralMonitor
from spectral_edge.integrations.trackers import (
    MLflowTracker,
    TensorBoardTracker,
    Tracker,
    WandbTracker,
    window_scalars,
)

STEPS, WINDOW = 7, 4


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
            monitor.observe(100)  # an extra, poisoned snapshot: a "nonfinite" event
            with torch.no_grad():
                model[0].bias[0] = 0.0
    for tracker in trackers:
        tracker.close()
    return monitor


def test_tensorboard_for_real(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    monitor = train(trackers=[TensorBoardTracker(tmp_path)])
    events = EventAccumulator(str(tmp_path)).Reload()
    tags = set(events.Tags()["scalars"])
    expected = {f"spectral_edge/{n}" for n in ("k_star", "gap_ratio", "g23", "adiabatic")}
    assert expected | {"spectral_edge/sigma_1", "spectral_edge/regime"} <= tags
    k_star = [(e.step, e.value) for e in events.Scalars("spectral_edge/k_star")]
    assert k_star == [(h["step"], h["k_star"]) for h in monitor.history]
    sigma1 = [e.value for e in events.Scalars("spectral_edge/sigma_1")]
    assert sigma1 == pytest.approx([h["sigma_1"] for h in monitor.history], rel=1e-6)


def test_wandb_with_a_fake_module(monkeypatch):
    monkeypatch.setitem(sys.modules, "wandb", fake_wandb())
    tracker = WandbTracker(project="x", mode="offline")
    monitor = train(trackers=[tracker])
    run = tracker.run
    assert run.metrics["spectral_edge/*"] == "spectral_edge/step" and run.finished
    windows = [d for d in run.logged if "spectral_edge/k_star" in d]
    assert [d["spectral_edge/step"] for d in windows] == [h["step"] for h in monitor.history]
    assert windows[-1]["spectral_edge/regime_name"] == monitor.history[-1]["regime"]


def test_mlflow_with_a_fake_module(monkeypatch):
    calls = {}
    monkeypatch.setitem(sys.modules, "mlflow", fake_mlflow(calls))
    monitor = train(trackers=[MLflowTracker(tracking_uri="file:///tmp/x")], poison_at=3)
    assert calls["runs"] == calls["ended"] == 1
    steps = [s for s, m in calls["metrics"] if "spectral_edge/k_star" in m]
    assert steps == [h["step"] for h in monitor.history]
    assert all(math.isfinite(v) for _, m in calls["metrics"] for v in m.values())
    assert calls["tags"]["spectral_edge/regime"] == monitor.history[-1]["regime"]
    assert any("spectral_edge/events/nonfinite" in m for _, m in calls["metrics"])


class Recording(Tracker):
    def __init__(self, fail=False):
        super().__init__()
        self.scalars, self.fail = [], fail

    def write_scalars(self, step, scalars):
        if self.fail:
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


def test_missing_package_is_a_clear_error(monkeypatch):
    from spectral_edge import SpectralEdgeError

    monkeypatch.setitem(sys.modules, "wandb", None)  # import fails
    with pytest.raises(SpectralEdgeError, match="pip install wandb"):
        WandbTracker()
