"""Two gloo processes on CPU give the single-process windows with a plain ``SpectralMonitor`` on
the wrapped model: DDP and FSDP2, exact and sketched, ``every`` > 1, resumed half-way, and NaNs
in one process's shard only (every process rejects them together: one episode)."""

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
    deadline = time.monotonic() + 300  # a run takes ~20 s; wide headroom for a loaded machine
    while not context.join(timeout=5):
        if time.monotonic() > deadline:
            for p in context.processes:
                p.kill()
            pytest.fail("the two-process run did not finish in 300 s")
    return out


def _result(out, name, rank):
    return torch.load(os.path.join(out, f"{name}-rank{rank}.pt"), weights_only=False)


def _kwargs(name):
    from _dist_workers import SCENARIOS

    return SCENARIOS[name]["kwargs"]


SAME_AS_ONE = [
    "ddp_exact",
    "ddp_sketch",
    "ddp_every",
    "ddp_resume",
    "fsdp_exact",
    "fsdp_sketch",
    "fsdp_every",
    "fsdp_resume",
    "fsdp_resume_sketch",
]


@pytest.mark.parametrize("name", SAME_AS_ONE)
def test_two_processes_equal_one(two_process_run, name):
    want = plain_history(STEPS, window=WINDOW, **_kwargs(name))
    for rank in range(WORLD):  # every process holds the global windows
        assert_same_windows(_result(two_process_run, name, rank)["history"], want, rtol=1e-9)


@pytest.mark.parametrize("name", SAME_AS_ONE)
def test_only_rank0_writes_the_store(two_process_run, name):
    assert [_result(two_process_run, name, r)["writes"] for r in range(WORLD)] == [True, False]
    with open_store(two_process_run / name, read_only=True) as store:
        runs = store.runs()
        assert runs["name"].tolist() == ["run"]  # a resume continued the run, not a second one
        assert runs["status"].tolist() == ["finished"]
        windows = store.run("run").windows()
    want = plain_history(STEPS, window=WINDOW, **_kwargs(name))
    assert windows["step"].tolist() == [h["step"] for h in want]
    assert windows["k_star"].tolist() == [h["k_star"] for h in want]


def test_rank0_compute_leaves_other_ranks_idle(two_process_run):
    want = plain_history(STEPS, window=WINDOW)
    assert_same_windows(_result(two_process_run, "ddp_rank0", 0)["history"], want, rtol=1e-9)
    assert _result(two_process_run, "ddp_rank0", 1)["history"] == []


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
        got = _result(two_process_run, f"fsdp_diverge_{path}", rank)
        assert got["events"] == want["events"]
        assert_same_windows(got["history"], want["history"], rtol=1e-9)


def test_without_a_process_group_it_is_the_plain_monitor():
    from _common import tiny_model

    from spectral_edge import SpectralMonitor
    from spectral_edge.integrations.distributed import distributed_monitor

    assert type(distributed_monitor(tiny_model(), window=3)) is SpectralMonitor
