"""The nulls and intervals against independent references (closed forms, scipy, direct loops)."""

import math

import numpy as np
import pytest

from spectral_edge.core.stability import delta_c_frobenius, stability_alpha
from spectral_edge.reproduce import nulls


def test_lagged_r_matches_a_direct_loop():
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal(40), rng.standard_normal(40)
    lags = [-3, -1, 0, 2, 5]
    got = nulls.lagged_r(x, y, lags)
    for ell, r in zip(lags, got, strict=True):
        pairs = [(x[t], y[t + ell]) for t in range(40) if 0 <= t + ell < 40]
        a, b = np.array(pairs).T
        assert r == pytest.approx(np.corrcoef(a, b)[0, 1], abs=1e-12)
    stacked = nulls.lagged_r(np.stack([x, y]), y, lags)
    assert stacked.shape == (2, 5) and stacked[1, 2] == pytest.approx(1.0)


def test_phase_surrogates_keep_the_periodogram_and_change_the_series():
    rng = np.random.default_rng(1)
    x = np.cumsum(rng.standard_normal(64))
    surr = nulls.phase_surrogates(x, 20, np.random.default_rng(2))
    amp = np.abs(np.fft.rfft(x))
    for s in surr:
        assert np.allclose(np.abs(np.fft.rfft(s)), amp, atol=1e-8)
        assert s.mean() == pytest.approx(x.mean()) and s.var() == pytest.approx(x.var())
    assert not np.allclose(surr[0], x)


def test_coupled_white_noise_beats_the_null_and_independent_walks_do_not():
    rng = np.random.default_rng(3)
    steps = np.arange(80) * 10
    noise = rng.standard_normal(80)
    strong = nulls.peak_coupling(steps, noise, 5 - noise, range(-3, 6), n_null=300)
    assert strong["peak_lag"] == 0 and strong["peak_r"] < -0.99 and strong["p"] < 0.01
    walks = [
        nulls.peak_coupling(
            steps,
            np.cumsum(rng.standard_normal(80)),
            np.cumsum(rng.standard_normal(80)),
            range(-3, 6),
            n_null=300,
        )
        for _ in range(20)
    ]
    # independent smooth series: the null is calibrated, so p < 0.05 stays rare
    assert sum(w["p"] < 0.05 for w in walks) <= 4


def test_damping_null_matches_the_ar1_closed_form():
    # stationary AR(1): corr(x_t, x_{t+1} − x_t) = −sqrt((1 − ρ)/2)
    rho, n = 0.6, 200_000
    rng = np.random.default_rng(4)
    e = rng.standard_normal(n)
    x = np.empty(n)
    x[0] = e[0]
    for t in range(1, n):
        x[t] = rho * x[t - 1] + e[t]
    got = nulls._damping_corr(x, central=False)[0]
    assert got == pytest.approx(-math.sqrt((1 - rho) / 2), abs=0.01)
    assert nulls._damping_corr(x, central=True)[0] == pytest.approx(0.0, abs=0.01)


def test_damping_null_random_walk_is_negative_by_chance_and_calibrated():
    rng = np.random.default_rng(5)
    outs = [
        nulls.random_walk_damping_null(np.cumsum(rng.standard_normal(60)), n_null=300)
        for _ in range(30)
    ]
    assert all(o["forward"]["null_median"] < -0.05 for o in outs)  # the Dickey–Fuller bias
    assert float(np.median([o["forward"]["corr"] for o in outs])) < 0  # "negative" proves nothing
    assert sum(o["forward"]["p"] < 0.05 for o in outs) <= 5  # but the null is calibrated


def test_random_walk_pc1_null_equals_direct_simulation():
    t, d = 12, 400
    bartlett = nulls.random_walk_pc1_null(t, d, n_null=600, seed=1)
    rng = np.random.default_rng(2)
    direct = []
    for _ in range(600):
        theta = np.vstack([np.zeros(d), np.cumsum(rng.standard_normal((t - 1, d)), axis=0)])
        c = theta - theta.mean(axis=0)
        lam = np.linalg.eigvalsh(c @ c.T)
        direct.append(lam[-1] / lam.sum())
    for q in (0.1, 0.5, 0.9):
        assert np.quantile(bartlett, q) == pytest.approx(np.quantile(direct, q), abs=0.02)


def test_random_walk_pc1_tends_to_six_over_pi_squared():
    share = np.median(nulls.random_walk_pc1_null(200, 10**7, n_null=40))
    assert share == pytest.approx(6 / math.pi**2, abs=0.01)


def test_spearman_matches_scipy_with_ties():
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(6)
    a, b = rng.integers(0, 5, 30).astype(float), rng.standard_normal(30)
    assert nulls.spearman(a, b) == pytest.approx(stats.spearmanr(a, b)[0], abs=1e-12)
    assert nulls.spearman_null_p(np.arange(10), np.arange(10)) < 0.001
    assert nulls.spearman_null_p(np.arange(10), -np.arange(10)) > 0.99


def test_bootstrap_slope_covers_the_true_slope_and_matches_polyfit():
    rng = np.random.default_rng(7)
    x = np.log(np.linspace(200, 5000, 12))
    y = 1.2 * x + rng.normal(0, 0.05, 12)
    slope, lo, hi = nulls.bootstrap_slope(x, y)
    assert slope == pytest.approx(np.polyfit(x, y, 1)[0])
    assert lo < 1.2 < hi and hi - lo < 0.3
    assert math.isnan(nulls.bootstrap_slope(x[:3], y[:3])[1])


def test_bootstrap_median_resamples_clusters():
    med, lo, hi = nulls.bootstrap_median([[0.01, 0.02, 0.03], [0.05, 0.06], [0.02]])
    assert med == pytest.approx(0.025) and lo <= med <= hi


def test_lambda_change_alpha_is_not_a_bound():
    """‖λ(t) − λ(t−1)‖₂ ≤ ‖ΔC‖_F (Hoffman–Wielandt), so the thesis' λ-change α is ≥ the
    Davis–Kahan α computed with the exact ‖ΔC‖_F, window after window."""
    rng = np.random.default_rng(8)
    ups = rng.standard_normal((30, 500)) * np.geomspace(3, 0.5, 30)[:, None]
    w = 10
    for end in range(w, 30):
        prev, cur = ups[end - w : end], ups[end - w + 1 : end + 1]
        lp = np.sort(np.linalg.eigvalsh(prev @ prev.T))[::-1]
        lc = np.sort(np.linalg.eigvalsh(cur @ cur.T))[::-1]
        a, b = ups[end], ups[end - w]
        exact = delta_c_frobenius(a @ a, b @ b, a @ b)
        direct = np.linalg.norm(np.outer(a, a) - np.outer(b, b))
        assert exact == pytest.approx(direct, rel=1e-9)
        assert np.linalg.norm(lc - lp) <= exact * (1 + 1e-9)
        assert np.all(stability_alpha(lc, np.linalg.norm(lc - lp)) >= stability_alpha(lc, exact))
