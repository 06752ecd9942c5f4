"""Gap–loss coupling: cubic detrend, lagged correlation, the lag flip and a Granger test (§4).

Both the gap and the loss trend over a run (the loss falls, the gap rises then collapses), so any
two such series correlate. Removing a cubic polynomial in time from each leaves the fluctuations
around the trend, whose co-movement is what the thesis calls coupling (T7: |r| > 0.3).

Lagged correlation, in snapshots (rows): r(ℓ) = Pearson(x_t, y_{t+ℓ}) over the overlapping
rows, for ℓ = −L..L. A positive ℓ pairs x with later y, so a peak at ℓ > 0 says x leads y. The
peak lag is the ℓ with the most negative r (a gap that opens while the loss falls). The thesis
reports the sign of that peak lag flipping between W = 10 and W = 20 (C4, TinyStories: −1 → +1):
:func:`lag_flip` compares two analyses.

Granger test (x → y): with p lags, the restricted model y_t = c + Σ a_i y_{t−i} and the
unrestricted one adding Σ b_i x_{t−i} are fitted by OLS on the same rows; F = ((RSS_r − RSS_u)/p)
/ (RSS_u/(n − 2p − 1)) ~ F(p, n − 2p − 1) under "x does not help predict y". The lag order p ∈
{1, …, max_lag} is the one with the smallest AIC of the unrestricted model, all orders fitted on
the rows t ≥ max_lag so the AICs are comparable. Series are detrended first (cubic) unless
``detrend=False``: a shared trend would otherwise make everything "cause" everything.
"""

from __future__ import annotations

import math

import numpy as np

from spectral_edge.errors import SpectralEdgeError

__all__ = [
    "cubic_detrend",
    "granger_test",
    "lag_analysis",
    "lag_flip",
    "lagged_correlation",
]

MIN_POINTS = 8


def _series(x, name: str) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 1:
        raise SpectralEdgeError(f"{name} must be one-dimensional")
    if not np.all(np.isfinite(a)):
        raise SpectralEdgeError(f"{name} has NaN or infinite values; drop or align them first")
    return a


def _pair(x, y, need: int, what: str) -> tuple[np.ndarray, np.ndarray]:
    x, y = _series(x, "x"), _series(y, "y")
    if len(x) != len(y):
        raise SpectralEdgeError(f"x and y have different lengths ({len(x)} and {len(y)})")
    if len(x) < need:
        raise SpectralEdgeError(f"{what} needs at least {need} points; got {len(x)}")
    return x, y


def cubic_detrend(values, t=None, degree: int = 3) -> np.ndarray:
    """Residuals of a least-squares polynomial of ``degree`` (3) in t (default: row index)."""
    y = _series(values, "values")
    if len(y) < degree + 2:
        raise SpectralEdgeError(f"a degree-{degree} detrend needs at least {degree + 2} points")
    t = np.arange(len(y), dtype=np.float64) if t is None else _series(t, "t")
    # Scale t to [-1, 1] so the Vandermonde matrix is well conditioned.
    span = float(t.max() - t.min()) or 1.0
    z = 2.0 * (t - t.min()) / span - 1.0
    coef = np.polynomial.polynomial.polyfit(z, y, degree)
    return y - np.polynomial.polynomial.polyval(z, coef)


def lagged_correlation(x, y, max_lag: int) -> dict:
    """r(ℓ) = corr(x_t, y_{t+ℓ}) for ℓ = −max_lag..max_lag (rows as the time unit)."""
    x, y = _pair(x, y, 2 * int(max_lag) + 3, "lagged correlation")
    lags = np.arange(-int(max_lag), int(max_lag) + 1)
    r = []
    for ell in lags:
        if ell >= 0:
            a, b = x[: len(x) - ell], y[ell:]
        else:
            a, b = x[-ell:], y[: len(y) + ell]
        r.append(float(np.corrcoef(a, b)[0, 1]) if np.std(a) > 0 and np.std(b) > 0 else math.nan)
    return {"lags": lags.tolist(), "r": r}


def lag_analysis(steps, gap, loss, *, max_lag: int = 5, detrend: bool = True) -> dict:
    """Detrended gap–loss coupling: r at each lag, the peak (most negative) lag and r at lag 0.

    ``gap`` and ``loss`` are aligned per window (same rows). Positive peak lag: the gap leads the
    loss by that many snapshots.
    """
    s = _series(steps, "steps")
    g, lo = _pair(gap, loss, max(MIN_POINTS, 2 * int(max_lag) + 3), "the lag analysis")
    if len(s) != len(g):
        raise SpectralEdgeError("steps and the series have different lengths")
    if detrend:
        g, lo = cubic_detrend(g, s), cubic_detrend(lo, s)
    lc = lagged_correlation(g, lo, max_lag)
    r = np.asarray(lc["r"])
    if np.all(np.isnan(r)):
        raise SpectralEdgeError("every lagged correlation is undefined (a constant series)")
    i = int(np.nanargmin(r))
    return {
        "lags": lc["lags"],
        "r": lc["r"],
        "peak_lag": int(lc["lags"][i]),
        "peak_r": float(r[i]),
        "r_lag0": float(r[len(r) // 2]),
        "coupled": bool(abs(r[i]) > 0.3),
        "detrended": bool(detrend),
        "n": int(len(g)),
    }


def lag_flip(analysis_a: dict, analysis_b: dict) -> dict:
    """Do the peak lags of two analyses (e.g. W = 10 and W = 20) have opposite non-zero signs?"""
    la, lb = int(analysis_a["peak_lag"]), int(analysis_b["peak_lag"])
    return {
        "peak_lag_a": la,
        "peak_lag_b": lb,
        "flip": bool(la * lb < 0),
    }


def _ols_rss(design: np.ndarray, y: np.ndarray) -> float:
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    resid = y - design @ coef
    return float(resid @ resid)


def granger_test(x, y, *, max_lag: int = 2, detrend: bool = True, alpha: float = 0.05) -> dict:
    """Does x Granger-cause y? OLS F-test with the lag order chosen by AIC (see module doc).

    Returns the chosen order, F, its degrees of freedom, the p-value (scipy.stats.f) and
    ``rejects`` (p < alpha: x helps predict y beyond y's own past).
    """
    max_lag = int(max_lag)
    if max_lag < 1:
        raise SpectralEdgeError("max_lag must be ≥ 1")
    x, y = _pair(x, y, max(MIN_POINTS, 4 * max_lag + 4), "the Granger test")
    try:
        from scipy.stats import f as f_dist
    except ImportError as exc:  # pragma: no cover
        raise SpectralEdgeError("the Granger test needs scipy (pip install scipy)") from exc
    if detrend:
        x, y = cubic_detrend(x), cubic_detrend(y)
    n = len(y) - max_lag
    target = y[max_lag:]
    ones = np.ones((n, 1))

    def lags_of(series: np.ndarray, p: int) -> np.ndarray:
        return np.column_stack([series[max_lag - i : len(series) - i] for i in range(1, p + 1)])

    best = None
    for p in range(1, max_lag + 1):
        unrestricted = np.hstack([ones, lags_of(y, p), lags_of(x, p)])
        rss_u = _ols_rss(unrestricted, target)
        aic = n * math.log(max(rss_u, 1e-300) / n) + 2 * unrestricted.shape[1]
        if best is None or aic < best[1]:
            best = (p, aic, rss_u)
    p, aic, rss_u = best
    rss_r = _ols_rss(np.hstack([ones, lags_of(y, p)]), target)
    df2 = n - 2 * p - 1
    if df2 < 1:
        raise SpectralEdgeError("too few points for the Granger test at this lag order")
    if rss_u <= 0:
        f_stat, p_value = math.inf, 0.0
    else:
        f_stat = ((rss_r - rss_u) / p) / (rss_u / df2)
        p_value = float(f_dist.sf(f_stat, p, df2))
    return {
        "lag_order": p,
        "F": float(f_stat),
        "df": [p, df2],
        "p_value": p_value,
        "rejects": bool(p_value < alpha),
        "alpha": float(alpha),
        "aic": float(aic),
        "n": n,
        "detrended": bool(detrend),
    }
