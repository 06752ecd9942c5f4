"""The onset of the commutator defect: the companion papers' rule for when it rises (§4).

The commutator defect D (how much the order of two SGD steps matters; measured on a model by
:func:`spectral_edge.reproduce.probes.commutator.commutator_probe`, docs/thesis.md §4) is logged
as the ``commutator_defect`` metric, the median over K = 5 batch pairs every 100 steps. Its onset
is the first measurement that has risen tenfold over the run's early level and past an absolute
floor; the companion papers saw it 600–1,600 steps before grokking.
"""

from __future__ import annotations

import numpy as np

from spectral_edge.dynamics._moved import forward
from spectral_edge.dynamics._series import as_steps_values
from spectral_edge.errors import SpectralEdgeError

__all__ = ["commutator_onset"]

# Deprecated here: the model probe moved to spectral_edge.reproduce.probes.commutator.
__getattr__ = forward(
    __name__,
    "spectral_edge.reproduce.probes.commutator",
    ("PROBE_LR", "commutator_defect", "commutator_probe"),
)


def commutator_onset(
    steps,
    defects,
    *,
    baseline: int = 3,
    factor: float = 10.0,
    floor: float = 0.1,
    absolute: float = 20.0,
    min_index: int = 2,
) -> dict:
    """Onset of the commutator defect: the first measurement (index ≥ ``min_index``) whose value
    exceeds both ``factor``·max(median of the first ``baseline`` values, ``floor``) and
    ``absolute`` (the spec: 10×, 0.1, 20, index ≥ 2, baseline 3).

    The relative threshold asks for a tenfold rise over the run's own early level (floored so a
    near-zero start cannot make every wiggle an onset); the absolute one keeps a run whose defect
    never becomes large from firing. Returns ``{"onset_step", "onset_index", "threshold",
    "baseline", ...}``; onset_step is None when no measurement qualifies. NaN values never fire.

    >>> commutator_onset([0, 100, 200, 300, 400], [1.0, 2.0, 1.5, 30.0, 50.0])["onset_step"]
    300
    """
    s, v = as_steps_values(steps, defects, what="commutator defect")
    if len(v) < baseline + 1 or len(v) <= min_index:
        raise SpectralEdgeError(
            f"the commutator onset rule needs more than {max(baseline, min_index)} measurements "
            f"(a baseline of {baseline} and later points); got {len(v)}"
        )
    first = v[:baseline]
    if np.all(np.isnan(first)):
        raise SpectralEdgeError("the first commutator measurements are all NaN: no baseline")
    base = float(np.nanmedian(first))
    threshold = max(factor * max(base, floor), absolute)
    with np.errstate(invalid="ignore"):
        hits = np.flatnonzero((np.arange(len(v)) >= min_index) & (v > threshold))
    idx = int(hits[0]) if len(hits) else None
    return {
        "onset_step": None if idx is None else int(s[idx]),
        "onset_index": idx,
        "onset_value": None if idx is None else float(v[idx]),
        "threshold": float(threshold),
        "baseline": base,
        "rule": {
            "baseline": baseline,
            "factor": factor,
            "floor": floor,
            "absolute": absolute,
            "min_index": min_index,
        },
    }
