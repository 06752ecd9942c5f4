"""Shared plumbing of the model probes: parameter order, flat vectors, restoring weights.

The probes (commutator defect, Hessian Lanczos, loss decomposition, holographic encoding) read
and temporarily move a model's parameters. They all follow one convention:

- parameter order: the model's trainable parameters sorted by name, tied weights counted once
  (the first name in sorted order keeps them), which is the order of the monitor's flattened
  snapshot for the ``all`` selection. A caller whose update vectors X follow another order (a
  narrower selection) passes ``params`` explicitly, in that order.
- the loss: ``loss_fn(model, batch) -> scalar tensor``; ``batch`` is passed through untouched, so
  it may be anything (a tuple of tensors, an index, None for full-batch closures).
- parameters are restored bit for bit by :func:`preserved` on every exit, errors included; the
  ``.grad`` fields are never touched (gradients come from :func:`torch.autograd.grad`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import contextmanager

import numpy as np
import torch

from spectral_edge.errors import SpectralEdgeError

LossFn = Callable[[torch.nn.Module, object], torch.Tensor]


def parameters(model: torch.nn.Module, params: Sequence[torch.Tensor] | None = None) -> list:
    """The probed parameters: ``params`` as given, or the model's trainable ones by name."""
    if params is not None:
        out = list(params)
        if not out:
            raise SpectralEdgeError("params is empty: there is nothing to probe")
        for p in out:
            if not isinstance(p, torch.Tensor) or not p.requires_grad:
                raise SpectralEdgeError("every entry of params must be a tensor with requires_grad")
        return out
    if not isinstance(model, torch.nn.Module):
        raise SpectralEdgeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    seen: set[int] = set()
    out = []
    for _, p in sorted(model.named_parameters(remove_duplicate=False), key=lambda kv: kv[0]):
        if p.requires_grad and id(p) not in seen:
            seen.add(id(p))
            out.append(p)
    if not out:
        raise SpectralEdgeError("the model has no trainable parameters")
    return out


def numel(params: Sequence[torch.Tensor]) -> int:
    return int(sum(p.numel() for p in params))


def flat(tensors: Sequence[torch.Tensor]) -> np.ndarray:
    """Concatenate tensors into one float64 numpy vector (on the CPU)."""
    return np.concatenate([t.detach().reshape(-1).double().cpu().numpy() for t in tensors])


@torch.no_grad()
def assign(params: Sequence[torch.Tensor], vector) -> None:
    """Write a flat vector (numpy or tensor, float64 fine) into the parameters in place."""
    v = torch.as_tensor(np.asarray(vector), dtype=torch.float64)
    if v.numel() != numel(params):
        raise SpectralEdgeError(
            f"a vector of {v.numel()} entries cannot fill {numel(params)} parameters"
        )
    offset = 0
    for p in params:
        n = p.numel()
        p.copy_(v[offset : offset + n].reshape(p.shape).to(dtype=p.dtype, device=p.device))
        offset += n


@torch.no_grad()
def add(params: Sequence[torch.Tensor], vector, scale: float = 1.0) -> None:
    """θ ← θ + scale·vector, in place, for a flat vector in parameter order."""
    v = torch.as_tensor(np.asarray(vector), dtype=torch.float64)
    offset = 0
    for p in params:
        n = p.numel()
        step = v[offset : offset + n].reshape(p.shape) * scale
        p.add_(step.to(dtype=p.dtype, device=p.device))
        offset += n


@contextmanager
def preserved(params: Sequence[torch.Tensor]):
    """Restore the parameters exactly (a saved clone) however the block exits."""
    saved = [p.detach().clone() for p in params]
    try:
        yield
    finally:
        with torch.no_grad():
            for p, s in zip(params, saved, strict=True):
                p.copy_(s)


def loss_value(model, loss_fn: LossFn, batch, what: str = "loss") -> torch.Tensor:
    loss = loss_fn(model, batch)
    if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
        raise SpectralEdgeError(f"loss_fn must return a scalar tensor ({what})")
    if not torch.isfinite(loss):
        raise SpectralEdgeError(f"the {what} is not finite ({float(loss)}); cannot probe here")
    return loss.reshape(())


def gradient(model, loss_fn: LossFn, batch, params, *, what: str = "loss") -> np.ndarray:
    """∇L(θ) at the current parameters as a float64 vector; .grad fields are untouched."""
    loss = loss_value(model, loss_fn, batch, what)
    grads = torch.autograd.grad(loss, params, allow_unused=True)
    return np.concatenate(
        [
            np.zeros(p.numel()) if g is None else g.detach().reshape(-1).double().cpu().numpy()
            for p, g in zip(params, grads, strict=True)
        ]
    )


def as_matrix(x, name: str) -> np.ndarray:
    """A finite float64 2-D array (numpy or torch input)."""
    if isinstance(x, torch.Tensor):
        x = x.detach().double().cpu().numpy()
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 2 or a.shape[0] == 0 or a.shape[1] == 0:
        raise SpectralEdgeError(f"{name} must be a non-empty 2-D array; got shape {a.shape}")
    if not np.all(np.isfinite(a)):
        raise SpectralEdgeError(f"{name} contains NaN or infinite entries")
    return a
