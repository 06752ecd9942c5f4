"""Issue 16, point 4: a run ends finished when its script ends, failed or interrupted when the
script does, and a killed script's run reads interrupted, not running forever."""

import signal

import pytest
from _journey import PLAIN_SCRIPT, cli, run_script, tiny_model, train_plain

from spectral_edge import SpectralMonitor, open_store
from spectral_edge.report import load_run_data, run_summary
from spectral_edge.report.summary import partial_reasons


def status_of(store, name):
    with open_store(store, read_only=True) as s:
        return s.run(name).status


@pytest.mark.parametrize(
    ("ending", "status"),
    [
        ("", "finished"),  # the README's loop, no close(): finished at exit
        ("raise RuntimeError('diverged')", "failed"),
        ("raise KeyboardInterrupt", "interrupted"),
        ("import os, signal; os.kill(os.getpid(), signal.SIGKILL)", "interrupted"),
    ],
)
def test_a_scripts_run_ends_with_the_script(tmp_path, ending, status):
    done = run_script(PLAIN_SCRIPT + ending, tmp_path / "runs", "plain", 1e-2)
    if "SIGKILL" in ending:
        assert done.returncode == -signal.SIGKILL
    else:
        assert "trained 12" in done.stdout, done.stderr
        assert "spectral-edge" not in done.stderr  # no warning from us on the way out
    assert status_of(tmp_path / "runs", "plain") == status
    code, out, err = cli("runs", tmp_path / "runs")
    assert code == 0 and status in out.splitlines()[1]


def test_a_killed_run_is_reported_as_interrupted_not_partial(tmp_path):
    code = PLAIN_SCRIPT + "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"
    run_script(code, tmp_path / "runs", "killed", 1e-2)
    with open_store(tmp_path / "runs", read_only=True) as store:
        run = store.run("killed")
        assert run_summary(run)["status"] == "interrupted"
        reasons = partial_reasons(load_run_data(run))
        assert reasons == ["the run ended with status 'interrupted'"]
    # Resuming it makes it running again, written by this (live) process.
    monitor = SpectralMonitor(
        tiny_model(), window=4, store=tmp_path / "runs", run_name="killed", resume=True
    )
    assert status_of(tmp_path / "runs", "killed") == "running"
    monitor.close()
    assert status_of(tmp_path / "runs", "killed") == "finished"


def test_close_and_the_context_manager(tmp_path):
    store = tmp_path / "runs"
    monitor = train_plain(store, "closed")
    assert status_of(store, "closed") == "running"  # this process is alive and writing
    monitor.close()
    monitor.close()  # twice is harmless
    assert status_of(store, "closed") == "finished"
    with SpectralMonitor(tiny_model(), window=4, store=store, run_name="with") as m:
        m.observe(1)
    assert status_of(store, "with") == "finished"
    with pytest.raises(ValueError):
        with SpectralMonitor(tiny_model(), window=4, store=store, run_name="boom"):
            raise ValueError("a bug in the loop")
    assert status_of(store, "boom") == "failed"


def test_the_lightning_callback_finishes_its_run(tmp_path):
    pl = pytest.importorskip("lightning.pytorch")
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    from spectral_edge.integrations.lightning import SpectralEdgeCallback

    class Regression(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.net = tiny_model()

        def training_step(self, batch, batch_idx):
            return torch.nn.functional.mse_loss(self.net(batch[0]), batch[1])

        def validation_step(self, batch, batch_idx):
            self.log("val_loss", torch.nn.functional.mse_loss(self.net(batch[0]), batch[1]))

        def configure_optimizers(self):
            return torch.optim.AdamW(self.parameters(), lr=1e-2)

    data = DataLoader(TensorDataset(torch.randn(64, 8), torch.randn(64, 4)), batch_size=16)
    callback = SpectralEdgeCallback(store=str(tmp_path / "runs"), run_name="pl", window=3)
    trainer = pl.Trainer(
        max_steps=8,
        callbacks=[callback],
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
        val_check_interval=4,
        num_sanity_val_steps=0,
    )
    trainer.fit(Regression(), data, data)
    with open_store(tmp_path / "runs", read_only=True) as store:
        run = store.run("pl")
        assert run.status == "finished"
        assert run.config["optimizer"]["class"] == "AdamW" and run.config["optimizer"]["lr"] == 1e-2
        metrics = run.metrics()
        assert {"train_loss", "val_loss"} <= set(metrics.columns)
        assert metrics.dropna(subset=["val_loss"])["step"].tolist() == [4, 8]


def test_hugging_face_runs_end_finished(hf_runs):
    assert status_of(hf_runs / "runs", "hf-3e-3") == "finished"
    assert status_of(hf_runs / "runs", "hf-1e-3") == "finished"
