"""Forwarders for names that moved out of :mod:`spectral_edge.dynamics` (deprecated there).

The model probes (commutator defect, Hessian Lanczos, loss decomposition, holographic encoding)
run torch models, which dynamics promises never to do; they live in
:mod:`spectral_edge.reproduce.probes`. A module's ``__getattr__ = forward(...)`` keeps the old
import paths working: the new module is imported only when an old name is asked for, so
importing dynamics still never imports torch.
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable, Iterable


def forward(old: str, new: str, names: Iterable[str]) -> Callable[[str], object]:
    """A module ``__getattr__`` that hands out ``new.<name>`` for each moved name, warning."""
    moved = frozenset(names)

    def __getattr__(name: str):
        if name not in moved:
            raise AttributeError(f"module {old!r} has no attribute {name!r}")
        warnings.warn(
            f"{old}.{name} moved to {new}.{name}; the old path is deprecated",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(importlib.import_module(new), name)

    return __getattr__
