"""The trainer: a scaled-down run that groks beside a control that does not; identical resume;
Ctrl-C leaves a consistent run; clear errors for bad output directories and taken names."""

import io
import math
from dataclasses import replace

import pandas as pd
import pytest
import torch

from spectral_edge.errors import SpectralEdgeError
from spectral_edge.lab.presets import get_preset, parse_overrides
from spectral_edge.lab.trainer import Progress, Trainer, train
from spectral_edge.store import open_store

# The embedding MLP narrowed to d_embed 32 / hidden 128 (P = 17,403) on (a + b) mod 59, half the
# pairs, full batch, AdamW lr 1e-2: grokked at step 450 when measured; the wd-0 control stays
# near 0 % test accuracy over the same steps.
GROK = parse_overrides(
    [
        "lr=1e-2",
        "model_args=hidden=128,d_embed=32",
        "steps=700",
        "eval_every=25",
        "monitor_every=25",
    ],
    get_preset("modadd-cpu"),
)

# Small and quick, with minibatches (so the data order matters) and clipping.
TINY = parse_overrides(
    [
        "p=23",
        "batch_size=64",
        "clip=1.0",
        "steps=60",
        "eval_every=10",
        "monitor_every=5",
        "monitor_window=4",
        "model_args=hidden=64,d_embed=16",
    ],
    get_preset("modadd-cpu"),
)


def _fit_until_grok(cfg, out, name, store, stop=None):
    t = Trainer(cfg, out, store=store, run_name=name, progress=False)
    t.start()
    while t.step < (stop or cfg.steps) and t.grok_step is None:
        t.advance(cfg.eval_every)
    t.finish()
    return t


def test_weight_decay_run_groks_and_its_control_does_not(tmp_path):
    with open_store(tmp_path) as store:
        run = _fit_until_grok(GROK, tmp_path, "wd", store)
        assert run.grok_step is not None and run.grok_step <= GROK.steps
        assert run.last_eval["test_acc"] >= 0.95 and run.last_eval["train_acc"] == 1.0
        control_cfg = replace(GROK, weight_decay=0.0)
        control = _fit_until_grok(control_cfg, tmp_path, "wd0", store, stop=run.grok_step)
        assert control.step == run.grok_step  # identical cadence, same number of steps
        assert control.grok_step is None
        assert control.last_eval["train_acc"] == 1.0  # memorised ...
        assert control.last_eval["test_acc"] < 0.3  # ... without generalising
        # everything is in the store: both runs, metrics at every evaluation, windows, the event
        runs = store.runs().set_index("name")
        assert list(runs.loc[["wd", "wd0"], "status"]) == ["finished", "finished"]
        r = store.run("wd")
        m = r.metrics()
        assert {"train_loss", "train_acc", "test_loss", "test_acc", "lr"} <= set(m.columns)
        assert list(m["step"]) == list(range(0, run.grok_step + 1, GROK.eval_every))
        w = r.windows()
        assert {"k_star", "gap_ratio", "g23", "adiabatic"} <= set(w.columns)
        assert (w["step"] % GROK.monitor_every == 0).all()
        ev = r.events()
        assert list(ev.loc[ev["kind"] == "grok", "step"]) == [run.grok_step]
        cfg = r.config
        assert cfg["train"] == GROK.to_dict() | {"betas": list(GROK.betas)}
        assert cfg["monitor"]["every"] == GROK.monitor_every and r.seeds["torch"] == GROK.seed


def _params(trainer):
    return {k: v.clone() for k, v in trainer.model.state_dict().items()}


def test_interrupt_then_resume_continues_identically(tmp_path, monkeypatch):
    full = Trainer(TINY, tmp_path, run_name="full", progress=False)
    full.fit()
    half = Trainer(TINY, tmp_path, run_name="half", progress=False)
    half.start()
    real_batch = half.task.batch

    def batch(step):
        if step == 33:
            raise KeyboardInterrupt
        return real_batch(step)

    monkeypatch.setattr(half.task, "batch", batch)
    with pytest.raises(KeyboardInterrupt):
        half.advance(TINY.steps)
    assert half.step == 32
    with open_store(tmp_path) as store:
        assert store.run("half").status == "interrupted"
    saved = torch.load(half.checkpoint_path, weights_only=False)
    assert saved["step"] == 32

    resumed = Trainer(TINY, tmp_path, run_name="half", progress=False, resume=True)
    resumed.fit()
    assert resumed.step == TINY.steps
    a, b = _params(full), _params(resumed)
    assert all(torch.equal(a[k], b[k]) for k in a)
    with open_store(tmp_path) as store:
        wa, wb = store.run("full").windows(), store.run("half").windows()
        assert len(wa) > 5 and wa.equals(wb)
        ma, mb = store.run("full").metrics(), store.run("half").metrics()
        assert ma.equals(mb)
        assert store.run("half").status == "finished"


def test_resume_to_more_steps_matches_a_longer_run(tmp_path):
    train(TINY, tmp_path, run_name="long", progress=False)
    short = replace(TINY, steps=30)
    train(short, tmp_path, run_name="split", progress=False)
    train(TINY, tmp_path, run_name="split", progress=False, resume=True)
    a = torch.load(tmp_path / "checkpoints" / "long.pt", weights_only=False)
    b = torch.load(tmp_path / "checkpoints" / "split.pt", weights_only=False)
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    history = [pd.DataFrame(x["monitor"]["history"]) for x in (a, b)]
    assert history[0].equals(history[1])  # NaN-aware
    with open_store(tmp_path) as store:
        assert store.run("long").windows().equals(store.run("split").windows())


def test_resume_refuses_a_changed_config(tmp_path):
    train(replace(TINY, steps=10), tmp_path, run_name="r", progress=False)
    with pytest.raises(SpectralEdgeError, match="lr"):
        train(replace(TINY, lr=0.5), tmp_path, run_name="r", progress=False, resume=True)


def test_resume_says_what_it_did(tmp_path):
    """From a checkpoint: the step and the file. With none: that it started a new run. A run
    whose checkpoint is gone is not silently replaced."""
    lines = []

    class Lines(Progress):
        def message(self, text):
            lines.append(text)

    first = Trainer(replace(TINY, steps=10), tmp_path, run_name="r", progress=Lines(False))
    first.fit()
    assert first.resumed_from is None and lines == []
    again = Trainer(
        replace(TINY, steps=12), tmp_path, run_name="r", progress=Lines(False), resume=True
    )
    again.fit()
    path = tmp_path / "checkpoints" / "r.pt"
    assert again.resumed_from == 10 and lines == [f"[r] resumed at step 10 from {path}"]
    lines.clear()
    fresh = Trainer(
        replace(TINY, steps=4), tmp_path, run_name="new", progress=Lines(False), resume=True
    )
    fresh.fit()
    assert fresh.resumed_from is None and fresh.step == 4
    assert lines == [
        f"[new] nothing to resume (no checkpoint {tmp_path / 'checkpoints' / 'new.pt'}); "
        "started a new run at step 0"
    ]
    path.unlink()
    with pytest.raises(SpectralEdgeError, match="checkpoint .* is missing.*--overwrite"):
        train(TINY, tmp_path, run_name="r", progress=False, resume=True)


def test_same_seed_same_run_and_existing_name_needs_overwrite(tmp_path):
    cfg = replace(TINY, steps=10)
    train(cfg, tmp_path, run_name="x", progress=False)
    with pytest.raises(SpectralEdgeError, match="already exists") as info:
        train(cfg, tmp_path, run_name="x", progress=False)
    assert "\n" not in str(info.value)
    a = torch.load(tmp_path / "checkpoints" / "x.pt", weights_only=False)["model"]
    train(cfg, tmp_path, run_name="x", progress=False, overwrite=True)
    b = torch.load(tmp_path / "checkpoints" / "x.pt", weights_only=False)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)  # seeded: the same run again
    with open_store(tmp_path) as store:
        assert list(store.runs()["name"]) == ["x"]


def test_unwritable_output_directory_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(SpectralEdgeError, match="output") as info:
        train(TINY, blocker / "sub", progress=False)
    assert "\n" not in str(info.value)
    with pytest.raises(SpectralEdgeError, match="not a directory"):
        train(TINY, blocker, progress=False)


def test_progress_line_without_a_terminal():
    stream = io.StringIO()
    p = Progress(True, stream)
    p.show("step 1")  # not a TTY: live updates are dropped, forced ones are lines
    p.show("step 2", force=True)
    p.message("event")
    p.close()
    assert stream.getvalue() == "step 2\nevent\n"


def test_status_line_and_events_print(tmp_path, capsys):
    summary = train(replace(TINY, steps=20), tmp_path, run_name="s", progress=True)
    err = capsys.readouterr().err
    assert "[s] step 20/20" in err and "k*" in err and " R " in err and " A " in err
    assert summary["steps"] == 20 and math.isfinite(summary["test_loss"])


def test_dyck_is_scored_per_sequence_like_the_task_module():
    from spectral_edge.lab.tasks import dyck
    from spectral_edge.lab.trainer import _Task

    cfg = parse_overrides(["n_train=40", "n_test=200", "eval_size=0"], get_preset("dyck-cpu"))
    task = _Task(cfg)
    labels = task.test[1]
    classes = cfg.max_pairs + 1  # depths 0..max_pairs
    wrong = torch.zeros(len(labels), dtype=torch.bool)
    wrong[::3] = True  # every third string gets one depth wrong

    class Oracle(torch.nn.Module):
        """Right depths except one position in every third string (rows in test order)."""

        def forward(self, x):
            assert torch.equal(x, task.test[0]) or torch.equal(x, task.train_eval[0])
            target = labels if torch.equal(x, task.test[0]) else task.train_eval[1]
            ids = target.clamp(min=0).clone()
            if target is labels:
                ids[wrong, 0] = (ids[wrong, 0] + 1) % classes
            return torch.nn.functional.one_hot(ids, classes).float() * 10

    model = Oracle()
    result = task.evaluate(model)
    logits = model(task.test[0])
    expected = 1 - wrong.float().mean().item()
    assert result["test_acc"] == pytest.approx(expected)
    assert result["test_acc"] == pytest.approx(dyck.accuracy(logits, labels, level="sequence"))
    assert dyck.accuracy(logits, labels, level="token") > result["test_acc"] + 0.2
    assert result["train_acc"] == 1.0


def test_weight_and_gradient_norms_are_logged_at_every_evaluation(tmp_path, monkeypatch):
    """weight_norm is the global L2 norm of the parameters at the evaluation; grad_norm the mean
    pre-clipping gradient norm of the steps since the previous one (NaN at step 0)."""
    from spectral_edge.lab import optim, trainer

    norms = []
    clip = optim.clip_gradients

    def recording_clip(model, max_norm):
        norms.append(clip(model, max_norm))
        return norms[-1]

    monkeypatch.setattr(trainer, "clip_gradients", recording_clip)  # the name the trainer calls
    cfg = replace(TINY, steps=20, eval_every=10, weights_every=10)
    t = Trainer(cfg, tmp_path, run_name="norms", progress=False)
    t.fit()
    with open_store(tmp_path) as store:
        m = store.run("norms").metrics().set_index("step")
    assert len(norms) == 20
    assert math.isnan(m.loc[0, "grad_norm"])
    assert m.loc[10, "grad_norm"] == pytest.approx(sum(norms[:10]) / 10, rel=1e-12)
    assert m.loc[20, "grad_norm"] == pytest.approx(sum(norms[10:]) / 10, rel=1e-12)
    expected = math.sqrt(sum(float(p.detach().double().pow(2).sum()) for p in t.model.parameters()))
    assert m.loc[20, "weight_norm"] == pytest.approx(expected, rel=1e-12)
    saved = sorted(p.name for p in t.weights_dir.iterdir())
    assert saved == ["step-0000000.pt", "step-0000010.pt", "step-0000020.pt"]
    weights = torch.load(t.weights_dir / "step-0000020.pt", weights_only=True)
    for name, value in t.model.state_dict().items():
        assert torch.equal(weights["model"][name], value)


def test_gradient_norm_without_clipping_leaves_the_gradients_alone():
    from spectral_edge.lab.optim import clip_gradients

    torch.manual_seed(0)
    lin = torch.nn.Linear(5, 3)
    lin(torch.randn(8, 5)).square().sum().backward()
    before = [p.grad.clone() for p in lin.parameters()]
    norm = clip_gradients(lin, 0.0)
    expected = math.sqrt(sum(float(g.double().pow(2).sum()) for g in before))
    assert norm == pytest.approx(expected, rel=1e-6)  # float32 gradients
    assert all(torch.equal(p.grad, g) for p, g in zip(lin.parameters(), before, strict=True))


def test_the_x2_mlp_loss_in_the_authors_form():
    """sum_centred: class-centred outputs and targets, squared error summed over the outputs,
    averaged over the samples; evaluations still report torch's mean MSE."""
    from spectral_edge.lab.trainer import _Task

    cfg = replace(get_preset("mlp-lockin"), p=7, model_args="width=16")
    task = _Task(cfg)
    torch.manual_seed(0)
    model = task.build_model()
    x, y, labels = (t[:10] for t in task.train)
    out = model(x).detach()
    loss, _, _ = task.forward(model, (x, y, labels), "sum_centred")
    by_hand = 0.0
    for o, t in zip(out.double().tolist(), y.double().tolist(), strict=True):
        mo, mt = sum(o) / len(o), sum(t) / len(t)
        by_hand += sum(((a - mo) - (b - mt)) ** 2 for a, b in zip(o, t, strict=True))
    assert loss.item() == pytest.approx(by_hand / 10, rel=1e-5)
    mean_loss, _, _ = task.forward(model, (x, y, labels))
    assert float(mean_loss) == pytest.approx(float(((out - y) ** 2).mean()), rel=1e-6)
