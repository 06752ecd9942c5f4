"""Worker processes of test_distributed.py (a module of its own so spawn can import it)."""

from __future__ import annotations

import datetime
import os

import torch
import torch.distributed as dist
from _common import tiny_data, tiny_model
from torch import nn

from spectral_edge.integrations.distributed import distributed_monitor

SCENARIOS = {
    "ddp_all": {"wrap": "ddp", "compute": "all", "kwargs": {}},
    "ddp_rank0": {"wrap": "ddp", "compute": "rank0", "kwargs": {}},
    "ddp_sketch": {"wrap": "ddp", "compute": "all", "kwargs": {"sketch_dim": 16}},
    "fsdp_exact": {"wrap": "fsdp", "compute": "all", "kwargs": {}},
    "fsdp_sketch": {"wrap": "fsdp", "compute": "all", "kwargs": {"sketch_dim": 16}},
}


def worker(rank: int, world: int, rendezvous: str, out: str, steps: int, window: int) -> None:
    torch.set_num_threads(1)  # two processes on a small shared machine
    dist.init_process_group(
        "gloo",
        init_method=f"file://{rendezvous}",
        rank=rank,
        world_size=world,
        timeout=datetime.timedelta(seconds=120),
    )
    try:
        for name, spec in SCENARIOS.items():
            history = run_scenario(rank, world, spec, os.path.join(out, name), steps, window)
            torch.save(history, os.path.join(out, f"{name}-rank{rank}.pt"))
        with open(os.path.join(out, f"refusal-rank{rank}.txt"), "w") as f:
            f.write(refusal())
    finally:
        dist.destroy_process_group()


def refusal() -> str:
    """What a plain monitor says when built on sharded parameters without a reduce."""
    from torch.distributed.fsdp import fully_shard

    from spectral_edge import SpectralEdgeError, SpectralMonitor

    model = fully_shard(tiny_model())
    try:
        SpectralMonitor(model, window=3)
    except SpectralEdgeError as exc:
        return str(exc)
    return "no error"


def run_scenario(rank, world, spec, store, steps, window) -> list[dict]:
    model = tiny_model()
    x, y = tiny_data()
    per = x.shape[0] // world
    x, y = x[rank * per : (rank + 1) * per], y[rank * per : (rank + 1) * per]
    if spec["wrap"] == "ddp":
        wrapped = nn.parallel.DistributedDataParallel(model)
    else:
        from torch.distributed.fsdp import fully_shard

        fully_shard(model[0])
        fully_shard(model[2])
        wrapped = fully_shard(model)
    opt = torch.optim.AdamW(wrapped.parameters(), lr=0.05, weight_decay=0.0)
    monitor = distributed_monitor(
        wrapped, store=store, compute=spec["compute"], window=window, **spec["kwargs"]
    )
    monitor.attach(opt)
    for _ in range(steps):
        opt.zero_grad()
        nn.functional.mse_loss(wrapped(x), y).backward()
        opt.step()
    return monitor.history
