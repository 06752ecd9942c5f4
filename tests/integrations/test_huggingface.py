"""SpectralEdgeTrainerCallback: the plain monitor's windows under transformers.Trainer."""

from __future__ import annotations

import pytest
from _common import assert_same_windows, plain_history, tiny_data, tiny_model
from torch import nn

from spectral_edge import open_store

transformers = pytest.importorskip("transformers")
pytest.importorskip("accelerate")

from spectral_edge.integrations.huggingface import (  # noqa: E402
    STATE_FILE,
    SpectralEdgeTrainerCallback,
)

STEPS, WINDOW = 8, 4


class Regressor(nn.Module):
    """A model the Trainer accepts: keyword inputs in, a dict with the loss out."""

    def __init__(self):
        super().__init__()
        self.net = tiny_model()

    def forward(self, x, labels=None):
        out = self.net(x)
        return {"loss": nn.functional.mse_loss(out, labels), "logits": out}


def dataset():
    x, y = tiny_data()
    return [{"x": x[i], "labels": y[i]} for i in range(len(x))]


def trainer(callback, out, max_steps, batch_size=8, accumulate=1, model=None, save_steps=None):
    args = transformers.TrainingArguments(
        output_dir=str(out),
        max_steps=max_steps,
        per_device_train_batch_size=batch_size,
        gradient_accumulation_steps=accumulate,
        learning_rate=0.05,
        weight_decay=0.0,
        lr_scheduler_type="constant",
        max_grad_norm=0.0,
        optim="adamw_torch",
        report_to="none",
        use_cpu=True,
        logging_steps=1,
        save_strategy="steps" if save_steps else "no",
        save_steps=save_steps or 500,
        disable_tqdm=True,
        seed=0,
    )
    return transformers.Trainer(
        model=model or Regressor(), args=args, train_dataset=dataset(), callbacks=[callback]
    )


def test_trainer_callback_gives_the_plain_monitor_windows(tmp_path):
    callback = SpectralEdgeTrainerCallback(store=tmp_path / "store", window=WINDOW, run_name="hf")
    trainer(callback, tmp_path / "out", STEPS).train()
    want = plain_history(STEPS, window=WINDOW)
    assert_same_windows(callback.monitor.history, want, rtol=1e-7)
    with open_store(tmp_path / "store", read_only=True) as store:
        run = store.run("hf")
        assert run.status == "finished"
        assert "loss" in run.metrics().columns  # the Trainer's logs beside the windows


def test_gradient_accumulation_observes_once_per_optimizer_step(tmp_path):
    callback = SpectralEdgeTrainerCallback(window=WINDOW)
    trainer(callback, tmp_path, STEPS, batch_size=4, accumulate=2).train()
    assert callback.monitor.steps_observed == STEPS
    assert_same_windows(callback.monitor.history, plain_history(STEPS, window=WINDOW), rtol=1e-6)


def test_resume_from_a_trainer_checkpoint(tmp_path):
    store, out = tmp_path / "store", tmp_path / "out"
    first = SpectralEdgeTrainerCallback(store=store, window=WINDOW, run_name="hf")
    trainer(first, out, 5, save_steps=5).train()
    assert (out / "checkpoint-5" / STATE_FILE).is_file()

    second = SpectralEdgeTrainerCallback(store=store, window=WINDOW, run_name="hf")
    resumed = trainer(second, out, STEPS, save_steps=100)
    resumed.train(resume_from_checkpoint=str(out / "checkpoint-5"))
    want = plain_history(STEPS, window=WINDOW)
    assert_same_windows(second.monitor.history, want, rtol=1e-7)
    with open_store(store, read_only=True) as s:
        assert s.runs()["name"].tolist() == ["hf"]
        assert s.run("hf").windows()["step"].tolist() == [h["step"] for h in want]


def test_analyze_trainer_checkpoint_directories_equals_the_callback(tmp_path):
    from spectral_edge.integrations.checkpoints import analyze

    callback = SpectralEdgeTrainerCallback(window=3)
    trainer(callback, tmp_path / "out", 6, save_steps=1).train()
    assert (tmp_path / "out" / "checkpoint-6" / "model.safetensors").is_file()
    offline = analyze(tmp_path / "out", window=3)  # step and η from trainer_state.json
    assert_same_windows(offline.history, callback.monitor.history, rtol=1e-12)


def test_a_transformers_without_the_hooks_is_refused_by_version():
    from spectral_edge import SpectralEdgeError
    from spectral_edge.integrations import huggingface as adapter

    adapter.check_version(transformers.__version__)  # the installed one is fine
    with pytest.raises(SpectralEdgeError, match=r"transformers 4\.2\.0 is too old"):
        adapter.check_version("4.2.0")


def test_a_missing_state_file_on_resume_warns_and_starts_afresh(tmp_path):
    out = tmp_path / "out"
    trainer(transformers.TrainerCallback(), out, 3, save_steps=3).train()
    callback = SpectralEdgeTrainerCallback(window=WINDOW)
    with pytest.warns(RuntimeWarning, match="no monitor state"):
        trainer(callback, out, 6).train(resume_from_checkpoint=str(out / "checkpoint-3"))
    assert callback.monitor.steps_observed == 3
