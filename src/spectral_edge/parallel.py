"""The monitor under torch.distributed: which module it reads, what it reduces, who writes.

Everything the monitor computes is a function of inner products of updates and of linear
sketches, and both are sums over coordinates. That decides the whole design:

* **DDP** keeps a full copy of θ on every process and the copies are bit-identical after each
  optimizer step (gradients are all-reduced before it). Each process computes the spectrum alone
  and gets the single-process numbers; no communication. The monitor reads the module under the
  ``DistributedDataParallel`` wrapper, so parameter names are the module's (no ``module.``).
* **FSDP2** (``torch.distributed.fsdp.fully_shard``) leaves each process a row block of every
  parameter, as a DTensor. :class:`~spectral_edge.snapshot.ParameterLayout` yields the local
  blocks at their global offsets; each process computes the inner products of its own
  coordinates, and one all-reduce of the W + 1 numbers of the new Gram row, over the
  parameters' own device mesh, gives the exact global row. The fold sketch is keyed by global
  index, so the local sketches sum (one all-reduce of d numbers) to the sketch of the whole θ.
  Both reductions run inside ``observe``, so every process must observe at the same steps
  (``attach`` and the framework adapters do).
* Only global rank 0 writes the run store, whatever the wrapper: the other processes would
  otherwise each create the same run.

Every decision the monitor takes under FSDP is taken on reduced numbers, which are the same on
every process, so the processes always take the same branch and meet in the same collectives:
a NaN or Inf on any one shard makes the reduced squared norm of the update NaN or Inf on all of
them (a sum of non-negative terms cannot cancel an Inf), and all reject that update together;
whether a new baseline θ is finite is reduced too (the monitor's non-finite episodes).

Limits: one-dimensional meshes only (FSDP; not HSDP or tensor parallel), and FSDP1's
``FlatParameter`` wrapper is refused (use FSDP2, or DDP). Under FSDP each process holds its own
monitor state (its shard of θ_{t−1}); save it per rank and resume with the same number of
processes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
import torch

from spectral_edge.errors import SpectralEdgeError

log = logging.getLogger(__name__)


def is_initialized() -> bool:
    """True inside an initialised torch.distributed process group."""
    return torch.distributed.is_available() and torch.distributed.is_initialized()


def global_rank() -> int:
    """This process's global rank (0 without a process group)."""
    return torch.distributed.get_rank() if is_initialized() else 0


def writes_store() -> bool:
    """Whether this process writes the run store: global rank 0, or the only process."""
    return global_rank() == 0


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The module under a DistributedDataParallel wrapper (its names lose the ``module.``).

    FSDP1's flat parameters hide the model's own parameters, so they are refused here, with the
    way out, rather than giving windows of an opaque concatenation.
    """
    if isinstance(model, torch.nn.parallel.DistributedDataParallel):
        return model.module
    if any(type(p).__name__ == "FlatParameter" for p in model.parameters()):
        raise SpectralEdgeError(
            "FSDP1 (FullyShardedDataParallel) hides parameters in FlatParameters; use FSDP2 "
            "(torch.distributed.fsdp.fully_shard), whose DTensor shards spectral-edge reads"
        )
    return model


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


def mesh_reduce(tensors: list[torch.Tensor]) -> Callable[[np.ndarray], np.ndarray]:
    """The all-reduce over the device mesh the sharded parameters live on.

    Every sharded parameter must live on one 1-D mesh: the sum runs over the processes that
    hold pieces of θ, which need not be the whole world (e.g. FSDP inside a larger job).
    """
    meshes = []
    for t in tensors:
        mesh = getattr(t, "device_mesh", None)
        if mesh is not None and not any(mesh == seen for seen in meshes):
            meshes.append(mesh)
    if len(meshes) != 1:
        raise SpectralEdgeError(
            f"the sharded parameters live on {len(meshes)} device meshes; the monitor reduces "
            "over one (watch one mesh's parameters with params=, or pass reduce=)"
        )
    (mesh,) = meshes
    if mesh.ndim != 1:
        raise SpectralEdgeError(
            f"the parameters are sharded on a {mesh.ndim}-D device mesh; only 1-D meshes are "
            "supported (FSDP, not HSDP or tensor parallel)"
        )
    log.debug("sharded parameters: reducing over the %d processes of their mesh", mesh.size())
    return all_reduce_sum(mesh.get_group())
