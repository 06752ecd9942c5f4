"""``distributed_monitor``: the monitor with a choice of which processes compute.

``SpectralMonitor(model)`` itself handles torch.distributed (see :mod:`spectral_edge.parallel`):
it reads a DDP wrapper's module, reduces FSDP2 shards over their device mesh, and lets only
global rank 0 write the store. What ``distributed_monitor`` adds to that:

* ``compute="rank0"`` for replicated (DDP) parameters: only rank 0 computes, the others get an
  :class:`IdleMonitor` with the monitor's surface, so training code need not branch on the rank
  and the other processes spend nothing on the monitor (``compute="all"``, the default, gives
  every process ``monitor.latest`` for its own decisions);
* ``group=``: reduce sharded parameters over another process group than their mesh's.

The Lightning and Hugging Face adapters build their monitors with it (their ``compute=``).

>>> import torch
>>> monitor = distributed_monitor(torch.nn.Linear(3, 2), window=3)  # no process group: plain
>>> type(monitor).__name__
'SpectralMonitor'
"""

from __future__ import annotations

import torch

from spectral_edge.errors import SpectralEdgeError
from spectral_edge.monitor import SpectralMonitor
from spectral_edge.parallel import all_reduce_sum, global_rank, is_initialized, unwrap

__all__ = ["COMPUTE", "IdleMonitor", "distributed_monitor", "global_rank", "is_initialized"]

COMPUTE = ("all", "rank0")


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

    ``SpectralMonitor(model)`` does the same by itself; this adds ``compute="rank0"`` (an idle
    stand-in on the other ranks of a DDP job) and ``group=`` (see the module's docstring).

    Args:
        model: the module, a DDP wrapper around it, or an FSDP2 (``fully_shard``) module.
        store: the run store (path, RunStore or Run); only global rank 0 writes it.
        compute: ``"all"`` or ``"rank0"`` for replicated (DDP) parameters; sharded ones always
            compute on every process, since each holds a part of θ.
        group: the process group to reduce sharded parameters over (default: their mesh's).
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
    sharded = any(type(p).__name__ == "DTensor" for p in model.parameters())
    if not sharded and compute == "rank0" and global_rank() != 0:
        return IdleMonitor()
    reduce = all_reduce_sum(group) if sharded and group is not None else None
    return SpectralMonitor(model, store=store, reduce=reduce, **monitor_kwargs)
