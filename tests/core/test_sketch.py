"""Fold (CountSketch) and dense Gaussian sketches against exact inner products and spectra.

Statistical tests use fixed seeds and bounds several standard errors wide, so they are
deterministic and not flaky; the structural tests (exact column structure, sharding invariance,
linearity) need no statistics at all.
"""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from _numerics import gram_tol, sigma_from_gram_err, sum_tol
from hypothesis import given, settings
from hypothesis import strategies as st

from spectral_edge import RollingGram, make_sketch, spectrum
from spectral_edge.core.sketch import GAUSSIAN_BLOCK, TABLE_TARGET, FoldSketch, GaussianSketch
from spectral_edge.errors import SpectralEdgeError

FAMILIES = ["fold", "gaussian"]


def fold_block(dim: int) -> int:
    """L: the fold sketch's block length, the multiple of d just above 2^20."""
    return dim * -(-TABLE_TARGET // dim)


def correlated_pair(p: int, rho: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(p)
    z = rng.standard_normal(p)
    y = rho * x + np.sqrt(1 - rho**2) * z
    return x * 3.0, y * 0.5


# --------------------------------------------------------------------------------------------
# Structure: the explicit d×P matrix of each family


def explicit_matrix(sk, p: int, offset: int = 0) -> np.ndarray:
    return np.stack([sk.apply(np.eye(1, p, i).reshape(-1), offset=offset) for i in range(p)], 1)


@pytest.mark.parametrize("offset", [0, 5, fold_block(7) - 40])
def test_fold_columns_are_signed_unit_vectors_in_bucket_i_mod_d(offset):
    d, p = 7, 90
    sk = make_sketch("fold", d, seed=11)
    m = explicit_matrix(sk, p, offset)
    for i in range(p):
        col = m[:, i]
        bucket = (offset + i) % d
        assert abs(col[bucket]) == 1.0
        assert np.count_nonzero(col) == 1
    # signs are not all equal (they are random), and linearity holds exactly
    assert len({m[(offset + i) % d, i] for i in range(p)}) == 2
    x = np.random.default_rng(0).standard_normal(p)
    # the same p products, summed in another order (tests/_numerics.py)
    atol = sum_tol(p) * (np.abs(m) @ np.abs(x))
    np.testing.assert_array_less(np.abs(sk.apply(x, offset=offset) - m @ x), atol + 1e-300)


def test_gaussian_columns_are_n0_1_over_d_and_linear():
    d, p = 50, 120
    sk = make_sketch("gaussian", d, seed=4)
    m = explicit_matrix(sk, p, offset=GAUSSIAN_BLOCK - 100)  # straddles a block boundary
    assert abs(m.mean()) < 4 * np.sqrt(1 / d / m.size)
    # statistical: a sample variance of n = 6000 normals has relative sd √(2/n) = 1.8 %
    np.testing.assert_allclose(m.var() * d, 1.0, rtol=0.1)
    x = np.random.default_rng(1).standard_normal(p)
    atol = sum_tol(p) * (np.abs(m) @ np.abs(x))
    got = sk.apply(x, offset=GAUSSIAN_BLOCK - 100)
    np.testing.assert_array_less(np.abs(got - m @ x), atol)


@pytest.mark.parametrize("offset", [0, 3, 999_983, fold_block(64) - 32, 10**9 + 7])
def test_fold_is_an_exact_isometry_on_any_d_consecutive_coordinates(offset):
    # d consecutive global indices fall in d distinct buckets with ±1 signs.
    d = 64
    sk = make_sketch("fold", d, seed=5)
    x, y = correlated_pair(d, 0.3, seed=offset % 1000)
    sx, sy = sk.apply(x, offset=offset), sk.apply(y, offset=offset)
    # a signed permutation: the same d products, in another order
    assert abs(sx @ sy - x @ y) <= sum_tol(d) * (np.abs(x) @ np.abs(y))
    assert abs(sx @ sx - x @ x) <= sum_tol(d) * (x @ x)


# --------------------------------------------------------------------------------------------
# Unbiasedness and the 1/√d error


@pytest.mark.parametrize("family", FAMILIES)
def test_mean_over_seeds_approaches_the_inner_product(family):
    d, p, n_seeds, rho = 32, 2000, 60, 0.5
    x32, y32 = (v.astype(np.float32) for v in correlated_pair(p, rho, seed=2))
    x, y = x32.astype(np.float64), y32.astype(np.float64)  # the exact values sketched
    norm = np.linalg.norm(x) * np.linalg.norm(y)
    est_xy, est_xx = [], []
    for seed in range(n_seeds):
        sk = make_sketch(family, d, seed=seed)
        sx, sy = sk.apply(x32), sk.apply(y32)  # float32 input: the fold table needs no cast
        est_xy.append(sx @ sy / norm)
        est_xx.append(sx @ sx / (x @ x))
    est_xy, est_xx = np.array(est_xy), np.array(est_xx)
    true = x @ y / norm
    se = est_xy.std(ddof=1) / np.sqrt(n_seeds)
    assert abs(est_xy.mean() - true) < 4 * se
    assert abs(est_xx.mean() - 1.0) < 4 * est_xx.std(ddof=1) / np.sqrt(n_seeds)
    # the spread is the JL one, (1 + ρ²)/d: a real random sketch, neither identity nor broken
    theory = np.sqrt((1 + true**2) / d)
    assert 0.6 * theory < est_xy.std(ddof=1) < 1.5 * theory


def _rms_errors(family: str, dims, p: int, n_seeds: int) -> np.ndarray:
    x32, y32 = (v.astype(np.float32) for v in correlated_pair(p, 0.4, seed=9))
    x, y = x32.astype(np.float64), y32.astype(np.float64)
    norm = np.linalg.norm(x) * np.linalg.norm(y)
    out = []
    for d in dims:
        errs = []
        for seed in range(n_seeds):
            sk = make_sketch(family, d, seed=100 + seed)
            sx, sy = sk.apply(x32), sk.apply(y32)
            errs.append((sx @ sy - x @ y) / norm)
            errs.append((sx @ sx - x @ x) / (x @ x))
        out.append(np.sqrt(np.mean(np.square(errs))))
    return np.array(out)


def test_fold_error_scales_like_one_over_sqrt_d():
    dims = np.array([16, 64, 256, 1024])
    rms = _rms_errors("fold", dims, p=1 << 14, n_seeds=12)
    slope = np.polyfit(np.log(dims), np.log(rms), 1)[0]
    assert -0.7 < slope < -0.3, (rms, slope)
    # and the level is the JL one: about √(1.5/d) for these pairs (statistical: an rms of 24
    # errors is known to ~1/√48 = 15 %, so 50 % is over three standard deviations)
    np.testing.assert_allclose(rms * np.sqrt(dims), np.sqrt(1.5), rtol=0.5)


def test_gaussian_error_scales_like_one_over_sqrt_d():
    dims = np.array([8, 32, 128])
    rms = _rms_errors("gaussian", dims, p=GAUSSIAN_BLOCK, n_seeds=12)
    slope = np.polyfit(np.log(dims), np.log(rms), 1)[0]
    assert -0.7 < slope < -0.3, (rms, slope)


def test_fold_is_no_worse_than_gaussian_on_the_same_window():
    rng = np.random.default_rng(12)
    w, p, d, n_seeds = 5, GAUSSIAN_BLOCK, 128, 12
    # a window with a shared drift direction and different scales, like real updates
    drift = rng.standard_normal(p)
    x = rng.standard_normal((w, p)) + 2.0 * drift
    x *= rng.uniform(0.5, 2.0, size=(w, 1))
    x = x.astype(np.float32).astype(np.float64)
    g = x @ x.T
    norms = np.sqrt(np.outer(np.diag(g), np.diag(g)))
    err = {}
    for family in FAMILIES:
        sq = []
        for seed in range(n_seeds):
            sk = make_sketch(family, d, seed=seed)
            s = np.stack([sk.apply(r.astype(np.float32)) for r in x])
            sq.append(((s @ s.T - g) / norms) ** 2)
        err[family] = float(np.sqrt(np.mean(sq)))
    assert err["fold"] < 1.3 * err["gaussian"], err
    assert err["gaussian"] < 3.0 / np.sqrt(d), err


# --------------------------------------------------------------------------------------------
# Sharding invariance: any split, any offsets, any order


@st.composite
def shardings(draw):
    family = draw(st.sampled_from(FAMILIES))
    dim = draw(st.sampled_from([1, 7, 64, 1000] if family == "fold" else [1, 7, 64]))
    p = draw(st.integers(1, 2500))
    block = fold_block(dim) if family == "fold" else GAUSSIAN_BLOCK
    base = draw(
        st.sampled_from([0, 1, block - 1, block - 1234, 3 * block + 17, 10**9 + 3])
        | st.integers(0, 5 * block)
    )
    cuts = sorted(draw(st.lists(st.integers(0, p), max_size=6)))
    seed = draw(st.integers(0, 2**31))
    order = draw(st.randoms(use_true_random=False))
    return family, dim, p, max(base, 0), cuts, seed, order


@settings(max_examples=30, deadline=None)
@given(shardings())
def test_any_split_offset_and_order_gives_the_same_sketch(case):
    family, dim, p, base, cuts, seed, order = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(p)
    sk = make_sketch(family, dim, seed=seed % 1000)
    whole = sk.apply(x, offset=base)
    bounds = [0, *cuts, p]
    parts = [x[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    scale = sum_tol(p) * np.abs(x).sum()  # the same terms, summed in other groupings
    # consecutive parts as one call
    np.testing.assert_allclose(sk.apply(parts, offset=base), whole, rtol=0, atol=scale)
    np.testing.assert_allclose(sk.apply(tuple(parts), offset=base), whole, rtol=0, atol=scale)
    # each part alone at its own global offset, summed (what shards do before an all-reduce)
    separate = sum(
        sk.apply(x[a:b], offset=base + a) for a, b in zip(bounds[:-1], bounds[1:], strict=True)
    )
    np.testing.assert_allclose(separate, whole, rtol=0, atol=scale)
    # (offset, tensor) pieces in a shuffled order, from a fresh sketch object with the same seed
    pieces = [
        (base + a, torch.from_numpy(x[a:b].copy()))
        for a, b in zip(bounds[:-1], bounds[1:], strict=True)
    ]
    order.shuffle(pieces)
    fresh = make_sketch(family, dim, seed=seed % 1000)
    np.testing.assert_allclose(fresh.apply_pieces(pieces), whole, rtol=0, atol=scale)


def test_fold_sharding_across_a_real_block_boundary():
    d = 1000
    sk = make_sketch("fold", d, seed=1)
    p = fold_block(d) + 5000  # two blocks at offset 0
    x = torch.randn(p, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    whole = sk.apply(x)
    pieces = [
        (0, x[:300_001]),
        (300_001, x[300_001 : fold_block(d) + 7]),
        (fold_block(d) + 7, x[fold_block(d) + 7 :]),
    ]
    random.Random(0).shuffle(pieces)
    # each bucket sums ~p/d entries, in other groupings
    atol = sum_tol(p // d + 1) * float(x.abs().sum())
    np.testing.assert_allclose(sk.apply_pieces(pieces), whole, rtol=0, atol=atol)
    # two sketch objects agree bit for bit: nothing depends on call history
    assert np.array_equal(make_sketch("fold", d, seed=1).apply(x), whole)


# --------------------------------------------------------------------------------------------
# dtypes, seeds, config


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32], ids=str)
def test_narrow_inputs_are_sketched_as_their_exact_values(family, dtype):
    d = 64
    x = torch.randn(5000, generator=torch.Generator().manual_seed(3)).to(dtype)
    sk = make_sketch(family, d, seed=2)
    got = sk.apply(x, offset=fold_block(d) - 2000 if family == "fold" else 4000)
    ref = sk.apply(x.double(), offset=fold_block(d) - 2000 if family == "fold" else 4000)
    assert got.dtype == np.float64 and got.shape == (d,)
    # the same exact values, summed along another path (float32 table products or float64)
    atol = sum_tol(x.numel()) * float(x.double().abs().sum())
    np.testing.assert_allclose(got, ref, rtol=0, atol=atol)


def test_numpy_float16_input_and_table_caching_across_dtypes():
    sk = make_sketch("fold", 16, seed=0)
    x = np.random.default_rng(0).standard_normal(700)
    ref = sk.apply(x)
    for arr in (x.astype(np.float16), x.astype(np.float32), torch.from_numpy(x).bfloat16()):
        exact = np.asarray(torch.as_tensor(arr).double())
        atol = sum_tol(exact.size) * np.abs(exact).sum()
        np.testing.assert_allclose(sk.apply(arr), sk.apply(exact), rtol=0, atol=atol)
    assert np.array_equal(sk.apply(x), ref)


@pytest.mark.parametrize("family", FAMILIES)
def test_seeds_differ_and_equal_seeds_agree(family):
    x = np.random.default_rng(0).standard_normal(3000)
    a = make_sketch(family, 32, seed=0).apply(x)
    b = make_sketch(family, 32, seed=1).apply(x)
    c = make_sketch(family, 32, seed=0).apply(x)
    assert not np.allclose(a, b)
    assert np.array_equal(a, c)


@pytest.mark.parametrize("family, cls", [("fold", FoldSketch), ("gaussian", GaussianSketch)])
def test_config_and_types(family, cls):
    sk = make_sketch(family, np.int64(12), seed=np.int32(7))
    assert isinstance(sk, cls)
    assert sk.config() == {"family": family, "dim": 12, "seed": 7}
    assert type(sk.config()["dim"]) is int and type(sk.config()["seed"]) is int
    assert make_sketch(family, 12).config()["seed"] == 0


@pytest.mark.parametrize("family", FAMILIES)
def test_nonfinite_inputs_propagate_and_rolling_gram_rejects_them(family):
    sk = make_sketch(family, 8, seed=0)
    x = np.ones(100)
    x[17] = np.nan
    assert np.isnan(sk.apply(x)).any()
    rg = RollingGram(window=3, sketch_dim=8, sketch=family)
    assert rg.push(np.ones(100))
    assert rg.push(x) is False
    assert rg.size == 1 and rg.rejected == 1


# --------------------------------------------------------------------------------------------
# Errors


@pytest.mark.parametrize(
    "family, dim, seed, match",
    [
        ("dense", 8, 0, "family"),
        ("Fold", 8, 0, "family"),
        ("fold", 0, 0, "sketch_dim"),
        ("fold", -4, 0, "sketch_dim"),
        ("fold", 2.5, 0, "sketch_dim"),
        ("fold", "8", 0, "sketch_dim"),
        ("fold", None, 0, "sketch_dim"),
        ("gaussian", 0, 0, "sketch_dim"),
        ("fold", 8, -1, "seed"),
        ("fold", 8, 1.5, "seed"),
        ("gaussian", 8, "0", "seed"),
    ],
)
def test_bad_dim_seed_or_family_raise(family, dim, seed, match):
    with pytest.raises(SpectralEdgeError, match=match):
        make_sketch(family, dim, seed)


def test_rolling_gram_checks_its_sketch_arguments():
    with pytest.raises(SpectralEdgeError, match="sketch_dim"):
        RollingGram(window=3, sketch_dim=0)
    with pytest.raises(SpectralEdgeError, match="family"):
        RollingGram(window=3, sketch_dim=8, sketch="srht")
    with pytest.raises(SpectralEdgeError, match="seed"):
        RollingGram(window=3, sketch_dim=8, seed=-2)


@pytest.mark.parametrize("family", FAMILIES)
def test_empty_part_list_is_a_clear_error(family):
    with pytest.raises(SpectralEdgeError):
        make_sketch(family, 8).apply([])


# --------------------------------------------------------------------------------------------
# RollingGram with a sketch


@pytest.mark.parametrize("family", FAMILIES)
def test_sketched_rolling_gram_is_the_exact_gram_of_the_sketches(family):
    rng = np.random.default_rng(21)
    d, w = 40, 4
    rg = RollingGram(window=w, sketch_dim=d, seed=9, sketch=family)
    sk = make_sketch(family, d, seed=9)
    sketches = []
    for _ in range(7):
        u = rng.standard_normal(600)
        rg.push([u[:250], torch.from_numpy(u[250:])])
        sketches.append(sk.apply(u))
    assert rg.dim == d
    s = np.stack(sketches[-w:])
    # sketches of the parts sum in another order (600 terms), then d-term dots
    atol = (gram_tol(d) + 2 * sum_tol(600)) * np.max(np.sum(s * s, axis=1))
    np.testing.assert_allclose(rg.gram(), s @ s.T, rtol=0, atol=atol)
    s = np.stack(sketches[-(w + 1) :])
    atol = (gram_tol(d) + 2 * sum_tol(600)) * np.max(np.sum(s * s, axis=1))
    np.testing.assert_allclose(rg.union_gram(), s @ s.T, rtol=0, atol=atol)
    assert rg.state_dict()["sketch"] == sk.config()


def planted_stream(n: int, p: int, seed: int) -> np.ndarray:
    """Rank-2 signal (strengths 30 and 10) plus isotropic noise of norm ~1 per update."""
    rng = np.random.default_rng(seed)
    u = np.linalg.qr(rng.standard_normal((p, 2)))[0].T
    coef = rng.standard_normal((n, 2)) * [30.0, 10.0]
    return coef @ u + rng.standard_normal((n, p)) / np.sqrt(p)


@pytest.mark.parametrize("family, seeds", [("fold", [0, 1, 2]), ("gaussian", [0])])
def test_sketched_spectrum_is_close_to_exact_on_a_planted_low_rank_stream(family, seeds):
    w, p, d = 10, GAUSSIAN_BLOCK, 500
    updates = planted_stream(12, p, seed=5)
    exact = RollingGram(window=w)
    for u in updates:
        exact.push(u)
    ref = spectrum(exact.gram())
    x = updates[-w:]
    sig = np.linalg.svd(x, compute_uv=False)
    assert np.all(np.abs(ref.sigma - sig) <= sigma_from_gram_err(x))  # tests/_numerics.py
    assert ref.k_star == 2
    for seed in seeds:
        rg = RollingGram(window=w, sketch_dim=d, seed=seed, sketch=family)
        for u in updates:
            rg.push(u)
        got = spectrum(rg.gram())
        assert got.k_star == ref.k_star
        # JL: relative error ~ 1/√d ≈ 4.5 %; signal modes well inside, noise modes nearly so
        np.testing.assert_allclose(got.sigma[:2], ref.sigma[:2], rtol=0.08)
        np.testing.assert_allclose(got.sigma[2:], ref.sigma[2:], rtol=0.2)
        assert abs(got.gap_ratio / ref.gap_ratio - 1) < 0.2


# --------------------------------------------------------------------------------------------
# Precision: S(θ + δ) − S(θ) = S(δ) although δ is 1e-4 of θ


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_difference_of_sketches_matches_the_sketch_of_the_difference(dtype):
    d = 1000
    g = torch.Generator().manual_seed(0)
    p = fold_block(d) + 100_000  # two blocks
    theta = torch.randn(p, generator=g).to(dtype)
    step = torch.randn(p, generator=g) * 1e-4
    theta_next = (theta.float() + step).to(dtype)
    delta = theta_next.double() - theta.double()  # the exact difference of stored values
    assert 0.3e-4 < delta.norm() / theta.double().norm() < 3e-4 or dtype == torch.bfloat16
    sk = make_sketch("fold", d, seed=3)
    diff = sk.apply(theta_next) - sk.apply(theta)
    ref = sk.apply(delta)
    assert np.linalg.norm(diff - ref) <= 1e-6 * np.linalg.norm(ref)


@pytest.mark.parametrize("family", FAMILIES)
def test_apply_pieces_with_many_small_pieces_mixed_dtypes_and_gaps(family):
    # like a model: hundreds of small bias/norm vectors, some in half precision, some shards
    # missing (gaps in the global offsets), given in any order
    rng = np.random.default_rng(13)
    sizes = rng.integers(1, 40, size=300)
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]) + 17
    dtypes = [torch.float32, torch.float16, torch.bfloat16, torch.float64]
    pieces, exact = [], []
    for i, (o, n) in enumerate(zip(offsets, sizes, strict=True)):
        if i % 37 == 5:
            continue  # a gap
        t = torch.from_numpy(rng.standard_normal(n)).to(dtypes[(i // 50) % 4])
        pieces.append((int(o), t))
        exact.append((int(o), t.double()))
    sk = make_sketch(family, 24, seed=6)
    dense = np.zeros(int(offsets[-1] + sizes[-1]))  # zeros in the gaps
    for o, t in exact:
        dense[o : o + t.numel()] = t.numpy()
    ref = sk.apply(dense)
    got = sk.apply_pieces(pieces)
    # the same exact values summed in other groupings
    atol = sum_tol(dense.size) * sum(float(t.abs().sum()) for _, t in exact)
    np.testing.assert_allclose(got, ref, rtol=0, atol=atol)
    random.Random(1).shuffle(pieces)
    np.testing.assert_allclose(sk.apply_pieces(pieces), ref, rtol=0, atol=atol)
