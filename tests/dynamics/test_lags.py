"""Lag analysis and Granger test on planted series."""

from __future__ import annotations

import numpy as np
import pytest

from spectral_edge.dynamics.lags import (
    cubic_detrend,
    granger_test,
    lag_analysis,
    lag_flip,
    lagged_correlation,
)
from spectral_edge.errors import SpectralEdgeError


def planted_pair(lag, n=120, seed=0, trend=True):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(n + 20)
    t = np.arange(n)
    gap = x[20:] + (0.002 * t**2 if trend else 0)
    # The loss falls when the gap rose `lag` snapshots earlier (negative coupling).
    loss = -np.roll(x, lag)[20:] + 0.3 * rng.standard_normal(n) + (5 - 0.03 * t if trend else 0)
    return t * 100, gap, loss


@pytest.mark.parametrize("lag", [-2, 0, 1, 3])
def test_planted_lag_is_recovered_through_a_trend(lag):
    steps, gap, loss = planted_pair(lag)
    out = lag_analysis(steps, gap, loss, max_lag=5)
    assert out["peak_lag"] == lag
    assert out["peak_r"] < -0.8 and out["coupled"]


def test_lag_flip():
    a = lag_analysis(*planted_pair(-1, seed=1), max_lag=4)
    b = lag_analysis(*planted_pair(1, seed=2), max_lag=4)
    c = lag_analysis(*planted_pair(2, seed=3), max_lag=4)
    assert lag_flip(a, b)["flip"] is True
    assert lag_flip(b, c)["flip"] is False


def test_cubic_detrend_removes_a_cubic_exactly():
    t = np.linspace(0, 5, 40)
    assert np.allclose(cubic_detrend(1 + t - 2 * t**2 + 0.5 * t**3, t), 0, atol=1e-9)


def test_lagged_correlation_sign_convention():
    x = np.random.default_rng(0).standard_normal(60)
    y = np.roll(x, 2)  # y_t = x_{t−2}: x leads y by 2
    lc = lagged_correlation(x, y, 3)
    assert lc["lags"][int(np.argmax(lc["r"]))] == 2


def causal(n, seed, strength):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(n)
    y = np.zeros(n)
    for t in range(2, n):
        y[t] = 0.4 * y[t - 1] + strength * x[t - 2] + rng.standard_normal()
    return x, y


def test_granger_rejects_a_causal_lag():
    for seed in range(5):
        x, y = causal(150, seed, 0.8)
        out = granger_test(x, y, max_lag=2)
        assert out["rejects"] and out["p_value"] < 1e-4
        assert out["lag_order"] == 2
        # The reverse direction is not causal.
        assert granger_test(y, x, max_lag=2)["p_value"] > 1e-3


def test_granger_false_positive_rate_is_near_nominal():
    rejections = 0
    trials = 300
    for seed in range(trials):
        rng = np.random.default_rng(1000 + seed)
        x = rng.standard_normal(80)
        y = np.zeros(80)
        e = rng.standard_normal(80)
        for t in range(1, 80):
            y[t] = 0.5 * y[t - 1] + e[t]
        rejections += granger_test(x, y, max_lag=2)["rejects"]
    rate = rejections / trials
    # Nominal 5 %; binomial sd at n = 300 is 1.3 %; AIC selection and detrending shift it a bit.
    assert 0.015 <= rate <= 0.10, rate


def test_bad_inputs():
    with pytest.raises(SpectralEdgeError, match="at least"):
        granger_test(np.arange(5.0), np.arange(5.0))
    with pytest.raises(SpectralEdgeError, match="NaN"):
        lag_analysis(np.arange(20), np.r_[np.nan, np.ones(19)], np.ones(20))
    with pytest.raises(SpectralEdgeError, match="lengths"):
        granger_test(np.ones(30), np.ones(31))
    with pytest.raises(SpectralEdgeError, match="at least"):
        lag_analysis(np.arange(6), np.ones(6), np.ones(6), max_lag=5)
