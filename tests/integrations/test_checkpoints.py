"""analyze: saved checkpoints give the windows the online monitor gave; bad input is refused."""

from __future__ import annotations

import pytest
import torch
from _common import assert_same_windows, tiny_data, tiny_model
from torch import nn

from spectral_edge import SpectralEdgeError, SpectralMonitor, open_store
from spectral_edge.cli import main
from spectral_edge.integrations.checkpoints import analyze, discover, step_from_name

STEPS, WINDOW = 11, 4


def train_and_save(directory, steps=STEPS, fmt="torch", **monitor_kwargs):
    """A plain run that saves every step and is watched online; returns the online history."""
    directory.mkdir(parents=True, exist_ok=True)
    model = tiny_model()
    x, y = tiny_data()
    opt = torch.optim.AdamW(model.parameters(), lr=0.05, weight_decay=0.0)
    monitor = SpectralMonitor(model, window=WINDOW, **monitor_kwargs).attach(opt)
    for step in range(1, steps + 1):
        opt.zero_grad()
        nn.functional.mse_loss(model(x), y).backward()
        opt.step()
        if fmt == "torch":
            payload = {"model": model.state_dict(), "optimizer": opt.state_dict(), "step": step}
            torch.save(payload, directory / f"step-{step}.pt")
        else:
            from safetensors.torch import save_file

            save_file(model.state_dict(), str(directory / f"model-{step}.safetensors"))
    return monitor.history


def test_analyze_equals_the_online_monitor(tmp_path):
    online = train_and_save(tmp_path / "ckpts")
    offline = analyze(tmp_path / "ckpts", store=tmp_path / "store", name="offline", window=WINDOW)
    assert_same_windows(offline.history, online, rtol=1e-12)
    with open_store(tmp_path / "store", read_only=True) as store:
        run = store.run("offline")
        assert run.status == "finished"
        assert run.windows()["step"].tolist() == [h["step"] for h in online]
        assert run.config["analyze"]["format"] == "torch"


def test_analyze_with_a_selection_and_a_sketch(tmp_path):
    kwargs = {"params": r"^0\.", "sketch_dim": 16, "seed": 3}
    online = train_and_save(tmp_path / "ckpts", **kwargs)
    offline = analyze(tmp_path / "ckpts", window=WINDOW, **kwargs)
    assert offline.layout.names == ["0.bias", "0.weight"]
    assert_same_windows(offline.history, online, rtol=1e-12)


def test_analyze_safetensors_with_a_given_lr(tmp_path):
    pytest.importorskip("safetensors")
    online = train_and_save(tmp_path / "st", fmt="safetensors")
    offline = analyze(tmp_path / "st", window=WINDOW, lr=0.05)
    assert_same_windows(offline.history, online, rtol=1e-12)


def test_tied_weights_and_buffers_of_a_tiny_gpt2(tmp_path):
    transformers = pytest.importorskip("transformers")
    config = transformers.GPT2Config(
        n_layer=1,
        n_embd=16,
        n_head=2,
        vocab_size=40,
        n_positions=8,
        bos_token_id=0,
        eos_token_id=0,
    )
    torch.manual_seed(0)
    model = transformers.GPT2LMHeadModel(config)
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    monitor = SpectralMonitor(model, window=3, params="attention").attach(opt)
    ids = torch.randint(0, 40, (2, 8), generator=torch.Generator().manual_seed(0))
    for step in range(1, 7):
        opt.zero_grad()
        model(input_ids=ids, labels=ids).loss.backward()
        opt.step()
        torch.save(model.state_dict(), tmp_path / f"step_{step}.bin")  # wte and lm_head: one
    offline = analyze(tmp_path, window=3, params="attention", lr=0.5)
    assert offline.layout.numel == monitor.layout.numel
    assert_same_windows(offline.history, monitor.history, rtol=1e-9)
    everything = analyze(tmp_path, window=3, lr=0.5)
    assert "lm_head.weight" not in everything.layout.names  # tied to transformer.wte.weight
    assert everything.layout.numel == sum(p.numel() for p in model.parameters())


def test_cli_analyze_writes_a_run_and_shows_progress(tmp_path, capsys):
    online = train_and_save(tmp_path / "ckpts")
    code = main(
        [
            "analyze",
            str(tmp_path / "ckpts"),
            "--store",
            str(tmp_path / "s"),
            "--window",
            "4",
            "--name",
            "cli",
        ]
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    assert f"analyze [####################] {STEPS}/{STEPS} step {STEPS}" in err
    assert f"{len(online)} windows" in out
    with open_store(tmp_path / "s", read_only=True) as store:
        assert store.run("cli").windows()["step"].tolist() == [h["step"] for h in online]


def test_steps_come_from_names_in_numeric_order(tmp_path):
    for name in ["step-10.pt", "step-9.pt", "checkpoint-3", "epoch=1-step=120.ckpt", "w_7.bin"]:
        path = tmp_path / name
        if name.startswith("checkpoint"):
            path.mkdir()
            (path / "pytorch_model.bin").write_bytes(b"")
    assert step_from_name(tmp_path / "epoch=1-step=120.ckpt") == 120
    assert step_from_name(tmp_path / "checkpoint-3") == 3
    assert step_from_name(tmp_path / "w_7.bin") == 7
    assert discover([tmp_path / "checkpoint-3"])[0].format == "hf"


# -- bad input: an error naming the file, and nothing in the store ----------------------------


def _no_runs(store_dir):
    if not store_dir.exists():
        return True
    with open_store(store_dir) as store:
        return store.runs().empty


def _refused(paths, store_dir, match):
    with pytest.raises(SpectralEdgeError, match=match):
        analyze(paths, store=store_dir, window=WINDOW)
    assert _no_runs(store_dir)


def test_empty_directory(tmp_path):
    (tmp_path / "empty").mkdir()
    _refused(tmp_path / "empty", tmp_path / "s", r"empty: no checkpoints in this directory")


def test_missing_path(tmp_path):
    _refused(tmp_path / "nope", tmp_path / "s", r"nope: no such file")


def test_truncated_file(tmp_path):
    train_and_save(tmp_path / "c")
    victim = tmp_path / "c" / "step-7.pt"
    victim.write_bytes(victim.read_bytes()[:300])
    _refused(tmp_path / "c", tmp_path / "s", r"step-7\.pt: cannot read this checkpoint")


def test_corrupt_file(tmp_path):
    train_and_save(tmp_path / "c")
    (tmp_path / "c" / "step-5.pt").write_bytes(b"\x00garbage" * 100)
    _refused(tmp_path / "c", tmp_path / "s", r"step-5\.pt: cannot read")


def test_corrupt_safetensors(tmp_path):
    pytest.importorskip("safetensors")
    train_and_save(tmp_path / "c", fmt="safetensors")
    victim = tmp_path / "c" / "model-4.safetensors"
    victim.write_bytes(victim.read_bytes()[:-40])
    _refused(tmp_path / "c", tmp_path / "s", r"model-4\.safetensors: cannot read")


def test_mismatched_shapes(tmp_path):
    train_and_save(tmp_path / "c")
    payload = torch.load(tmp_path / "c" / "step-6.pt", weights_only=True)
    payload["model"]["0.weight"] = torch.zeros(8, 5, dtype=torch.float64)
    torch.save(payload, tmp_path / "c" / "step-6.pt")
    _refused(tmp_path / "c", tmp_path / "s", r"step-6\.pt: parameters differ .*reshaped 0\.weight")


def test_mismatched_names(tmp_path):
    train_and_save(tmp_path / "c")
    payload = torch.load(tmp_path / "c" / "step-8.pt", weights_only=True)
    payload["model"]["extra.weight"] = payload["model"].pop("2.bias")
    torch.save(payload, tmp_path / "c" / "step-8.pt")
    _refused(tmp_path / "c", tmp_path / "s", r"step-8\.pt: .*missing \['2\.bias'\]; new")


def test_mixed_formats(tmp_path):
    pytest.importorskip("safetensors")
    train_and_save(tmp_path / "c")
    train_and_save(tmp_path / "d", fmt="safetensors")
    _refused([tmp_path / "c", tmp_path / "d"], tmp_path / "s", r"several formats")


def test_duplicate_steps(tmp_path):
    train_and_save(tmp_path / "c", steps=4)
    (tmp_path / "c" / "step-4.pt").rename(tmp_path / "c" / "step-3b.pt")  # stored step 4
    torch.save(torch.load(tmp_path / "c" / "step-3.pt"), tmp_path / "c" / "step-03.pt")
    _refused(tmp_path / "c", tmp_path / "s", r"step 3 does not follow step 3")


def test_too_few_checkpoints_and_wrong_options(tmp_path):
    train_and_save(tmp_path / "c", steps=2)
    _refused(tmp_path / "c", tmp_path / "s", r"found 2 checkpoint\(s\)")
    with pytest.raises(SpectralEdgeError, match="every does not apply"):
        analyze(tmp_path / "c", every=2)
    assert main(["analyze", str(tmp_path / "c")]) == 2


def test_lightning_last_ckpt_and_an_hf_final_model_are_left_out(tmp_path):
    for name in ["epoch=0-step=1.ckpt", "epoch=0-step=2.ckpt", "last.ckpt"]:
        (tmp_path / name).write_bytes(b"")
    assert [c.path.name for c in discover([tmp_path])] == [
        "epoch=0-step=1.ckpt",
        "epoch=0-step=2.ckpt",
    ]
    out = tmp_path / "out"
    for d in ["checkpoint-1", "checkpoint-2", "."]:
        (out / d).mkdir(parents=True, exist_ok=True)
        (out / d / "model.safetensors").write_bytes(b"")
    assert [c.path.name for c in discover([out])] == ["checkpoint-1", "checkpoint-2"]
    assert [c.format for c in discover([out / "checkpoint-2"])] == ["hf"]
