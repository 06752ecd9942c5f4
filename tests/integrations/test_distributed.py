"""Two gloo processes on CPU give the single-process windows: DDP and FSDP2, exact and sketched."""

from __future__ import annotations

import os
import time

import pytest
import torch
import torch.multiprocessing as mp
from _common import assert_same_windows, plain_history, tiny_data, tiny_model

from spectral_edge import open_store

STEPS, WINDOW, WORLD = 8, 4, 2
pytestmark = pytest.mark.skipif(
    not torch.distributed.is_available() or not torch.distributed.is_gloo_available(),
    reason="torch.distributed with gloo is not available",
)


@pytest.fixture(scope="module")
def two_process_run(tmp_path_factory):
    from _dist_workers import worker

    out = tmp_path_factory.mktemp("dist")
    rendezvous = str(out / "rendezvous")
    context = mp.start_processes(
        worker,
        args=(WORLD, rendezvous, str(out), STEPS, WINDOW),
        nprocs=WORLD,
        join=False,
        start_method="spawn",
    )
    deadline = time.monotonic() + 240  # a run takes ~10 s; wide headroom for a loaded machine
    while not context.join(timeout=5):
        if time.monotonic() > deadline:
            for p in context.processes:
                p.kill()
            pytest.fail("the two-process run did not finish in 240 s")
    return out


def _history(out, name, rank):
    return torch.load(os.path.join(out, f"{name}-rank{rank}.pt"), weights_only=False)


@pytest.mark.parametrize("name", ["ddp_all", "ddp_sketch", "fsdp_exact", "fsdp_sketch"])
def test_two_processes_equal_one(two_process_run, name):
    kwargs = {"sketch_dim": 16} if "sketch" in name else {}
    want = plain_history(STEPS, window=WINDOW, **kwargs)
    for rank in range(WORLD):  # every process holds the global windows
        assert_same_windows(_history(two_process_run, name, rank), want, rtol=1e-9)


def test_rank0_compute_leaves_other_ranks_idle(two_process_run):
    want = plain_history(STEPS, window=WINDOW)
    assert_same_windows(_history(two_process_run, "ddp_rank0", 0), want, rtol=1e-9)
    assert _history(two_process_run, "ddp_rank0", 1) == []


@pytest.mark.parametrize("name", ["ddp_all", "fsdp_exact"])
def test_only_rank0_writes_the_store(two_process_run, name):
    with open_store(two_process_run / name, read_only=True) as store:
        runs = store.runs()
        assert len(runs) == 1
        windows = store.run(int(runs["id"][0])).windows()
    assert windows["step"].tolist() == [h["step"] for h in plain_history(STEPS, window=WINDOW)]


@pytest.mark.parametrize("path", ["exact", "sketch"])
def test_a_nan_on_one_shard_is_one_episode_on_every_rank(two_process_run, path):
    """Rank 0's shard holds a NaN at three snapshots in a row; rank 1's never does. Both ranks
    must reject the same update, refuse the same baselines (the finiteness of θ is reduced),
    report one ``nonfinite`` event, and go on to the single-process windows."""
    from _dist_workers import POISON_STEPS, poisoned_loop

    from spectral_edge import SpectralMonitor

    model = tiny_model()
    x, y = tiny_data()
    opt = torch.optim.AdamW(model.parameters(), lr=0.05, weight_decay=0.0)
    kwargs = {} if path == "exact" else {"sketch_dim": 16}
    want = poisoned_loop(model, SpectralMonitor(model, window=WINDOW, **kwargs), opt, x, y, True)
    assert want["events"] == [(POISON_STEPS[0], "nonfinite")]
    for rank in range(WORLD):
        got = _history(two_process_run, f"fsdp_diverge_{path}", rank)
        assert got["events"] == want["events"]
        assert_same_windows(got["history"], want["history"], rtol=1e-9)


def test_a_plain_monitor_refuses_sharded_parameters(two_process_run):
    for rank in range(WORLD):
        message = (two_process_run / f"refusal-rank{rank}.txt").read_text()
        assert "sharded across processes" in message and "distributed_monitor" in message


def test_without_a_process_group_it_is_the_plain_monitor():
    from _common import tiny_model

    from spectral_edge import SpectralMonitor
    from spectral_edge.integrations.distributed import distributed_monitor

    assert type(distributed_monitor(tiny_model(), window=3)) is SpectralMonitor
