"""The twenty predictions (docs/thesis.md §8), each one declarative entry, in table order.

The entries live beside their measures and rules in :mod:`.theory_spectrum` (T1–T4),
:mod:`.theory_dynamics` (T5–T8), :mod:`.companions_grokking` (C1, C7, C8, C9, C12) and
:mod:`.companions_spectrum` (C2–C6, C10, C11); :mod:`.engine` evaluates them. Each
:class:`~.engine.Record` carries the paper's reading and the strict reading, each with its
verdict (``confirmed``, ``not confirmed``, ``not run``), the measured figures, the null and the
reason; the runs used and those reported apart.

Every rule and threshold was fixed in code before any scoring run was read; seed 0 is never
scored.
"""

from __future__ import annotations

from spectral_edge.reproduce import (
    companions_grokking,
    companions_spectrum,
    theory_dynamics,
    theory_spectrum,
)
from spectral_edge.reproduce.engine import (
    CONFIRMED,
    NOT_CONFIRMED,
    NOT_RUN,
    Prediction,
    Record,
    Runs,
    RunView,
    counts,
)
from spectral_edge.reproduce.engine import evaluate as _evaluate

_ALL = (
    theory_spectrum.PREDICTIONS
    + theory_dynamics.PREDICTIONS
    + companions_grokking.PREDICTIONS
    + companions_spectrum.PREDICTIONS
)
ORDER = [f"T{i}" for i in range(1, 9)] + [f"C{i}" for i in range(1, 13)]
PREDICTIONS: tuple[Prediction, ...] = tuple(sorted(_ALL, key=lambda p: ORDER.index(p.id)))
BY_ID = {p.id: p for p in PREDICTIONS}


def evaluate(runs: Runs, only=None, suite: str | None = None) -> list[Record]:
    """Every prediction (or those in ``only``) evaluated on ``runs``; never raises for one."""
    return _evaluate(PREDICTIONS, runs, only, suite)


__all__ = [
    "BY_ID",
    "CONFIRMED",
    "NOT_CONFIRMED",
    "NOT_RUN",
    "ORDER",
    "PREDICTIONS",
    "Record",
    "RunView",
    "Runs",
    "counts",
    "evaluate",
]
