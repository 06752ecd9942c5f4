"""Stability quantities against explicit P×P matrices and P-dimensional singular vectors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.linalg
from _numerics import (
    EPS,
    C,
    direction_err,
    gram_eig_err,
    sigma_err,
    subspace_err,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from spectral_edge.core.stability import (
    REGIMES,
    adiabatic_dk,
    adiabatic_paper,
    adiabatic_regime,
    davis_kahan_bounds,
    delta_c_frobenius,
    eigen_gaps,
    mode_overlaps,
    principal_angles,
    stability_alpha,
    stability_alpha_split,
    top_rotation,
)
from spectral_edge.errors import SpectralEdgeError


def updates(n: int, p: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, p)) * rng.exponential(1.0, size=(n, 1))


def sliding(y: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """C_t, C_{t+1} for the windows y[:-1] and y[1:], and ‖ΔC‖_F from the Gram entries."""
    a, b = y[-1], y[0]
    c_prev, c_cur = y[:-1].T @ y[:-1], y[1:].T @ y[1:]
    return c_prev, c_cur, delta_c_frobenius(a @ a, b @ b, a @ b)


def top_right_vectors(x: np.ndarray, k: int) -> np.ndarray:
    return np.linalg.svd(x, full_matrices=False)[2][:k]


def delta_c_err(y: np.ndarray) -> float:
    """|‖ΔC‖ from three Gram entries − ‖ΔC‖ from the explicit P×P matrices|, bounded.

    Library: ‖ΔC‖² = ‖a‖⁴ + ‖b‖⁴ − 2⟨a,b⟩² from p-term dots, off by ≤ C·p·ε·m² (m the larger
    ‖·‖²), and the root of a quantity known to e is known to min(√e, e/value). Reference: each
    entry of C is a sum of w products (w·u·‖C‖ each), and C_cur − C_prev cancels, so its norm is
    off by up to C·w·ε·(‖C_prev‖ + ‖C_cur‖).
    """
    a, b = y[-1], y[0]
    w, p = y.shape[0] - 1, y.shape[1]
    m = max(a @ a, b @ b)
    c_prev, c_cur = y[:-1].T @ y[:-1], y[1:].T @ y[1:]
    d = np.linalg.norm(c_cur - c_prev)
    lib = float(sigma_err(C * p * EPS * m * m, [d])[0])
    return lib + C * w * EPS * (np.linalg.norm(c_prev) + np.linalg.norm(c_cur))


# --------------------------------------------------------------------------------------------
# ‖ΔC‖_F


@pytest.mark.parametrize("w, p", [(1, 3), (3, 4), (5, 2), (10, 7)])
def test_delta_c_matches_explicit_difference(w: int, p: int) -> None:
    for seed in range(4):
        y = updates(w + 1, p, seed)
        c_prev, c_cur, d = sliding(y)
        assert abs(d - np.linalg.norm(c_cur - c_prev)) <= delta_c_err(y)
        # Filling: nothing leaves, C grows by aaᵀ, whose norm is ‖a‖².
        x = y[:w]
        a = y[w]
        grown = np.vstack([x, a])
        d_fill = delta_c_frobenius(a @ a)
        fill_err = C * (p + w) * EPS * np.linalg.norm(grown.T @ grown)  # dot + cancellation
        assert abs(d_fill - np.linalg.norm(grown.T @ grown - x.T @ x)) <= fill_err
        assert d_fill == delta_c_frobenius(a @ a, 0.0, 0.0)


def test_delta_c_identical_updates_is_zero_not_negative_root() -> None:
    a = np.array([0.1, 0.7, -0.3])
    assert delta_c_frobenius(a @ a, a @ a, a @ a) == 0.0
    assert delta_c_frobenius(a @ a, a @ a, -(a @ a)) == 0.0


@pytest.mark.parametrize(
    "args, match",
    [
        ((-1.0, 1.0, 0.0), "negative"),
        ((1.0, -1.0, 0.0), "negative"),
        ((math.nan, 1.0, 0.0), "finite"),
        ((1.0, math.inf, 0.0), "finite"),
        ((1.0, 1.0, 2.0), "not the Gram entries"),
        ((1.0, 0.0, 0.5), "not the Gram entries"),
    ],
)
def test_delta_c_errors(args: tuple[float, float, float], match: str) -> None:
    with pytest.raises(SpectralEdgeError, match=match):
        delta_c_frobenius(*args)


# --------------------------------------------------------------------------------------------
# Gaps, Davis–Kahan, α


def test_eigen_gaps_brute_force() -> None:
    lam = np.array([9.0, 5.0, 4.5, 1.0])
    want = [min(abs(lam[j] - lam[i]) for i in range(4) if i != j) for j in range(4)]
    # differences of these binary fractions are exact
    np.testing.assert_array_equal(eigen_gaps(lam), want)
    np.testing.assert_array_equal(eigen_gaps(lam, with_zero=True), [4.0, 0.5, 0.5, 1.0])
    np.testing.assert_array_equal(eigen_gaps(lam[::-1]), want[::-1])  # order does not matter
    assert eigen_gaps([3.0]).tolist() == [math.inf]
    assert eigen_gaps([3.0], with_zero=True).tolist() == [3.0]


@pytest.mark.parametrize("w, p", [(3, 3), (3, 6), (5, 8)])
def test_gram_gaps_equal_gaps_of_c(w: int, p: int) -> None:
    x = updates(w, p, seed=p)
    lam_c = np.linalg.eigvalsh(x.T @ x)[::-1]  # P values, P − w of them zero
    gaps_c = [min(abs(lam_c[j] - lam_c[i]) for i in range(p) if i != j) for j in range(w)]
    lam_g = np.linalg.eigvalsh(x @ x.T)[::-1]
    # each λ, from the w×w Gram or the p×p C, is within gram_eig_err of the truth; a gap is a
    # difference of two of them
    lam1 = float(lam_g[0])
    err = 2 * (gram_eig_err(w, p, lam1) + gram_eig_err(p, w, lam1))
    assert np.all(np.abs(eigen_gaps(lam_g, with_zero=p > w) - gaps_c) <= err)


def explicit_sines(c_prev: np.ndarray, c_cur: np.ndarray, w: int) -> np.ndarray:
    """sin θ_j between eigenvectors j of C_prev and C_cur, from the residual of the projection
    (√(1 − cos²) would lose everything below √ε)."""
    v_prev = np.linalg.eigh(c_prev)[1][:, ::-1][:, :w]
    v_cur = np.linalg.eigh(c_cur)[1][:, ::-1][:, :w]
    cos = np.sum(v_prev * v_cur, axis=0)
    return np.linalg.norm(v_cur - cos * v_prev, axis=0)


def explicit_sine_err(c: np.ndarray, modes: int) -> np.ndarray:
    """Davis–Kahan bound on how far eigh's eigenvectors of the explicit C are from the exact
    ones: C·p·ε·‖C‖ over each eigenvalue's distance to the rest, capped at 1."""
    lam = np.linalg.eigvalsh(c)[::-1]
    err = np.ones(modes)
    for j in range(modes):
        gap = np.min(np.abs(np.delete(lam, j) - lam[j])) if lam.size > 1 else np.inf
        if gap > 0:
            err[j] = min(1.0, C * c.shape[0] * EPS * abs(lam[0]) / gap)
    return err


def test_davis_kahan_and_alpha_against_explicit_eigenvectors() -> None:
    checked_small = 0
    for seed in range(300):
        rng = np.random.default_rng(seed)
        w, p = int(rng.integers(1, 6)), int(rng.integers(2, 7))
        y = updates(w + 1, p, seed)
        c_prev, c_cur, d = sliding(y)
        lam = np.linalg.eigvalsh(y[:-1] @ y[:-1].T)[::-1]
        modes = min(w, p)
        lam = lam[:modes]
        sines = explicit_sines(c_prev, c_cur, modes)
        # the explicit sines are only as good as eigh's eigenvectors of both C
        slack = explicit_sine_err(c_prev, modes) + explicit_sine_err(c_cur, modes)
        gaps = eigen_gaps(lam, with_zero=p > modes)
        # Yu–Wang–Samworth: guaranteed for every perturbation.
        bound2 = davis_kahan_bounds(lam, d, factor=2.0, with_zero=p > modes)
        assert np.all(sines <= bound2 + slack)
        # Thesis form (factor 1) and α: where the change is small against the gap.
        bound1 = davis_kahan_bounds(lam, d, with_zero=p > modes)
        alpha = stability_alpha(lam, d, with_zero=p > modes)
        small = d <= gaps / 2
        assert np.all(sines[small] <= bound1[small] + slack[small])
        assert np.all(alpha[small] <= 1 - sines[small] ** 2 + 2 * slack[small])  # α ≤ cos² θ
        checked_small += int(small.sum())
        # α from its definition on the explicit P×P matrices. q = ‖ΔC‖/gap carries the relative
        # errors of ‖ΔC‖ (delta_c_err) and of the gap (two λ, each to gram_eig_err, from the
        # Gram and from C); α = 1 − q² moves by 2q²·rel(q), min(1, q) by q·rel(q).
        lam_c = np.linalg.eigvalsh(c_prev)[::-1]
        gap_c = np.array([np.min(np.abs(np.delete(lam_c, j) - lam_c[j])) for j in range(modes)])
        d_c = np.linalg.norm(c_cur - c_prev)
        q = d_c / gap_c
        lam_err = gram_eig_err(w, p, float(lam[0])) + gram_eig_err(p, w, float(lam[0]))
        rel_q = delta_c_err(y) / d_c + 4 * lam_err / gap_c
        want = np.maximum(0, 1 - q**2)
        assert np.all(np.abs(alpha - want) <= 2 * q**2 * rel_q + EPS)
        assert np.all(np.abs(bound1 - np.minimum(1, q)) <= q * rel_q + EPS)
    assert checked_small > 50


def test_thesis_form_of_davis_kahan_can_fail_when_eigenvalues_cross() -> None:
    y = np.array([[1.0, -0.3], [-0.8, 0.1], [-0.1, -0.9]])
    c_prev, c_cur, d = sliding(y)
    lam = np.linalg.eigvalsh(y[:-1] @ y[:-1].T)[::-1]
    sin_top = explicit_sines(c_prev, c_cur, 1)[0]
    assert sin_top > davis_kahan_bounds(lam, d)[0] + 0.1
    assert sin_top <= davis_kahan_bounds(lam, d, factor=2.0)[0]


def test_bound_and_alpha_limits() -> None:
    lam = np.array([4.0, 4.0, 1.0])
    assert davis_kahan_bounds(lam, 0.0).tolist() == [0.0, 0.0, 0.0]
    assert stability_alpha(lam, 0.0).tolist() == [1.0, 1.0, 1.0]
    np.testing.assert_allclose(davis_kahan_bounds(lam, 1.5), [1.0, 1.0, 0.5])
    np.testing.assert_allclose(stability_alpha(lam, 1.5), [0.0, 0.0, 0.75])
    assert davis_kahan_bounds([2.0], 5.0).tolist() == [0.0]
    assert stability_alpha([2.0], 5.0).tolist() == [1.0]
    assert stability_alpha([2.0], 1.0, with_zero=True).tolist() == [0.75]
    assert np.all(np.isnan(davis_kahan_bounds(lam, math.nan)))
    assert np.all(np.isnan(stability_alpha(lam, math.nan)))
    np.testing.assert_allclose(davis_kahan_bounds(lam, 1.0, factor=2.0), [1.0, 1.0, 2 / 3])


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: eigen_gaps([]), "non-empty"),
        (lambda: eigen_gaps([[1.0]]), "1-D"),
        (lambda: eigen_gaps([1.0, math.nan]), "finite"),
        (lambda: davis_kahan_bounds([2.0, 1.0], -1.0), "negative"),
        (lambda: stability_alpha([2.0, 1.0], -1.0), "negative"),
        (lambda: davis_kahan_bounds([2.0, 1.0], 1.0, factor=0.0), "factor"),
        (lambda: davis_kahan_bounds([2.0, 1.0], 1.0, factor=math.inf), "factor"),
    ],
)
def test_bound_errors(call, match: str) -> None:
    with pytest.raises(SpectralEdgeError, match=match):
        call()


# --------------------------------------------------------------------------------------------
# Split-half α


@pytest.mark.parametrize("w, p", [(2, 5), (5, 9), (10, 40), (11, 30)])
def test_split_alpha_against_svd_of_halves(w: int, p: int) -> None:
    x = updates(w, p, seed=w)
    h = w // 2
    v1, v2 = top_right_vectors(x[:h], h), top_right_vectors(x[h:], h)
    want = np.abs(np.sum(v1 * v2, axis=1))
    got = stability_alpha_split(x @ x.T)
    assert got.shape == (h,)
    # |⟨v1_j, v2_j⟩| moves by at most the sines of both directions (tests/_numerics.py)
    err = direction_err(x[:h], whole=x)[:h] + direction_err(x[h:], whole=x)[:h]
    assert np.all(np.abs(got - want) <= err)


def test_split_alpha_small_and_degenerate_windows() -> None:
    assert stability_alpha_split([[2.0]]).size == 0
    x = updates(10, 3, seed=1)  # each half has rank 3 of 5 modes
    got = stability_alpha_split(x @ x.T)
    assert np.all(np.isfinite(got[:3])) and np.all(np.isnan(got[3:]))
    assert np.all(np.isnan(stability_alpha_split(np.zeros((4, 4)))))
    # A persistent direction: every update along the same vector.
    v = np.array([1.0, 2.0, -1.0])
    x = np.outer([1.0, 2.0, 0.5, 3.0], v)
    assert stability_alpha_split(x @ x.T)[0] == pytest.approx(1.0, abs=C * 4 * EPS)


# --------------------------------------------------------------------------------------------
# Mode overlaps and principal angles between consecutive windows


@pytest.mark.parametrize("w, p, k", [(1, 4, 1), (3, 5, 2), (10, 30, 3), (10, 30, 10)])
@pytest.mark.parametrize("outgoing", [True, False])
def test_overlaps_and_angles_against_explicit_vectors(
    w: int, p: int, k: int, outgoing: bool
) -> None:
    y = updates(w + 1, p, seed=w + k)
    prev, cur = y[:w], (y[1:] if outgoing else y)
    v_prev, v_cur = top_right_vectors(prev, k), top_right_vectors(cur, k)
    union = y @ y.T
    # Each direction is within direction_err of the SVD's, so an overlap is within the sum of
    # the two; the subspaces within subspace_err, so each principal angle within the sum of the
    # two (plus scipy's own ε-level error). Issue 13: angles from arccos(cos) missed by 1e-6.
    e_prev, e_cur = direction_err(prev, whole=y)[:k], direction_err(cur, whole=y)[:k]
    overlaps = mode_overlaps(union, k, outgoing=outgoing)
    assert np.all(np.abs(overlaps - np.abs(v_prev @ v_cur.T)) <= e_prev[:, None] + e_cur[None, :])
    want = np.sort(scipy.linalg.subspace_angles(v_prev.T, v_cur.T))
    got = principal_angles(union, k, outgoing=outgoing)
    assert np.all(np.diff(got) >= 0)
    angle_err = subspace_err(prev, k, whole=y) + subspace_err(cur, k, whole=y)
    angle_err += C * y.shape[1] * EPS
    assert np.all(np.abs(got - want) <= angle_err)
    top = top_rotation(union, outgoing=outgoing)
    assert abs(top - abs(v_prev[0] @ v_cur[0])) <= e_prev[0] + e_cur[0]


def test_overlaps_null_modes_and_zero_windows() -> None:
    y = updates(6, 2, seed=3)  # rank 2: modes 3.. are null
    m = mode_overlaps(y @ y.T, 3)
    assert np.all(np.isfinite(m[:2, :2])) and np.all(np.isnan(m[2])) and np.all(np.isnan(m[:, 2]))
    assert np.all(np.isnan(principal_angles(y @ y.T, 3)))
    assert math.isnan(top_rotation(np.zeros((3, 3))))
    # An unchanged direction: both windows along v.
    x = np.outer([1.0, -2.0, 0.5], [3.0, 0.0, 4.0])
    # one direction shared exactly: round-off of a 3×3 eigh and SVD only
    assert top_rotation(x @ x.T) == pytest.approx(1.0, abs=C * 3 * EPS)
    assert principal_angles(x @ x.T, 1)[0] == pytest.approx(0.0, abs=C * 3 * EPS)


@pytest.mark.parametrize(
    "gram, k, match",
    [
        (np.eye(1), 1, "at least 2"),
        (np.eye(3), 0, "k must be"),
        (np.eye(3), 3, "k must be"),
        (np.eye(3), 1.5, "k must be"),
        (np.eye(3), True, "k must be"),
        (np.ones((2, 3)), 1, "square"),
        (np.array([[1.0, 0.5], [0.0, 1.0]]), 1, "not symmetric"),
        (np.array([[1.0, np.nan], [np.nan, 1.0]]), 1, "NaN"),
        (np.array([[1j, 0], [0, 1]]), 1, "real"),
        ([["x", "y"], ["y", "x"]], 1, "numeric"),
    ],
)
def test_overlap_errors(gram: object, k: object, match: str) -> None:
    for fn in (mode_overlaps, principal_angles):
        with pytest.raises(SpectralEdgeError, match=match):
            fn(gram, k)


def test_split_alpha_rejects_bad_gram() -> None:
    with pytest.raises(SpectralEdgeError, match="square"):
        stability_alpha_split(np.ones((2, 3)))


# --------------------------------------------------------------------------------------------
# Adiabatic parameter


def test_adiabatic_forms() -> None:
    assert adiabatic_paper(2.0, 0.5, 2.0) == pytest.approx(1.0)
    assert adiabatic_dk(3.0, 1.5) == pytest.approx(2.0)
    for lr in (0.0, -1e-3, math.nan, math.inf):
        assert math.isnan(adiabatic_paper(1.0, lr, 1.0))
    for gap in (0.0, -1.0, math.nan):
        assert math.isnan(adiabatic_paper(1.0, 1e-3, gap))
        assert math.isnan(adiabatic_dk(1.0, gap))
    assert math.isnan(adiabatic_paper(math.nan, 1e-3, 1.0))
    assert math.isnan(adiabatic_dk(math.nan, 1.0))
    with pytest.raises(SpectralEdgeError, match="negative"):
        adiabatic_paper(-1.0, 1e-3, 1.0)
    with pytest.raises(SpectralEdgeError, match="negative"):
        adiabatic_dk(-1.0, 1.0)


@pytest.mark.parametrize(
    "value, low, high, regime",
    [
        (0.01, 0.1, 10.0, "plateau"),
        (0.1, 0.1, 10.0, "transition"),
        (1.0, 0.1, 10.0, "transition"),
        (10.0, 0.1, 10.0, "transition"),
        (11.0, 0.1, 10.0, "forgetting"),
        (math.inf, 0.1, 10.0, "forgetting"),
        (math.nan, 0.1, 10.0, "undefined"),
        (0.4, 0.5, 2.0, "plateau"),
        (3.0, 0.5, 2.0, "forgetting"),
        (1.0, 1.0, 1.0, "transition"),
    ],
)
def test_adiabatic_regime(value: float, low: float, high: float, regime: str) -> None:
    assert adiabatic_regime(value, low, high) == regime
    assert regime in REGIMES


@pytest.mark.parametrize("low, high", [(0.0, 1.0), (2.0, 1.0), (-1.0, 1.0), (0.1, math.inf)])
def test_adiabatic_regime_bad_thresholds(low: float, high: float) -> None:
    with pytest.raises(SpectralEdgeError, match="thresholds"):
        adiabatic_regime(1.0, low, high)


def test_adiabatic_forms_are_scale_free() -> None:
    # ‖ΔC‖ scales as c², and so do g² and the λ-gap: neither form depends on the update scale.
    y = updates(11, 20, seed=9)
    values = []
    for c in (1.0, 7.0):
        z = c * y
        a, b = z[-1], z[0]
        d = delta_c_frobenius(a @ a, b @ b, a @ b)
        lam = np.linalg.eigvalsh(z[:-1] @ z[:-1].T)[::-1]
        sig = np.sqrt(lam)
        values.append((adiabatic_dk(d, lam[0] - lam[1]), adiabatic_paper(d, 1e-3, sig[0] - sig[1])))
    # Scaling by 7 rounds each update entry (u), so each form moves by its condition: the
    # relative errors of ‖ΔC‖ and of the gap it divides by (gram_eig_err over the gap).
    lam = np.linalg.eigvalsh(y[:-1] @ y[:-1].T)[::-1]
    e = gram_eig_err(10, 20, float(lam[0]))
    rel = 4 * e / (lam[0] - lam[1]) + 4 * e / (np.sqrt(lam[0]) - np.sqrt(lam[1])) ** 2
    assert values[1] == pytest.approx(values[0], rel=rel + delta_c_err(y) / values[0][0])


# --------------------------------------------------------------------------------------------
# Properties


@settings(max_examples=50, deadline=None)
@given(
    w=st.integers(1, 8),
    p=st.integers(1, 12),
    seed=st.integers(0, 2**32 - 1),
    c=st.floats(1e-2, 1e2),
)
def test_ranges_and_scale_invariance(w: int, p: int, seed: int, c: float) -> None:
    y = updates(w + 1, p, seed)
    union = y @ y.T
    k = min(w, p)
    m = mode_overlaps(union, k)
    fin = m[np.isfinite(m)]
    assert np.all((fin >= 0) & (fin <= 1))
    angles = principal_angles(union, k)
    if np.all(np.isfinite(angles)):
        assert np.all((angles >= 0) & (angles <= np.pi / 2))  # arcsin, arccos of clipped values
    split = stability_alpha_split(y[1:] @ y[1:].T)
    assert np.all((split[np.isfinite(split)] >= 0) & (split[np.isfinite(split)] <= 1))
    # c²·G rounds each entry (u): within the Gram route's own error, so each overlap moves by
    # at most twice the two directions' bounds (near-degenerate modes may swap freely)
    e_prev, e_cur = direction_err(y[:-1], whole=y)[:k], direction_err(y[1:], whole=y)[:k]
    scaled = mode_overlaps(c * c * union, k)
    both = np.isfinite(m) & np.isfinite(scaled)
    assert np.array_equal(np.isfinite(m), np.isfinite(scaled)) or not np.all(both)
    assert np.all((np.abs(scaled - m) <= 2 * (e_prev[:, None] + e_cur[None, :]))[both])

    _, _, d = sliding(y)
    _, _, d_c = sliding(c * y)
    lam = np.linalg.eigvalsh(y[1:] @ y[1:].T)[::-1]
    bound, alpha = davis_kahan_bounds(lam, d), stability_alpha(lam, d)
    assert np.all((bound >= 0) & (bound <= 1) & (alpha >= 0) & (alpha <= 1))
    # the same numbers in: one square and one subtraction apart
    np.testing.assert_allclose(alpha, np.maximum(0, 1 - np.minimum(1, bound) ** 2), atol=4 * EPS)
    # scaled updates: λ and ‖ΔC‖ both carry relative rounding of order p·u (C·p·ε), and their
    # ratio q = ‖ΔC‖/gap that times the gap's condition λ_1/gap
    gaps = eigen_gaps(lam)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel_q = C * (p + w) * EPS * (1 + 2 * lam[0] / gaps)
        q = np.where(d > 0, d / gaps, 0.0)
    tol = np.nan_to_num(np.minimum(1.0, q) * rel_q, nan=0.0, posinf=1.0) + 4 * EPS
    tol_alpha = np.nan_to_num(2 * np.minimum(1.0, q) ** 2 * rel_q, nan=0.0, posinf=1.0) + 4 * EPS
    assert np.all(np.abs(davis_kahan_bounds(c * c * lam, d_c) - bound) <= tol)
    assert np.all(np.abs(stability_alpha(c * c * lam, d_c) - alpha) <= tol_alpha)
