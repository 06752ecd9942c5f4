"""Stability over a run: α_j per window, the α hierarchy, the adiabatic regime, Davis–Kahan.

These read the monitor's per-window table (a stored run's ``windows()`` or the monitor's
``to_dataframe()``) and summarise docs/thesis.md §3 over time:

- :func:`alpha_series`: α_j = max(0, 1 − ‖ΔC‖_F²/gap_j²) for every mode of every window,
  recomputed from the stored σ_j and ``delta_c`` (the monitor stores only α_1..α_4); when σ or
  ‖ΔC‖ are missing the stored ``alpha_j`` columns are used.
- :func:`alpha_hierarchy`: the predicted ordering α_dom > α_gap > α_sub, with α_dom = α_1, α_gap
  = α at the edge mode m = max(k*, 2) (the last mode above the gap; with k* = 1 the edge mode
  would be the dominant one itself, so the first mode below it is used) and α_sub = the median
  α of the modes below m. Scored per window and on the medians over windows.
- :func:`adiabatic_summary`: the adiabatic parameter over time (paper form A = ‖ΔC‖/(η g²) or
  the scale-free A_DK = ‖ΔC‖/(λ_{k*} − λ_{k*+1})) with its regimes (plateau < low ≤ transition ≤
  high < forgetting; decade defaults) and the fraction of windows in each.
- :func:`davis_kahan_check`: does the measured rotation of the top mode respect its bound?
  sin θ_1 = √(1 − rotation_1²) from the stored |⟨v_1(t), v_1(t−1)⟩|, against ``dk_bound_1``.
  The bound is the thesis' form (unperturbed gap, factor 1), which is not a theorem when ‖ΔC‖
  approaches the gap; a violation rate well above zero says the edge is moving faster than
  first-order perturbation theory allows, i.e. eigenvalues are crossing.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from spectral_edge.core.stability import REGIMES, adiabatic_regime, stability_alpha
from spectral_edge.errors import SpectralEdgeError

__all__ = [
    "adiabatic_summary",
    "alpha_hierarchy",
    "alpha_series",
    "davis_kahan_check",
]


def _frame(windows) -> pd.DataFrame:
    if not isinstance(windows, pd.DataFrame):
        raise SpectralEdgeError(
            f"windows must be a DataFrame (run.windows() or monitor.to_dataframe()), "
            f"got {type(windows).__name__}"
        )
    if "step" not in windows.columns:
        raise SpectralEdgeError("the windows table has no 'step' column")
    return windows.sort_values("step").reset_index(drop=True)


def _need(frame: pd.DataFrame, n: int, what: str) -> None:
    if len(frame) < n:
        raise SpectralEdgeError(
            f"{what} needs at least {n} windows; the run has {len(frame)}. Train longer or "
            "observe more often"
        )


def _sigma_columns(frame: pd.DataFrame) -> list[str]:
    cols = [c for c in frame.columns if c.startswith("sigma_") and c[6:].isdigit()]
    return sorted(cols, key=lambda c: int(c[6:]))


def alpha_series(windows) -> pd.DataFrame:
    """α_j per window: a frame with ``step`` and ``alpha_1``…``alpha_w`` (NaN where undefined).

    Recomputed with :func:`spectral_edge.core.stability.stability_alpha` from λ_j = σ_j² and the
    exact ‖ΔC‖_F (``delta_c``) when both are stored; otherwise the stored ``alpha_j`` columns.
    """
    frame = _frame(windows)
    sig = _sigma_columns(frame)
    if sig and "delta_c" in frame.columns:
        rows = []
        for _, row in frame.iterrows():
            s = row[sig].to_numpy(dtype=np.float64)
            s = s[np.isfinite(s)]
            dc = float(row["delta_c"])
            out = {"step": int(row["step"])}
            if s.size >= 2 and math.isfinite(dc):
                alpha = stability_alpha(np.sort(s)[::-1] ** 2, dc)
                out.update({f"alpha_{j + 1}": float(a) for j, a in enumerate(alpha)})
            rows.append(out)
        result = pd.DataFrame(rows)
        if "step" not in result.columns:
            result["step"] = pd.Series(dtype=np.int64)
        return result
    stored = [c for c in frame.columns if c.startswith("alpha_") and c[6:].isdigit()]
    if not stored:
        raise SpectralEdgeError(
            "the windows have neither sigma_j with delta_c nor alpha_j columns: no α to report"
        )
    return frame[["step", *sorted(stored, key=lambda c: int(c[6:]))]].copy()


def alpha_hierarchy(windows, *, k_star_column: str = "k_star", min_windows: int = 3) -> dict:
    """Does α_dom > α_gap > α_sub hold (thesis T5: 0.818 > 0.234 > ≈0 on GPT-2)?

    Per window: α_dom = α_1, α_gap = α_m with m = max(k*, 2), α_sub = median(α_j : j > m)
    (windows with fewer than m + 1 modes are skipped). Reports the medians of the three over the
    windows, whether the medians are ordered (``holds``), and the fraction of windows ordered.
    """
    frame = _frame(windows)
    _need(frame, min_windows, "the α hierarchy")
    alphas = alpha_series(frame)
    if k_star_column not in frame.columns:
        raise SpectralEdgeError(f"the windows have no {k_star_column!r} column (k*)")
    kst = frame.set_index("step")[k_star_column]
    dom, gap, sub, steps = [], [], [], []
    for _, row in alphas.iterrows():
        step = int(row["step"])
        k = kst.get(step, np.nan)
        if not np.isfinite(k):
            continue
        m = max(int(k), 2)
        vals = [row.get(f"alpha_{j}", np.nan) for j in range(1, len(row))]
        vals = np.asarray(vals, dtype=np.float64)
        below = vals[m:]
        below = below[np.isfinite(below)]
        if (
            len(vals) < m
            or not below.size
            or not np.isfinite(vals[0])
            or not np.isfinite(vals[m - 1])
        ):
            continue
        dom.append(float(vals[0]))
        gap.append(float(vals[m - 1]))
        sub.append(float(np.median(below)))
        steps.append(step)
    if len(steps) < min_windows:
        raise SpectralEdgeError(
            f"only {len(steps)} windows have α for the dominant, edge and sub-edge modes "
            f"(need {min_windows}); the window must hold at least 3 updates and ‖ΔC‖ be stored"
        )
    d, g, s = (np.asarray(x) for x in (dom, gap, sub))
    ordered = (d > g) & (g > s)
    med = (float(np.median(d)), float(np.median(g)), float(np.median(s)))
    return {
        "alpha_dominant": med[0],
        "alpha_gap": med[1],
        "alpha_sub": med[2],
        "holds": bool(med[0] > med[1] > med[2]),
        "fraction_windows_ordered": float(np.mean(ordered)),
        "n_windows": len(steps),
        "definition": "dom = alpha_1, gap = alpha_m with m = max(k*, 2), sub = median alpha_j>m",
        "k_star_column": k_star_column,
    }


def adiabatic_summary(
    windows, *, form: str = "dk", low: float = 0.1, high: float = 10.0, min_windows: int = 2
) -> dict:
    """The adiabatic parameter over time and the share of windows in each regime.

    ``form="dk"``: A_DK = ‖ΔC‖_F/(λ_{k*} − λ_{k*+1}) (column ``adiabatic_dk``), needs no η;
    ``form="paper"``: A = ‖ΔC‖_F/(η g²) (column ``adiabatic``), needs the logged learning rate.
    Returns per-window ``steps``, ``values``, ``regimes`` and the summary ``fractions`` (over the
    windows where A is defined), ``median`` and the thresholds used.
    """
    column = {"dk": "adiabatic_dk", "paper": "adiabatic"}.get(form)
    if column is None:
        raise SpectralEdgeError(f"form must be 'dk' or 'paper', got {form!r}")
    frame = _frame(windows)
    _need(frame, min_windows, "the adiabatic summary")
    if column not in frame.columns:
        raise SpectralEdgeError(f"the windows have no {column!r} column (form={form!r})")
    values = frame[column].to_numpy(dtype=np.float64)
    regimes = [adiabatic_regime(v, low, high) for v in values]
    defined = [r for r in regimes if r != "undefined"]
    if not defined:
        hint = " (was the learning rate logged?)" if form == "paper" else ""
        raise SpectralEdgeError(f"the adiabatic parameter is undefined in every window{hint}")
    fractions = {r: defined.count(r) / len(defined) for r in REGIMES if r != "undefined"}
    return {
        "form": form,
        "low": float(low),
        "high": float(high),
        "steps": frame["step"].astype(int).tolist(),
        "values": [None if not math.isfinite(v) else float(v) for v in values],
        "regimes": regimes,
        "fractions": fractions,
        "median": float(np.nanmedian(values)),
        "n_defined": len(defined),
        "n_windows": len(values),
    }


def davis_kahan_check(windows, *, mode: int = 1, tolerance: float = 1e-9, min_windows=2) -> dict:
    """Fraction of windows where the measured rotation of mode 1 respects the Davis–Kahan bound.

    sin θ = √(1 − c²) with c = ``rotation_1`` = |⟨v_1(t), v_1(t−1)⟩|, compared with
    ``dk_bound_1`` = min(1, ‖ΔC‖_F/gap_1); a window respects the bound when sin θ ≤ bound +
    ``tolerance``. Only mode 1 is supported (the monitor stores the rotation of the top mode).
    """
    if mode != 1:
        raise SpectralEdgeError("only mode 1 has a stored rotation (rotation_1)")
    frame = _frame(windows)
    missing = [c for c in ("rotation_1", "dk_bound_1") if c not in frame.columns]
    if missing:
        raise SpectralEdgeError(
            f"the windows lack {missing}; they are written by the monitor once a window has a "
            "predecessor and ‖ΔC‖ (not in centred mode)"
        )
    rot = frame["rotation_1"].to_numpy(dtype=np.float64)
    bound = frame["dk_bound_1"].to_numpy(dtype=np.float64)
    ok = np.isfinite(rot) & np.isfinite(bound)
    if ok.sum() < min_windows:
        raise SpectralEdgeError(
            f"only {int(ok.sum())} windows have both rotation_1 and dk_bound_1 (need {min_windows})"
        )
    sin = np.sqrt(np.clip(1.0 - rot[ok] ** 2, 0.0, 1.0))
    respects = sin <= bound[ok] + tolerance
    steps = frame["step"].to_numpy()[ok]
    return {
        "fraction_respected": float(np.mean(respects)),
        "n_windows": int(ok.sum()),
        "violations": [int(s) for s in steps[~respects]],
        "median_sin_theta": float(np.median(sin)),
        "median_bound": float(np.median(bound[ok])),
        "median_slack": float(np.median(bound[ok] - sin)),
        "bound": "sin(theta_1) <= min(1, |dC|_F / gap_1), unperturbed gap, factor 1",
    }
