"""Faults a real training run meets, and what the monitor does about each (docs/robustness.md).

Parameters frozen, unfrozen or added mid-run, a learning rate of zero, an optimizer swapped for
another, parameters that stay non-finite, a disk that fills up and a store directory that is or
becomes read-only. The full disk and the read-only directory are real: a tiny tmpfs mounted for
the test (root only) or a file-size limit (RLIMIT_FSIZE) set in a child process, and a directory
without write permission (non-root). In every case training goes on, the window holds only
valid updates (checked against θ collected by hand) and the store keeps what it had.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest
import torch
from test_monitor import (
    batch_gram,
    close_gram,
    diffs_at,
    make_model,
    make_opt,
    problems,
    theta,
    train,
    train_step,
)
from torch import nn

from spectral_edge import SpectralEdgeError, SpectralMonitor, open_store


def observed(mon, model, opt, steps, start):
    """Train with the monitor attached; {step: θ_step}."""
    out = {}
    for t in range(start, start + steps):
        train_step(model, opt, t)
        out[t] = theta(model)
    return out


def selected_theta(model, names):
    named = dict(model.named_parameters())
    return np.concatenate([named[n].detach().double().reshape(-1).numpy() for n in names])


# --------------------------------------------------------------------------------------------
# The parameter set changes


def test_freezing_a_parameter_starts_a_new_window_on_the_rest():
    model = make_model()
    opt = make_opt(model)
    mon = SpectralMonitor(model, window=3, phases=False, warning=False)
    train(model, opt, 6, mon)
    model[2].bias.requires_grad_(False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        train(model, opt, 1, mon, start=7)
    assert problems(mon) == [(7, "layout_changed")]
    message = mon.events[-1].message
    assert "frozen: '2.bias'" in message and "new window" in message
    assert mon.layout.names == ["0.bias", "0.weight", "2.weight"]
    names = mon.layout.names
    thetas = {7: selected_theta(model, names)}
    for t in range(8, 12):
        train_step(model, opt, t)
        mon.observe(t)
        thetas[t] = selected_theta(model, names)
    assert mon.to_dataframe()["step"].tolist()[-3:] == [9, 10, 11]
    close_gram(mon.gram.gram(), batch_gram(list(diffs_at(thetas, sorted(thetas)).values())[-3:]))


def test_unfreezing_and_adding_parameters_are_reported_and_watched():
    model = make_model()
    model[0].weight.requires_grad_(False)
    opt = make_opt(model)
    mon = SpectralMonitor(model, window=3, phases=False, warning=False)
    assert "0.weight" not in mon.layout.names
    train(model, opt, 4, mon)
    model[0].weight.requires_grad_(True)
    model.register_parameter("extra", nn.Parameter(torch.zeros(5)))
    train(model, opt, 1, mon, start=5)
    assert problems(mon) == [(5, "layout_changed")]
    assert "added or unfrozen: '0.weight', 'extra'" in mon.events[-1].message
    assert mon.layout.numel == sum(p.numel() for p in model.parameters())
    assert mon.events[-1].evidence == {"n_params": mon.layout.numel}


def test_without_trainable_only_a_frozen_parameter_stays_in_the_window():
    model = make_model()
    opt = make_opt(model)
    mon = SpectralMonitor(model, window=4, trainable_only=False, phases=False, warning=False)
    thetas = train(model, opt, 5, mon)
    model[0].weight.requires_grad_(False)  # AdamW then skips it: its coordinates stop moving
    thetas.update(train(model, opt, 3, mon, start=6))
    assert problems(mon) == []
    deltas = list(diffs_at(thetas, sorted(thetas)).values())
    close_gram(mon.gram.gram(), batch_gram(deltas[-4:]))
    start = model[0].bias.numel()  # the name-sorted layout: "0.bias", then "0.weight"
    frozen = slice(start, start + model[0].weight.numel())
    assert np.all(deltas[-1][frozen] == 0) and np.any(deltas[-1] != 0)


def test_freezing_everything_pauses_once_and_unfreezing_resumes():
    model = make_model()
    opt = make_opt(model)
    mon = SpectralMonitor(model, window=3, phases=False, warning=False)
    train(model, opt, 4, mon)
    model.requires_grad_(False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for t in range(5, 9):
            assert mon.observe(t) is None
    assert problems(mon) == [(5, "layout_changed")]
    assert "no trainable parameters" in mon.events[-1].message
    assert "pauses" in mon.events[-1].message
    model.requires_grad_(True)
    train(model, opt, 4, mon, start=9)
    assert problems(mon) == [(5, "layout_changed"), (9, "layout_changed")]
    assert mon.to_dataframe()["step"].tolist()[-2:] == [11, 12]


def test_strict_mode_raises_when_the_parameter_set_changes():
    model = make_model()
    mon = SpectralMonitor(model, window=3, strict=True)
    mon.observe(1)
    model[2].weight.requires_grad_(False)
    with pytest.raises(SpectralEdgeError, match="frozen: '2.weight'"):
        mon.observe(2)


# --------------------------------------------------------------------------------------------
# Learning rate zero, optimizer swapped, divergence


@pytest.mark.parametrize("optimizer", ["adamw", "sgd_momentum"])
def test_learning_rate_zero_gives_zero_updates_and_an_undefined_adiabatic(optimizer):
    model = make_model()
    if optimizer == "adamw":
        opt = make_opt(model)
    else:
        opt = torch.optim.SGD(model.parameters(), lr=1e-2, momentum=0.9, weight_decay=1e-3)
    mon = SpectralMonitor(model, window=3, phases=False, warning=False).attach(opt)
    observed(mon, model, opt, 5, 1)
    opt.param_groups[0]["lr"] = 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        observed(mon, model, opt, 3, 6)
    assert problems(mon) == [(6, "zero_update"), (7, "zero_update"), (8, "zero_update")]
    assert np.isnan(mon.latest.adiabatic)  # A = ‖ΔG‖/(η g²) has no value at η = 0
    assert mon.latest.lr == 0.0
    assert np.all(mon.gram.gram() == 0)  # three zero updates fill the window
    opt.param_groups[0]["lr"] = 1e-2
    observed(mon, model, opt, 3, 9)
    assert np.isfinite(mon.latest.adiabatic) and mon.latest.sigma_1 > 0


def test_an_optimizer_swapped_mid_run_continues_the_same_window_once_attached():
    model = make_model()
    adamw = make_opt(model)
    mon = SpectralMonitor(model, window=4, phases=False, warning=False).attach(adamw)
    thetas = observed(mon, model, adamw, 4, 1)
    sgd = torch.optim.SGD(model.parameters(), lr=0.05)
    mon.attach(sgd)  # attaching to the new optimizer detaches the old one
    thetas.update(observed(mon, model, sgd, 4, 5))
    assert mon.steps_observed == 8
    assert mon.latest.step == 8 and mon.latest.lr == 0.05
    assert problems(mon) == []
    deltas = list(diffs_at(thetas, sorted(thetas)).values())
    close_gram(mon.gram.gram(), batch_gram(deltas[-4:]))  # the window spans the swap
    train_step(model, adamw, 9)  # the old optimizer no longer triggers the monitor
    assert mon.steps_observed == 8


@pytest.mark.parametrize("sketch_dim", [None, 16])
def test_parameters_that_stay_non_finite_never_enter_the_window(sketch_dim):
    """A diverged run: one ``nonfinite`` event per episode, however long it lasts; no NaN
    baseline is kept, so nothing is pushed while θ stays bad; finite parameters end the
    episode, and a second fault is a second episode."""
    model = make_model()
    opt = make_opt(model)
    mon = SpectralMonitor(model, window=3, sketch_dim=sketch_dim, phases=False, warning=False)
    train(model, opt, 4, mon)
    saved = {n: p.detach().clone() for n, p in model.named_parameters()}
    pushes = mon.gram.pushes

    def poison(steps):
        with torch.no_grad():
            model[0].weight.fill_(float("nan"))
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            for t in steps:
                assert mon.observe(t) is None
        assert np.all(np.isfinite(mon.gram.gram()))
        assert mon.updates.previous is None  # never a NaN baseline
        with torch.no_grad():
            for n, p in model.named_parameters():
                p.copy_(saved[n])

    poison(range(5, 11))
    assert problems(mon) == [(5, "nonfinite")]
    assert mon.gram.rejected == 1 and mon.gram.pushes == pushes  # only the first push tried
    train(model, opt, 3, mon, start=11)
    assert mon.latest.step == 13 and np.isfinite(mon.latest.sigma_1)
    poison(range(14, 20))
    assert problems(mon) == [(5, "nonfinite"), (14, "nonfinite")]


def test_non_finite_parameters_from_the_start_are_one_episode():
    model = make_model()
    with torch.no_grad():
        model[2].bias.fill_(float("inf"))
    mon = SpectralMonitor(model, window=3, phases=False, warning=False)
    for t in range(1, 6):
        assert mon.observe(t) is None
    assert problems(mon) == [(1, "nonfinite")]
    assert "baseline" in mon.events[0].message and mon.gram.pushes + mon.gram.rejected == 0


# --------------------------------------------------------------------------------------------
# A full disk and a read-only store directory, for real


@pytest.fixture
def tiny_fs(tmp_path):
    """An 8 MiB tmpfs at tmp_path/fs (root only; room for SQLite's write-ahead log)."""
    mount = tmp_path / "fs"
    mount.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root; the RLIMIT_FSIZE test covers a full disk")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mount)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(directory) -> None:
    """Write a file until the filesystem is full."""
    with contextlib.suppress(OSError), open(directory / "filler", "wb") as fh:
        while True:
            fh.write(b"\0" * 4096)
            fh.flush()


def store_steps(path) -> tuple[list[int], list[str]]:
    with open_store(path, read_only=True) as store:
        run = store.run(store.runs()["name"].iloc[0])
        return run.windows()["step"].tolist(), run.events()["kind"].tolist()


def test_a_full_disk_is_reported_and_the_store_catches_up_when_space_returns(tiny_fs):
    model = make_model()
    opt = make_opt(model)
    mon = SpectralMonitor(model, window=3, store=tiny_fs, phases=False, warning=False).attach(opt)
    observed(mon, model, opt, 6, 1)
    fill(tiny_fs)
    with pytest.warns(RuntimeWarning, match="full"):
        observed(mon, model, opt, 40, 7)
    kinds = [e.kind for e in mon.events]
    assert kinds.count("store_error") == 1 and "full" in mon.events[0].message
    assert len(mon.to_dataframe()) == 44  # training and monitoring went on
    (tiny_fs / "filler").unlink()
    observed(mon, model, opt, 2, 47)
    assert mon.events[-1].kind == "store_recovered"
    steps, events = store_steps(tiny_fs)
    assert steps == list(range(3, 49))  # nothing lost: the held windows were written
    assert events == ["store_recovered"]


def test_a_read_only_store_directory_at_start_is_reported_and_training_goes_on(tmp_path):
    target = tmp_path / "ro"
    target.mkdir()
    if os.geteuid() == 0:
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(target)])
        if done.returncode != 0:
            pytest.skip("root ignores permissions and cannot mount a read-only tmpfs here")
    else:
        target.chmod(0o555)
    try:
        model = make_model()
        opt = make_opt(model)
        with pytest.warns(RuntimeWarning, match="spectral-edge store"):
            mon = SpectralMonitor(model, window=3, store=target / "runs").attach(opt)
        assert mon.run is None
        assert mon.events[0].kind == "store_error" and "in memory only" in mon.events[0].message
        observed(mon, model, opt, 5, 1)
        assert len(mon.to_dataframe()) == 3
        with pytest.raises(SpectralEdgeError, match="cannot"):
            SpectralMonitor(model, window=3, store=target / "runs", strict=True)
    finally:
        if os.geteuid() == 0:
            subprocess.run(["umount", "-l", str(target)], check=False)
        else:
            target.chmod(0o755)


CHILD = textwrap.dedent(
    """
    import json, resource, signal, sys, warnings
    import torch
    sys.path.insert(0, {tests!r})
    from test_monitor import make_model, make_opt, train_step
    from spectral_edge import SpectralMonitor

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
    warnings.simplefilter("ignore")
    model = make_model(); opt = make_opt(model)
    mon = SpectralMonitor(model, window=3, store={store!r}, phases=False, warning=False)
    mon.attach(opt)
    for t in range(1, 6):
        train_step(model, opt, t)
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, hard))  # no file may grow any more
    for t in range(6, 40):
        train_step(model, opt, t)
    resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    train_step(model, opt, 40)
    print(json.dumps([[e.step, e.kind, e.message] for e in mon.events]))
    """
)


def test_a_file_size_limit_is_a_full_disk_too(tmp_path):
    """Where no tmpfs can be mounted: writes refused with EFBIG, in a child process."""
    store = tmp_path / "store"
    script = CHILD.format(tests=os.path.dirname(__file__), store=str(store))
    env = dict(os.environ, OMP_NUM_THREADS="1")
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300, env=env
    )
    assert done.returncode == 0, done.stderr
    events = json.loads(done.stdout.strip().splitlines()[-1])
    assert [kind for _, kind, _ in events] == ["store_error", "store_recovered"]
    assert events[1][0] == 40
    steps, kinds = store_steps(store)
    assert steps == list(range(3, 41))
    assert kinds == ["store_recovered"]
