"""Stability of the window's modes: exact ΔC, Davis–Kahan, α_j, the adiabatic parameter, angles.

When the window slides by one update, a = δ_new enters and b = δ_old leaves, so the P×P operator
C = XᵀX = Σ δ_i δ_iᵀ changes by exactly ΔC = aaᵀ − bbᵀ: a rank-two change whose Frobenius norm
needs three Gram entries. Perturbation theory turns ‖ΔC‖ and the eigenvalue gaps into bounds on
how far each mode can turn (Davis–Kahan, the stability coefficient α_j) and into the adiabatic
parameter that separates plateau, transition and forgetting (docs/thesis.md §3).

Mode directions v_j = Xᵀu_j/σ_j live in R^P, but the updates only span at most W + 1 of those
dimensions, and a Gram determines the updates up to a rotation of R^P: any B with B Bᵀ = G holds
them, written in an orthonormal basis of their span. The rotation between consecutive windows,
principal angles and the split-half estimator of α are therefore exact and cost nothing
P-dimensional, given the (W+1)×(W+1) Gram of the union of two consecutive windows or the W×W Gram
of one.

Pure numpy, float64; no torch, no I/O.
"""

from __future__ import annotations

import math

import numpy as np

from spectral_edge.core.checks import as_gram, as_number, pow2_scale
from spectral_edge.errors import SpectralEdgeError

__all__ = [
    "REGIMES",
    "adiabatic_dk",
    "adiabatic_paper",
    "adiabatic_regime",
    "davis_kahan_bounds",
    "delta_c_frobenius",
    "eigen_gaps",
    "mode_overlaps",
    "principal_angles",
    "stability_alpha",
    "stability_alpha_split",
    "top_rotation",
]

REGIMES = ("plateau", "transition", "forgetting", "undefined")


# A mode with λ_j ≤ NULL_RTOL·λ_1 (σ_j ≤ 1e-6·σ_1) has no meaningful direction: eigvalsh/eigh
# resolve λ only to about machine-ε·λ_1, so dividing Xᵀu_j by such a σ_j amplifies round-off.
NULL_RTOL = 1e-12

# The library's Gram entries are exact products summed in float64 (core/gram.py), but a caller
# may pass entries from a float32 computation, ~1e-6 relative each, with which two nearly
# parallel updates break Cauchy–Schwarz by a few parts per million; only a larger excess means
# the three entries do not belong together.
CAUCHY_SCHWARZ_RTOL = 1e-4


# --------------------------------------------------------------------------------------------
# Input checks and the Gram-only mode machinery


def _as_eigvals(eigvals: object) -> np.ndarray:
    try:
        lam = np.asarray(eigvals, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise SpectralEdgeError(f"eigvals must be a 1-D array of numbers: {exc}") from exc
    if lam.ndim != 1 or lam.size == 0:
        raise SpectralEdgeError(f"eigvals must be a non-empty 1-D array; got shape {lam.shape}")
    if not np.all(np.isfinite(lam)):
        raise SpectralEdgeError("eigvals must be finite")
    return lam


def _as_delta(delta_c: float) -> float:
    d = as_number(delta_c, "‖ΔC‖_F")
    if d < 0:
        raise SpectralEdgeError(f"‖ΔC‖_F is a norm and cannot be negative; got {delta_c!r}")
    return d


def _coordinates(g: np.ndarray) -> np.ndarray:
    """Rows b_i with ⟨b_i, b_j⟩ = G_ij: the updates written in an orthonormal basis of their span.

    G = U Λ Uᵀ gives B = U Λ^{1/2} with B Bᵀ = G. Any two factors of one Gram differ by an
    orthogonal map, which preserves every inner product and angle, so the rows of B stand in
    for the P-dimensional updates. eigh's backward error (a few ε·λ_1 in G) is the only error
    the Gram route adds, so a direction is accurate to about ε·λ_1/gap_λ, as it was from blocks
    of G; but with explicit vectors the sines of principal angles can be formed directly (see
    :func:`principal_angles`), and an update shared by two windows is the very same row of B in
    both. The exact scale 2^e keeps eigh away from overflow; directions do not depend on it.
    Eigenvalues below eigh's resolution are set to 0, a change of G within its backward error.
    """
    scale = float(np.max(np.abs(g)))
    g = g / pow2_scale(scale) if scale > 0 else g
    lam, u = np.linalg.eigh(g)
    # eigh resolves λ only to about n·ε·λ_1: anything below is 0 in truth (a rank-deficient
    # window), and kept as a column of size √(n·ε)·σ_1 it would tilt every direction by √ε.
    floor = g.shape[0] * np.finfo(np.float64).eps * max(float(lam[-1]), 0.0)
    return u * np.sqrt(np.where(lam > floor, lam, 0.0))


def _top_pair(g: np.ndarray, rows_a: slice, rows_b: slice, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-k mode directions of two row sets of one Gram, as k orthonormal rows each.

    The right singular vectors of a set of rows of B are its v_j = Xᵀu_j/σ_j in B's
    coordinates. Rows of null modes (σ_j² ≤ NULL_RTOL·σ_max², σ_max over both sets) are NaN:
    such a mode has no direction.
    """
    b = _coordinates(g)
    (_, s_a, vt_a), (_, s_b, vt_b) = (
        np.linalg.svd(b[rows], full_matrices=False) for rows in (rows_a, rows_b)
    )
    top = max(float(s_a[0]), float(s_b[0])) ** 2

    def directions(s: np.ndarray, vt: np.ndarray) -> np.ndarray:
        v = vt[:k].copy()
        v[s[:k] ** 2 <= NULL_RTOL * top] = np.nan
        return v

    return directions(s_a, vt_a), directions(s_b, vt_b)


def _cross(g: np.ndarray, rows_a: slice, rows_b: slice, k: int) -> np.ndarray:
    """Signed k×k matrix ⟨v_i(a), v_j(b)⟩ between the top modes of two row sets of one Gram.

    Rows/columns of null modes (see NULL_RTOL) are NaN.
    """
    v_a, v_b = _top_pair(g, rows_a, rows_b, k)
    # Both sets are unit vectors, so |m| ≤ 1 up to round-off.
    return np.clip(v_a @ v_b.T, -1.0, 1.0)


def _union_sets(union_gram: object, k: int, outgoing: bool) -> tuple[np.ndarray, slice, slice]:
    g = as_gram(union_gram, "union Gram matrix")
    n = g.shape[0]
    if n < 2:
        raise SpectralEdgeError(
            "the union Gram of two consecutive windows needs at least 2 updates; got 1"
        )
    # Full window: the oldest update left, so prev = rows 0..n-2 and cur = rows 1..n-1.
    # Filling window (outgoing=False): nothing left, prev = rows 0..n-2 and cur = all rows.
    prev, cur = slice(0, n - 1), slice(1 if outgoing else 0, n)
    try:
        whole = not isinstance(k, (bool, str, bytes)) and int(k) == k
    except (TypeError, ValueError, OverflowError):  # None, NaN, inf, objects
        whole = False
    if not whole or not 1 <= k <= n - 1:
        raise SpectralEdgeError(
            f"k must be an integer in 1..{n - 1} for this union Gram; got {k!r}"
        )
    return g, prev, cur


# --------------------------------------------------------------------------------------------
# Exact change between consecutive windows and perturbation bounds


def delta_c_frobenius(new_sq: float, old_sq: float = 0.0, new_old: float = 0.0) -> float:
    """‖C_{t+1} − C_t‖_F from three Gram entries, where C_{t+1} − C_t = aaᵀ − bbᵀ exactly.

    a = δ_new enters the window, b = δ_old leaves it. Expanding the trace,
    ‖aaᵀ − bbᵀ‖_F² = ‖a‖⁴ + ‖b‖⁴ − 2⟨a,b⟩², so with new_sq = ‖a‖², old_sq = ‖b‖² and
    new_old = ⟨a,b⟩ (an entry of the union Gram of the two windows, not of either window's own)
    the cost is O(1). Round-off can push the expression slightly below 0 when a ≈ ±b, hence the
    clip at 0. While the window fills nothing leaves (b = 0): old_sq = new_old = 0 gives ‖a‖².

    Raises SpectralEdgeError for non-finite or negative squared norms, or when |⟨a,b⟩| exceeds
    ‖a‖‖b‖ beyond round-off (Cauchy–Schwarz), which means the entries do not belong together.
    """
    a2 = as_number(new_sq, "‖δ_new‖²")
    b2 = as_number(old_sq, "‖δ_old‖²")
    ab = as_number(new_old, "⟨δ_new, δ_old⟩")
    if not all(math.isfinite(v) for v in (a2, b2, ab)):
        raise SpectralEdgeError("delta_c_frobenius needs finite Gram entries")
    if a2 < 0 or b2 < 0:
        raise SpectralEdgeError(f"squared norms cannot be negative; got {a2!r} and {b2!r}")
    # In units of m = max(‖a‖², ‖b‖²): ‖a‖⁴ overflowed for ‖a‖² ≳ 1.3e154 (giving inf, or 0
    # through max(0, inf − inf)) although ‖ΔC‖_F itself is representable.
    m = max(a2, b2)
    if m == 0.0:
        if ab != 0.0:
            raise SpectralEdgeError(
                f"⟨a,b⟩ = {ab:.6g} is not 0 although ‖a‖ = ‖b‖ = 0: these are not the Gram "
                "entries of one pair of updates"
            )
        return 0.0
    a, b, c = a2 / m, b2 / m, ab / m
    if c * c > a * b * (1 + CAUCHY_SCHWARZ_RTOL) + 1e-300:
        raise SpectralEdgeError(
            f"⟨a,b⟩² = {ab * ab:.6g} exceeds ‖a‖²‖b‖² = {a2 * b2:.6g}: these are not the Gram "
            "entries of one pair of updates"
        )
    return m * math.sqrt(max(0.0, a * a + b * b - 2.0 * c * c))


def eigen_gaps(eigvals: object, *, with_zero: bool = False) -> np.ndarray:
    """gap_j = min_{i≠j} |λ_j − λ_i|: how isolated eigenvalue j is from the rest of the spectrum.

    Davis–Kahan divides by this separation: a mode is only as stable as it is isolated. The
    Gram's eigenvalues are the nonzero spectrum of C = XᵀX; when P > w, C also has eigenvalue 0
    (multiplicity P − w), which the Gram does not show. ``with_zero=True`` adds 0 as a competitor,
    the exact gap of C for the bottom mode (the others are unaffected: λ_j − λ_{j+1} ≤ λ_j).
    The default follows docs/thesis.md (gaps among the window's eigenvalues only). A lone eigenvalue
    (w = 1) without ``with_zero`` has no competitor: its gap is +inf.
    """
    lam = _as_eigvals(eigvals)
    others = np.append(lam, 0.0) if with_zero else lam
    diff = np.abs(lam[:, None] - others[None, :])
    diff[np.arange(lam.size), np.arange(lam.size)] = np.inf
    return diff.min(axis=1)


def _relative_change(gaps: np.ndarray, delta: float) -> np.ndarray:
    """‖ΔC‖/gap_j with the limits made explicit: an unchanged C (‖ΔC‖ = 0) moves no mode, even a
    degenerate one; a degenerate mode (gap 0) under any change is unconstrained (inf)."""
    if math.isnan(delta):
        return np.full(gaps.shape, np.nan)
    if delta == 0.0:
        return np.zeros(gaps.shape)
    with np.errstate(divide="ignore"):
        return delta / gaps


def davis_kahan_bounds(
    eigvals: object, delta_c: float, *, factor: float = 1.0, with_zero: bool = False
) -> np.ndarray:
    """Upper bounds on sin θ_j, the angle mode j of C_t turns through when C_t → C_t + ΔC.

    sin θ_j ≤ min(1, factor·‖ΔC‖_F/gap_j) with gap_j from :func:`eigen_gaps` of C_t's
    eigenvalues (pass the window's λ, i.e. σ²).

    ``factor = 1`` is the thesis's form: the classical Davis–Kahan theorem with the unperturbed
    gap standing in for the separation from the perturbed spectrum. It is tight for small
    perturbations but is not a theorem: when ‖ΔC‖ approaches gap_j and eigenvalues cross it can
    be violated. ``factor = 2`` is the Yu–Wang–Samworth (2015) variant, which holds for every
    perturbation using the unperturbed gap alone. The cap at 1 is because sin θ ≤ 1 anyway.
    An unchanged C (‖ΔC‖ = 0) gives 0, a degenerate mode under any change gives 1, NaN ‖ΔC‖
    gives NaN.
    """
    f = as_number(factor, "factor")
    if not (math.isfinite(f) and f > 0):
        raise SpectralEdgeError(f"factor must be a finite positive number; got {factor!r}")
    rel = _relative_change(eigen_gaps(eigvals, with_zero=with_zero), _as_delta(delta_c))
    return np.minimum(1.0, f * rel)


def stability_alpha(eigvals: object, delta_c: float, *, with_zero: bool = False) -> np.ndarray:
    """Stability coefficient α_j = max(0, 1 − ‖ΔC‖_F²/gap_j²) (the author's definition).

    Reading the Davis–Kahan ratio ‖ΔC‖/gap_j as sin θ_j, α_j is the matching cos² θ_j: 1 for a
    mode that cannot move, 0 once the change is as large as the gap that protects it. The
    predicted hierarchy is α_dominant > α_gap > α_sub. Limits as in :func:`davis_kahan_bounds`:
    ‖ΔC‖ = 0 gives 1, a degenerate mode under change gives 0, a lone eigenvalue gives 1 (unless
    ``with_zero``), NaN ‖ΔC‖ gives NaN.
    """
    rel = _relative_change(eigen_gaps(eigvals, with_zero=with_zero), _as_delta(delta_c))
    return np.maximum(0.0, 1.0 - rel * rel)


def stability_alpha_split(gram: object) -> np.ndarray:
    """Split-half estimator of α: α_j = |⟨v_j^(1), v_j^(2)⟩| for the two halves of one window.

    The first h = ⌊w/2⌋ updates form half 1, the remaining w − h (the newer, one more when w is
    odd) half 2. v_j^(h) are the right singular vectors of each half, computed from Gram blocks:
    v^(h) = X_hᵀu/σ, so ⟨v_i^(1), v_j^(2)⟩ = u_iᵀ G[h1, h2] u_j/(σ_i σ_j). A mode that persists
    across the window has α_j ≈ 1; one that rotates within it has α_j ≈ 0. The absolute value
    removes the arbitrary sign of singular vectors.

    Returns h = min(len halves) values (empty for w = 1); NaN for a mode that is null in either
    half (σ_j ≤ 1e-6·σ_max, no direction to compare). Degenerate σ within a half make the
    individual vectors, and so α_j, arbitrary.
    """
    g = as_gram(gram)
    h = g.shape[0] // 2
    if h == 0:
        return np.empty(0)
    return np.abs(np.diag(_cross(g, slice(0, h), slice(h, g.shape[0]), h)))


# --------------------------------------------------------------------------------------------
# Adiabatic parameter


def adiabatic_paper(delta_c: float, lr: float, gap: float) -> float:
    """Paper form A = ‖ΔG‖_F/(η·g²), with ΔG taken as the exact ΔC of consecutive windows.

    η is the learning rate and g the σ-gap σ_{k*} − σ_{k*+1} (the default of docs/thesis.md §9).
    Dividing by η turns the per-window change into a rate per unit step size; g² is the energy
    that protects the edge. A learning rate of zero (or below, or not finite) makes the rate
    meaningless, and a closed gap leaves nothing to protect: both give NaN, not an exception, so
    a monitor keeps running through warm-up and degenerate windows. NaN inputs propagate.
    """
    d = _as_delta(delta_c)
    eta, g = as_number(lr, "the learning rate"), as_number(gap, "the σ-gap")
    if not (math.isfinite(eta) and eta > 0 and math.isfinite(g) and g > 0):
        return math.nan
    return d / (eta * g * g)


def adiabatic_dk(delta_c: float, eigen_gap: float) -> float:
    """Scale-free Davis–Kahan form A_DK = ‖ΔC‖_F/(λ_{k*} − λ_{k*+1}).

    The Davis–Kahan ratio for the edge itself: A_DK ≪ 1 says the top-k* subspace barely turns,
    A_DK ≳ 1 that the change is as large as the gap. Unlike the paper form it needs no learning
    rate; like it, it is invariant under X → cX (‖ΔC‖ and the λ-gap both scale as c²). A
    non-positive or non-finite eigen-gap gives NaN.
    """
    d = _as_delta(delta_c)
    g = as_number(eigen_gap, "the eigen-gap")
    if not (math.isfinite(g) and g > 0):
        return math.nan
    return d / g


def adiabatic_regime(value: float, low: float = 0.1, high: float = 10.0) -> str:
    """Classify an adiabatic parameter: "plateau" (A < low), "transition" (low ≤ A ≤ high),
    "forgetting" (A > high), "undefined" (NaN).

    No numeric thresholds are published; the defaults are the decade boundaries around A ~ 1.
    """
    lo, hi = as_number(low, "low"), as_number(high, "high")
    if not (math.isfinite(lo) and math.isfinite(hi) and 0 < lo <= hi):
        raise SpectralEdgeError(f"thresholds must satisfy 0 < low ≤ high; got {low!r}, {high!r}")
    a = as_number(value, "the adiabatic parameter")
    if math.isnan(a):
        return "undefined"
    if a < lo:
        return "plateau"
    if a > hi:
        return "forgetting"
    return "transition"


# --------------------------------------------------------------------------------------------
# Rotation between consecutive windows


def mode_overlaps(union_gram: object, k: int, *, outgoing: bool = True) -> np.ndarray:
    """k×k matrix |⟨v_i(prev), v_j(cur)⟩| between the top-k modes of two consecutive windows.

    ``union_gram`` is the (W+1)×(W+1) Gram of the updates of both windows, oldest first: the
    previous window is rows 0..W−1, the current one rows 1..W. Inner products of the
    P-dimensional directions come from Gram blocks only (see the module docstring). A diagonal
    near 1 means mode i kept its direction; weight off the diagonal means modes swapped or mixed.

    ``outgoing=False`` is the filling case, where no update left: previous = rows 0..n−2,
    current = all n rows. k must lie in 1..n−1. Null modes give NaN rows/columns.
    """
    g, prev, cur = _union_sets(union_gram, k, outgoing)
    return np.abs(_cross(g, prev, cur, int(k)))


def principal_angles(union_gram: object, k: int, *, outgoing: bool = True) -> np.ndarray:
    """Principal angles (radians, ascending) between the top-k subspaces of consecutive windows.

    With V_prev, V_cur the orthonormal bases of the two top-k subspaces, the singular values of
    V_prevᵀV_cur are the cosines of the principal angles and those of (I − V_prev V_prevᵀ)V_cur
    their sines. Individual modes can swap or mix without the subspace moving; the angles
    measure the subspace itself. Arguments as in :func:`mode_overlaps`.

    An angle below π/4 is taken from its sine and one above from its cosine (the split of
    Björck & Golub, as in scipy.linalg.subspace_angles): arccos(1 − ε) ≈ √(2ε), so a cosine
    carrying round-off ε ~ 1e-16 turns a zero angle into ~1e-8 rad, and a Gram that only
    reaches ε ~ 1e-13 (how far depends on the BLAS kernel) into ~1e-6. From the sine the
    error stays at the ε of the bases. All NaN when either top-k set contains a null mode
    (the subspace is not k-dimensional).
    """
    g, prev, cur = _union_sets(union_gram, k, outgoing)
    v_prev, v_cur = _top_pair(g, prev, cur, int(k))
    if not (np.all(np.isfinite(v_prev)) and np.all(np.isfinite(v_cur))):
        return np.full(int(k), np.nan)
    overlap = v_prev @ v_cur.T
    cosines = np.clip(np.linalg.svd(overlap, compute_uv=False), 0.0, 1.0)  # angles ascending
    residual = v_cur - overlap.T @ v_prev  # V_cur with its part in span(V_prev) removed
    sines = np.clip(np.linalg.svd(residual, compute_uv=False)[::-1], 0.0, 1.0)  # ascending
    angles = np.where(cosines**2 >= 0.5, np.arcsin(sines), np.arccos(cosines))
    # The two formulas agree to round-off; sorting removes a one-ulp inversion at π/4.
    return np.sort(angles)


def top_rotation(union_gram: object, *, outgoing: bool = True) -> float:
    """|⟨v_1(t), v_1(t−1)⟩|: how far the dominant direction turned between consecutive windows.

    1 means no rotation, 0 a quarter turn. NaN if either window is all zero.
    """
    return float(mode_overlaps(union_gram, 1, outgoing=outgoing)[0, 0])
