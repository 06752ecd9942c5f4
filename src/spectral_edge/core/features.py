"""One window's full record: the spectrum plus its stability relative to the previous window.

This is the composition the monitor and the offline analysers share: given the window's Gram,
the Gram of the union with the previous window and the three inner products of the transition,
it returns every per-window quantity of docs/thesis.md §2 and §3 as a flat dict of floats,
and the regime of the adiabatic parameter as its name (the one text feature, :data:`TEXT_FEATURES`):
the row a monitor keeps in memory is the row the run store keeps.

>>> import numpy as np
>>> x = np.random.default_rng(0).standard_normal((4, 50))
>>> spec, row = window_features(x @ x.T, lr=1e-3, transition=(1.0, 0.0, 0.0))
>>> row["k_star"] == spec.k_star and "adiabatic" in row
True
>>> row["regime"] in ("plateau", "transition", "forgetting", "undefined")
True
"""

from __future__ import annotations

import math

import numpy as np

from spectral_edge.core.checks import as_gram, as_number
from spectral_edge.core.spectrum import WindowSpectrum, spectrum
from spectral_edge.core.stability import (
    adiabatic_dk,
    adiabatic_paper,
    adiabatic_regime,
    davis_kahan_bounds,
    delta_c_frobenius,
    principal_angles,
    stability_alpha,
    stability_alpha_split,
    top_rotation,
)
from spectral_edge.errors import SpectralEdgeError

# α_j and the Davis–Kahan bound are reported for the leading modes only: the thesis' hierarchy
# is about α_dominant > α_gap > α_sub, and deeper modes are noise-level.
REPORTED_MODES = 4
# Window features whose value is a name, not a number.
TEXT_FEATURES = ("regime",)


def center_gram(gram: np.ndarray) -> np.ndarray:
    """H G H with H = I − 11ᵀ/w: the Gram of the window's updates minus their mean.

    The thesis uses raw, uncentred updates; centring is offered as an ablation because it removes
    the drift direction that otherwise dominates σ_1.
    """
    w = gram.shape[0]
    h = np.eye(w) - np.full((w, w), 1.0 / w)
    return h @ gram @ h


def window_features(
    gram: np.ndarray,
    *,
    union_gram: np.ndarray | None = None,
    transition: tuple[float, float, float] | None = None,
    lr: float | None = None,
    n_params: int | None = None,
    k_star: str = "plain",
    center: bool = False,
    ratio_floor: float = 1e-12,
    regime: tuple[float, float] = (0.1, 10.0),
) -> tuple[WindowSpectrum, dict[str, float | str]]:
    """(spectrum record, flat feature dict) for one window.

    Args:
        gram: the w×w Gram of the window, oldest first.
        union_gram: the (w+1)×(w+1) Gram of the previous window plus the new update; gives the
            rotation of the top mode and the principal angles of the top-3 subspace.
        transition: (‖δ_new‖², ‖δ_old‖², ⟨δ_new, δ_old⟩) giving the exact ‖ΔC‖_F.
        lr: the learning rate η for the paper form of the adiabatic parameter (NaN without it).
        n_params: P, for the BBP ratio.
        k_star: which k* variant drives R, g and A ("plain", "weighted", "weighted_cut").
        center: analyse the centred Gram (an ablation; see :func:`center_gram`).
        ratio_floor: σ_j below ratio_floor·σ_1 count as that floor in the ratios.
        regime: the (low, high) thresholds of A_DK's regimes, see
            :func:`~spectral_edge.core.stability.adiabatic_regime`.
    """
    gram = as_gram(gram)  # before centring, which needs an array and would hide NaN
    w = gram.shape[0]
    if union_gram is not None:
        union_gram = as_gram(union_gram, "union Gram matrix")
        if union_gram.shape != (w + 1, w + 1):
            raise SpectralEdgeError(
                f"the union Gram of a window of {w} updates must be {w + 1}×{w + 1} (the previous "
                f"window plus the new update); got shape {union_gram.shape}"
            )
    if transition is not None:
        if (
            isinstance(transition, (str, bytes))
            or not hasattr(transition, "__len__")
            or len(transition) != 3
        ):
            raise SpectralEdgeError(
                "transition must be the three numbers (‖δ_new‖², ‖δ_old‖², ⟨δ_new, δ_old⟩); "
                f"got {transition!r:.60}"
            )
    eta = math.nan if lr is None else as_number(lr, "the learning rate lr")
    g = center_gram(gram) if center else gram
    spec = spectrum(g, n_params=n_params, k_star=k_star, ratio_floor=ratio_floor)
    row = spec.features()
    delta_c = delta_c_frobenius(*transition) if transition is not None else math.nan
    row["delta_c"] = delta_c
    row["lr"] = eta
    row["adiabatic"] = adiabatic_paper(delta_c, eta, spec.gap) if spec.w > 1 else math.nan
    row["adiabatic_dk"] = adiabatic_dk(delta_c, spec.eigen_gap) if spec.w > 1 else math.nan
    row["regime"] = adiabatic_regime(row["adiabatic_dk"], *regime)
    if spec.w > 1 and math.isfinite(delta_c):
        alpha = stability_alpha(spec.eigvals, delta_c)
        bounds = davis_kahan_bounds(spec.eigvals, delta_c)
        for j in range(min(REPORTED_MODES, spec.w)):
            row[f"alpha_{j + 1}"] = float(alpha[j])
            row[f"dk_bound_{j + 1}"] = float(bounds[j])
    if spec.w >= 4:
        split = stability_alpha_split(g)
        for j in range(min(REPORTED_MODES, split.size)):
            row[f"alpha_split_{j + 1}"] = float(split[j])
    if union_gram is not None and not center:
        row["rotation_1"] = top_rotation(union_gram)
        angles = principal_angles(union_gram, min(3, spec.w))
        row["max_angle_top3"] = float(np.max(angles)) if angles.size else math.nan
    return spec, row
