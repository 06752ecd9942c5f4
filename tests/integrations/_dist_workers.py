"""Worker processes of test_distributed.py (a module of its own so spawn can import it).

Each scenario builds the monitor as a user would, ``SpectralMonitor(wrapped_model, ...)`` with
no distributed argument, on a DDP or FSDP2 model; ``ddp_rank0`` is the one that needs
``distributed_monitor`` (``compute="rank0"``).
"""

from __future__ import annotations

import datetime
import io
import os

import torch
import torch.distributed as dist
from _common import tiny_data, tiny_model
from torch import nn

from spectral_edge import SpectralMonitor
from spectral_edge.integrations.distributed import distributed_monitor

RESUME_AT = 5  # resume scenarios: a second monitor takes over after this many steps

SCENARIOS = {
    "ddp_exact": {"wrap": "ddp", "kwargs": {}},
    "ddp_sketch": {"wrap": "ddp", "kwargs": {"sketch_dim": 16}},
    "ddp_every": {"wrap": "ddp", "kwargs": {"every": 2}},
    "ddp_resume": {"wrap": "ddp", "kwargs": {"sketch_dim": 16}, "resume": True},
    "ddp_rank0": {"wrap": "ddp", "kwargs": {}, "compute": "rank0"},
    "fsdp_exact": {"wrap": "fsdp", "kwargs": {}},
    "fsdp_sketch": {"wrap": "fsdp", "kwargs": {"sketch_dim": 16}},
    "fsdp_every": {"wrap": "fsdp", "kwargs": {"every": 2, "sketch_dim": 16}},
    "fsdp_resume": {"wrap": "fsdp", "kwargs": {"every": 2}, "resume": True},
    "fsdp_resume_sketch": {"wrap": "fsdp", "kwargs": {"sketch_dim": 16}, "resume": True},
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
            result = run_scenario(rank, world, spec, os.path.join(out, name), steps, window)
            torch.save(result, os.path.join(out, f"{name}-rank{rank}.pt"))
        for exact in (True, False):
            name = "fsdp_diverge_" + ("exact" if exact else "sketch")
            torch.save(
                run_diverging(rank, world, window, exact),
                os.path.join(out, f"{name}-rank{rank}.pt"),
            )
    finally:
        dist.destroy_process_group()


def run_scenario(rank, world, spec, store, steps, window) -> dict:
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

    def build(**extra):
        kwargs = {"store": store, "run_name": "run", "window": window, **spec["kwargs"], **extra}
        if "compute" in spec:
            return distributed_monitor(wrapped, compute=spec["compute"], **kwargs)
        return SpectralMonitor(wrapped, **kwargs)

    monitor = build().attach(opt)
    for step in range(1, steps + 1):
        opt.zero_grad()
        nn.functional.mse_loss(wrapped(x), y).backward()
        opt.step()
        if spec.get("resume") and step == RESUME_AT:
            # As a restarted job would: the state goes through a file, per rank (under FSDP it
            # holds this process's shard of θ), and the run is continued, not created again.
            buffer = io.BytesIO()
            torch.save(monitor.state_dict(), buffer)
            monitor.close("interrupted")
            buffer.seek(0)
            monitor = build(resume=True)
            monitor.load_state_dict(torch.load(buffer, weights_only=True))
            monitor.attach(opt)
    monitor.close()
    return {
        "history": monitor.history,
        "events": [(e.step, e.kind) for e in monitor.events],
        "writes": monitor.run is not None,
    }


# A non-finite episode under FSDP: at these snapshots one entry of rank 0's shard is NaN (the
# other rank's shard is finite), so whether the update and the next baselines are finite is
# known only to rank 0 until it is reduced.
POISON_STEPS = (5, 6, 7)
DIVERGE_STEPS = 12


def poisoned_loop(model, monitor, opt, x, y, poison_here: bool) -> dict:
    """Full-batch AdamW steps, observed after each; at POISON_STEPS the first entry of the first
    parameter (of this process's shard) is NaN while the monitor looks, then restored."""
    first = next(model.parameters())
    for step in range(1, DIVERGE_STEPS + 1):
        opt.zero_grad()
        nn.functional.mse_loss(model(x), y).backward()
        opt.step()
        local = first.to_local() if hasattr(first, "to_local") else first
        poisoned = poison_here and step in POISON_STEPS
        with torch.no_grad():
            saved = local.view(-1)[0].clone()
            if poisoned:
                local.view(-1)[0] = float("nan")
        monitor.observe(step, lr=0.05)
        with torch.no_grad():
            local.view(-1)[0] = saved
    events = [(e.step, e.kind) for e in monitor.events if e.kind not in ("phase", "warning")]
    return {"history": monitor.history, "events": events}


def run_diverging(rank, world, window, exact: bool) -> dict:
    from torch.distributed.fsdp import fully_shard

    model = tiny_model()
    x, y = tiny_data()
    per = x.shape[0] // world
    x, y = x[rank * per : (rank + 1) * per], y[rank * per : (rank + 1) * per]
    fully_shard(model[0])
    fully_shard(model[2])
    wrapped = fully_shard(model)
    opt = torch.optim.AdamW(wrapped.parameters(), lr=0.05, weight_decay=0.0)
    kwargs = {} if exact else {"sketch_dim": 16}
    monitor = SpectralMonitor(wrapped, window=window, **kwargs)
    return poisoned_loop(wrapped, monitor, opt, x, y, poison_here=rank == 0)
