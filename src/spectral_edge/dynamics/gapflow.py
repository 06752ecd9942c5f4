"""Gap-flow regression: is the spectral gap damped towards a fixed point? (docs/thesis.md §5, T6)

The Dyson-type gap-flow equation, dg/dt ≈ −η(h_{k*} − h_{k*+1})d̄ − η(h̄ + ω)g
+ ηW(|G_{k*}|²/d_{k*} − |G_{k*+1}|²/d_{k*+1}), is linear in g with slope −η(h̄ + ω) < 0 when the
other terms vary slowly. Its empirical signature is a negative correlation between the gap and
its rate of change, and a linear fit dg/dt = a·g + b with a < 0: damping η(h̄ + ω) = −a and the
fixed point g* = −b/a (the viable gap c/(η(h̄ + ω))). The author got R² ≈ 0 on TinyStories and
called that inconclusive; R² is therefore reported beside the fit, and a fit with a ≥ 0 has no
damping (g* is reported but is not an attractor).

Derivative: central differences in step units (numpy.gradient, which handles uneven steps),
paired with g at the same window; ``difference="forward"`` pairs (g_{i+1} − g_i)/(t_{i+1} − t_i)
with g_i instead, which avoids the smoothing of central differences at the cost of a half-step
offset. A NaN gap makes its own pair and the differences that use it NaN; those pairs are left
out of the fit (drop NaN windows beforehand to difference across them instead).
"""

from __future__ import annotations

import math

import numpy as np

from spectral_edge.dynamics._series import as_steps_values
from spectral_edge.errors import SpectralEdgeError

__all__ = ["MIN_POINTS", "gap_flow_regression", "linear_fit"]

MIN_POINTS = 5


def linear_fit(x, y) -> dict:
    """OLS y = a·x + b with R², Pearson r and the standard error of a."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    n = len(x)
    xm, ym = x.mean(), y.mean()
    sxx = float(np.sum((x - xm) ** 2))
    syy = float(np.sum((y - ym) ** 2))
    if sxx == 0.0:
        raise SpectralEdgeError("the regressor is constant: no slope can be fitted")
    a = float(np.sum((x - xm) * (y - ym)) / sxx)
    b = float(ym - a * xm)
    resid = y - (a * x + b)
    rss = float(np.sum(resid**2))
    r2 = 1.0 - rss / syy if syy > 0 else math.nan
    r = float(np.sum((x - xm) * (y - ym)) / math.sqrt(sxx * syy)) if syy > 0 else math.nan
    se = math.sqrt(rss / (n - 2) / sxx) if n > 2 else math.nan
    return {"slope": a, "intercept": b, "r2": r2, "r": r, "slope_se": se, "n": n}


def gap_flow_regression(steps, gap, *, difference: str = "central", per: float = 1.0) -> dict:
    """corr(g, dg/dt) and the fit dg/dt = a·g + b, with damping −a and g* = −b/a.

    ``steps`` are the windows' optimizer steps; ``per`` rescales time (e.g. ``per=100`` gives
    rates per 100 steps, or pass the snapshot stride to get rates per snapshot). Needs at least
    5 finite (g, dg/dt) pairs.

    >>> t = np.arange(40.0)
    >>> g = 2.0 + 3.0 * np.exp(-0.1 * t)          # dg/dt = -0.1 (g - 2)
    >>> r = gap_flow_regression(t, g, difference="forward")
    >>> round(r["g_star"], 2), r["damped"], r["corr"] < 0
    (2.0, True, True)
    """
    s, g = as_steps_values(steps, gap, what="gap")
    if difference not in ("central", "forward"):
        raise SpectralEdgeError(f"difference must be 'central' or 'forward', got {difference!r}")
    per = float(per)
    if not (math.isfinite(per) and per > 0):
        raise SpectralEdgeError(f"per must be a positive time unit, got {per!r}")
    if len(g) < MIN_POINTS + 1:
        raise SpectralEdgeError(
            f"the gap-flow regression needs at least {MIN_POINTS + 1} windows; got {len(g)}"
        )
    t = s.astype(np.float64) / per
    if difference == "central":
        dg = np.gradient(g, t)
        x = g
    else:
        dg = np.diff(g) / np.diff(t)
        x = g[:-1]
    ok = np.isfinite(x) & np.isfinite(dg)
    if ok.sum() < MIN_POINTS:
        raise SpectralEdgeError(
            f"only {int(ok.sum())} finite (g, dg/dt) pairs; the gap-flow regression needs "
            f"{MIN_POINTS}"
        )
    fit = linear_fit(x[ok], dg[ok])
    a, b = fit["slope"], fit["intercept"]
    return {
        "corr": fit["r"],
        "slope": a,
        "intercept": b,
        "r2": fit["r2"],
        "slope_se": fit["slope_se"],
        "damping": -a,
        "damped": bool(a < 0),
        "g_star": -b / a if a != 0 else math.nan,
        "n": fit["n"],
        "difference": difference,
        "time_unit_steps": per,
    }
