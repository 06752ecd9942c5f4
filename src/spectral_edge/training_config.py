"""What a run records about how it was trained, beside the monitor's own configuration.

Two runs are compared by their configs (``spectral-edge compare``), so a config must say what
usually differs between experiments: the optimizer, its learning rate, weight decay and betas.
The monitor records it when it is attached to an optimizer, and the Lightning and Hugging Face
callbacks record it (with the framework's own arguments) when training starts, under
``config["optimizer"]``: ``{"class": "AdamW", "lr": 0.001, "weight_decay": 0.01, ...}``.

>>> import torch
>>> opt = torch.optim.SGD(torch.nn.Linear(2, 1).parameters(), lr=0.1, momentum=0.9)
>>> info = describe_optimizers([opt])["optimizer"]
>>> info["class"], info["lr"], info["momentum"]
('SGD', 0.1, 0.9)
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["describe_optimizers", "plain_values"]


def plain_values(mapping: Mapping[str, Any]) -> dict[str, Any]:
    """The entries of ``mapping`` a config can hold and compare: numbers, strings, booleans,
    None, and flat lists or tuples of those (betas); anything else (tensors, callables,
    parameter lists) is left out. Non-finite floats become their string (JSON has no inf)."""
    out: dict[str, Any] = {}
    for key, value in mapping.items():
        if isinstance(value, (list, tuple)) and all(_plain(v) for v in value):
            out[str(key)] = [_finite(v) for v in value]
        elif _plain(value):
            out[str(key)] = _finite(value)
    return out


def _plain(value: Any) -> bool:
    return value is None or isinstance(value, (bool, int, float, str))


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def describe_optimizers(optimizers: Sequence) -> dict[str, Any]:
    """``{"optimizer": {...}}`` for the first optimizer (``"other_optimizers"``: the rest):
    its class and hyper-parameters, as in force in its first parameter group (a scheduler's
    warm-up may have changed ``lr`` already: the constructor's value is ``initial_lr`` when a
    scheduler set one)."""
    described = [_describe(opt) for opt in optimizers]
    if not described:
        return {}
    out: dict[str, Any] = {"optimizer": described[0]}
    if len(described) > 1:
        out["other_optimizers"] = described[1:]
    return out


def _unwrapped(optimizer):
    """The optimizer under a framework's wrapper (accelerate's ``AcceleratedOptimizer`` keeps
    it as ``.optimizer``), whose class is the one a user chose."""
    inner = getattr(optimizer, "optimizer", None)
    while inner is not None and inner is not optimizer and hasattr(inner, "param_groups"):
        optimizer, inner = inner, getattr(inner, "optimizer", None)
    return optimizer


def _describe(optimizer) -> dict[str, Any]:
    optimizer = _unwrapped(optimizer)
    groups = getattr(optimizer, "param_groups", None) or [{}]
    settings = plain_values({k: v for k, v in groups[0].items() if k != "params"})
    if len(groups) > 1:
        settings["param_groups"] = len(groups)
    return {"class": type(optimizer).__name__, **settings}
