"""Run the dynamics analyses on a stored run and write their results into the run store.

Each registered analysis reads a run's ``windows()`` and ``metrics()`` (any object with those
methods returning DataFrames works: a :class:`spectral_edge.store.Run` or a test double), returns
a JSON-friendly result, and is recorded as an event ``kind="analysis:<name>"`` at the run's last
window step with the result as evidence (and, with ``to_config=True``, under
``config["analyses"][name]``). Everything is computed and validated before anything is written:
a failing analysis raises :class:`SpectralEdgeError` and leaves the store as it was, and a batch
of analyses (:func:`run_analyses`) writes nothing unless all of them succeed.

Measurements that need a model (the commutator defect, Hessian Lanczos, the loss
decomposition, holographic encoding: :mod:`spectral_edge.reproduce.probes`) are called from
Python with the model; their results are stored with :func:`record_analysis`, through the same
validation.

Command line: ``spectral-edge dynamics STORE RUN ANALYSIS [--set KEY=VALUE ...] [--dry-run]
[--to-config] [--json]`` (:func:`spectral_edge.cli.cmd_dynamics`); ``ANALYSIS`` may be ``list`` or
several names separated by commas.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from spectral_edge.dynamics.commutator import commutator_onset
from spectral_edge.dynamics.gapflow import gap_flow_regression
from spectral_edge.dynamics.lags import granger_test, lag_analysis, lag_flip
from spectral_edge.dynamics.ode import fit_gap_flow, fit_signal_strength
from spectral_edge.dynamics.phases import detect_phases_frame, full_windows, phase_settings
from spectral_edge.dynamics.stability_analysis import (
    adiabatic_summary,
    alpha_hierarchy,
    davis_kahan_check,
)
from spectral_edge.dynamics.summary import summary_from_frames
from spectral_edge.errors import SpectralEdgeError
from spectral_edge.metrics import declared_names, find_metric

__all__ = [
    "ANALYSES",
    "Analysis",
    "record_analysis",
    "record_results",
    "result_line",
    "run_analyses",
    "run_analysis",
]

LOSS_COLUMNS = ("train_loss", "test_loss")  # canonical names, in order of preference


@dataclass(frozen=True)
class Analysis:
    """A registered analysis: ``func(run, **options) -> result dict``; options with defaults."""

    name: str
    func: Callable[..., dict]
    description: str
    options: dict = field(default_factory=dict)


ANALYSES: dict[str, Analysis] = {}


def _register(name: str, description: str, **options):
    def wrap(func):
        ANALYSES[name] = Analysis(name, func, description, options)
        return func

    return wrap


# -- reading a run ------------------------------------------------------------------------------


def _windows(run) -> pd.DataFrame:
    frame = run.windows()
    if frame is None or len(frame) == 0:
        raise SpectralEdgeError(f"run {_name(run)!r} has no windows: nothing to analyse")
    return frame.sort_values("step").reset_index(drop=True)


def _metrics(run) -> pd.DataFrame:
    frame = run.metrics()
    if frame is None or len(frame) == 0:
        raise SpectralEdgeError(f"run {_name(run)!r} logged no metrics (loss, accuracy)")
    return frame.sort_values("step").reset_index(drop=True)


def _name(run) -> str:
    return str(getattr(run, "name", run))


def _column(frame: pd.DataFrame, column: str, what: str) -> None:
    if column not in frame.columns:
        raise SpectralEdgeError(
            f"the {what} have no {column!r} column; available: "
            f"{[c for c in frame.columns if c != 'step']}"
        )


def _metric_column(run, metrics: pd.DataFrame, canonical: str) -> str | None:
    """The logged column holding a canonical metric (see :mod:`spectral_edge.metrics`)."""
    found = find_metric(metrics, canonical, declared_names(getattr(run, "config", None)))
    return found if found is not None and metrics[found].notna().any() else None


def _loss_column(run, metrics: pd.DataFrame, loss: str | None) -> str:
    if loss:
        _column(metrics, loss, "metrics")
        return loss
    for canonical in LOSS_COLUMNS:
        found = _metric_column(run, metrics, canonical)
        if found is not None:
            return found
    raise SpectralEdgeError(
        "the run logged no loss (train_loss or test_loss, under any spelling of "
        "spectral_edge.metrics: loss, eval_loss, val_loss, ...); pass loss=<metric name>"
    )


def _aligned(run, quantity: str, loss: str | None) -> tuple:
    """(steps, window quantity, loss) on common steps: exact matches, else interpolated loss."""
    w, m = _windows(run), _metrics(run)
    _column(w, quantity, "windows")
    col = _loss_column(run, m, loss)
    w = w[["step", quantity]].dropna()
    m = m[["step", col]].dropna()
    joined = w.merge(m, on="step")
    how = "exact steps"
    if len(joined) < max(8, len(w) // 2):
        inside = w[(w["step"] >= m["step"].min()) & (w["step"] <= m["step"].max())]
        if len(m) < 2 or len(inside) < 8:
            raise SpectralEdgeError(
                f"the windows and the {col!r} metric share too few steps ({len(joined)}); log the "
                "loss at the monitor's cadence"
            )
        joined = inside.assign(**{col: np.interp(inside["step"], m["step"], m[col])})
        how = "loss linearly interpolated to window steps"
    info = {"quantity": quantity, "loss": col, "alignment": how}
    return (
        joined["step"].to_numpy(),
        joined[quantity].to_numpy(dtype=np.float64),
        joined[col].to_numpy(dtype=np.float64),
        info,
    )


def _lr(windows: pd.DataFrame, eta) -> float | None:
    if eta is not None:
        return float(eta)
    if "lr" in windows.columns and windows["lr"].notna().any():
        return float(windows["lr"].median())
    return None


def _window_size(run, window) -> int | None:
    if window is not None:
        return int(window)
    config = getattr(run, "config", None)
    if isinstance(config, Mapping):
        for key in ("window", "W"):
            if isinstance(config.get(key), int):
                return int(config[key])
        mon = config.get("monitor")
        if isinstance(mon, Mapping) and isinstance(mon.get("window"), int):
            return int(mon["window"])
    return None


# -- the analyses -------------------------------------------------------------------------------


@_register("alpha_hierarchy", "α_dom > α_gap > α_sub over the run (T5)", k_star_column="k_star")
def _alpha(run, k_star_column="k_star"):
    return alpha_hierarchy(_windows(run), k_star_column=k_star_column)


@_register(
    "adiabatic",
    "adiabatic parameter over time and its regime fractions",
    form="dk",
    low=0.1,
    high=10.0,
)
def _adiabatic(run, form="dk", low=0.1, high=10.0):
    return adiabatic_summary(_windows(run), form=form, low=float(low), high=float(high))


@_register("davis_kahan", "fraction of windows whose top-mode rotation respects Davis–Kahan")
def _dk(run):
    return davis_kahan_check(_windows(run))


@_register("stability", "alpha_hierarchy + adiabatic + davis_kahan together")
def _stability(run):
    w = _windows(run)
    return {
        "alpha_hierarchy": alpha_hierarchy(w),
        "adiabatic": adiabatic_summary(w),
        "davis_kahan": davis_kahan_check(w),
    }


@_register(
    "gap_flow", "corr(g, dg/dt), dg/dt = a g + b, damping and g* (T6)", column="gap", per=1.0
)
def _gap_flow(run, column="gap", per=1.0):
    w = _windows(run)
    _column(w, column, "windows")
    w = w[["step", column]].dropna()
    out = gap_flow_regression(w["step"], w[column], per=float(per))
    out["quantity"] = column
    return out


@_register(
    "signal_ode",
    "fit the signal-strength ODE to sigma_mode^2 and score its prediction",
    mode=1,
    train_fraction=0.7,
    eta=None,
    window=None,
    omega=0.0,
)
def _signal_ode(run, mode=1, train_fraction=0.7, eta=None, window=None, omega=0.0):
    w = _windows(run)
    return fit_signal_strength(
        w,
        int(mode),
        eta=_lr(w, eta),
        window=_window_size(run, window),
        omega=float(omega),
        train_fraction=float(train_fraction),
    )


@_register(
    "gap_ode",
    "fit the gap-flow ODE to the gap and score its prediction",
    column="gap",
    train_fraction=0.7,
    eta=None,
    omega=0.0,
)
def _gap_ode(run, column="gap", train_fraction=0.7, eta=None, omega=0.0):
    w = _windows(run)
    return fit_gap_flow(
        w, column=column, eta=_lr(w, eta), omega=float(omega), train_fraction=float(train_fraction)
    )


@_register(
    "lags",
    "detrended gap–loss lagged correlation and peak lag (T7)",
    quantity="gap",
    loss=None,
    max_lag=5,
)
def _lags(run, quantity="gap", loss=None, max_lag=5):
    steps, g, lo, info = _aligned(run, quantity, loss)
    return {**lag_analysis(steps, g, lo, max_lag=int(max_lag)), **info}


@_register(
    "lag_flip",
    "peak lag of this run vs another run (e.g. W = 20) and whether its sign flips (C4)",
    other=None,
    quantity="gap",
    loss=None,
    max_lag=5,
)
def _lag_flip(run, other=None, quantity="gap", loss=None, max_lag=5):
    if other is None:
        raise SpectralEdgeError("lag_flip needs other=<run name> (the same training at another W)")
    store = getattr(run, "store", None)
    if store is None:
        raise SpectralEdgeError("lag_flip needs a stored run (its store holds the other run)")
    other_run = store.run(other)
    a = _lags(run, quantity, loss, max_lag)
    b = _lags(other_run, quantity, loss, max_lag)
    return {**lag_flip(a, b), "this": a, "other": {"run": other_run.name, **b}}


@_register(
    "granger",
    "Granger tests gap→loss and loss→gap (OLS F, lag 1–2 by AIC)",
    quantity="gap",
    loss=None,
    max_lag=2,
    alpha=0.05,
)
def _granger(run, quantity="gap", loss=None, max_lag=2, alpha=0.05):
    _, g, lo, info = _aligned(run, quantity, loss)
    return {
        "gap_to_loss": granger_test(g, lo, max_lag=int(max_lag), alpha=float(alpha)),
        "loss_to_gap": granger_test(lo, g, max_lag=int(max_lag), alpha=float(alpha)),
        **info,
    }


@_register(
    "commutator_onset",
    "onset of a logged commutator-defect metric (spec rule)",
    column="commutator_defect",
)
def _commutator_onset(run, column="commutator_defect"):
    m = _metrics(run)
    _column(m, column, "metrics")
    m = m[["step", column]].dropna()
    return commutator_onset(m["step"], m[column])


@_register(
    "phases",
    "rise / plateau / collapse of a window quantity, over the full windows, with the run's "
    "online settings",
    column=None,
)
def _phases(run, column=None):
    config = getattr(run, "config", None)
    settings = phase_settings(config)
    column = column or settings.pop("quantity")
    settings.pop("quantity", None)
    w = full_windows(_windows(run), config)
    _column(w, column, "windows")
    return detect_phases_frame(w, column, **settings).to_dict()


@_register(
    "grokking",
    "grokking step, g23 decline, k* at grokking (Table 7)",
    threshold=0.95,
    sustain=1,
    acc=None,
)
def _grokking(run, threshold=0.95, sustain=1, acc=None):
    m = _metrics(run)
    column = acc or _metric_column(run, m, "test_acc")
    if column is None or column not in m.columns or m[column].isna().all():
        raise SpectralEdgeError(
            f"run {_name(run)!r} has no test accuracy (test_acc, eval_accuracy, val_acc, ...: "
            "see spectral_edge.metrics): a run without accuracy has no grokking step; name "
            "yours with --set acc=METRIC"
        )
    return {
        **summary_from_frames(
            _windows(run), m, acc_column=column, threshold=float(threshold), sustain=int(sustain)
        ),
        "accuracy": column,
    }


# -- running and writing ------------------------------------------------------------------------


def _jsonable(obj):
    """Plain JSON types; NaN/inf become None so the evidence is strict JSON."""
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return _jsonable(obj.item())
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if obj is None or isinstance(obj, (bool, int, str)):
        return obj
    raise SpectralEdgeError(f"an analysis result holds a {type(obj).__name__}, not JSON")


def _validated(name: str, result) -> dict:
    if not isinstance(result, Mapping):
        raise SpectralEdgeError(f"analysis {name!r} must produce a dict, got {type(result)}")
    clean = _jsonable(result)
    json.dumps(clean, allow_nan=False)
    return clean


def _step_of(run) -> int:
    try:
        w = run.windows()
    except Exception:  # noqa: BLE001 - any reader failure: fall back to step 0
        return 0
    if w is None or len(w) == 0:
        return 0
    return int(w["step"].max())


# Statistics a reader looks for first, shown before other numbers of a result.
_HEADLINE = ("F", "p_value", "lag_order", "rejects", "peak_lag", "peak_corr", "grok_step")


def _scalars(result: Mapping, limit: int = 4) -> str:
    keys = [
        k
        for k, v in result.items()
        if (v is None or isinstance(v, (bool, int, float, str))) and k not in ("n", "options")
    ]
    keys.sort(key=lambda k: _HEADLINE.index(k) if k in _HEADLINE else len(_HEADLINE))
    return ", ".join(
        f"{k}={result[k]:.4g}" if isinstance(result[k], float) else f"{k}={result[k]}"
        for k in keys[:limit]
    )


def result_line(name: str, result: dict) -> str:
    """One line: the result's headline numbers, and those of each sub-result (a Granger test's
    two directions), so that the terminal shows the statistics and not only the settings."""
    parts = [_scalars(result)] if _scalars(result) else []
    for key, value in result.items():
        if isinstance(value, Mapping) and key != "options" and _scalars(value):
            parts.append(f"{key}({_scalars(value)})")
    return f"{name}: " + "; ".join(parts) if parts else name


def _options(analysis: Analysis, options: Mapping) -> dict:
    unknown = sorted(set(options) - set(analysis.options))
    if unknown:
        allowed = ", ".join(analysis.options) or "none"
        raise SpectralEdgeError(
            f"analysis {analysis.name!r} has no option(s) {unknown}; its options: {allowed}"
        )
    return {**analysis.options, **options}


def _write(run, entries: list[tuple[str, int, str, dict]], to_config: bool) -> int:
    """Record the entries; returns how many events were new. An analysis that gives the same
    result at the same step as one already recorded is not written twice."""
    written = 0
    for name, step, message, evidence in entries:
        kind = f"analysis:{name}"
        if _recorded(run, step, kind, evidence):
            continue
        run.log_event(step, kind=kind, message=message, evidence=evidence)
        written += 1
    if to_config:
        config = dict(getattr(run, "config", {}) or {})
        analyses = dict(config.get("analyses") or {})
        analyses.update({name: evidence for name, _, _, evidence in entries})
        run.update_config({"analyses": analyses}, replace=True)
    return written


def _recorded(run, step: int, kind: str, evidence: dict) -> bool:
    try:
        events = run.events()
    except Exception:  # noqa: BLE001 - a run double without events: nothing recorded yet
        return False
    if events is None or len(events) == 0:
        return False
    same = events[(events["kind"] == kind) & (events["step"] == step)]
    return any(e == evidence for e in same["evidence"])


def run_analyses(
    run,
    names,
    *,
    write: bool = True,
    to_config: bool = False,
    options: Mapping[str, Mapping] | None = None,
) -> dict[str, dict]:
    """Compute several analyses, then (only if all succeed) write each as an event.

    ``options`` maps an analysis name to its keyword options. Returns ``{name: result}``.
    """
    names = [names] if isinstance(names, str) else list(names)
    if not names:
        raise SpectralEdgeError("no analysis named; choose from " + ", ".join(ANALYSES))
    options = dict(options or {})
    unknown = [n for n in names if n not in ANALYSES]
    if unknown or set(options) - set(names):
        bad = unknown or sorted(set(options) - set(names))
        raise SpectralEdgeError(f"unknown analysis {bad}; available: {', '.join(ANALYSES)}")
    results = {}
    for name in names:
        analysis = ANALYSES[name]
        result = _validated(name, analysis.func(run, **_options(analysis, options.get(name, {}))))
        result["options"] = _jsonable(_options(analysis, options.get(name, {})))
        results[name] = result
    if write:
        record_results(run, results, to_config=to_config)
    return results


def record_results(run, results: Mapping[str, dict], *, to_config: bool = False) -> int:
    """Record results of :func:`run_analyses` (computed with ``write=False``) as events at the
    run's last window step; returns how many were new (a result already recorded at that step
    is not written twice)."""
    step = _step_of(run)
    entries = [(name, step, result_line(name, r), r) for name, r in results.items()]
    return _write(run, entries, to_config)


def run_analysis(run, name: str, *, write: bool = True, to_config: bool = False, **options):
    """Compute one registered analysis on ``run`` and (by default) record it; returns the result."""
    return run_analyses(run, [name], write=write, to_config=to_config, options={name: options})[
        name
    ]


def record_analysis(
    run,
    name: str,
    result: Mapping,
    *,
    step: int | None = None,
    message: str | None = None,
    to_config: bool = False,
) -> dict:
    """Store a result computed in Python (e.g. a model probe) as ``analysis:<name>``.

    The result is validated (JSON, NaN → null) before anything is written.
    """
    if not isinstance(name, str) or not name:
        raise SpectralEdgeError("an analysis needs a non-empty name")
    clean = _validated(name, result)
    step = _step_of(run) if step is None else int(step)
    _write(run, [(name, step, message or result_line(name, clean), clean)], to_config)
    return clean
