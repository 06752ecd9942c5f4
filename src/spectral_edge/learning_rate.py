"""The learning rate η of the adiabatic parameter, by an explicit policy.

The adiabatic parameter A = ‖ΔG‖ / (η·g²) needs one η, but a training run may have several
optimizers (Muon beside AdamW) or several parameter groups, each with its own scheduled ``lr``.
There is then no single learning rate, so the caller names a policy and the run records it (an
open definition, docs/definitions.md):

- ``first``: the first group of the first optimizer (the usual single-optimizer case; Muon's η in
  the lab's ``muon`` set-up);
- ``max``: the largest η of any group;
- ``mean``: the unweighted mean over groups;
- ``weighted``: the mean weighted by the number of parameters in each group, which matches a ΔG
  summed over all parameters best. It needs the groups' parameters, so a saved optimizer state
  (which holds their indices only) cannot use it.

A group with an empty parameter list steps nothing, so it has no say in η. The value is the group's
scheduled ``lr``; an optimizer's own per-parameter adjustment (Muon's shape scaling) is not
folded in.

One rule for every reader: the monitor (live optimizers), the lab's trainer and the offline
analysis of checkpoints (saved optimizer states) all call :func:`group_learning_rate`.

>>> group_learning_rate([{"lr": 1e-3, "params": [0]}, {"lr": 4e-3, "params": [1]}], "max")
0.004
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np

from spectral_edge.errors import SpectralEdgeError

LR_POLICIES = ("first", "max", "mean", "weighted")


def check_lr_policy(policy: str) -> str:
    """``policy`` if it is one of :data:`LR_POLICIES`; else a :class:`SpectralEdgeError`."""
    if policy not in LR_POLICIES:
        raise SpectralEdgeError(f"unknown lr_policy {policy!r}; choose one of {LR_POLICIES}")
    return policy


def group_learning_rate(groups: Iterable[Mapping], policy: str = "first") -> float:
    """η of parameter groups (dicts with ``lr`` and ``params``, live or saved) by ``policy``.

    NaN when no group holds parameters: the monitor then records no η rather than failing.
    """
    check_lr_policy(policy)
    groups = [g for g in groups if "params" not in g or len(g["params"]) > 0]
    if not groups:
        return float("nan")
    rates = [float(g["lr"]) for g in groups]
    if policy == "first":
        return rates[0]
    if policy == "max":
        return max(rates)
    if policy == "mean":
        return float(np.mean(rates))
    sizes = [_group_size(g) for g in groups]
    return sum(lr * n for lr, n in zip(rates, sizes, strict=True)) / sum(sizes)


def _group_size(group: Mapping) -> int:
    params = group["params"]
    if not all(hasattr(p, "numel") for p in params):
        raise SpectralEdgeError(
            "lr_policy='weighted' needs the groups' parameters, and a saved optimizer state "
            "holds only their indices; use 'first', 'max' or 'mean'"
        )
    return sum(p.numel() for p in params)


def learning_rate(optimizers, policy: str = "first") -> float:
    """η of one optimizer or a list of them (every group of every optimizer, in order)."""
    if hasattr(optimizers, "param_groups"):
        optimizers = [optimizers]
    return group_learning_rate([g for opt in optimizers for g in opt.param_groups], policy)


def saved_learning_rate(optimizer_state, policy: str = "first") -> float | None:
    """η of a saved optimizer ``state_dict()`` (a checkpoint's); None if it holds no rate."""
    try:
        groups = list(optimizer_state["param_groups"])
        for group in groups:
            float(group["lr"])
    except (KeyError, TypeError, ValueError):
        return None
    rate = group_learning_rate(groups, policy)
    return None if np.isnan(rate) else rate
