"""Per-window spectral features of a rolling window of parameter updates.

A window holds the ``w`` most recent updates δ_i ∈ R^P as the rows of X (oldest first; ``w`` is
the window length W once the window is full, fewer while it fills). Everything here is computed
from the w×w Gram matrix G = X Xᵀ alone: its eigenvalues λ_1 ≥ … ≥ λ_w are the squared singular
values of X and the nonzero eigenvalues of the P×P operator C = XᵀX, so a window with P ~ 10^7
parameters costs one eigvalsh of a 10×10 matrix.

The quantities (docs/thesis.md §2 and §9):

* σ_j = √λ_j, descending; ratios r_j = σ_j/σ_{j+1} with a relative floor;
* the gap position k* (1-indexed) in three variants, ``plain`` (the default), ``weighted`` and
  ``weighted_cut``; all three are always computed and the chosen one is recorded;
* gap ratio R, σ-gap g and λ-gap at k*; the fixed-index series r12, r23, r34 and g23;
* PC1 share, k95, drift speed and the BBP ratio σ_w/d_crit.

Pure numpy, float64; nothing here touches torch or storage.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from spectral_edge.core.checks import as_gram, as_number, as_whole, pow2_scale
from spectral_edge.errors import SpectralEdgeError

__all__ = [
    "INTEGER_FEATURES",
    "K_STAR_VARIANTS",
    "WindowSpectrum",
    "gap_ratios",
    "k_star",
    "singular_values",
    "spectrum",
]

K_STAR_VARIANTS = ("plain", "weighted", "weighted_cut")
# Features that count something (a window size, a mode index): ints whenever they are defined.
INTEGER_FEATURES = ("w", "k_star", "k_star_plain", "k_star_weighted", "k_star_weighted_cut")


# Share of Σλ that k95 must reach.
K95_SHARE = 0.95


# --------------------------------------------------------------------------------------------
# Input checks


def _as_sigma(sigma: object) -> np.ndarray:
    try:
        s = np.asarray(sigma, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise SpectralEdgeError(f"sigma must be a 1-D array of numbers: {exc}") from exc
    if s.ndim != 1 or s.size == 0:
        raise SpectralEdgeError(f"sigma must be a non-empty 1-D array; got shape {s.shape}")
    if not np.all(np.isfinite(s)) or np.any(s < 0):
        raise SpectralEdgeError("sigma must be finite and non-negative")
    if np.any(np.diff(s) > 0):
        raise SpectralEdgeError("sigma must be sorted in descending order (σ_1 ≥ σ_2 ≥ …)")
    return s


def _check_floor(floor: float) -> float:
    f = as_number(floor, "ratio floor")
    if not (math.isfinite(f) and f > 0):
        raise SpectralEdgeError(f"ratio floor must be a finite positive number; got {floor!r}")
    return f


def _check_cut(cut: float, min_index: int) -> tuple[float, int]:
    c = as_number(cut, "cut")
    if not (0.0 <= c <= 1.0):
        raise SpectralEdgeError(f"cut must lie in [0, 1] (a fraction of σ_1); got {cut!r}")
    m = as_whole(min_index, "min_index")
    if m < 1:
        raise SpectralEdgeError(f"min_index must be an integer ≥ 1; got {min_index!r}")
    return c, m


def _check_variant(variant: object) -> str:
    if not isinstance(variant, str) or variant not in K_STAR_VARIANTS:
        raise SpectralEdgeError(
            f"unknown k* variant {variant!r}; valid variants are {', '.join(K_STAR_VARIANTS)}"
        )
    return variant


def _eigvals(g: np.ndarray) -> np.ndarray:
    """Eigenvalues of a validated Gram, descending, clipped at 0.

    Computed on G/2^e (max |entry| in [1, 2), an exact rescaling): LAPACK fails to converge on
    entries near float64's max, and subnormal entries keep their digits.
    """
    scale = float(np.max(np.abs(g)))
    if scale == 0.0:
        return np.zeros(g.shape[0])
    unit = pow2_scale(scale)
    try:
        lam = np.linalg.eigvalsh(g / unit)[::-1]
    except np.linalg.LinAlgError as exc:  # not seen after rescaling; kept as a clear error
        raise SpectralEdgeError(
            f"the eigenvalues of the Gram matrix did not converge: {exc}"
        ) from exc
    return np.clip(lam, 0.0, None) * unit


# --------------------------------------------------------------------------------------------
# Building blocks


def singular_values(gram: object) -> np.ndarray:
    """Singular values σ_1 ≥ … ≥ σ_w of the window X, from its Gram matrix G = X Xᵀ.

    σ_j = √λ_j(G). The Gram is symmetrised first so that eigvalsh sees exactly the matrix it
    assumes; eigenvalues that come out slightly negative (round-off on a rank-deficient window)
    are clipped to 0, since G is positive semi-definite by construction. Eigenvalues carry an
    absolute error of order machine-ε·λ_1, so σ_j below roughly 1e-8·σ_1 is numerical noise.

    Raises SpectralEdgeError for an empty, non-square, non-finite or asymmetric Gram.
    """
    return np.sqrt(_eigvals(as_gram(gram)))


def gap_ratios(sigma: object, floor: float = 1e-12) -> np.ndarray:
    """Consecutive ratios r_j = σ_j / σ_{j+1}, j = 1..w−1, floored relative to σ_1.

    Precisely r_j = max(σ_j, f) / max(σ_{j+1}, f) with f = floor·σ_1. Flooring the denominator
    keeps a rank-deficient window (σ_{j+1} = 0) finite; flooring the numerator as well makes
    values below f count as numerical zero, so a run of zeros gives ratios of exactly 1 rather
    than 0/f = 0. Hence r_j ≥ 1 always, and the ratios are invariant under X → cX.

    An all-zero window (σ_1 = 0) has no spectrum to compare: every ratio is NaN. For w = 1 the
    result is empty.
    """
    s = _as_sigma(sigma)
    f = _check_floor(floor)
    if s[0] == 0.0:
        return np.full(s.size - 1, np.nan)
    # Relative to σ_1 first: f·σ_1 underflows to 0 for a subnormal σ_1 (and overflows for a
    # large floor), which turned σ_{j+1} = 0 into an infinite ratio.
    clipped = np.maximum(s / s[0], f)
    return clipped[:-1] / clipped[1:]


def _choose_k(s: np.ndarray, ratios: np.ndarray, variant: str, cut: float, min_index: int) -> int:
    """k* for validated σ and their ratios. Ties go to the smallest j (numpy argmax)."""
    _check_variant(variant)
    # No ratio (w = 1) or no spectrum (all-zero window): k* = 1 by convention; the gap
    # quantities that depend on it are NaN, which is what marks the edge as undefined.
    if ratios.size == 0 or not np.any(np.isfinite(ratios)):
        return 1
    if variant == "plain":
        return int(np.argmax(ratios)) + 1
    unit = s / s[0]  # Σσ overflows for σ near float64's max; shares do not change
    score = (unit[:-1] / unit.sum()) * ratios
    if variant == "weighted":
        return int(np.argmax(score)) + 1
    j = np.arange(1, ratios.size + 1)
    # σ_j/σ_1 ≥ cut, not σ_j ≥ cut·σ_1: the product underflows to 0 for a tiny σ_1, and then
    # σ_j = 0 counted as a strong mode.
    strong = unit[:-1] >= cut
    allowed = strong & (j >= min_index)
    # min_index is a preference: when it excludes every strong mode (e.g. only σ_1 clears the
    # cut) fall back to the cut alone, which always admits j = 1.
    if not np.any(allowed):
        allowed = strong
    return int(np.argmax(np.where(allowed, score, -np.inf))) + 1


def k_star(
    sigma: object,
    variant: str = "plain",
    cut: float = 0.05,
    min_index: int = 1,
    floor: float = 1e-12,
) -> int:
    """Gap position k* (1-indexed): the spectral edge sits between σ_{k*} and σ_{k*+1}.

    * ``plain``: argmax_j r_j (the paper's abstract).
    * ``weighted``: argmax_j (σ_j/Σσ)·r_j (the author's grokking replications): a large ratio far
      down the tail, between two modes that are both noise, should not win over a real gap.
    * ``weighted_cut``: ``weighted`` restricted to j with σ_j ≥ cut·σ_1 and j ≥ min_index
      (min_index = 2 is the "optionally j ≥ 2" variant, which skips the usually dominant first
      gap). If min_index excludes every admissible j the restriction j ≥ min_index is dropped.

    r_j are the floored :func:`gap_ratios`. Ties go to the smallest j. With w = 1 or an all-zero
    window there is no gap to find and k* = 1 by convention.
    """
    s = _as_sigma(sigma)
    c, m = _check_cut(cut, min_index)
    return _choose_k(s, gap_ratios(s, floor), _check_variant(variant), c, m)


# --------------------------------------------------------------------------------------------
# The record


@dataclass(frozen=True, eq=False)
class WindowSpectrum:
    """Spectral features of one window; see :func:`spectrum` for the definitions.

    Integer fields (w and the k* variants) are always defined; every float field is NaN where
    the window is too small or has no spectrum. Arrays are read-only.
    """

    w: int
    sigma: np.ndarray
    eigvals: np.ndarray
    ratios: np.ndarray
    k_star: int
    k_star_plain: int
    k_star_weighted: int
    k_star_weighted_cut: int
    gap_ratio: float
    gap: float
    eigen_gap: float
    r12: float
    r23: float
    r34: float
    g23: float
    pc1_share: float
    k95: float
    drift_speed: float
    bbp_ratio: float
    # The options this record was computed with (docs/thesis.md: every choice is recorded).
    k_star_variant: str = "plain"
    ratio_floor: float = 1e-12
    cut: float = 0.05
    min_index: int = 1
    n_params: int | None = None

    # Names of the scalar features, in row order (a schema for stores).
    SCALARS: ClassVar[tuple[str, ...]] = (
        "w",
        "k_star",
        "k_star_plain",
        "k_star_weighted",
        "k_star_weighted_cut",
        "gap_ratio",
        "gap",
        "eigen_gap",
        "r12",
        "r23",
        "r34",
        "g23",
        "pc1_share",
        "k95",
        "drift_speed",
        "bbp_ratio",
    )

    def features(self) -> dict[str, float]:
        """Flat dict of floats for a database row.

        Keys: the scalar attributes by name, then ``sigma_1``..``sigma_w`` and
        ``ratio_1``..``ratio_{w-1}``. The number of keys grows with w while the window fills.
        """
        row = {name: float(getattr(self, name)) for name in self.SCALARS}
        row.update({f"sigma_{j}": float(v) for j, v in enumerate(self.sigma, start=1)})
        row.update({f"ratio_{j}": float(v) for j, v in enumerate(self.ratios, start=1)})
        return row

    def settings(self) -> dict[str, object]:
        """The options used to compute this record, to store beside the features."""
        return {
            "k_star_variant": self.k_star_variant,
            "ratio_floor": self.ratio_floor,
            "cut": self.cut,
            "min_index": self.min_index,
            "n_params": self.n_params,
        }


def _at(values: np.ndarray, index: int) -> float:
    """values[index] as a float, NaN when the window is too small to have it."""
    return float(values[index]) if index < values.size else math.nan


def _bbp_ratio(sigma: np.ndarray, lam: np.ndarray, n_params: int | None) -> float:
    w = sigma.size
    if n_params is None or w < 2:
        return math.nan
    # Bottom half: 1-indexed j ≥ w/2, i.e. j = ceil(w/2)..w (0-indexed from (w+1)//2 − 1).
    nu2 = float(np.mean(lam[(w + 1) // 2 - 1 :])) / n_params
    d_crit = math.sqrt(nu2) * (n_params * (w - 1)) ** 0.25
    return float(sigma[-1]) / d_crit if d_crit > 0 else math.nan


def spectrum(
    gram: object,
    *,
    n_params: int | None = None,
    k_star: str = "plain",
    ratio_floor: float = 1e-12,
    cut: float = 0.05,
    min_index: int = 1,
) -> WindowSpectrum:
    """All per-window features of a window, from its w×w Gram matrix G = X Xᵀ.

    Definitions (σ descending, λ_j = σ_j², indices 1-based):

    * ``ratios``: :func:`gap_ratios` with ``ratio_floor``; ``k_star``: the variant named by the
      ``k_star`` argument (default ``plain``, docs/thesis.md §9); all three variants are stored.
    * ``gap_ratio`` R = r_{k*} (= σ_{k*}/σ_{k*+1}, floored), ``gap`` g = σ_{k*} − σ_{k*+1}
      (the σ-gap of the paper's adiabatic parameter), ``eigen_gap`` λ_{k*} − λ_{k*+1} (the
      λ-gap of the Davis–Kahan form).
    * ``r12``, ``r23``, ``r34`` = r_1, r_2, r_3; ``g23`` = λ_2 − λ_3 (the grokking quantity).
    * ``pc1_share`` = λ_1/Σλ; ``k95`` = smallest k with Σ_{j≤k} λ_j ≥ 0.95·Σλ (a float only so
      it can be NaN); ``drift_speed`` = ‖mean δ‖ = √(1ᵀG1)/w.
    * ``bbp_ratio`` = σ_w/d_crit with ν² = mean(λ_j : j ≥ w/2)/P, i.e. over j = ⌈w/2⌉..w, and
      d_crit = ν·(P(w−1))^{1/4}: the BBP detection threshold for a spiked w×P noise matrix. A
      ratio ≫ 1 is read as "even the weakest mode is signal". Note the baseline: isotropic
      noise alone has σ_w ≈ ν√P, hence a ratio ≈ (P/(w−1))^{1/4}, already > 5 once
      P > 625(w−1). NaN without ``n_params`` (P), for w = 1 (d_crit = 0) or when the bottom
      half is all zero.

    Degenerate windows: with w = 1 there are no ratios, k* = 1 by convention and every gap
    quantity is NaN. An all-zero Gram gives σ = 0, NaN ratios (no division by zero is hidden),
    k* = 1, NaN gap quantities, NaN pc1_share and k95, and drift speed 0; g23 stays 0 since
    λ_2 − λ_3 is well defined.

    Raises SpectralEdgeError for a bad Gram (see :func:`singular_values`), an unknown k* variant,
    a non-positive ``ratio_floor``, ``cut`` outside [0, 1], ``min_index`` < 1 or ``n_params``
    that is not a positive integer.

    >>> import numpy as np
    >>> x = np.array([[3.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 0.5]])
    >>> s = spectrum(x @ x.T, n_params=3)
    >>> s.sigma.round(6).tolist(), s.ratios.round(6).tolist()
    ([3.0, 2.0, 0.5], [1.5, 4.0])
    >>> s.k_star, round(s.gap_ratio, 6), round(s.gap, 6), round(s.eigen_gap, 6)
    (2, 4.0, 1.5, 3.75)
    >>> round(s.features()["pc1_share"], 4), s.k95
    (0.6792, 2.0)
    """
    if n_params is not None:
        p = as_whole(n_params, "n_params (P)")
        if not 1 <= p < 2**63:
            raise SpectralEdgeError(f"n_params must be a positive integer (P); got {n_params!r}")
        n_params = p
    _check_variant(k_star)
    cut, min_index = _check_cut(cut, min_index)
    g = as_gram(gram)
    w = g.shape[0]
    lam = _eigvals(g)
    sigma = np.sqrt(lam)
    ratios = gap_ratios(sigma, ratio_floor)

    ks = {v: _choose_k(sigma, ratios, v, cut, min_index) for v in K_STAR_VARIANTS}
    k = ks[k_star]

    edge = ratios.size > 0 and bool(np.isfinite(ratios[k - 1]))
    scale = float(np.max(np.abs(g)))
    unit = pow2_scale(scale) if scale > 0 else 1.0
    lam_unit = lam / unit  # shares and sums on the rescaled spectrum cannot overflow
    total = float(lam_unit.sum())
    if total > 0:
        pc1 = float(lam_unit[0]) / total
        k95 = float(np.searchsorted(np.cumsum(lam_unit) / total, K95_SHARE) + 1)
    else:
        pc1 = k95 = math.nan
    drift = math.sqrt(max(0.0, float((g / unit).sum()))) * math.sqrt(unit) / w

    for arr in (sigma, lam, ratios):
        arr.setflags(write=False)
    return WindowSpectrum(
        w=w,
        sigma=sigma,
        eigvals=lam,
        ratios=ratios,
        k_star=k,
        k_star_plain=ks["plain"],
        k_star_weighted=ks["weighted"],
        k_star_weighted_cut=ks["weighted_cut"],
        gap_ratio=float(ratios[k - 1]) if edge else math.nan,
        gap=float(sigma[k - 1] - sigma[k]) if edge else math.nan,
        eigen_gap=float(lam[k - 1] - lam[k]) if edge else math.nan,
        r12=_at(ratios, 0),
        r23=_at(ratios, 1),
        r34=_at(ratios, 2),
        g23=float(lam[1] - lam[2]) if w >= 3 else math.nan,
        pc1_share=pc1,
        k95=k95,
        drift_speed=drift,
        bbp_ratio=_bbp_ratio(sigma, lam, n_params),
        k_star_variant=k_star,
        ratio_floor=_check_floor(ratio_floor),
        cut=cut,
        min_index=min_index,
        n_params=n_params,
    )
