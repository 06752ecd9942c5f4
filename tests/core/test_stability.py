"""Stability quantities against explicit P×P matrices and P-dimensional singular vectors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.linalg
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


# --------------------------------------------------------------------------------------------
# ‖ΔC‖_F


@pytest.mark.parametrize("w, p", [(1, 3), (3, 4), (5, 2), (10, 7)])
def test_delta_c_matches_explicit_difference(w: int, p: int) -> None:
    for seed in range(4):
        y = updates(w + 1, p, seed)
        c_prev, c_cur, d = sliding(y)
        assert d == pytest.approx(np.linalg.norm(c_cur - c_prev), rel=1e-9, abs=1e-12)
        # Filling: nothing leaves, C grows by aaᵀ, whose norm is ‖a‖².
        x = y[:w]
        a = y[w]
        grown = np.vstack([x, a])
        d_fill = delta_c_frobenius(a @ a)
        assert d_fill == pytest.approx(np.linalg.norm(grown.T @ grown - x.T @ x), rel=1e-9)
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
    np.testing.assert_allclose(eigen_gaps(lam), want)
    np.testing.assert_allclose(eigen_gaps(lam, with_zero=True), [4.0, 0.5, 0.5, 1.0])
    np.testing.assert_allclose(eigen_gaps(lam[::-1]), want[::-1])  # order does not matter
    assert eigen_gaps([3.0]).tolist() == [math.inf]
    assert eigen_gaps([3.0], with_zero=True).tolist() == [3.0]


@pytest.mark.parametrize("w, p", [(3, 3), (3, 6), (5, 8)])
def test_gram_gaps_equal_gaps_of_c(w: int, p: int) -> None:
    x = updates(w, p, seed=p)
    lam_c = np.linalg.eigvalsh(x.T @ x)[::-1]  # P values, P − w of them zero
    gaps_c = [min(abs(lam_c[j] - lam_c[i]) for i in range(p) if i != j) for j in range(w)]
    lam_g = np.linalg.eigvalsh(x @ x.T)[::-1]
    np.testing.assert_allclose(eigen_gaps(lam_g, with_zero=p > w), gaps_c, rtol=1e-8)


def explicit_sines(c_prev: np.ndarray, c_cur: np.ndarray, w: int) -> np.ndarray:
    v_prev = np.linalg.eigh(c_prev)[1][:, ::-1][:, :w]
    v_cur = np.linalg.eigh(c_cur)[1][:, ::-1][:, :w]
    cos = np.abs(np.sum(v_prev * v_cur, axis=0))
    return np.sqrt(np.clip(1 - cos**2, 0, None))


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
        gaps = eigen_gaps(lam, with_zero=p > modes)
        # Yu–Wang–Samworth: guaranteed for every perturbation.
        bound2 = davis_kahan_bounds(lam, d, factor=2.0, with_zero=p > modes)
        assert np.all(sines <= bound2 + 1e-7)
        # Thesis form (factor 1) and α: where the change is small against the gap.
        bound1 = davis_kahan_bounds(lam, d, with_zero=p > modes)
        alpha = stability_alpha(lam, d, with_zero=p > modes)
        small = d <= gaps / 2
        assert np.all(sines[small] <= bound1[small] + 1e-7)
        assert np.all(alpha[small] <= 1 - sines[small] ** 2 + 1e-7)  # α ≤ cos² θ
        checked_small += int(small.sum())
        # α from its definition on the explicit P×P matrices.
        lam_c = np.linalg.eigvalsh(c_prev)[::-1]
        gap_c = np.array([np.min(np.abs(np.delete(lam_c, j) - lam_c[j])) for j in range(modes)])
        d_c = np.linalg.norm(c_cur - c_prev)
        want = np.maximum(0, 1 - d_c**2 / gap_c**2)
        np.testing.assert_allclose(alpha, want, rtol=1e-6, atol=1e-9)
        np.testing.assert_allclose(bound1, np.minimum(1, d_c / gap_c), rtol=1e-6, atol=1e-9)
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
    np.testing.assert_allclose(got, want, atol=1e-8)


def test_split_alpha_small_and_degenerate_windows() -> None:
    assert stability_alpha_split([[2.0]]).size == 0
    x = updates(10, 3, seed=1)  # each half has rank 3 of 5 modes
    got = stability_alpha_split(x @ x.T)
    assert np.all(np.isfinite(got[:3])) and np.all(np.isnan(got[3:]))
    assert np.all(np.isnan(stability_alpha_split(np.zeros((4, 4)))))
    # A persistent direction: every update along the same vector.
    v = np.array([1.0, 2.0, -1.0])
    x = np.outer([1.0, 2.0, 0.5, 3.0], v)
    assert stability_alpha_split(x @ x.T)[0] == pytest.approx(1.0)


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
    np.testing.assert_allclose(
        mode_overlaps(union, k, outgoing=outgoing), np.abs(v_prev @ v_cur.T), atol=1e-8
    )
    want = np.sort(scipy.linalg.subspace_angles(v_prev.T, v_cur.T))
    got = principal_angles(union, k, outgoing=outgoing)
    assert np.all(np.diff(got) >= 0)
    np.testing.assert_allclose(got, want, atol=1e-6)
    assert top_rotation(union, outgoing=outgoing) == pytest.approx(abs(v_prev[0] @ v_cur[0]))


def test_overlaps_null_modes_and_zero_windows() -> None:
    y = updates(6, 2, seed=3)  # rank 2: modes 3.. are null
    m = mode_overlaps(y @ y.T, 3)
    assert np.all(np.isfinite(m[:2, :2])) and np.all(np.isnan(m[2])) and np.all(np.isnan(m[:, 2]))
    assert np.all(np.isnan(principal_angles(y @ y.T, 3)))
    assert math.isnan(top_rotation(np.zeros((3, 3))))
    # An unchanged direction: both windows along v.
    x = np.outer([1.0, -2.0, 0.5], [3.0, 0.0, 4.0])
    assert top_rotation(x @ x.T) == pytest.approx(1.0)
    assert principal_angles(x @ x.T, 1)[0] == pytest.approx(0.0, abs=1e-7)


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
    assert values[1] == pytest.approx(values[0])


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
        assert np.all((angles >= 0) & (angles <= np.pi / 2 + 1e-12))
    split = stability_alpha_split(y[1:] @ y[1:].T)
    assert np.all((split[np.isfinite(split)] >= 0) & (split[np.isfinite(split)] <= 1))
    np.testing.assert_allclose(mode_overlaps(c * c * union, k), m, atol=1e-7)

    _, _, d = sliding(y)
    _, _, d_c = sliding(c * y)
    lam = np.linalg.eigvalsh(y[1:] @ y[1:].T)[::-1]
    bound, alpha = davis_kahan_bounds(lam, d), stability_alpha(lam, d)
    assert np.all((bound >= 0) & (bound <= 1) & (alpha >= 0) & (alpha <= 1))
    np.testing.assert_allclose(alpha, np.maximum(0, 1 - np.minimum(1, bound) ** 2), atol=1e-12)
    np.testing.assert_allclose(davis_kahan_bounds(c * c * lam, d_c), bound, atol=1e-9)
    np.testing.assert_allclose(stability_alpha(c * c * lam, d_c), alpha, atol=1e-9)
