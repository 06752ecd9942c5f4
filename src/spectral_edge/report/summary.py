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

from spectral_edge.report.plots import RunData, _section, load_run_data, phase_result, run_events

__all__ = ["REGIMES", "checkpoint_spacing", "partial_reasons", "run_summary", "selection"]

REGIMES = ("plateau", "transition", "forgetting")


def selection(config: Mapping) -> dict[str, Any]:
    """What the monitor watched and how: W, cadence, parameters, sketch, k* variant."""
    m = _section(config, "monitor")
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
    steps = _section(config, "analyze").get("steps")
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
    """One row of numbers for a run (a stored Run, RunData or windows DataFrame)."""
    from spectral_edge.dynamics import gap_decline, k_star_at, lead_time

    data = load_run_data(source)
    w = data.windows
    train = _section(data.config, "train")
    monitor = _section(data.config, "monitor")
    out: dict[str, Any] = {"run": data.name, "status": data.status or "-"}
    out["windows"] = int(len(w))
    out["steps"] = f"{int(w['step'].min())}–{int(w['step'].max())}" if len(w) else None
    marks = run_events(data)
    grok = marks["grok"][0] if marks["grok"] else None
    out["grokking step"] = grok
    k = pd.to_numeric(w["k_star"], errors="coerce").dropna() if "k_star" in w.columns else None
    if k is not None and len(k):
        counts = k.astype(int).value_counts()
        out["k* mode"] = int(counts.index[0])
        out["k* mode share"] = f"{counts.iloc[0] / len(k):.0%}"
    else:
        out["k* mode"] = out["k* mode share"] = None
    out["k* at grokking"] = None
    out["g23 decline"] = None
    if grok is not None and len(w):
        steps = w["step"].to_numpy()
        if "k_star" in w.columns and steps.min() <= grok:
            try:
                out["k* at grokking"] = k_star_at(steps, w["k_star"].to_numpy(), grok)
            except Exception:  # noqa: BLE001 - a summary cell, not worth failing the report
                pass
        if "g23" in w.columns and steps.min() <= grok:
            try:
                out["g23 decline"] = gap_decline(steps, w["g23"].to_numpy(dtype=float), grok)
            except Exception:  # noqa: BLE001
                pass
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
    warnings = marks["warning"]
    out["warnings"] = len(warnings)
    out["first warning"] = warnings[0] if warnings else None
    out["lead (steps)"] = lead_time(warnings[0], grok) if warnings and grok is not None else None
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
    for split in ("train", "test"):
        col = data.column(f"{split}_acc")
        out[f"final {split} acc"] = (
            float(col[f"{split}_acc"].iloc[-1]) if col is not None and len(col) else None
        )
    return out


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
