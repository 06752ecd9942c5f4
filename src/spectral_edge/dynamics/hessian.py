"""The Krylov bound: the edge sits no deeper than the directions one window resolves (§5, T3).

k* ≤ #{j : h_j ≳ 1/(ηW)}, with h_j the Hessian eigenvalues (docs/thesis.md §5). A direction with
curvature h is contracted by (1 − ηh) per step; over the W steps of a window it moves appreciably
only if ηhW ≳ 1, so only those directions carry coherent, separable signal. The eigenvalues come
from a model probe (:func:`spectral_edge.reproduce.probes.hessian.hessian_top_eigenvalues`);
this check is pure arithmetic on them.
"""

from __future__ import annotations

import math

import numpy as np

from spectral_edge.dynamics._moved import forward
from spectral_edge.errors import SpectralEdgeError

__all__ = ["krylov_bound"]

# Deprecated here: the model probe moved to spectral_edge.reproduce.probes.hessian.
__getattr__ = forward(
    __name__, "spectral_edge.reproduce.probes.hessian", ("hessian_top_eigenvalues", "hvp")
)


def krylov_bound(eigenvalues, *, lr: float, window: int, k_star: int | None = None) -> dict:
    """Count n_K = #{j : h_j ≥ 1/(ηW)} and check k* ≤ n_K (when k* is given).

    Only the eigenvalues passed are counted, so pass enough of them: if all of them clear the
    threshold the count is a lower bound (``count_is_lower_bound``), and a violated k* ≤ n_K is
    then not conclusive.
    """
    h = np.asarray(eigenvalues, dtype=np.float64)
    if h.ndim != 1 or h.size == 0 or not np.all(np.isfinite(h)):
        raise SpectralEdgeError("eigenvalues must be a non-empty finite 1-D array")
    eta, w = float(lr), int(window)
    if not (math.isfinite(eta) and eta > 0 and w >= 1):
        raise SpectralEdgeError(f"lr must be positive and window ≥ 1; got {lr!r}, {window!r}")
    threshold = 1.0 / (eta * w)
    count = int(np.sum(h >= threshold))
    lower = count == h.size
    holds = None
    if k_star is not None:
        holds = bool(int(k_star) <= count) if (int(k_star) <= count or not lower) else None
    return {
        "threshold": threshold,
        "count": count,
        "count_is_lower_bound": lower,
        "k_star": None if k_star is None else int(k_star),
        "holds": holds,
        "n_eigenvalues": int(h.size),
    }
