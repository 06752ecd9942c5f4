"""SpectralEdgeCallback: the plain monitor's windows, once per optimizer step, resumable."""

from __future__ import annotations

import pytest
import torch
from _common import assert_same_windows, plain_history, tiny_data, tiny_model
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from spectral_edge import open_store

pl = pytest.importorskip("lightning.pytorch")

from spectral_edge.integrations.lightning import SpectralEdgeCallback  # noqa: E402

STEPS, WINDOW = 8, 4


class Tiny(pl.LightningModule):
    def __init__(self):
        super().__init__()
        self.net = tiny_model()
        self.batches = 0

    def training_step(self, batch, batch_idx):
        self.batches += 1
        x, y = batch
        return nn.functional.mse_loss(self.net(x), y)

    def configure_optimizers(self):
        return torch.optim.AdamW(self.parameters(), lr=0.05, weight_decay=0.0)


def fit(callback, max_steps, batch_size=8, accumulate=1, ckpt_path=None, module=None, root=None):
    module = module or Tiny()
    loader = DataLoader(TensorDataset(*tiny_data()), batch_size=batch_size, shuffle=False)
    trainer = pl.Trainer(
        max_steps=max_steps,
        accumulate_grad_batches=accumulate,
        callbacks=[callback],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
        default_root_dir=root,
    )
    trainer.fit(module, loader, ckpt_path=ckpt_path)
    return trainer, module


def test_callback_gives_the_plain_monitor_windows(tmp_path):
    callback = SpectralEdgeCallback(store=tmp_path, window=WINDOW, run_name="lit")
    fit(callback, STEPS)
    want = plain_history(STEPS, window=WINDOW)
    assert_same_windows(callback.monitor.history, want, rtol=1e-9)
    with open_store(tmp_path, read_only=True) as store:
        run = store.run("lit")
        assert run.status == "finished"
        assert run.windows()["step"].tolist() == [h["step"] for h in want]


def test_gradient_accumulation_observes_once_per_optimizer_step():
    callback = SpectralEdgeCallback(window=WINDOW)
    _, module = fit(callback, STEPS, batch_size=4, accumulate=2)
    assert module.batches == 2 * STEPS
    assert callback.monitor.steps_observed == STEPS
    # two half-batches accumulate to the full-batch gradient: the same windows
    assert_same_windows(callback.monitor.history, plain_history(STEPS, window=WINDOW), rtol=1e-6)


def test_resume_from_a_lightning_checkpoint_continues_the_run(tmp_path):
    first = SpectralEdgeCallback(store=tmp_path, window=WINDOW, run_name="lit")
    trainer, _ = fit(first, 5)
    ckpt = tmp_path / "half.ckpt"
    trainer.save_checkpoint(ckpt)
    payload = torch.load(ckpt, weights_only=True)  # the monitor's state is weights_only-safe
    assert "SpectralEdgeCallback" in payload["callbacks"]

    second = SpectralEdgeCallback(store=tmp_path, window=WINDOW, run_name="lit")
    fit(second, STEPS, ckpt_path=ckpt)
    want = plain_history(STEPS, window=WINDOW)
    assert_same_windows(second.monitor.history, want, rtol=1e-9)
    with open_store(tmp_path, read_only=True) as store:
        assert store.runs()["name"].tolist() == ["lit"]  # one run, continued
        assert store.run("lit").windows()["step"].tolist() == [h["step"] for h in want]


def test_analyze_lightning_checkpoints_equals_the_callback(tmp_path):
    from spectral_edge.integrations.checkpoints import analyze

    saver = pl.callbacks.ModelCheckpoint(
        dirpath=tmp_path / "ckpts", every_n_train_steps=1, save_top_k=-1, filename="{step}"
    )
    callback = SpectralEdgeCallback(window=WINDOW)
    module = Tiny()
    loader = DataLoader(TensorDataset(*tiny_data()), batch_size=8)
    trainer = pl.Trainer(
        max_steps=STEPS,
        callbacks=[callback, saver],
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
    )
    trainer.fit(module, loader)
    offline = analyze(tmp_path / "ckpts", window=WINDOW)
    assert offline.layout.names == callback.monitor.layout.names  # net.0.bias, ...
    assert_same_windows(offline.history, callback.monitor.history, rtol=1e-12)


def test_a_lightning_without_the_hooks_is_refused_by_version(monkeypatch):
    from spectral_edge import SpectralEdgeError
    from spectral_edge.integrations import lightning as adapter

    monkeypatch.setattr(pl, "__version__", "1.5.10")
    with pytest.raises(SpectralEdgeError, match=r"Lightning 1\.5\.10 is too old"):
        adapter._import_lightning()


class TwoOptimizers(Tiny):
    """Manual optimization: one optimizer per layer, both stepped in every batch."""

    def __init__(self):
        super().__init__()
        self.automatic_optimization = False

    def training_step(self, batch, batch_idx):
        first, second = self.optimizers()
        x, y = batch
        first.zero_grad()
        second.zero_grad()
        self.manual_backward(nn.functional.mse_loss(self.net(x), y))
        first.step()
        second.step()

    def configure_optimizers(self):
        return [
            torch.optim.AdamW(self.net[0].parameters(), lr=0.05, weight_decay=0.0),
            torch.optim.SGD(self.net[2].parameters(), lr=0.2),
        ]


def test_several_optimizers_observe_once_per_batch_after_all_of_them():
    callback = SpectralEdgeCallback(window=WINDOW, lr_policy="max")
    fit(callback, 2 * STEPS, module=TwoOptimizers())  # global_step counts both optimizers
    # the reference: a plain loop observing by hand after both steps
    from spectral_edge import SpectralMonitor

    model = tiny_model()
    x, y = tiny_data()
    first = torch.optim.AdamW(model[0].parameters(), lr=0.05, weight_decay=0.0)
    second = torch.optim.SGD(model[2].parameters(), lr=0.2)
    monitor = SpectralMonitor(model, window=WINDOW, lr_policy="max")
    for batch in range(1, STEPS + 1):
        first.zero_grad()
        second.zero_grad()
        nn.functional.mse_loss(model(x), y).backward()
        first.step()
        second.step()
        monitor.observe(2 * batch, lr=0.2)
    assert callback.monitor.steps_observed == STEPS
    assert_same_windows(callback.monitor.history, monitor.history, rtol=1e-9)


def test_bf16_mixed_precision_reads_the_float32_weights():
    from spectral_edge import SpectralMonitor

    class Mixed(Tiny):
        def __init__(self):
            super().__init__()
            self.net = self.net.float()

    callback = SpectralEdgeCallback(window=WINDOW)
    module = Mixed()
    x, y = tiny_data(dtype=torch.float32)
    trainer = pl.Trainer(
        max_steps=STEPS,
        precision="bf16-mixed",
        callbacks=[callback],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
    )
    trainer.fit(module, DataLoader(TensorDataset(x, y), batch_size=8))
    model = tiny_model().float()
    opt = torch.optim.AdamW(model.parameters(), lr=0.05, weight_decay=0.0)
    monitor = SpectralMonitor(model, window=WINDOW).attach(opt)
    for _ in range(STEPS):
        opt.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss = nn.functional.mse_loss(model(x), y)
        loss.backward()
        opt.step()
    assert module.net[0].weight.dtype == torch.float32
    assert_same_windows(callback.monitor.history, monitor.history, rtol=1e-5)
