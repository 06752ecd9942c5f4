"""The numbers a report leads with, for one run: grokking, k*, collapse, warnings, A regimes.

Every figure is computed from the stored series by the library's own definitions
(:mod:`spectral_edge.dynamics`), with the run's recorded thresholds, so a report says the same as
the demo's summary and the dynamics command. A missing ingredient (no accuracy, too few windows)
gives None and a note, never an exception; a run still being written is flagged ``partial``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from spectral_edge.dynamics.summary import recorded_rule
from spectral_edge.dynamics.summary import run_summary as dynamics_run_summary
from spectral_edge.metrics import declared_names
from spectral_edge.report.plots import (
    RunData,
    config_section,
    load_run_data,
    phase_result,
    run_events,
)

__all__ = ["REGIMES", "checkpoint_spacing", "partial_reasons", "run_summary", "selection"]

REGIMES = ("plateau", "transition", "forgetting")


def selection(config: Mapping) -> dict[str, Any]:
    """What the monitor watched and how: W, cadence, parameters, sketch, k* variant."""
    m = config_section(config, "monitor")
    sketch = m.get("sketch_dim")
    return {
        "W (window)": m.get("window"),
        "every": checkpoint_spacing(config) or m.get("every"),
        "parameters": m.get("params"),
        "P (n_params)": m.get("n_params"),
        "sketch": "exact" if not sketch else f"{m.get('sketch', 'fold')}, d={sketch}",
        "k* variant": m.get("k_star"),
        "centred": m.get("center"),
    }


def checkpoint_spacing(config: Mapping) -> str | None:
    """For a run analysed from checkpoints (``spectral-edge analyze``), the steps between them,
    e.g. ``"40 steps (checkpoints)"``: there every update spans one checkpoint interval, while
    the monitor's own ``every`` is 1 (each checkpoint is one snapshot). None otherwise."""
    steps = config_section(config, "analyze").get("steps")
    if not isinstance(steps, list) or len(steps) < 2:
        return None
    try:
        gaps = sorted({int(b) - int(a) for a, b in zip(steps, steps[1:], strict=False)})
    except (TypeError, ValueError):
        return None
    shown = str(gaps[0]) if len(gaps) == 1 else f"{gaps[0]}–{gaps[-1]}"
    return f"{shown} steps (checkpoints)"


def partial_reasons(data: RunData) -> list[str]:
    """Why this run's report can only be partial (empty list: it is complete)."""
    reasons = []
    status = data.status
    if status == "running":
        reasons.append(
            "the run is still being written (status 'running'): figures and numbers "
            "show what was stored when the report was made"
        )
    elif status not in (None, "finished"):
        reasons.append(f"the run ended with status {status!r}")
    if data.windows.empty:
        reasons.append(
            "no windows stored yet (the monitor needs W updates before its first window)"
        )
    return reasons


def run_summary(source) -> dict[str, Any]:
    """One row of numbers for a run (a stored Run, RunData or windows DataFrame).

    Grokking, k*, the g23 decline, the warning and its lead are the run's
    :func:`spectral_edge.dynamics.summary.run_summary` with its recorded settings (grokking
    threshold, W, cadence, early-warning rule, metric names); the warning is the recorded rule
    replayed on the stored series, as the live monitor ran it. ``warnings`` counts the warning
    events the monitor stored. The phases and the A regimes are the report's own."""
    data = load_run_data(source)
    w = data.windows
    train = config_section(data.config, "train")
    monitor = config_section(data.config, "monitor")
    out: dict[str, Any] = {"run": data.name, "status": data.status or "-"}
    out["windows"] = int(len(w))
    out["steps"] = f"{int(w['step'].min())}–{int(w['step'].max())}" if len(w) else None
    s = _dynamics_summary(data)
    out["grokking step"] = s["grok_step"]
    out["k* mode"] = s["k_star_mode"]
    share = s["k_star_mode_share"]
    out["k* mode share"] = None if share is None else f"{share:.0%}"
    out["k* at grokking"] = s["k_star_at_grok"]
    out["g23 decline"] = s["decline"]
    phases = phase_result(data)
    quantity = train.get("phase_quantity", "gap_ratio")
    if phases is None:
        out["R peak"] = None
        out["plateau"] = None
        out["collapse step"] = None
        out["phases note"] = f"too few windows of {quantity} to detect phases"
    else:
        out["R peak"] = phases.peak_value
        out["plateau"] = (
            f"{phases.plateau_start_step}–{phases.plateau_end_step}" if phases.found else None
        )
        out["collapse step"] = phases.collapse_step
        out["phases note"] = None if phases.found else f"{quantity} never rose above τ"
    out["warnings"] = len(run_events(data)["warning"])
    out["first warning"] = s["warning_step"]
    out["lead (steps)"] = s["lead"]
    low = float(monitor.get("regime_low", 0.1))
    high = float(monitor.get("regime_high", 10.0))
    a = (
        pd.to_numeric(w["adiabatic_dk"], errors="coerce").to_numpy(dtype=float)
        if "adiabatic_dk" in w.columns
        else np.array([])
    )
    a = a[np.isfinite(a)]
    for name, frac in zip(REGIMES, _regime_fractions(a, low, high), strict=True):
        out[f"A {name}"] = None if frac is None else f"{frac:.0%}"
    out["final train acc"] = s["final_train_acc"]
    out["final test acc"] = s["final_test_acc"]
    return out


def _dynamics_summary(data: RunData) -> dict[str, Any]:
    """:func:`spectral_edge.dynamics.summary.run_summary` with the run's recorded settings."""
    monitor = config_section(data.config, "monitor")
    window = monitor.get("window")
    return dynamics_run_summary(
        data.windows,
        data.metrics,
        window=int(window) if window else None,
        every=int(monitor.get("every") or 1),
        rule=recorded_rule(data.config),
        threshold=float(config_section(data.config, "train").get("grok_threshold", 0.95)),
        metric_names=declared_names(data.config),
        label=data.name,
    )


def _regime_fractions(a: np.ndarray, low: float, high: float) -> list[float | None]:
    if a.size == 0:
        return [None, None, None]
    n = float(a.size)
    return [
        float(np.count_nonzero(a < low)) / n,
        float(np.count_nonzero((a >= low) & (a <= high))) / n,
        float(np.count_nonzero(a > high)) / n,
    ]


def fmt(value) -> str:
    """A cell: '–' for missing, 4 significant digits for floats."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
