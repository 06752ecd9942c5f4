"""The monitor under torch.distributed: DDP (replicated parameters) and FSDP (sharded ones).

Everything the monitor computes is a function of inner products of updates and of linear
sketches, and both are sums over coordinates. That decides the whole design:

* **DDP** keeps a full copy of θ on every process and the copies are bit-identical after each
  optimizer step (gradients are all-reduced before it). Any process can compute the spectrum
  alone and get the single-process numbers, so no communication is needed. ``compute="all"``
  (the default) runs the monitor on every process: each has ``monitor.latest`` for its own
  decisions; ``compute="rank0"`` runs it on rank 0 only and hands the others an idle stand-in.
* **FSDP** (``torch.distributed.fsdp.fully_shard``, FSDP2) leaves each process a row block of
  every parameter, as a DTensor. :class:`~spectral_edge.snapshot.ParameterLayout` yields the local
  blocks at their global offsets; each process computes the inner products of its own
  coordinates, and one all-reduce of the W + 1 numbers of the new Gram row gives the exact
  global row. The fold sketch is keyed by global index, so the local sketches of the shards sum
  (one all-reduce of d numbers) to the sketch of the whole θ. Both reductions run inside
  ``observe``, so every process must call it at the same steps (the adapters do).
* Only global rank 0 writes the run store; the other processes get ``store=None``.

Limits: one-dimensional meshes only (FSDP; not HSDP or tensor parallel), and FSDP1's
``FlatParameter`` wrapper is not supported (use FSDP2, or DDP). Under FSDP each process holds its
own monitor state (its shard of θ_{t−1}); resume with the same number of processes.

>>> import torch
>>> monitor = distributed_monitor(torch.nn.Linear(3, 2), window=3)  # no process group: plain
>>> type(monitor).__name__
'SpectralMonitor'
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from spectral_edge.errors import SpectralEdgeError
from spectral_edge.monitor import SpectralMonitor

COMPUTE = ("all", "rank0")


def is_initialized() -> bool:
    """True inside an initialised torch.distributed process group."""
    return torch.distributed.is_available() and torch.distributed.is_initialized()


def global_rank() -> int:
    """This process's global rank (0 without a process group)."""
    return torch.distributed.get_rank() if is_initialized() else 0


def all_reduce_sum(group=None) -> Callable[[np.ndarray], np.ndarray]:
    """A function summing a float64 vector over the processes of ``group`` (one all-reduce).

    The vector travels as float64 on the device the backend needs (CUDA for NCCL, CPU for gloo):
    float32 would cost the Gram the digits that chunked float64 accumulation kept.
    """
    backend = torch.distributed.get_backend(group)
    device = torch.device("cuda", torch.cuda.current_device()) if backend == "nccl" else "cpu"

    def reduce(vector: np.ndarray) -> np.ndarray:
        t = torch.as_tensor(np.ascontiguousarray(vector, dtype=np.float64), device=device)
        torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.SUM, group=group)
        return t.cpu().numpy()

    return reduce


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The module under a DistributedDataParallel wrapper (its names lose the ``module.``)."""
    if isinstance(model, torch.nn.parallel.DistributedDataParallel):
        return model.module
    if any(type(p).__name__ == "FlatParameter" for p in model.parameters()):
        raise SpectralEdgeError(
            "FSDP1 (FullyShardedDataParallel) hides parameters in FlatParameters; use FSDP2 "
            "(torch.distributed.fsdp.fully_shard), whose DTensor shards spectral-edge reads"
        )
    return model


class IdleMonitor:
    """What non-zero ranks get with ``compute="rank0"``: every call does nothing.

    It keeps the monitor's surface so training code need not branch on the rank.
    """

    latest = None

    def __init__(self):
        self.events: list = []
        self.history: list = []
        self.run = None

    def attach(self, *optimizers):
        return self

    def detach(self) -> None:
        pass

    def observe(self, step=None, lr=None):
        return None

    def log_metrics(self, step, **metrics) -> None:
        pass

    def record_config(self, updates: dict) -> None:
        pass

    def close(self, status: str = "finished") -> None:
        pass

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass

    def to_dataframe(self):
        import pandas as pd

        return pd.DataFrame(self.history)


def distributed_monitor(
    model: torch.nn.Module,
    *,
    store=None,
    compute: str = "all",
    group=None,
    **monitor_kwargs,
) -> SpectralMonitor | IdleMonitor:
    """A monitor that gives on N processes what one process would give.

    Args:
        model: the module, a DDP wrapper around it, or an FSDP2 (``fully_shard``) module.
        store: the run store (path, RunStore or Run); only global rank 0 writes it.
        compute: ``"all"`` or ``"rank0"`` for replicated (DDP) parameters; sharded ones always
            compute on every process, since each holds a part of θ.
        group: the process group to reduce over (default: the world).
        monitor_kwargs: everything :class:`SpectralMonitor` takes (window, every, params, ...).

    Without an initialised process group this is a plain :class:`SpectralMonitor`.
    """
    if compute not in COMPUTE:
        raise SpectralEdgeError(f"compute must be one of {COMPUTE}, got {compute!r}")
    if "reduce" in monitor_kwargs:
        raise SpectralEdgeError("distributed_monitor chooses reduce itself; do not pass it")
    model = unwrap(model)
    if not is_initialized():
        return SpectralMonitor(model, store=store, **monitor_kwargs)
    rank0 = global_rank() == 0
    sharded = any(type(p).__name__ == "DTensor" for p in model.parameters())
    if not sharded and compute == "rank0" and not rank0:
        return IdleMonitor()
    store = store if rank0 else None
    reduce = all_reduce_sum(group) if sharded else None
    return SpectralMonitor(model, store=store, reduce=reduce, **monitor_kwargs)
