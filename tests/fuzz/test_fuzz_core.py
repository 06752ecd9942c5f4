"""Fuzz the pure mathematics (spectral_edge.core) against independent references.

References are rebuilt from scratch: float64 numpy X Xᵀ of the accepted rows, numpy's SVD and
eigvalsh, exact rational arithmetic (fractions.Fraction) for ratios and k*, explicit outer
products for ‖ΔC‖_F. Bad input must raise SpectralEdgeError, never a bare numpy/torch error or a
silent NaN.
"""

from __future__ import annotations

import functools
import io
import math
import warnings
from fractions import Fraction

import numpy as np
import pytest
import torch
from _numerics import (
    EPS,
    C,
    direction_err,
    gram_eig_err,
    gram_tol,
    sigma_err,
    subspace_err,
    sum_tol,
    svd_err,
)
from _profile import fuzz
from hypothesis import assume, given
from hypothesis import strategies as st

from spectral_edge import RollingGram
from spectral_edge.core import checks, features, spectrum, stability
from spectral_edge.core.sketch import make_sketch
from spectral_edge.errors import SpectralEdgeError

FLOAT_DTYPES = [torch.float16, torch.bfloat16, torch.float32, torch.float64]
BAD_DTYPES = [torch.int64, torch.int32, torch.bool, torch.complex64, torch.complex128, torch.uint8]
TINY = np.finfo(np.float64).tiny
FMAX = np.finfo(np.float64).max


def seeds():
    return st.integers(0, 2**32 - 1)


def rows_matrix(rng, w, p, scale=1.0, rank=None):
    """w×p float64 rows with some zero, repeated and rank-deficient patterns."""
    x = rng.standard_normal((w, p))
    if rank is not None and rank < min(w, p):
        x = rng.standard_normal((w, rank)) @ rng.standard_normal((rank, p))
    # spread row norms over decades so the spectrum has real gaps
    x *= 10.0 ** rng.uniform(-3, 3, size=(w, 1))
    return x * scale


@st.composite
def grams(draw, max_w=20):
    """(X, G = X Xᵀ) with G exactly the float64 product; X scaled by a power of two."""
    w = draw(st.integers(1, max_w))
    p = draw(st.integers(1, 30))
    rng = np.random.default_rng(draw(seeds()))
    rank = draw(st.one_of(st.none(), st.integers(1, max(1, min(w, p)))))
    x = rows_matrix(rng, w, p, rank=rank)
    kind = draw(st.sampled_from(["plain", "plain", "zero_rows", "repeat", "all_zero"]))
    if kind == "zero_rows":
        x[rng.random(w) < 0.4] = 0.0
    elif kind == "repeat" and w > 1:
        x[1:] = x[0] * rng.uniform(-2, 2, size=(w - 1, 1))
    elif kind == "all_zero":
        x[:] = 0.0
    return x, x @ x.T


def close_to(got, ref, rtol, atol=0.0):
    np.testing.assert_allclose(np.asarray(got, dtype=float), ref, rtol=rtol, atol=atol)


def clean_error(fn, *args, **kwargs):
    """Run fn; any exception must be a SpectralEdgeError with a message. Returns it or None."""
    try:
        fn(*args, **kwargs)
    except SpectralEdgeError as exc:
        assert str(exc).strip(), "SpectralEdgeError without a message"
        return exc
    return None


# ============================================================================================
# checks.as_gram


@st.composite
def arbitrary_arrays(draw):
    dtype = draw(
        st.sampled_from(
            ["float64", "float32", "float16", "int64", "int8", "bool", "complex128", "U3", "O"]
        )
    )
    shape = draw(
        st.one_of(
            st.tuples(st.integers(0, 5), st.integers(0, 5)),
            st.tuples(st.integers(0, 4)),
            st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(1, 3)),
            st.just(()),
        )
    )
    rng = np.random.default_rng(draw(seeds()))
    base = rng.standard_normal(shape)
    if len(shape) == 2 and shape[0] == shape[1] and draw(st.booleans()):
        base = base @ base.T  # make most square ones valid Grams
    special = draw(st.sampled_from([None, np.nan, np.inf, -np.inf, 1e308, 5e-324, 0.0]))
    if special is not None and base.size:
        base.flat[draw(st.integers(0, base.size - 1))] = special
    if dtype == "U3":
        return base.astype(str).astype("U3")
    if dtype == "O":
        return base.astype(object)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return base.astype(dtype)


@fuzz(60)
@given(arbitrary_arrays())
def test_as_gram_accepts_a_valid_gram_or_names_the_problem(arr):
    try:
        g = checks.as_gram(arr)
    except SpectralEdgeError as exc:
        assert "Gram" in str(exc)
        return
    # Accepted: a real numeric square non-empty finite symmetric array with a sane diagonal.
    assert arr.dtype.kind in "iuf" or arr.dtype == object, f"accepted dtype {arr.dtype}"
    a = np.asarray(arr, dtype=np.float64)
    assert a.ndim == 2 and a.shape[0] == a.shape[1] > 0
    assert g.dtype == np.float64 and np.all(np.isfinite(g))
    np.testing.assert_array_equal(g, g.T)
    # as_gram accepts an asymmetry up to SYMMETRY_RTOL·max|G| and symmetrises, moving each
    # entry by half of it (plus an ulp for the average)
    atol = (checks.SYMMETRY_RTOL / 2 + 2 * EPS) * np.max(np.abs(a))
    np.testing.assert_allclose(g, a, rtol=0, atol=atol)


@pytest.mark.parametrize(
    "bad, word",
    [
        (np.eye(2, dtype=bool), "bool"),
        (np.array([["1", "0"], ["0", "1"]]), "numeric"),
        (np.eye(2) * (1 + 1j), "real"),
        (torch.eye(2, requires_grad=True) * 0 + torch.eye(2, dtype=torch.complex64), "real"),
    ],
)
def test_as_gram_refuses_non_numeric_dtypes(bad, word):
    with pytest.raises(SpectralEdgeError, match=word):
        checks.as_gram(bad)


def test_as_gram_takes_tensors_of_any_float_dtype_even_with_grad():
    """Regression: a bfloat16 tensor or one requiring grad failed inside numpy (TypeError /
    RuntimeError) instead of being read as the Gram it is."""
    for t in (
        torch.eye(3, dtype=torch.bfloat16) * 2,
        torch.eye(3, requires_grad=True) * 2,
        torch.eye(3, dtype=torch.float16) * 2,
    ):
        np.testing.assert_array_equal(checks.as_gram(t), 2 * np.eye(3))


def test_as_gram_symmetrising_huge_entries_does_not_overflow():
    """Regression: 0.5·(G + Gᵀ) overflowed to inf for entries above ~9e307."""
    g = np.array([[1e308, 0.0], [0.0, 1e307]])  # trace finite, G_11 + G_11 is not
    np.testing.assert_array_equal(checks.as_gram(g), g)
    with pytest.raises(SpectralEdgeError, match="too large"):
        checks.as_gram(np.diag([1.5e308, 1e308]))  # no eigenvalue sum representable


# ============================================================================================
# spectrum: singular values, ratios, k*


def exact_ratios(sigma, floor):
    s = [Fraction(float(v)) for v in sigma]
    f = Fraction(float(floor)) * s[0]
    c = [max(v, f) for v in s]
    return [c[j] / c[j + 1] for j in range(len(c) - 1)]


def exact_k(sigma, variant, cut, min_index, floor):
    """k* from exact rationals (ties to the smallest j), with the set of near-ties."""
    s = [Fraction(float(v)) for v in sigma]
    r = exact_ratios(sigma, floor)
    if not r:
        return {1}
    if variant == "plain":
        score = r
        allowed = [True] * len(r)
    else:
        total = sum(s)
        score = [s[j] / total * r[j] for j in range(len(r))]
        allowed = [True] * len(r)
        if variant == "weighted_cut":
            strong = [s[j] >= Fraction(float(cut)) * s[0] for j in range(len(r))]
            allowed = [strong[j] and j + 1 >= min_index for j in range(len(r))]
            if not any(allowed):
                allowed = strong
    best = max(score[j] for j in range(len(r)) if allowed[j])
    # accept any j whose score is within float round-off of the best (near-ties)
    return {j + 1 for j in range(len(r)) if allowed[j] and score[j] >= best * Fraction(1 - 1e-9)}


sigma_values = st.one_of(
    st.floats(0, 1e300),
    st.floats(0, 1e-300),
    st.sampled_from([0.0, 5e-324, TINY, 1.0, 1e154, 1e300, FMAX]),
)


@st.composite
def sigmas(draw):
    vals = draw(st.lists(sigma_values, min_size=1, max_size=20))
    if draw(st.booleans()):  # plenty of exact ties
        vals = vals + vals[: draw(st.integers(0, len(vals)))]
    return np.array(sorted(vals, reverse=True))


floors = st.one_of(st.just(1e-12), st.just(1e-3), st.floats(1e-300, 1.0), st.floats(1.0, 1e10))


@fuzz(80)
@given(sigmas(), floors)
def test_gap_ratios_match_exact_rationals(sigma, floor):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no hidden division by zero or overflow
        r = spectrum.gap_ratios(sigma, floor)
    assert r.shape == (sigma.size - 1,)
    if sigma[0] == 0:
        assert np.all(np.isnan(r))
        return
    assert np.all(np.isfinite(r)) and np.all(r >= 1.0)
    ref = np.array([float(v) for v in exact_ratios(sigma, floor)])
    # floor·σ_1, a max and a division: three roundings of u each; in the subnormal range a
    # rounding is off by up to half the spacing 2^-1074, relative to the floored values
    low = np.maximum(np.maximum(sigma[1:], floor * sigma[0]), TINY)
    sub = 2 * math.ulp(0.0) / float(np.min(low)) if low.size else 0.0
    close_to(r, ref, rtol=4 * EPS + sub)


def test_gap_ratios_subnormal_window_regression():
    """Regression: with σ_1 subnormal, floor·σ_1 underflowed to 0 and 5e-324/0 gave inf."""
    assert spectrum.gap_ratios([5e-324, 0.0]).tolist() == [1e12]
    r = spectrum.gap_ratios([1e-310, 1e-311, 0.0])
    # subnormal inputs keep only the bits above 2^-1074 = 4.9e-324: 1e-311 is known to 5e-13
    # relative and the floor 1e-12·1e-310 = 1e-322 to ~2.5 % (20 spacings), unless the library
    # rescales first; the bound allows the unscaled case
    np.testing.assert_allclose(r, [10.0, 1e11], rtol=math.ulp(0.0) / 1e-322 + 4 * EPS)


@fuzz(80)
@given(
    sigmas(),
    st.sampled_from(spectrum.K_STAR_VARIANTS),
    st.floats(0, 1),
    st.integers(1, 6),
    floors,
)
def test_k_star_is_the_exact_argmax(sigma, variant, cut, min_index, floor):
    s = [Fraction(float(v)) for v in sigma]
    if variant == "weighted_cut":
        edge = Fraction(float(cut)) * s[0]
        # skip σ_j sitting on the cut within round-off (either side is right)
        assume(all(v == edge or abs(v - edge) > edge * Fraction(1e-9) for v in s))
    k = spectrum.k_star(sigma, variant, cut=cut, min_index=min_index, floor=floor)
    if sigma[0] == 0 or sigma.size == 1:
        assert k == 1
        return
    assert k in exact_k(sigma, variant, cut, min_index, floor)


def test_k_star_weighted_cut_tiny_sigma_regression():
    """Regression (campaign): cut·σ_1 underflowed to 0 for σ_1 = 1e-310, so σ_2 = 0 passed the
    cut as a "strong" mode and min_index=2 moved k* onto a zero mode. Found as
    sigma=[5.2e-301, 0, 0], cut=5.2e-301, min_index=2."""
    assert spectrum.k_star([1e-310, 0.0, 0.0], "weighted_cut", cut=1e-20, min_index=2) == 1
    assert spectrum.k_star([5.21925399e-301, 0.0, 0.0], "weighted_cut", 5.2e-301, 2) == 1


def test_k_star_weighted_with_huge_sigma_regression():
    """Regression: Σσ overflowed to inf for σ near float64's max, every weighted score became 0
    and k* fell to 1 whatever the ratios."""
    sigma = [1e308, 1e308, 1e300, 1e299]
    assert spectrum.k_star(sigma, "weighted") == 2
    assert spectrum.k_star(sigma, "weighted_cut", cut=0.0) == 2


@fuzz(60)
@given(grams(), st.sampled_from(spectrum.K_STAR_VARIANTS), st.integers(1, 10**9))
def test_spectrum_matches_numpy(xg, variant, n_params):
    x, g = xg
    s = spectrum.spectrum(g, n_params=n_params, k_star=variant)
    w = g.shape[0]
    lam_ref = np.sort(np.linalg.eigvalsh(g))[::-1]
    lam1 = max(float(lam_ref[0]), 0.0)
    sv = np.linalg.svd(x, compute_uv=False)
    sv = np.concatenate([sv, np.zeros(w - sv.size)])[:w]
    assert s.w == w and s.sigma.shape == (w,)
    # two backward-stable eigh of the same G (tests/_numerics.py)
    lam_err = 2 * C * w * EPS * max(lam1, TINY)
    close_to(s.eigvals, np.clip(lam_ref, 0, None), rtol=0, atol=lam_err)
    # against the SVD of X: G's own rounding (p-term dots) and the SVD's
    p = x.shape[1]
    sq_err = gram_eig_err(w, p, max(lam1, TINY)) + 2 * sv[0] * svd_err(w, p, sv[0]) + lam_err
    close_to(s.sigma**2, sv**2, rtol=0, atol=sq_err)
    assert np.all(np.diff(s.sigma) <= 0)
    close_to(s.ratios, spectrum.gap_ratios(s.sigma, s.ratio_floor), rtol=0)
    if lam1 == 0:
        assert np.all(np.isnan(s.ratios)) and s.k_star == 1 and math.isnan(s.gap_ratio)
        assert math.isnan(s.pc1_share) and s.drift_speed == 0.0
        return
    assert s.k_star == {"plain": s.k_star_plain, "weighted": s.k_star_weighted}.get(
        variant, s.k_star_weighted_cut
    )
    assert s.k_star_plain in exact_k(s.sigma, "plain", 0.05, 1, s.ratio_floor)
    if w >= 2:
        assert s.gap_ratio == s.ratios[s.k_star - 1]
        close_to(s.gap, s.sigma[s.k_star - 1] - s.sigma[s.k_star], rtol=2 * EPS)  # one subtraction
    # λ_1/Σλ, each λ to lam_err
    total = lam_ref.clip(0).sum()
    close_to(s.pc1_share, lam_ref[0] / total, rtol=0, atol=(w + 1) * lam_err / total + 4 * EPS)
    # ‖mean‖ = √(1ᵀG1)/w against numpy's mean of X: 1ᵀG1 is off by the dot bound over all w²
    # entries, p·u·(Σ‖x_i‖)², and a root known to e is known to min(√e, e/value)
    drift = np.linalg.norm(x.mean(axis=0))
    e = C * (p + w) * EPS * np.linalg.norm(x, axis=1).sum() ** 2 / w**2
    close_to(s.drift_speed, drift, rtol=0, atol=float(sigma_err(e, [drift])[0]) + 4 * EPS * drift)
    assert 1 <= s.k95 <= w
    feats = s.features()
    assert feats["k_star"] == s.k_star and len(feats) == len(s.SCALARS) + w + (w - 1)


@fuzz(60)
@given(grams(max_w=12), st.integers(-1100, 1000))
def test_spectrum_is_scale_invariant_over_the_whole_float_range(xg, k):
    """σ(cG) = √c σ(G) and the ratios, k*, shares unchanged, for c = 2^k down to the subnormal
    range and up to overflow: finite results, or a SpectralEdgeError naming the overflow."""
    _, g = xg
    assume(np.max(np.abs(g)) > 0)
    g = g / 2.0 ** math.floor(math.log2(np.max(np.abs(g))))  # max |G| in [1, 2)
    gc = g * 2.0**k
    assume(np.any(gc))  # below 2^-1075 the whole Gram underflows to 0: NaN ratios are right
    base = spectrum.spectrum(g)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            s = spectrum.spectrum(gc)
    except SpectralEdgeError as exc:
        assert k > 1000 - 20 and "large" in str(exc), exc  # only an overflowing Gram may fail
        return
    for name in ("sigma", "eigvals", "ratios"):
        arr = getattr(s, name)
        assert not np.any(np.isnan(arr) & ~np.isnan(getattr(base, name))), name
    assert np.all(np.isfinite(s.sigma))
    if k > -1000:  # away from the subnormal range the input is exact: so is the invariance
        # the library rescales by a power of two itself, so both runs see the same matrix; an
        # odd k leaves a √2 (one rounding per σ) and the clipped noise modes (√(w·ε)·σ_1)
        sig = base.sigma * 2.0 ** (k / 2)
        atol = 4 * EPS * sig + np.sqrt(C * g.shape[0] * EPS) * sig[0]
        assert np.all(np.abs(s.sigma - sig) <= atol)
        close_to(s.pc1_share, base.pc1_share, rtol=4 * EPS)
        assert math.isfinite(s.drift_speed)


def test_spectrum_huge_gram_regression():
    """Regression: a Gram with entries near float64's max gave inf drift speed and NaN shares
    (the sums overflowed), or inf σ from the overflowing symmetrisation."""
    g = np.diag([1.5e308, 1e308, 1e300])
    with pytest.raises(SpectralEdgeError, match="large"):
        spectrum.spectrum(g)
    g = np.full((3, 3), 5e307)  # trace finite, but 1ᵀG1 = 4.5e308 overflows
    s = spectrum.spectrum(g)
    assert math.isfinite(s.drift_speed) and math.isfinite(s.pc1_share)
    np.testing.assert_allclose(s.drift_speed, math.sqrt(5e307), rtol=1e-12)  # √(9·5e307)/3


@pytest.mark.parametrize(
    "kwargs",
    [
        {"n_params": float("nan")},
        {"n_params": float("inf")},
        {"n_params": 10**400},
        {"n_params": "7"},
        {"k_star": []},
        {"k_star": None},
        {"ratio_floor": None},
        {"ratio_floor": "x"},
        {"ratio_floor": float("nan")},
        {"cut": "x"},
        {"cut": None},
        {"min_index": float("nan")},
        {"min_index": None},
        {"min_index": "2"},
    ],
)
def test_spectrum_bad_options_name_the_problem(kwargs):
    """Regression: NaN/inf/huge n_params, an unhashable k_star and None/str floor, cut or
    min_index escaped as ValueError, OverflowError or TypeError from int()/float()."""
    with pytest.raises(SpectralEdgeError) as info:
        spectrum.spectrum(np.eye(3), **kwargs)
    assert type(info.value) is SpectralEdgeError
    assert next(iter(kwargs)).replace("_", "") in str(info.value).replace("_", "").replace(
        "k* variant", "kstar"
    ).replace("ratio floor", "ratiofloor")


@fuzz(60)
@given(
    st.lists(sigma_values, min_size=1, max_size=8),
    st.one_of(
        st.none(),
        st.sampled_from([float("nan"), float("inf"), 10**400, -1, 0, 1.5, "3", [1], True]),
        st.integers(-5, 10**30),
    ),
)
def test_spectrum_never_raises_anything_but_our_error(diag, n_params):
    g = np.diag(np.array(diag) ** 2)
    try:
        s = spectrum.spectrum(g, n_params=n_params)
    except SpectralEdgeError:
        return
    assert np.all(np.isfinite(s.sigma))
    if s.sigma[0] > 0:
        assert np.all(np.isfinite(s.ratios))


# ============================================================================================
# stability


def outer_delta_c(a, b):
    return float(np.linalg.norm(np.outer(a, a) - np.outer(b, b)))


@fuzz(80)
@given(
    seeds(),
    st.integers(1, 20),
    st.integers(-600, 600),
    st.sampled_from(["rand", "same", "opp", "zero_b"]),
)
def test_delta_c_matches_outer_products_at_any_scale(seed, p, k, kind):
    rng = np.random.default_rng(seed)
    a0, b0 = rng.standard_normal(p), rng.standard_normal(p)
    if kind == "same":
        b0 = a0.copy()
    elif kind == "opp":
        b0 = -a0
    elif kind == "zero_b":
        b0 = np.zeros(p)
    ref0 = outer_delta_c(a0, b0)
    c = 2.0**k  # a = c·a0, b = c·b0: ‖ΔC‖ = c²·ref0, entries c²·(a0·a0) etc.
    a2, b2, ab = (c * c) * (a0 @ a0), (c * c) * (b0 @ b0), (c * c) * (a0 @ b0)
    assume(all(math.isfinite(v) for v in (a2, b2, ab)))
    assume(a2 > 1e-290 and (b2 == 0 or b2 > 1e-290))  # the test's own products must not underflow
    got = stability.delta_c_frobenius(a2, b2, ab)
    ref = ref0 * c * c
    if math.isinf(ref):
        return
    assert math.isfinite(got)
    # ‖ΔC‖² from three p-term dots is off by ≤ C·p·ε·m², so ‖ΔC‖ by the root's share of it;
    # the explicit P×P reference rounds each outer product (a few ε·m)
    m = max(a2, b2)
    err = float(sigma_err(C * p * EPS * m * m, [ref])[0]) + C * p * EPS * m
    assert abs(got - ref) <= err, (got, ref)


def test_delta_c_overflow_regression():
    """Regression: ‖a‖⁴ overflowed for ‖a‖² ≥ 1.4e154 and gave inf (or 0 via max(0, nan))."""
    assert stability.delta_c_frobenius(1e200) == pytest.approx(1e200, rel=4 * EPS)
    assert stability.delta_c_frobenius(1e200, 1e200, 0.0) == pytest.approx(
        math.sqrt(2) * 1e200, rel=4 * EPS
    )
    assert stability.delta_c_frobenius(1e200, 1e200, 1e200) == 0.0


@fuzz(60)
@given(
    st.lists(st.floats(-1e150, 1e150), min_size=1, max_size=12),
    st.one_of(st.floats(0, 1e150), st.just(0.0), st.just(math.inf)),
    st.booleans(),
)
def test_alpha_and_davis_kahan_brute_force(lam, delta, with_zero):
    lam = np.array(lam)
    gaps = []
    others = list(lam) + ([0.0] if with_zero else [])
    for j, v in enumerate(lam):
        gaps.append(min([abs(v - o) for i, o in enumerate(others) if i != j], default=math.inf))
    alpha = stability.stability_alpha(lam, delta, with_zero=with_zero)
    bound = stability.davis_kahan_bounds(lam, delta, with_zero=with_zero)
    for j, gap in enumerate(gaps):
        if delta == 0:
            ref_a, ref_b = 1.0, 0.0
        elif gap == 0:
            ref_a, ref_b = 0.0, 1.0
        else:
            rel = delta / gap
            if math.isnan(rel):  # inf/inf: a lone eigenvalue under an infinite change
                assert math.isnan(alpha[j]) or 0 <= alpha[j] <= 1
                continue
            ref_a, ref_b = max(0.0, 1 - rel * rel), min(1.0, rel)
        # the same two or three operations on the same numbers: an ulp or two each
        assert alpha[j] == pytest.approx(ref_a, rel=4 * EPS, abs=4 * EPS * (1 - ref_a))
        assert bound[j] == pytest.approx(ref_b, rel=4 * EPS, abs=1e-300)


def subspace_angles(a, b):
    """Principal angles between the column spans of a and b (orthonormal columns), ascending:
    from sines below π/4, cosines above (the split that keeps small angles)."""
    m = a.T @ b
    cos = np.clip(np.linalg.svd(m, compute_uv=False), 0, 1)
    sin = np.clip(np.linalg.svd(b - a @ m, compute_uv=False)[::-1], 0, 1)
    return np.where(cos**2 >= 0.5, np.arcsin(sin), np.arccos(cos))


def top_vectors(x, k):
    """Top-k right singular vectors (columns) of x by numpy, with the σ."""
    _, s, vt = np.linalg.svd(x, full_matrices=False)
    return vt[:k].T, s


@fuzz(60)
@given(seeds(), st.integers(2, 8), st.integers(3, 25), st.integers(-1000, 1000), st.booleans())
def test_rotation_and_angles_match_numpy_svd_at_any_scale(seed, w, p, k, outgoing):
    rng = np.random.default_rng(seed)
    x = rows_matrix(rng, w + 1, p)
    prev, cur = x[:-1], (x[1:] if outgoing else x)
    kk = min(3, w)
    vp, sp = top_vectors(prev, kk)
    vc, sc = top_vectors(cur, kk)
    # the directions are only defined with a clear gap below each of the top kk modes
    for s in (sp, sc):
        s = np.concatenate([s, [0.0]])
        assume(np.all(s[: kk + 1][:-1] > 1.05 * s[1 : kk + 1]) and s[kk - 1] > 1e-4 * s[0])
    g = x @ x.T
    g = g / 2.0 ** math.floor(math.log2(np.max(np.abs(g))))
    c = 2.0**k
    rot = stability.top_rotation(g * c, outgoing=outgoing)
    # directions through the Gram are within direction_err, subspaces within subspace_err
    # (Davis–Kahan, tests/_numerics.py); scaling by 2^k is exact away from the extremes
    e_prev, e_cur = direction_err(prev, whole=x), direction_err(cur, whole=x)
    assert rot == pytest.approx(abs(vp[:, 0] @ vc[:, 0]), abs=e_prev[0] + e_cur[0])
    angles = stability.principal_angles(g * c, kk, outgoing=outgoing)
    ref = np.sort(subspace_angles(vp, vc))
    tol = subspace_err(prev, kk, whole=x) + subspace_err(cur, kk, whole=x) + C * p * EPS
    np.testing.assert_allclose(angles, ref, rtol=0, atol=tol)


@fuzz(60)
@given(seeds(), st.integers(2, 12), st.integers(2, 25))
def test_alpha_split_matches_numpy_svd(seed, w, p):
    rng = np.random.default_rng(seed)
    x = rows_matrix(rng, w, p)
    h = w // 2
    v1, s1 = top_vectors(x[:h], h)
    v2, s2 = top_vectors(x[h:], h)
    got = stability.stability_alpha_split(x @ x.T)
    assert got.shape == (h,)
    s1 = np.concatenate([s1, np.zeros(h + 1 - s1.size)])
    s2 = np.concatenate([s2, np.zeros(h + 1 - s2.size)])
    top = max(s1[0], s2[0])
    for j in range(h):
        # mode j has a direction in both halves (documented: σ_j > 1e-6·σ_max over both
        # halves, else NaN), isolated from its neighbours
        ok = all(
            s[j] > 1e-5 * top and s[j] > 1.05 * s[j + 1] and (j == 0 or s[j - 1] > 1.05 * s[j])
            for s in (s1, s2)
        )
        if ok:
            err = direction_err(x[:h], whole=x)[j] + direction_err(x[h:], whole=x)[j]
            assert got[j] == pytest.approx(abs(v1[:, j] @ v2[:, j]), abs=err)
        assert math.isnan(got[j]) or 0 <= got[j] <= 1


@pytest.mark.parametrize(
    "call",
    [
        lambda: stability.delta_c_frobenius(None),
        lambda: stability.delta_c_frobenius("x"),
        lambda: stability.stability_alpha([1.0, 0.5], None),
        lambda: stability.davis_kahan_bounds([1.0, 0.5], "x"),
        lambda: stability.davis_kahan_bounds([1.0, 0.5], 0.1, factor=None),
        lambda: stability.adiabatic_paper(None, 0.1, 1.0),
        lambda: stability.adiabatic_paper(0.1, "x", 1.0),
        lambda: stability.adiabatic_paper(0.1, 0.1, None),
        lambda: stability.adiabatic_dk(0.1, "x"),
        lambda: stability.adiabatic_regime("x"),
        lambda: stability.adiabatic_regime(1.0, low=None),
        lambda: stability.eigen_gaps([[1.0]]),
        lambda: stability.eigen_gaps(["a"]),
        lambda: stability.mode_overlaps(np.eye(3), 1.5),
        lambda: stability.mode_overlaps(np.eye(3), None),
    ],
)
def test_stability_bad_arguments_raise_our_error(call):
    """Regression: None or a string where a number belongs escaped as TypeError/ValueError."""
    with pytest.raises(SpectralEdgeError) as info:
        call()
    assert type(info.value) is SpectralEdgeError and str(info.value)


# ============================================================================================
# features.window_features


@fuzz(40)
@given(seeds(), st.integers(1, 12), st.integers(1, 20), st.booleans(), st.floats(1e-6, 1.0))
def test_window_features_against_brute_force(seed, w, p, full, lr):
    rng = np.random.default_rng(seed)
    x = rows_matrix(rng, w + 1, p)
    cur = x[1:] if full else x[:-1]
    new, old = x[-1], (x[0] if full else np.zeros(p))
    g = cur @ cur.T if full else x[:-1] @ x[:-1].T
    union = x @ x.T if full else None
    transition = (new @ new, old @ old, new @ old)
    spec, row = features.window_features(g, union_gram=union, transition=transition, lr=lr)
    # ‖ΔC‖ from three dots against the explicit P×P difference: the dots' bound on ‖ΔC‖²
    # (p·ε·m²), through the root, plus the explicit matrices' rounding (a few ε·m)
    m = max(new @ new, old @ old)
    d_err = float(sigma_err(C * p * EPS * m * m, [outer_delta_c(new, old)])[0]) + C * EPS * m
    assert row["delta_c"] == pytest.approx(outer_delta_c(new, old), rel=0, abs=d_err + 1e-300)
    assert row["k_star"] == spec.k_star and row["lr"] == lr
    if spec.w > 1 and spec.gap > 0:
        assert row["adiabatic"] == pytest.approx(row["delta_c"] / (lr * spec.gap**2), rel=8 * EPS)
    for j in range(min(4, spec.w)):
        if spec.w > 1:
            assert 0 <= row[f"alpha_{j + 1}"] <= 1
    if full:
        assert 0 <= row["rotation_1"] <= 1 or math.isnan(row["rotation_1"])


@pytest.mark.parametrize(
    "kwargs",
    [
        {"gram": np.eye(2), "lr": "x"},
        {"gram": np.eye(2), "transition": (1.0, 0.0)},
        {"gram": np.eye(2), "transition": "abc"},
        {"gram": np.eye(2), "transition": (float("nan"), 0.0, 0.0)},
        {"gram": np.eye(2), "center": True, "union_gram": "x"},
        {"gram": np.eye(2), "union_gram": np.eye(5)},  # not (w+1)×(w+1)
        {"gram": np.array([[1.0, np.nan], [np.nan, 1.0]]), "center": True},
    ],
)
def test_window_features_bad_input_names_the_problem(kwargs):
    """Regression: a string lr raised ValueError, a 2-tuple transition TypeError, a union Gram of
    the wrong size was used unchecked."""
    gram = kwargs.pop("gram")
    with pytest.raises(SpectralEdgeError) as info:
        features.window_features(gram, **kwargs)
    assert type(info.value) is SpectralEdgeError


def test_window_features_list_gram_centred_regression():
    """Regression: center=True on a nested-list Gram raised AttributeError ('list' object has
    no attribute 'shape'); it must give the same row as the array."""
    x = np.array([[1.0, 2.0, 0.0], [0.5, -1.0, 3.0], [2.0, 0.0, 1.0]])
    g = x @ x.T
    _, row_list = features.window_features(g.tolist(), center=True)
    _, row_array = features.window_features(g, center=True)
    assert row_list.keys() == row_array.keys()
    for key, value in row_array.items():
        assert row_list[key] == value or (math.isnan(value) and math.isnan(row_list[key]))


# ============================================================================================
# RollingGram


def to_update(values: np.ndarray, dtype: torch.dtype, as_numpy: bool):
    t = torch.from_numpy(values).to(dtype)
    if as_numpy and dtype not in (torch.bfloat16,):
        return t.numpy()
    return t


def stored64(update) -> np.ndarray:
    """What the library should hold: the update widened exactly to float64."""
    if isinstance(update, np.ndarray):
        return update.astype(np.float64).reshape(-1)
    return update.detach().to(torch.float64).reshape(-1).numpy()


@st.composite
def update_streams(draw):
    w = draw(st.integers(2, 20))
    p = draw(st.integers(1, 40))
    dtype = draw(st.sampled_from(FLOAT_DTYPES))
    n = draw(st.integers(1, 3 * w + 4))
    rng = np.random.default_rng(draw(seeds()))
    limit = {torch.float16: 4.0, torch.bfloat16: 30.0, torch.float32: 30.0}.get(dtype, 120.0)
    out = []
    for _ in range(n):
        kind = draw(
            st.sampled_from(
                ["normal"] * 6 + ["zero", "repeat", "nan1", "allinf", "neginf", "huge", "sub"]
            )
        )
        v = rng.standard_normal(p) * 10.0 ** rng.uniform(-limit / 10, limit / 10)
        if kind == "zero":
            v = np.zeros(p)
        elif kind == "repeat" and out:
            v = stored64(out[-1])
        elif kind == "nan1":
            v[rng.integers(p)] = np.nan
        elif kind == "allinf":
            v[:] = np.inf
        elif kind == "neginf":
            v[rng.integers(p)] = -np.inf
        elif kind == "huge":  # finite; ‖δ‖² overflows float64, or float32/float16 only
            v[rng.integers(p)] = {torch.float16: 6e4, torch.float64: 1e200}.get(dtype, 1e25)
        elif kind == "sub" and dtype in (torch.float16, torch.float64):
            # subnormal entries where the working dtype still squares them without underflow
            v = rng.standard_normal(p) * (1e-6 if dtype == torch.float16 else 1e-160)
        out.append(to_update(v, dtype, draw(st.booleans())))
    return w, p, dtype, out


def accepted_rows(updates, dtype, reference_sketch=None):
    """The reference acceptance rule: an update enters iff it is finite and ‖δ‖² does not
    overflow float64, in which every product and sum is computed whatever the update's dtype."""
    big = np.finfo(np.float64).max
    rows, flags = [], []
    for u in updates:
        v = stored64(u)
        if reference_sketch is not None:
            v = reference_sketch.apply(torch.from_numpy(v)) if np.all(np.isfinite(v)) else v
            big = np.finfo(np.float64).max
        with np.errstate(over="ignore", invalid="ignore"):
            ok = bool(np.all(np.isfinite(v)) and float(v @ v) <= big)
        flags.append(ok)
        if ok:
            rows.append(v)
    return rows, flags


def gram_ref(rows):
    x = np.stack(rows)
    return x @ x.T


def assert_gram_close(got, ref, p):
    """Gram entries of p-vectors: float64 dots on both sides (float32 products are exact in
    float64), each within p·u·‖a‖‖b‖ of exact (tests/_numerics.py)."""
    scale = float(np.max(np.abs(np.diag(ref)))) if ref.size else 0.0
    np.testing.assert_allclose(got, ref, rtol=0, atol=gram_tol(p) * scale + 1e-300)


@fuzz(60, campaign=3000)
@given(
    update_streams(),
    st.one_of(st.none(), st.tuples(st.sampled_from(["fold", "gaussian"]), st.integers(1, 32))),
    st.integers(0, 2**31),
    st.sampled_from(["push", "stage", "pieces"]),
)
def test_rolling_gram_equals_brute_force(stream, sketch, seed, how):
    w, p, dtype, updates = stream
    rg = (
        RollingGram(w)
        if sketch is None
        else RollingGram(w, sketch_dim=sketch[1], seed=seed, sketch=sketch[0])
    )
    ref_sketch = None if sketch is None else make_sketch(sketch[0], sketch[1], seed)
    rows, flags = accepted_rows(updates, dtype, ref_sketch)
    accepted = []
    # a sketched entry sums ~p/d terms of the update, exactly as the reference sketch does
    # but grouped otherwise: its share of the sum bound joins the d-term dot's
    gram_p = p if sketch is None else sketch[1] + 2 * p
    for u, ok in zip(updates, flags, strict=True):
        before = rg.gram()
        if how == "push" or sketch is not None:
            got = rg.push(u)
        else:
            flat = torch.as_tensor(u).reshape(-1)
            rg.stage(flat.numel(), flat.dtype, flat.device).copy_(flat)
            if how == "pieces":
                cuts = sorted({0, p, *np.random.default_rng(p).integers(0, p + 1, 3).tolist()})
                for a, b in zip(cuts, cuts[1:], strict=False):
                    rg.accumulate_inner(a, b)
            got = rg.commit()
        assert got is ok, f"push returned {got}, reference says {ok}"
        if not ok:
            np.testing.assert_array_equal(rg.gram(), before)
            continue
        accepted.append(rows[len(accepted)])
        window = accepted[-w:]
        g = rg.gram()
        assert np.all(np.isfinite(g))
        assert_gram_close(g, gram_ref(window), gram_p)
        new = accepted[-1]
        old = accepted[-w - 1] if len(accepted) > w else np.zeros_like(new)
        trans = rg.last_transition()
        ref_t = (new @ new, old @ old, new @ old)
        scale = max(new @ new, old @ old)
        for a, b in zip(trans, ref_t, strict=True):
            assert abs(a - b) <= gram_tol(gram_p) * scale + 1e-300
        union = rg.union_gram()
        if len(accepted) > w:
            assert_gram_close(union, gram_ref(accepted[-w - 1 :]), gram_p)
        else:
            assert union is None or union.shape == (w + 1, w + 1)
    assert rg.size == min(len(accepted), w)
    assert rg.pushes == len(accepted) and rg.rejected == flags.count(False)


@fuzz(30)
@given(update_streams(), st.data())
def test_rolling_gram_state_dict_round_trip_is_bit_identical(stream, data):
    w, p, dtype, updates = stream
    cut = data.draw(st.integers(0, len(updates)))
    a = RollingGram(w)
    for u in updates[:cut]:
        a.push(u)
    buf = io.BytesIO()
    torch.save(a.state_dict(), buf)
    buf.seek(0)
    b = RollingGram(w)
    b.load_state_dict(torch.load(buf, weights_only=True))
    for u in updates[cut:]:
        assert a.push(u) == b.push(u)
        np.testing.assert_array_equal(a.gram(), b.gram())
        ua, ub = a.union_gram(), b.union_gram()
        assert (ua is None) == (ub is None)
        if ua is not None:
            np.testing.assert_array_equal(ua, ub)
        if a.size:
            assert a.last_transition() == b.last_transition()
    assert (a.pushes, a.rejected, a.size) == (b.pushes, b.rejected, b.size)


@fuzz(40)
@given(st.sampled_from(BAD_DTYPES), st.integers(1, 10), st.booleans(), st.booleans())
def test_rolling_gram_refuses_non_float_updates(dtype, p, as_numpy, after_good):
    rg = RollingGram(3)
    if after_good:
        rg.push(np.ones(p))
    before = (rg.gram(), rg.pushes, rg.rejected)
    bad = torch.ones(p, dtype=dtype)
    if as_numpy:
        bad = bad.numpy()
    with pytest.raises(SpectralEdgeError, match="float"):
        rg.push(bad)
    np.testing.assert_array_equal(rg.gram(), before[0])
    assert (rg.pushes, rg.rejected) == before[1:]


@pytest.mark.parametrize("bad", [[1.0, 2.0], None, 3.0, [], {"a": 1}, b"ab"])
def test_rolling_gram_refuses_non_arrays(bad):
    with pytest.raises(SpectralEdgeError):
        RollingGram(3).push(bad)


def test_rolling_gram_takes_negative_stride_views():
    x = np.arange(1.0, 6.0)
    a, b = RollingGram(2), RollingGram(2)
    a.push(x[::-1])
    b.push(x[::-1].copy())
    np.testing.assert_array_equal(a.gram(), b.gram())


def test_rolling_gram_takes_big_endian_arrays():
    x = np.arange(1.0, 6.0)
    a = RollingGram(2)
    a.push(x.astype(">f8"))
    assert a.gram()[0, 0] == x @ x


def test_rolling_gram_last_transition_before_any_update():
    rg = RollingGram(3)
    rg.push(np.array([np.nan, 1.0]))
    with pytest.raises(SpectralEdgeError):
        rg.last_transition()


def test_rolling_gram_refuses_a_string_update():
    with pytest.raises(SpectralEdgeError):
        RollingGram(3).push("abc")


# ============================================================================================
# Sketches


# A fold sketch holds a 4M-entry sign table (~0.1 s and 32 MB to build): examples share a few
# cached instances; test_sketch_is_linear_and_deterministic builds a fresh one to compare.
SKETCH_SETTINGS = [
    ("fold", 1, 0),
    ("fold", 3, 1),
    ("fold", 8, 0),
    ("fold", 64, 12345),
    ("gaussian", 1, 0),
    ("gaussian", 5, 3),
    ("gaussian", 32, 0),
    ("gaussian", 64, 99),
]


@functools.lru_cache(maxsize=len(SKETCH_SETTINGS))
def cached_sketch(family, dim, seed):
    return make_sketch(family, dim, seed)


def fold_block(dim):
    return dim * -(-(1 << 22) // dim)


@st.composite
def sketch_cases(draw):
    family, dim, seed = draw(st.sampled_from(SKETCH_SETTINGS))
    p = draw(st.integers(1, 300))
    rng = np.random.default_rng(draw(seeds()))
    a = rng.standard_normal(p) * 10.0 ** rng.uniform(-100, 100)
    b = rng.standard_normal(p) * 10.0 ** rng.uniform(-100, 100)
    block = fold_block(dim)
    offset = draw(st.sampled_from([0, 7, block - p // 2, 3 * block - 1 - p // 3]))
    return family, dim, seed, a, b, max(0, offset)


def sk_tol(family, dim, *vs):
    """Two float64 sums of the same sketch terms in other groupings differ by at most
    γ_n·Σ|terms| (tests/_numerics.py); a term is ±x_i (fold) or x_i·N(0, 1/d), below
    6/√d·|x_i| (gaussian), and n ≤ 300 here."""
    coef = 1.0 if family == "fold" else 6.0 / math.sqrt(dim)
    return sum_tol(300) * coef * sum(float(np.abs(v).sum()) for v in vs) + 1e-300


@fuzz(60)
@given(sketch_cases())
def test_sketch_is_linear_and_deterministic(case):
    family, dim, seed, a, b, offset = case
    s = cached_sketch(family, dim, seed)
    sa, sb = s.apply(a, offset), s.apply(b, offset)
    assert sa.shape == (dim,) and sa.dtype == np.float64
    tol = sk_tol(family, dim, a, b)
    np.testing.assert_allclose(s.apply(a + b, offset), sa + sb, rtol=0, atol=3 * tol)
    np.testing.assert_allclose(s.apply(-2.0 * a, offset), -2.0 * sa, rtol=0, atol=tol)
    np.testing.assert_array_equal(sa, s.apply(a.copy(), offset))


@fuzz(4, campaign=40)
@given(st.sampled_from(SKETCH_SETTINGS), seeds())
def test_sketch_same_seed_same_sketch_fresh_instance(setting, seed):
    a = np.random.default_rng(seed).standard_normal(50)
    fresh = make_sketch(*setting)
    np.testing.assert_array_equal(fresh.apply(a, 11), cached_sketch(*setting).apply(a, 11))


@fuzz(60)
@given(sketch_cases(), st.data())
def test_sketch_any_split_any_order_same_result(case, data):
    family, dim, seed, a, _, offset = case
    s = cached_sketch(family, dim, seed)
    whole = s.apply(a, offset)
    cuts = sorted(set(data.draw(st.lists(st.integers(0, a.size), max_size=6))) | {0, a.size})
    parts = [a[i:j] for i, j in zip(cuts, cuts[1:], strict=False) if j > i]
    tol = sk_tol(family, dim, a)
    np.testing.assert_allclose(s.apply(parts, offset), whole, rtol=0, atol=tol)
    pieces = [
        (offset + i, torch.from_numpy(a[i:j].copy()))
        for i, j in zip(cuts, cuts[1:], strict=False)
        if j > i
    ]
    order = data.draw(st.permutations(range(len(pieces))))
    got = s.apply_pieces([pieces[k] for k in order])
    np.testing.assert_allclose(got, whole, rtol=0, atol=tol)
    summed = sum(
        s.apply(part, offset + i)
        for (i, _), part in zip([(c, 0) for c in cuts], parts, strict=False)
    )
    np.testing.assert_allclose(summed, whole, rtol=0, atol=tol)


@fuzz(40)
@given(st.sampled_from(SKETCH_SETTINGS[:4]), st.integers(0, 50), st.integers(0, 3))
def test_fold_is_a_countsketch(setting, i, block_no):
    """S(e_i) = ±e_{i mod d}: one bucket, unit weight, at any global index."""
    _, dim, seed = setting
    s = cached_sketch(*setting)
    g = block_no * s.block + i
    col = s.apply(np.ones(1), offset=g)
    nz = np.flatnonzero(col)
    assert nz.tolist() == [g % dim] and abs(col[g % dim]) == 1.0


@fuzz(40)
@given(sketch_cases(), st.sampled_from(FLOAT_DTYPES))
def test_sketch_does_not_depend_on_the_input_dtype(case, dtype):
    family, dim, seed, a, _, offset = case
    finfo = torch.finfo(dtype)
    a = np.clip(a / max(np.max(np.abs(a)), 1e-300), -1, 1) * min(1e4, finfo.max / 10)
    t = torch.from_numpy(a).to(dtype)
    s = cached_sketch(family, dim, seed)
    exact = s.apply(t.to(torch.float64), offset)
    np.testing.assert_allclose(s.apply(t, offset), exact, rtol=0, atol=sk_tol(family, dim, a))


@pytest.mark.parametrize("dtype", BAD_DTYPES)
@pytest.mark.parametrize("family", ["fold", "gaussian"])
def test_sketch_refuses_non_float_input(dtype, family):
    with pytest.raises(SpectralEdgeError, match="float"):
        make_sketch(family, 8, 0).apply(torch.ones(5, dtype=dtype))


@pytest.mark.parametrize(
    "args",
    [
        ("fold", 0, 0),
        ("fold", -1, 0),
        ("fold", 2.5, 0),
        ("fold", "8", 0),
        ("fold", None, 0),
        ("fold", 8, -1),
        ("fold", 8, 1.5),
        ("fold", 8, None),
        ("nope", 8, 0),
        (None, 8, 0),
    ],
)
def test_make_sketch_bad_arguments(args):
    with pytest.raises(SpectralEdgeError):
        make_sketch(*args)
