"""Per-window spectral features against independent references (SVD of X, brute-force loops)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from _numerics import (
    EPS,
    C,
    argmax_candidates,
    gram_eig_err,
    ratio_rel_err,
    sigma_err,
    sigma_from_gram_err,
)
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


def ref_scores(s: np.ndarray, variant: str, cut: float = 0.05, min_index: int = 1) -> np.ndarray:
    """The score each j = 1..w−1 competes with for k* (−inf where the variant excludes it)."""
    r = np.array(ref_ratios(s))
    weight = np.ones(r.size) if variant == "plain" else s[:-1] / sum(s)
    score = weight * r
    if variant == "weighted_cut":
        j = np.arange(1, r.size + 1)
        score = np.where((s[:-1] >= cut * s[0]) & (j >= min_index), score, -math.inf)
    return score


def ref_k_star(s: np.ndarray, variant: str, cut: float = 0.05, min_index: int = 1) -> int:
    if len(s) < 2:
        return 1
    score = ref_scores(s, variant, cut, min_index)
    if np.all(np.isneginf(score)):  # min_index excluded everything: the cut alone
        return ref_k_star(s, variant, cut, 1)
    best_j, best = None, -math.inf
    for j in range(1, len(score) + 1):
        if score[j - 1] > best:
            best_j, best = j, score[j - 1]
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
    # σ from the Gram: exact to its eigenvalue error over 2σ, or √(that error) at the noise
    # floor (the zero singular values when w > p); see tests/_numerics.py.
    assert np.all(np.abs(got - ref) <= sigma_from_gram_err(x))
    s = spectrum(x @ x.T)
    np.testing.assert_array_equal(s.sigma, got)  # one code path
    np.testing.assert_allclose(s.eigvals, got**2, rtol=4 * EPS)  # √ then ², an ulp each


@pytest.mark.parametrize("w", [1, 2, 3, 10, 30])
def test_ratios_and_k_star_brute_force(w: int) -> None:
    for seed in range(5):
        x = window(w, 40, seed=seed)
        sig = np.linalg.svd(x, compute_uv=False)
        s = spectrum(x @ x.T)
        assert s.ratios.shape == (w - 1,)
        # σ_j/σ_{j+1} carries the relative errors of both σ (tests/_numerics.py)
        rel = ratio_rel_err(sig, sigma_from_gram_err(x))
        np.testing.assert_array_less(np.abs(s.ratios / ref_ratios(sig) - 1), rel + EPS)
        # the same σ in: one division and one max per ratio, exact to an ulp or two
        np.testing.assert_allclose(gap_ratios(sig), ref_ratios(sig), rtol=4 * EPS)
        # k* is an argmax: where two scores tie within their error, either index is right.
        # A weighted score σ_j/Σσ·r_j adds the relative errors of σ_j and of Σσ.
        err = sigma_from_gram_err(x)
        weight_rel = err[:-1] / sig[:-1] + err.sum() / sig.sum()
        for variant in K_STAR_VARIANTS:
            got, want = getattr(s, f"k_star_{variant}"), ref_k_star(sig, variant)
            score_rel = rel + (0 if variant == "plain" else weight_rel)
            near = argmax_candidates(ref_scores(sig, variant), score_rel) if w > 1 else {0}
            assert got == want or got - 1 in near, (variant, got, want, near)
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
    # Weyl: the noise N (w×p, entries 1e-3·N(0,1)) moves each σ by at most ‖N‖₂, which is
    # 1e-3·(√w + √p) ≈ 0.066 up to a few percent (Davidson–Szarek); 0.07/3.5 = 2 %.
    noise = 1e-3 * (np.sqrt(10) + np.sqrt(4000)) * 1.05
    assert np.all(np.abs(s.sigma[:k] - [10.0, 6.0, 3.5][:k]) <= noise)


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
    # Error bounds of σ and λ from the Gram against the SVD (tests/_numerics.py)
    err = sigma_from_gram_err(x)
    lam_err = 2 * sig * err + err**2
    rel = ratio_rel_err(sig, err)
    assert abs(s.r12 / (sig[0] / sig[1]) - 1) <= rel[0]
    assert abs(s.r23 / (sig[1] / sig[2]) - 1) <= rel[1]
    assert abs(s.r34 / (sig[2] / sig[3]) - 1) <= rel[2]
    assert abs(s.g23 - (lam[1] - lam[2])) <= lam_err[1] + lam_err[2]
    assert abs(s.gap - (sig[k - 1] - sig[k])) <= err[k - 1] + err[k]
    assert abs(s.eigen_gap - (lam[k - 1] - lam[k])) <= lam_err[k - 1] + lam_err[k]
    assert abs(s.pc1_share - lam[0] / lam.sum()) <= 2 * lam_err.sum() / lam.sum()
    cum = np.cumsum(lam) / lam.sum()
    assert s.k95 == next(i + 1 for i in range(10) if cum[i] >= 0.95)
    # ‖mean‖ = √(1ᵀG1)/w: 1ᵀG1 is off by ≤ p·ε·(Σ‖δ_i‖)² (every entry's dot bound, summed)
    mean = np.linalg.norm(x.mean(axis=0))
    drift_err = C * p * EPS * np.linalg.norm(x, axis=1).sum() ** 2 / (2 * 100 * mean)
    assert abs(s.drift_speed - mean) <= drift_err
    # BBP, written out for w = 10: 1-indexed j ≥ 5, i.e. j = 5..10. Relative error: σ_w's,
    # plus half that of the mean of λ_5..λ_10 (ν is its root).
    nu = math.sqrt(lam[4:].mean() / p)
    bbp = sig[-1] / (nu * (p * 9) ** 0.25)
    bbp_rel = err[-1] / sig[-1] + 0.5 * lam_err[4:].sum() / lam[4:].sum()
    assert abs(s.bbp_ratio / bbp - 1) <= bbp_rel


@pytest.mark.parametrize("w, first", [(2, 1), (3, 2), (4, 2), (5, 3), (11, 6)])
def test_bbp_bottom_half_indexing(w: int, first: int) -> None:
    lam = np.arange(w, 0, -1, dtype=float) ** 2
    s = spectrum(np.diag(lam), n_params=100)
    nu = math.sqrt(lam[first - 1 :].mean() / 100)
    # a diagonal Gram: eigh is exact up to a few ε·λ_1, then a handful of roundings
    want = math.sqrt(lam[-1]) / (nu * (100 * (w - 1)) ** 0.25)
    assert s.bbp_ratio == pytest.approx(want, rel=C * w * EPS * lam[0] / lam[-1])


def test_bbp_baseline_of_pure_noise() -> None:
    # Isotropic noise has σ_w ≈ ν√P, so σ_w/d_crit ≈ (P/(w−1))^{1/4}: the documented baseline.
    # A statistical statement, not a rounding one: σ_w = ν(√p − √w) to O(ν) (Davidson–Szarek)
    # and ν is estimated from the bottom half, each off by ~√(w/p) = 2.2 %; 5 % holds both.
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
    # symmetrising moves G by 0.5e-9·|G_01|, so each λ by at most that (Weyl)
    lam_err = gram_eig_err(5, 8, np.linalg.norm(g, 2)) + 0.5e-9 * abs(g[0, 1])
    sig = np.linalg.svd(x, compute_uv=False)
    assert np.all(np.abs(spectrum(g).sigma - sig) <= sigma_err(lam_err, sig))


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
    # Both are the exact spectrum of x (scaled) to the Gram bound; rounding c·x adds u per entry
    # (relative u to each σ). Ratios, the gap and k* then agree within the sum of both errors.
    lam_err = gram_eig_err(w, w + extra, float(a.sigma[0]) ** 2) + 2 * EPS * float(a.sigma[0]) ** 2
    err = 2 * sigma_err(lam_err, a.sigma)
    rel = ratio_rel_err(a.sigma, err)
    ok = np.isfinite(rel)  # modes at the ratio floor: both sides are floored alike
    np.testing.assert_array_less(np.abs(b.ratios / a.ratios - 1)[ok], rel[ok] + EPS)
    if w > 1 and np.all(ok):
        scores = a.ratios if variant == "plain" else a.sigma[:-1] / a.sigma.sum() * a.ratios
        if variant == "weighted_cut":
            scores = np.where(a.sigma[:-1] >= 0.05 * a.sigma[0], scores, -np.inf)
        near = argmax_candidates(scores, rel)
        assert a.k_star - 1 in near and b.k_star - 1 in near
        if a.k_star == b.k_star:
            k = a.k_star
            assert abs(b.gap_ratio / a.gap_ratio - 1) <= rel[k - 1] + EPS
            assert abs(b.gap - c * a.gap) <= c * (err[k - 1] + err[k]) + EPS * c * a.sigma[0]
    # Σλ and λ_1 scale alike: pc1 = λ_1/Σλ to the eigenvalue error over Σλ
    assert abs(b.pc1_share - a.pc1_share) <= 2 * lam_err / float(np.sum(a.eigvals)) + 4 * EPS


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
        # λ_1/Σλ ≤ 1 exactly; the sum of w clipped eigenvalues rounds by ≤ w·u
        assert 1 <= s.k95 <= w and 0 < s.pc1_share <= 1 + w * EPS
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
