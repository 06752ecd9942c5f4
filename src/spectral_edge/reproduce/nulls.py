"""Nulls and intervals for the predictions' statistical claims (docs/reproduction.md, "Nulls").

A number such as "|r| = 0.55" or "PC1 holds 73 % of the variance" says nothing until it is set
beside what a series with no such structure would give. Every function here answers that for one
kind of claim, with a fixed seed so that a table is reproducible, and never fits anything to the
runs it scores.

- **Lagged correlation of two autocorrelated series** (T7, C4, C6): the statistic is the most
  negative r over a set of lags, after a cubic detrend. Smooth series correlate strongly by
  chance, and picking the best of several lags inflates |r| further, so the null is built from
  *phase-randomised surrogates* of x (Theiler et al. 1992): the Fourier amplitudes of x are kept
  (hence its autocorrelation and variance), the phases drawn uniformly, and the same statistic
  is computed between each surrogate and the real y. p = (1 + #{surrogate ≤ observed})/(n + 1).
- **Damping, corr(g, dg/dt) < 0** (T6): under "no restoring force" g is a random walk, and
  the correlation of a random walk with its own increments is *negative* in finite samples (the
  Dickey–Fuller bias), so "negative" alone proves nothing. The null distribution of the same
  correlation is simulated on Gaussian random walks of the same length (the statistic is
  scale-free, so the increment size does not matter), for forward and central differences.
- **PC1 share of a trajectory** (C10): an isotropic Gaussian random walk of T snapshots in D
  dimensions already puts ≈ 6/π² ≈ 0.61 of its centred variance on PC1 (the Karhunen–Loève
  expansion of Brownian motion). The T×T Gram of its increments is Wishart(D, I), sampled
  exactly by the Bartlett decomposition, so the null costs O(T³) per draw whatever D is.
- **Rank agreement over a few modes** (T8): a permutation null for Spearman's ρ.
- **Intervals**: percentile bootstrap of a median (C3, resampling clusters of values) and of a
  least-squares slope (C9, resampling points). The Wilson interval of a rate is the early-warning
  evaluation's (:func:`spectral_edge.reproduce.early_warning.wilson`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from spectral_edge.dynamics.lags import cubic_detrend
from spectral_edge.errors import SpectralEdgeError

__all__ = [
    "N_NULL",
    "SEED",
    "bootstrap_median",
    "bootstrap_slope",
    "lagged_r",
    "least_squares_slope",
    "null_p",
    "peak_coupling",
    "phase_surrogates",
    "random_walk_damping_null",
    "random_walk_pc1_null",
    "spearman",
    "spearman_null_p",
]

N_NULL = 1000  # draws per null: p-values resolve 1/1001
SEED = 12  # issue 12; fixed before any run was scored


def null_p(observed: float, draws: np.ndarray, *, lower: bool = True) -> float:
    """One-sided Monte Carlo p-value (1 + #{draw as extreme})/(n + 1); ``lower``: small is
    extreme. NaN draws are left out.

    >>> null_p(-0.9, np.array([-0.1, 0.2, -0.95, 0.0]))
    0.4
    """
    d = np.asarray(draws, dtype=np.float64)
    d = d[np.isfinite(d)]
    if not d.size or not math.isfinite(observed):
        return math.nan
    extreme = np.sum(d <= observed) if lower else np.sum(d >= observed)
    return float((1 + extreme) / (1 + d.size))


# --- lagged correlation ----------------------------------------------------------------------


def lagged_r(x: np.ndarray, y: np.ndarray, lags: Sequence[int]) -> np.ndarray:
    """r(ℓ) = Pearson(x_t, y_{t+ℓ}) for each lag; x may be a stack of series (rows).

    Positive ℓ pairs x with later y (x leads), the convention of
    :mod:`spectral_edge.dynamics.lags`. Returns shape (len(lags),) or (rows, len(lags)).

    >>> x = np.random.default_rng(0).standard_normal(50)
    >>> y = np.r_[0.0, 0.0, x[:-2]]  # y_t = x_{t-2}: x leads y by two
    >>> np.round(lagged_r(x, y, [-2, 0, 2]), 2).tolist()[2]
    1.0
    """
    xs = np.atleast_2d(np.asarray(x, dtype=np.float64))
    y = np.asarray(y, dtype=np.float64)
    n = y.size
    out = np.empty((xs.shape[0], len(lags)))
    for i, ell in enumerate(lags):
        a = xs[:, : n - ell] if ell >= 0 else xs[:, -ell:]
        b = y[ell:] if ell >= 0 else y[: n + ell]
        a = a - a.mean(axis=1, keepdims=True)
        b = b - b.mean()
        den = np.sqrt((a * a).sum(axis=1) * (b @ b))
        with np.errstate(invalid="ignore", divide="ignore"):
            out[:, i] = np.where(den > 0, (a @ b) / den, np.nan)
    return out[0] if np.ndim(x) == 1 else out


def phase_surrogates(x: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` series with the periodogram of ``x`` and uniformly random Fourier phases.

    The mean (frequency 0) and, for even length, the Nyquist term keep their own (real) values
    so that the surrogates are real with the mean of x; each has its variance and
    autocorrelation.
    """
    x = np.asarray(x, dtype=np.float64)
    spec = np.fft.rfft(x)
    phases = rng.uniform(0.0, 2.0 * np.pi, size=(n, spec.size))
    phases[:, 0] = np.angle(spec[0])
    if x.size % 2 == 0:
        phases[:, -1] = np.angle(spec[-1])
    return np.fft.irfft(np.abs(spec) * np.exp(1j * phases), n=x.size, axis=1)


def peak_coupling(steps, x, y, lags: Sequence[int], *, n_null: int = N_NULL, seed: int = SEED):
    """Cubic-detrended lagged correlation of x with y: the most negative r, its lag, and its
    phase-randomised null (see the module docstring).

    Returns ``{"peak_r", "peak_lag", "r": {lag: r}, "p", "null_q05", "n"}``; ``p`` is the chance
    that a surrogate of x, coupled to the real y, reaches a peak at least as negative.
    """
    lags = [int(ell) for ell in lags]
    steps = np.asarray(steps, dtype=np.float64)
    xd, yd = cubic_detrend(x, steps), cubic_detrend(y, steps)
    need = 2 * max(abs(ell) for ell in lags) + 5
    if xd.size < need:
        raise SpectralEdgeError(f"the lag analysis needs at least {need} aligned points")
    r = lagged_r(xd, yd, lags)
    if np.all(np.isnan(r)):
        raise SpectralEdgeError("every lagged correlation is undefined (a constant series)")
    i = int(np.nanargmin(r))
    surr = phase_surrogates(xd, n_null, np.random.default_rng(seed))
    null = np.nanmin(lagged_r(surr, yd, lags), axis=1)
    return {
        "peak_r": float(r[i]),
        "peak_lag": lags[i],
        "r": {ell: float(v) for ell, v in zip(lags, r, strict=True)},
        "p": null_p(float(r[i]), null),
        "null_q05": float(np.nanquantile(null, 0.05)),
        "n": int(xd.size),
    }


# --- damping ---------------------------------------------------------------------------------


def _damping_corr(g: np.ndarray, central: bool) -> np.ndarray:
    """corr(g, dg) per row: central differences paired with g, or forward ones with g_t."""
    g = np.atleast_2d(g)
    if central:
        d, x = np.gradient(g, axis=1), g
    else:
        d, x = np.diff(g, axis=1), g[:, :-1]
    x = x - x.mean(axis=1, keepdims=True)
    d = d - d.mean(axis=1, keepdims=True)
    den = np.sqrt((x * x).sum(axis=1) * (d * d).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (x * d).sum(axis=1) / den, np.nan)


def random_walk_damping_null(
    g, *, n_null: int = N_NULL, seed: int = SEED
) -> dict[str, dict[str, float]]:
    """corr(g, dg) for central and forward differences, each with its random-walk null.

    Time is the window index (windows are evenly spaced). For each difference scheme: the
    observed correlation, the p-value of a correlation at least as negative among Gaussian random
    walks of the same length, and the null's 5 % quantile.

    >>> t = np.arange(60.0)
    >>> out = random_walk_damping_null(2 + 3 * np.exp(-t / 10))
    >>> out["forward"]["corr"] < out["forward"]["null_q05"], out["forward"]["p"] < 0.01
    (True, True)
    """
    g = np.asarray(g, dtype=np.float64)
    if g.ndim != 1 or g.size < 6 or not np.all(np.isfinite(g)):
        raise SpectralEdgeError("the damping null needs at least 6 finite gap values")
    walks = np.cumsum(np.random.default_rng(seed).standard_normal((n_null, g.size)), axis=1)
    out = {}
    for name, central in (("central", True), ("forward", False)):
        obs = float(_damping_corr(g, central)[0])
        null = _damping_corr(walks, central)
        out[name] = {
            "corr": obs,
            "p": null_p(obs, null),
            "null_q05": float(np.nanquantile(null, 0.05)),
            "null_median": float(np.nanmedian(null)),
        }
    return out


# --- trajectory PCA --------------------------------------------------------------------------


def _wishart_identity(dof: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """One draw of Wishart(dof, I_size) by the Bartlett decomposition (dof ≥ size)."""
    a = np.tril(rng.standard_normal((size, size)), -1)
    a[np.diag_indices(size)] = np.sqrt(rng.chisquare(dof - np.arange(size)))
    return a @ a.T


def random_walk_pc1_null(
    n_snapshots: int, dim: int, *, n_null: int = N_NULL, seed: int = SEED
) -> np.ndarray:
    """PC1 shares of the centred trajectories θ_0 = 0, θ_t = Σ_{s≤t} z_s (z_s ~ N(0, I_dim)) of
    ``n_snapshots`` rows: the null of the execution manifold (C10).

    The increments' Gram Z Zᵀ ~ Wishart(dim, I) (Bartlett), the positions' Gram is L Z Zᵀ Lᵀ with
    L the cumulative-sum matrix, and PC1 = λ_1/Σλ of its doubly centred form. For dim ≫ T the
    median approaches 6/π² ≈ 0.61.

    >>> q = np.quantile(random_walk_pc1_null(60, 100_000, n_null=300), 0.5)
    >>> bool(0.55 < q < 0.67)
    True
    """
    t = int(n_snapshots)
    if t < 3 or dim < t - 1:
        raise SpectralEdgeError("the random-walk null needs ≥ 3 snapshots and dim ≥ T − 1")
    rng = np.random.default_rng(seed)
    cum = np.tril(np.ones((t, t - 1)), -1)  # θ_t = Σ_{s<t} z_s with θ_0 = 0
    h = np.eye(t) - 1.0 / t
    out = np.empty(n_null)
    for i in range(n_null):
        gram = h @ cum @ _wishart_identity(int(dim), t - 1, rng) @ cum.T @ h
        lam = np.clip(np.linalg.eigvalsh(gram), 0.0, None)
        out[i] = lam[-1] / lam.sum()
    return out


# --- ranks -----------------------------------------------------------------------------------


def spearman(a, b) -> float:
    """Spearman's ρ (average ranks for ties); NaN with fewer than 3 points or a constant side.

    >>> spearman([1, 2, 3, 4], [10, 20, 25, 100]), spearman([1, 2, 3], [3, 2, 1])
    (1.0, -1.0)
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.size < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return math.nan
    return float(np.corrcoef(_ranks(a), _ranks(b))[0, 1])


def _ranks(x: np.ndarray) -> np.ndarray:
    """Ranks 0..n−1, ties sharing their average rank."""
    ranks = np.empty(x.size)
    ranks[np.argsort(x, kind="stable")] = np.arange(x.size, dtype=np.float64)
    _, tie, size = np.unique(x, return_inverse=True, return_counts=True)
    return (np.bincount(tie, weights=ranks) / size)[tie]


def spearman_null_p(a, b, *, n_null: int = 10_000, seed: int = SEED) -> float:
    """One-sided permutation p-value of Spearman's ρ(a, b) being at least as large.

    Permuting b permutes its ranks, so each draw is a Pearson correlation of fixed rank vectors.
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    obs = spearman(a, b)
    if not math.isfinite(obs):
        return math.nan
    ra, rb = _ranks(a), _ranks(b)
    ra, rb = ra - ra.mean(), rb - rb.mean()
    perms = np.argsort(np.random.default_rng(seed).random((n_null, b.size)), axis=1)
    null = (rb[perms] @ ra) / math.sqrt((ra @ ra) * (rb @ rb))
    return null_p(obs, null, lower=False)


# --- intervals -------------------------------------------------------------------------------


def bootstrap_median(clusters: Sequence[Sequence[float]], *, n: int = 2000, seed: int = SEED):
    """Median of all values and its 95 % percentile-bootstrap interval, resampling whole
    clusters (values measured together, e.g. the sketch seeds of one window, are not
    independent). Returns (median, low, high)."""
    groups = [np.asarray(c, dtype=np.float64) for c in clusters if len(c)]
    if not groups:
        raise SpectralEdgeError("no values to take a median of")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(groups), size=(n, len(groups)))
    meds = np.array([np.nanmedian(np.concatenate([groups[i] for i in row])) for row in idx])
    low, high = np.nanquantile(meds, [0.025, 0.975])
    return float(np.nanmedian(np.concatenate(groups))), float(low), float(high)


def least_squares_slope(x, y) -> float:
    """Ordinary least-squares slope of y on x (NaN when x is constant)."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    sxx = float(np.sum((x - x.mean()) ** 2))
    return float(np.sum((x - x.mean()) * (y - y.mean())) / sxx) if sxx > 0 else math.nan


def bootstrap_slope(x, y, *, n: int = 2000, seed: int = SEED):
    """Least-squares slope and its 95 % percentile interval from resampling (x, y) pairs.
    Returns (slope, low, high); the interval is NaN with fewer than 4 points."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    slope = least_squares_slope(x, y)
    if x.size < 4:
        return slope, math.nan, math.nan
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, x.size, size=(n, x.size))
    draws = np.array([least_squares_slope(x[i], y[i]) for i in idx])
    low, high = np.nanquantile(draws, [0.025, 0.975])
    return slope, float(low), float(high)
