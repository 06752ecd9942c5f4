"""Per-window spectral features against independent references (SVD of X, brute-force loops)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from spectral_edge.core.spectrum import (
    K_STAR_VARIANTS,
    WindowSpectrum,
    gap_ratios,
    k_star,
    singular_values,
    spectrum,
)
from spectral_edge.errors import SpectralEdgeError


def window(w: int, p: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    # Row scales spread the spectrum so that the k* variants disagree now and then.
    return rng.standard_normal((w, p)) * rng.exponential(1.0, size=(w, 1))


def ref_ratios(s: np.ndarray, floor: float = 1e-12) -> list[float]:
    f = floor * s[0]
    return [max(s[j], f) / max(s[j + 1], f) for j in range(len(s) - 1)]


def ref_k_star(s: np.ndarray, variant: str, cut: float = 0.05, min_index: int = 1) -> int:
    r = ref_ratios(s)
    if not r:
        return 1
    total = sum(s)
    best_j, best = None, -math.inf
    for j in range(1, len(r) + 1):
        score = r[j - 1] if variant == "plain" else s[j - 1] / total * r[j - 1]
        if variant == "weighted_cut" and not (s[j - 1] >= cut * s[0] and j >= min_index):
            continue
        if score > best:
            best_j, best = j, score
    if best_j is None:  # min_index excluded everything: the cut alone
        return ref_k_star(s, variant, cut, 1)
    return best_j


def planted(k: int, w: int = 10, p: int = 4000, noise: float = 1e-3, seed: int = 0) -> np.ndarray:
    """k strong orthogonal directions with decreasing strengths plus small isotropic noise."""
    rng = np.random.default_rng(seed)
    strengths = np.array([10.0, 6.0, 3.5])[:k]
    u = np.linalg.qr(rng.standard_normal((w, k)))[0]
    v = np.linalg.qr(rng.standard_normal((p, k)))[0]
    return (u * strengths) @ v.T + noise * rng.standard_normal((w, p))


# --------------------------------------------------------------------------------------------
# σ and ratios


@pytest.mark.parametrize("w", [1, 2, 3, 10, 30])
@pytest.mark.parametrize("p", [1, 5, 50])
def test_singular_values_match_svd(w: int, p: int) -> None:
    x = window(w, p, seed=w * 100 + p)
    ref = np.zeros(w)
    sv = np.linalg.svd(x, compute_uv=False)
    ref[: sv.size] = sv
    got = singular_values(x @ x.T)
    assert got.shape == (w,)
    assert np.all(np.diff(got) <= 0)
    np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-7 * ref[0])
    s = spectrum(x @ x.T)
    np.testing.assert_allclose(s.sigma, got)
    np.testing.assert_allclose(s.eigvals, got**2)


@pytest.mark.parametrize("w", [1, 2, 3, 10, 30])
def test_ratios_and_k_star_brute_force(w: int) -> None:
    for seed in range(5):
        x = window(w, 40, seed=seed)
        sig = np.linalg.svd(x, compute_uv=False)
        s = spectrum(x @ x.T)
        assert s.ratios.shape == (w - 1,)
        np.testing.assert_allclose(s.ratios, ref_ratios(sig), rtol=1e-8)
        np.testing.assert_allclose(gap_ratios(sig), ref_ratios(sig), rtol=1e-12)
        assert s.k_star_plain == ref_k_star(sig, "plain")
        assert s.k_star_weighted == ref_k_star(sig, "weighted")
        assert s.k_star_weighted_cut == ref_k_star(sig, "weighted_cut")
        for variant in K_STAR_VARIANTS:
            for cut, mi in [(0.05, 1), (0.05, 2), (0.3, 1), (0.3, 3), (0.0, 2)]:
                assert k_star(sig, variant, cut, mi) == ref_k_star(sig, variant, cut, mi)


def test_k_star_variants_differ_and_choice_is_recorded() -> None:
    # A large ratio deep in the tail wins "plain"; weighting by σ_j/Σσ prefers the strong gap.
    sig = np.array([10.0, 4.0, 3.0, 0.4, 0.01])  # ratios 2.5, 1.33, 7.5, 40
    assert k_star(sig, "plain") == 4
    assert k_star(sig, "weighted") == 1  # 10·2.5 beats 0.4·40
    assert k_star(sig, "weighted_cut", cut=0.05, min_index=2) == 3  # σ_4 below the cut
    gram = np.diag(sig**2)
    for variant in K_STAR_VARIANTS:
        s = spectrum(gram, k_star=variant, min_index=2)
        assert s.k_star == getattr(s, f"k_star_{variant}")
        assert s.k_star_variant == variant
        assert s.settings()["k_star_variant"] == variant
        assert s.gap_ratio == pytest.approx(s.ratios[s.k_star - 1])


def test_weighted_cut_falls_back_when_min_index_excludes_everything() -> None:
    sig = np.array([10.0, 0.1, 0.01])  # only σ_1 clears the 5 % cut
    assert k_star(sig, "weighted_cut", min_index=2) == 1
    assert k_star(np.array([3.0, 1.0]), "weighted_cut", min_index=2) == 1  # no j ≥ 2 exists


def test_ties_go_to_smallest_index() -> None:
    assert k_star([8.0, 4.0, 2.0, 1.0]) == 1


@pytest.mark.parametrize("k", [1, 2, 3])
@pytest.mark.parametrize("variant", K_STAR_VARIANTS)
def test_planted_rank_is_recovered(k: int, variant: str) -> None:
    x = planted(k, seed=k)
    s = spectrum(x @ x.T, k_star=variant)
    assert s.k_star == k
    assert s.gap_ratio > 20
    np.testing.assert_allclose(s.sigma[:k], [10.0, 6.0, 3.5][:k], rtol=0.02)


# --------------------------------------------------------------------------------------------
# Fixed-index series, shares, drift, BBP


def test_scalar_features_against_definitions() -> None:
    x = window(10, 60, seed=7)
    p = x.shape[1]
    sig = np.linalg.svd(x, compute_uv=False)
    lam = sig**2
    s = spectrum(x @ x.T, n_params=p)
    k = s.k_star
    assert s.w == 10
    assert s.r12 == pytest.approx(sig[0] / sig[1])
    assert s.r23 == pytest.approx(sig[1] / sig[2])
    assert s.r34 == pytest.approx(sig[2] / sig[3])
    assert s.g23 == pytest.approx(lam[1] - lam[2])
    assert s.gap == pytest.approx(sig[k - 1] - sig[k])
    assert s.eigen_gap == pytest.approx(lam[k - 1] - lam[k])
    assert s.pc1_share == pytest.approx(lam[0] / lam.sum())
    cum = np.cumsum(lam) / lam.sum()
    assert s.k95 == next(i + 1 for i in range(10) if cum[i] >= 0.95)
    assert s.drift_speed == pytest.approx(np.linalg.norm(x.mean(axis=0)))
    # BBP, written out for w = 10: 1-indexed j ≥ 5, i.e. j = 5..10.
    nu = math.sqrt(lam[4:].mean() / p)
    assert s.bbp_ratio == pytest.approx(sig[-1] / (nu * (p * 9) ** 0.25))


@pytest.mark.parametrize("w, first", [(2, 1), (3, 2), (4, 2), (5, 3), (11, 6)])
def test_bbp_bottom_half_indexing(w: int, first: int) -> None:
    lam = np.arange(w, 0, -1, dtype=float) ** 2
    s = spectrum(np.diag(lam), n_params=100)
    nu = math.sqrt(lam[first - 1 :].mean() / 100)
    assert s.bbp_ratio == pytest.approx(math.sqrt(lam[-1]) / (nu * (100 * (w - 1)) ** 0.25))


def test_bbp_baseline_of_pure_noise() -> None:
    # Isotropic noise has σ_w ≈ ν√P, so σ_w/d_crit ≈ (P/(w−1))^{1/4}: the documented baseline.
    rng = np.random.default_rng(3)
    w, p = 10, 20000
    noise = 0.01 * rng.standard_normal((w, p))
    assert spectrum(noise @ noise.T, n_params=p).bbp_ratio == pytest.approx(
        (p / (w - 1)) ** 0.25, rel=0.05
    )


def test_small_windows_give_nan_where_undefined() -> None:
    s1 = spectrum([[4.0]], n_params=10)
    assert s1.w == 1 and s1.sigma.tolist() == [2.0] and s1.ratios.size == 0
    assert s1.k_star == s1.k_star_plain == s1.k_star_weighted == s1.k_star_weighted_cut == 1
    for name in ("gap_ratio", "gap", "eigen_gap", "r12", "r23", "r34", "g23", "bbp_ratio"):
        assert math.isnan(getattr(s1, name)), name
    assert s1.pc1_share == 1.0 and s1.k95 == 1.0 and s1.drift_speed == 2.0
    s3 = spectrum(np.diag([9.0, 4.0, 1.0]))
    assert not math.isnan(s3.r23) and math.isnan(s3.r34) and s3.g23 == 3.0
    assert math.isnan(s3.bbp_ratio)  # no n_params


def test_all_zero_gram_gives_nan_not_division_by_zero() -> None:
    with np.errstate(all="raise"):
        s = spectrum(np.zeros((4, 4)), n_params=10)
    assert np.all(s.sigma == 0) and np.all(np.isnan(s.ratios)) and s.ratios.size == 3
    assert s.k_star == 1
    for name in ("gap_ratio", "gap", "eigen_gap", "r12", "pc1_share", "k95", "bbp_ratio"):
        assert math.isnan(getattr(s, name)), name
    assert s.g23 == 0.0 and s.drift_speed == 0.0
    assert np.all(np.isnan(gap_ratios(np.zeros(3))))


def test_rank_deficient_window_ratios_floor_to_one() -> None:
    x = window(6, 2, seed=1)  # rank 2
    r = spectrum(x @ x.T).ratios
    assert np.all(r >= 1.0) and np.all(np.isfinite(r))
    assert gap_ratios([5.0, 0.0, 0.0, 0.0]).tolist() == [1e12, 1.0, 1.0]
    assert k_star([5.0, 0.0, 0.0]) == 1


def test_features_row() -> None:
    x = window(4, 9, seed=2)
    s = spectrum(x @ x.T, n_params=9)
    row = s.features()
    assert all(isinstance(v, float) for v in row.values())
    assert [f"sigma_{j}" for j in range(1, 5)] == [k for k in row if k.startswith("sigma_")]
    assert [f"ratio_{j}" for j in range(1, 4)] == [k for k in row if k.startswith("ratio_")]
    for name in WindowSpectrum.SCALARS:
        got, want = row[name], float(getattr(s, name))
        assert got == want or (math.isnan(got) and math.isnan(want))
    assert row["sigma_2"] == s.sigma[1] and row["ratio_3"] == s.ratios[2]
    assert s.settings() == {
        "k_star_variant": "plain",
        "ratio_floor": 1e-12,
        "cut": 0.05,
        "min_index": 1,
        "n_params": 9,
    }


def test_record_is_immutable() -> None:
    s = spectrum(np.diag([4.0, 1.0]))
    with pytest.raises(AttributeError):
        s.k_star = 2  # type: ignore[misc]
    with pytest.raises(ValueError):
        s.sigma[0] = 0.0


def test_options_are_applied() -> None:
    sig = np.array([1.0, 1e-13, 0.0])
    assert gap_ratios(sig, floor=1e-6).tolist() == [1e6, 1.0]
    s = spectrum(np.diag(sig**2), ratio_floor=1e-6, cut=0.5, min_index=2)
    assert s.ratios.tolist() == [1e6, 1.0]
    assert (s.ratio_floor, s.cut, s.min_index) == (1e-6, 0.5, 2)


def test_slightly_asymmetric_gram_is_accepted() -> None:
    x = window(5, 8, seed=4)
    g = x @ x.T
    g[0, 1] *= 1 + 1e-9
    np.testing.assert_allclose(spectrum(g).sigma, np.linalg.svd(x, compute_uv=False), rtol=1e-8)


# --------------------------------------------------------------------------------------------
# Errors


@pytest.mark.parametrize(
    "gram, match",
    [
        (np.ones((2, 3)), "square"),
        (np.ones(3), "square"),
        (np.zeros((0, 0)), "empty"),
        (np.array([[1.0, np.nan], [np.nan, 1.0]]), "NaN or infinite"),
        (np.array([[1.0, np.inf], [np.inf, 1.0]]), "NaN or infinite"),
        (np.array([[1.0, 0.5], [0.4, 1.0]]), "not symmetric"),
        (np.array([[-1.0, 0.0], [0.0, 1.0]]), "negative diagonal"),
        (np.array([[1.0 + 1j]]), "real"),
        ([["a"]], "numeric"),
    ],
)
def test_bad_gram_raises(gram: object, match: str) -> None:
    with pytest.raises(SpectralEdgeError, match=match):
        spectrum(gram)
    with pytest.raises(SpectralEdgeError, match=match):
        singular_values(gram)


def test_bad_options_raise() -> None:
    g = np.diag([4.0, 1.0, 0.5])
    with pytest.raises(SpectralEdgeError, match="plain, weighted, weighted_cut"):
        spectrum(g, k_star="top")
    with pytest.raises(SpectralEdgeError, match="plain, weighted, weighted_cut"):
        k_star([2.0, 1.0], "top")
    for bad in (0.0, -1.0, math.nan, math.inf):
        with pytest.raises(SpectralEdgeError, match="floor"):
            spectrum(g, ratio_floor=bad)
    for bad in (-0.1, 1.5):
        with pytest.raises(SpectralEdgeError, match="cut"):
            spectrum(g, cut=bad)
        with pytest.raises(SpectralEdgeError, match="cut"):
            k_star([2.0, 1.0], cut=bad)
    for bad in (0, 1.5, True):
        with pytest.raises(SpectralEdgeError, match="min_index"):
            spectrum(g, min_index=bad)
    for bad in (0, -3, 2.5, True):
        with pytest.raises(SpectralEdgeError, match="n_params"):
            spectrum(g, n_params=bad)


@pytest.mark.parametrize(
    "sigma, match",
    [
        ([], "non-empty"),
        ([[1.0]], "1-D"),
        ([1.0, -1.0], "non-negative"),
        ([1.0, np.nan], "finite"),
        ([1.0, 2.0], "descending"),
    ],
)
def test_bad_sigma_raises(sigma: object, match: str) -> None:
    with pytest.raises(SpectralEdgeError, match=match):
        gap_ratios(sigma)
    with pytest.raises(SpectralEdgeError, match=match):
        k_star(sigma)


# --------------------------------------------------------------------------------------------
# Properties


@settings(max_examples=60, deadline=None)
@given(
    w=st.integers(1, 12),
    extra=st.integers(2, 30),
    seed=st.integers(0, 2**32 - 1),
    c=st.floats(1e-3, 1e3),
    variant=st.sampled_from(K_STAR_VARIANTS),
)
def test_scale_invariance(w: int, extra: int, seed: int, c: float, variant: str) -> None:
    x = window(w, w + extra, seed=seed)
    a = spectrum(x @ x.T, k_star=variant)
    b = spectrum((c * x) @ (c * x).T, k_star=variant)
    assert a.k_star == b.k_star
    np.testing.assert_allclose(b.ratios, a.ratios, rtol=1e-6)
    if w > 1:
        assert b.gap_ratio == pytest.approx(a.gap_ratio, rel=1e-6)
        assert b.gap == pytest.approx(c * a.gap, rel=1e-6)
    assert b.pc1_share == pytest.approx(a.pc1_share, rel=1e-9)


@settings(max_examples=60, deadline=None)
@given(
    arrays(
        np.float64,
        st.tuples(st.integers(1, 8), st.integers(1, 8)),
        elements=st.floats(-1e3, 1e3, allow_nan=False),
    )
)
def test_ratios_at_least_one_and_record_consistent(x: np.ndarray) -> None:
    s = spectrum(x @ x.T, n_params=x.shape[1])
    w = x.shape[0]
    assert s.sigma.shape == (w,) and s.ratios.shape == (w - 1,)
    assert np.all(np.diff(s.sigma) <= 0) and np.all(s.sigma >= 0)
    if s.sigma[0] > 0:
        assert np.all(s.ratios >= 1.0)
        assert 1 <= s.k95 <= w and 0 < s.pc1_share <= 1 + 1e-12
    else:
        assert np.all(np.isnan(s.ratios))
    for variant in K_STAR_VARIANTS:
        assert 1 <= getattr(s, f"k_star_{variant}") <= max(1, w - 1)
    assert len(s.features()) == 16 + w + (w - 1)


def test_docstring_example_runs() -> None:
    import doctest

    import spectral_edge.core.spectrum as module

    result = doctest.testmod(module)
    assert result.attempted > 0 and result.failed == 0
