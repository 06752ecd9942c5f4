"""Simulators of the thesis' signal-strength and gap-flow equations, and fits to measured runs.

Signal strength (docs/thesis.md §5). With y_j = d_j² (d_j = σ_j, the strength of mode j):

    dy_j/dt = −2η(h_j + ω) y_j + η²W(S_j + 2 G_j N_j)

h_j the curvature along mode j, ω the weight decay, G_j the gradient projection, N_j the
gradient-noise projection, S_j a mode-coupling term, η the learning rate, W the window. With
constant coefficients this is a linear relaxation y' = −k y + c, k = 2η(h_j + ω),
c = η²W(S_j + 2G_jN_j), solved by y(t) = y* + (y_0 − y*)e^{−kt} with the steady state
y* = c/k = ηW(S_j + 2G_jN_j)/(2(h_j + ω)). When the noise projection follows the gradient
(N_j = κG_j) and S_j = 0, d_j* = |G_j|·√(ηWκ/(h_j + ω)) ∝ |G_j|/√(h_j + ω): the thesis' claim that
low-curvature modes are the strong ones.

Gap flow (Dyson type), g = d_{k*} − d_{k*+1}:

    dg/dt = −η(h_{k*} − h_{k*+1})d̄ − η(h̄ + ω)g + ηW(G_{k*}²/d_{k*} − G_{k*+1}²/d_{k*+1})

with d̄, h̄ the means of the two modes. Holding the d's fixed (the gap is simulated on its own,
d_{k*} and d_{k*+1} given), it is again y' = −k y + c with k = η(h̄ + ω), and a viable gap settles
at g* = c/k = c'/(η(h̄ + ω)).

Integration: both simulators use classical fourth-order Runge–Kutta (``method="rk4"``, default)
or explicit Euler (``"euler"``) with ``substeps`` equal sub-steps between requested times;
``"solve_ivp"`` hands the system to scipy (RK45, rtol 1e-8), imported lazily. Explicit schemes are
unstable once k·h ≳ 2 (Euler) or ≳ 2.8 (RK4), so the sub-step count is raised automatically to
keep k·h ≤ 0.5 (``substeps`` is a minimum). The closed form is
available as :func:`relaxation` and is what the tests compare against.

Fitting (:func:`fit_relaxation`, :func:`fit_signal_strength`, :func:`fit_gap_flow`). Only the
two combinations k and c of the physical parameters are identifiable from one series, so the fit
estimates (k, y*, y_0) of the closed-form trajectory by nonlinear least squares
(scipy.optimize.least_squares, log k so k > 0) on the first ``train_fraction`` of the windows,
then predicts the held-out remainder by integrating the ODE with the fitted k and c from the last
fitted point. The prediction error is reported beside a persistence baseline (the last training
value held constant): an ODE that does not beat persistence predicts nothing. Given η, W and ω,
the fit is translated back: h_j = k/(2η) − ω and S_j + 2G_jN_j = c/(η²W) for the signal, and
h̄ = k/η − ω for the gap.
"""

from __future__ import annotations

import math

import numpy as np

from spectral_edge.dynamics._series import as_steps_values
from spectral_edge.errors import SpectralEdgeError

__all__ = [
    "fit_gap_flow",
    "fit_relaxation",
    "fit_signal_strength",
    "relaxation",
    "simulate_gap_flow",
    "simulate_signal_strength",
    "steady_state_strength",
]

METHODS = ("rk4", "euler", "solve_ivp")
MIN_FIT_POINTS = 4
MIN_TEST_POINTS = 2


def _times(t) -> np.ndarray:
    t = np.asarray(t, dtype=np.float64)
    if t.ndim != 1 or t.size == 0 or not np.all(np.isfinite(t)):
        raise SpectralEdgeError("times must be a non-empty finite 1-D array")
    if np.any(np.diff(t) <= 0):
        raise SpectralEdgeError("times must be strictly increasing")
    return t


def _integrate(
    rhs, y0: np.ndarray, t: np.ndarray, method: str, substeps: int, rate: float = 0.0
) -> np.ndarray:
    """Integrate y' = rhs(y) (autonomous) and return y at every t (t[0] is the start).

    ``rate`` is the largest decay rate k of the system; the sub-step count is raised so that
    k·h ≤ 0.5 in every sub-step (well inside the stability region of Euler and RK4).
    """
    if method not in METHODS:
        raise SpectralEdgeError(f"unknown method {method!r}; choose one of {METHODS}")
    if isinstance(substeps, bool) or int(substeps) != substeps or substeps < 1:
        raise SpectralEdgeError(f"substeps must be a positive integer, got {substeps!r}")
    if method == "solve_ivp":
        try:
            from scipy.integrate import solve_ivp
        except ImportError as exc:  # pragma: no cover - scipy is in the test extra
            raise SpectralEdgeError("method='solve_ivp' needs scipy (pip install scipy)") from exc
        if t.size == 1:
            return y0[None, :].copy()
        sol = solve_ivp(lambda _, y: rhs(y), (t[0], t[-1]), y0, t_eval=t, rtol=1e-8, atol=1e-12)
        if not sol.success:
            raise SpectralEdgeError(f"solve_ivp did not converge: {sol.message}")
        return sol.y.T
    if rate > 0 and t.size > 1:
        substeps = max(int(substeps), math.ceil(rate * float(np.max(np.diff(t))) / 0.5))
    out = np.empty((t.size, y0.size))
    y = y0.astype(np.float64).copy()
    out[0] = y
    for i in range(1, t.size):
        h = (t[i] - t[i - 1]) / substeps
        for _ in range(int(substeps)):
            if method == "euler":
                y = y + h * rhs(y)
            else:
                k1 = rhs(y)
                k2 = rhs(y + 0.5 * h * k1)
                k3 = rhs(y + 0.5 * h * k2)
                k4 = rhs(y + h * k3)
                y = y + (h / 6.0) * (k1 + 2 * k2 + 2 * k3 + k4)
        if not np.all(np.isfinite(y)):
            raise SpectralEdgeError(
                f"the {method} integration diverged at t = {t[i]:g}; raise substeps or use "
                "method='solve_ivp'"
            )
        out[i] = y
    return out


def relaxation(t, y0: float, k: float, c: float, t0: float | None = None) -> np.ndarray:
    """Closed form of y' = −k y + c: y(t) = c/k + (y0 − c/k)·e^{−k(t − t0)} (y0 + c·t if k = 0)."""
    t = np.asarray(t, dtype=np.float64)
    t0 = float(t[0]) if t0 is None else float(t0)
    if k == 0:
        return y0 + c * (t - t0)
    ys = c / k
    return ys + (y0 - ys) * np.exp(-k * (t - t0))


def simulate_signal_strength(
    t,
    d0,
    *,
    eta: float,
    window: int,
    h,
    omega: float,
    G,
    N,
    S=0.0,
    method: str = "rk4",
    substeps: int = 10,
) -> np.ndarray:
    """Integrate d(d_j²)/dt = −2η(h_j + ω)d_j² + η²W(S_j + 2G_jN_j) for every mode j.

    ``d0``, ``h``, ``G``, ``N``, ``S`` broadcast to the number of modes. Returns d_j(t) (not d²),
    shape (len(t), modes). A negative source drives d² below 0, where the model stops being a
    strength; the result is clipped at d = 0 and that clip is the only nonlinearity.
    """
    t = _times(t)
    d0, h, G, N, S = np.broadcast_arrays(
        *(np.atleast_1d(np.asarray(v, float)) for v in (d0, h, G, N, S))
    )
    for name, v in (("d0", d0), ("h", h), ("G", G), ("N", N), ("S", S)):
        if not np.all(np.isfinite(v)):
            raise SpectralEdgeError(f"{name} must be finite")
    eta, w, om = float(eta), float(window), float(omega)
    if not (eta > 0 and w > 0 and math.isfinite(om)):
        raise SpectralEdgeError("eta and window must be positive and omega finite")
    k = 2.0 * eta * (h + om)
    c = eta * eta * w * (S + 2.0 * G * N)
    y = _integrate(lambda y: -k * y + c, d0**2, t, method, substeps, float(np.max(np.abs(k))))
    return np.sqrt(np.clip(y, 0.0, None))


def steady_state_strength(*, eta, window, h, omega, G, N, S=0.0) -> np.ndarray:
    """d_j* = √(ηW(S_j + 2G_jN_j)/(2(h_j + ω))); NaN where h_j + ω ≤ 0 (no steady state)."""
    h, G, N, S = np.broadcast_arrays(*(np.atleast_1d(np.asarray(v, float)) for v in (h, G, N, S)))
    denom = 2.0 * (h + float(omega))
    with np.errstate(divide="ignore", invalid="ignore"):
        y = float(eta) * float(window) * (S + 2.0 * G * N) / denom
    return np.where(denom > 0, np.sqrt(np.clip(y, 0.0, None)), np.nan)


def simulate_gap_flow(
    t,
    g0: float,
    *,
    eta: float,
    window: int,
    h_k: float,
    h_k1: float,
    omega: float,
    G_k: float,
    G_k1: float,
    d_k: float,
    d_k1: float,
    method: str = "rk4",
    substeps: int = 10,
) -> np.ndarray:
    """Integrate the gap-flow equation with the two modes' strengths held at d_k, d_k1.

    dg/dt = −η(h_k − h_k1)d̄ − η(h̄ + ω)g + ηW(G_k²/d_k − G_k1²/d_k1); returns g(t).
    """
    t = _times(t)
    if not (d_k > 0 and d_k1 > 0):
        raise SpectralEdgeError("the mode strengths d_k and d_k1 must be positive")
    eta, w = float(eta), float(window)
    dbar, hbar = 0.5 * (d_k + d_k1), 0.5 * (h_k + h_k1)
    k = eta * (hbar + float(omega))
    c = -eta * (h_k - h_k1) * dbar + eta * w * (G_k**2 / d_k - G_k1**2 / d_k1)
    out = _integrate(lambda y: -k * y + c, np.array([float(g0)]), t, method, substeps, abs(k))
    return out[:, 0]


# --------------------------------------------------------------------------------------------
# Fitting to a measured series


def fit_relaxation(
    steps,
    values,
    *,
    train_fraction: float = 0.7,
    per: float = 1.0,
    method: str = "rk4",
    substeps: int = 10,
    max_nfev: int = 2000,
) -> dict:
    """Fit y' = −k y + c to a measured series and score its prediction of the held-out rest.

    The first ``train_fraction`` of the finite points are fitted (closed-form trajectory, least
    squares on (log k, y*, y_0)); the rest are predicted by integrating the ODE (``method``) from
    the last fitted point. Time is ``steps / per``. Returns k, c, y*, the fitted and predicted
    curves' RMSE, the relative prediction error (RMSE / mean |y| on the held-out part) and the
    persistence baseline's RMSE. Raises SpectralEdgeError for too few points or a fit that does
    not converge.
    """
    s, y = as_steps_values(steps, values, what="series")
    ok = np.isfinite(y)
    s, y = s[ok], y[ok]
    frac = float(train_fraction)
    if not 0.0 < frac < 1.0:
        raise SpectralEdgeError(f"train_fraction must lie in (0, 1), got {train_fraction!r}")
    n_train = int(round(frac * len(y)))
    if n_train < MIN_FIT_POINTS or len(y) - n_train < MIN_TEST_POINTS:
        raise SpectralEdgeError(
            f"the ODE fit needs at least {MIN_FIT_POINTS} fitted and {MIN_TEST_POINTS} held-out "
            f"finite points; {len(y)} points with train_fraction={frac} give {n_train} and "
            f"{len(y) - n_train}"
        )
    try:
        from scipy.optimize import least_squares
    except ImportError as exc:  # pragma: no cover
        raise SpectralEdgeError("fitting the ODE needs scipy (pip install scipy)") from exc
    t = s.astype(np.float64) / float(per)
    tt, yt = t[:n_train], y[:n_train]
    span = float(tt[-1] - tt[0])
    scale = float(np.max(np.abs(yt))) or 1.0
    if span <= 0:
        raise SpectralEdgeError("the fitted part spans no time")

    def resid(p):
        return (relaxation(tt, p[2], math.exp(p[0]), math.exp(p[0]) * p[1]) - yt) / scale

    best = None
    # Several starting rates: the loss is multimodal in k only through e^{-kt} saturation.
    for k0 in (0.1 / span, 1.0 / span, 10.0 / span):
        p0 = np.array([math.log(k0), yt[-1], yt[0]])
        try:
            sol = least_squares(
                resid,
                p0,
                max_nfev=max_nfev,
                bounds=(
                    [math.log(1e-6 / span), -np.inf, -np.inf],
                    [math.log(1e4 / span), np.inf, np.inf],
                ),
            )
        except (ValueError, FloatingPointError) as exc:
            raise SpectralEdgeError(f"the ODE fit failed: {exc}") from exc
        if sol.success and np.all(np.isfinite(sol.x)) and (best is None or sol.cost < best.cost):
            best = sol
    if best is None:
        raise SpectralEdgeError(
            "the ODE fit did not converge from any starting rate; the series may not follow a "
            "relaxation (try another train_fraction or a smoother quantity)"
        )
    k = math.exp(best.x[0])
    y_star, y0 = float(best.x[1]), float(best.x[2])
    c = k * y_star
    fitted = relaxation(tt, y0, k, c)
    test_t = t[n_train - 1 :]
    pred = _integrate(lambda v: -k * v + c, np.array([fitted[-1]]), test_t, method, substeps)[1:, 0]
    actual = y[n_train:]
    rmse_pred = float(np.sqrt(np.mean((pred - actual) ** 2)))
    rmse_persist = float(np.sqrt(np.mean((yt[-1] - actual) ** 2)))
    at_bound = bool(
        abs(best.x[0] - math.log(1e-6 / span)) < 1e-3
        or abs(best.x[0] - math.log(1e4 / span)) < 1e-3
    )
    return {
        "k": k,
        "c": c,
        "y_star": y_star,
        "y0": y0,
        "rate_at_bound": at_bound,
        "n_fit": n_train,
        "n_test": int(len(actual)),
        "rmse_fit": float(np.sqrt(np.mean((fitted - yt) ** 2))),
        "rmse_prediction": rmse_pred,
        "relative_prediction_error": rmse_pred / (float(np.mean(np.abs(actual))) or math.nan),
        "rmse_persistence": rmse_persist,
        "beats_persistence": bool(rmse_pred < rmse_persist),
        "prediction": pred.tolist(),
        "prediction_steps": s[n_train:].astype(int).tolist(),
        "train_fraction": frac,
        "time_unit_steps": float(per),
        "method": method,
    }


def _sigma(windows, mode: int):
    col = f"sigma_{int(mode)}"
    if col not in windows.columns:
        raise SpectralEdgeError(f"the windows have no {col!r} column (is W ≥ {mode}?)")
    return windows["step"].to_numpy(), windows[col].to_numpy(dtype=np.float64)


def fit_signal_strength(
    windows,
    mode: int = 1,
    *,
    eta: float | None = None,
    window: int | None = None,
    omega: float = 0.0,
    **kwargs,
) -> dict:
    """Fit the signal-strength ODE to y = σ_mode² from a windows table (see :func:`fit_relaxation`).

    With ``eta`` and ``window`` (W) given, adds the physical reading h_j = k/(2η) − ω and
    S_j + 2G_jN_j = c/(η²W) (rates per ``per`` steps; pass per=1 for per-step η).
    """
    steps, sigma = _sigma(windows, mode)
    out = fit_relaxation(steps, sigma**2, **kwargs)
    out.update({"quantity": f"sigma_{mode}^2", "mode": int(mode)})
    if eta is not None and window is not None:
        out["h"] = out["k"] / (2.0 * float(eta)) - float(omega)
        out["source"] = out["c"] / (float(eta) ** 2 * float(window))
        out.update({"eta": float(eta), "window": int(window), "omega": float(omega)})
    return out


def fit_gap_flow(
    windows, *, column: str = "gap", eta: float | None = None, omega: float = 0.0, **kwargs
) -> dict:
    """Fit the (frozen-strength) gap-flow ODE to the gap series; with η, h̄ = k/η − ω."""
    if column not in windows.columns:
        raise SpectralEdgeError(f"the windows have no {column!r} column")
    out = fit_relaxation(
        windows["step"].to_numpy(), windows[column].to_numpy(dtype=np.float64), **kwargs
    )
    out.update({"quantity": column, "g_star": out["y_star"]})
    if eta is not None:
        out["h_bar"] = out["k"] / float(eta) - float(omega)
        out.update({"eta": float(eta), "omega": float(omega)})
    return out
