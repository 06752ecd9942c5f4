"""Per-run measurements the predictions share, in the author's form and in ours.

Each function reads one :class:`~spectral_edge.reproduce.engine.RunView` (its stored windows,
metrics and events) and returns plain numbers. Where the author's scripts define a quantity
differently from ours, both are here side by side, named for what they are:

- grokking step: the first evaluation with test accuracy ≥ a threshold, sustained for some
  evaluations. The thesis uses 0.95 once (:data:`GROK_THESIS`); the commutator lead of the
  modular-arithmetic paper 0.90 (:data:`GROK_LEAD`); the author's runs stop at 0.98 held for 3
  evaluations (:data:`GROK_STOP`); the x² MLP's lock-in lag is measured to 0.99
  (:data:`GROK_LOCKIN`).
- the g23 decline of thesis Table 7: the author's ``analyze_run`` takes the peak over full
  windows strictly before grokking and the value at the last full window at or before it
  (:func:`decline_author`); ours reads a control at the paired run's grokking step
  (:func:`decline_at`).
- the three phases: the author's detector on r23 (:func:`phases_author`: no smoothing, peak =
  argmax, collapse = the first window after it below τ, no requirement that the peak clear τ);
  ours (:func:`phases_ours`: rolling median of 5, the peak must clear τ, a plateau band).
- the gap–loss coupling: cubic-detrended lagged correlation of a spectral series with a loss,
  with its phase-randomised null (:func:`coupling`).

Every threshold is a named constant fixed before any run was scored.
"""

from __future__ import annotations

import math

import numpy as np

from spectral_edge.dynamics import detect_phases, gap_decline
from spectral_edge.dynamics import grokking_step as _grokking_step
from spectral_edge.dynamics.commutator import commutator_onset
from spectral_edge.dynamics.summary import run_summary
from spectral_edge.errors import SpectralEdgeError
from spectral_edge.lab.presets import warning_rule
from spectral_edge.reproduce.engine import NotRun, RunView
from spectral_edge.reproduce.nulls import peak_coupling

GROK_THESIS = 0.95
GROK_LEAD = 0.90
GROK_STOP = (0.98, 3)
GROK_LOCKIN = 0.99
TAU = 1.20
DECLINE = 1.5
AUTHOR_LAGS = tuple(range(-3, 6))  # TinyStories scripts: range(-3, 6) snapshots
OUR_LAGS = tuple(range(-5, 6))


# --- grokking ----------------------------------------------------------------------------------


def grok_step(v: RunView, threshold: float = GROK_THESIS, sustain: int = 1) -> int | None:
    """First evaluation step with test accuracy ≥ ``threshold`` for ``sustain`` evaluations."""
    m = v.metrics()
    if "test_acc" not in m.columns:
        return None
    m = m.dropna(subset=["test_acc"])
    if not len(m):
        return None
    return _grokking_step(m["step"].to_numpy(), m["test_acc"].to_numpy(), threshold, sustain)


def max_test_acc(v: RunView) -> float:
    m = v.metrics()
    return float(m["test_acc"].max()) if "test_acc" in m.columns else math.nan


def per_run(views: list[RunView], one, empty: str) -> dict:
    """``{"runs": names, "per": {name: one(v)}, "apart": [[name, why], ...]}`` over the runs
    ``one`` can measure; ``one`` raises NotRun(why) to leave a run out (it is reported apart),
    and NotRun(``empty``) is raised when it leaves out all."""
    per, apart = {}, []
    for v in views:
        try:
            per[v.name] = one(v)
        except NotRun as exc:
            apart.append([v.name, str(exc)])
    if not per:
        raise NotRun(empty)
    return {"runs": list(per), "per": per, "apart": apart}


def pairs(views: list[RunView]) -> dict[tuple, dict[str, RunView]]:
    """Weight-decay runs with their weight-decay-0 twin: (family, op, seed) → {wd, wd0}."""
    groups: dict = {}
    for v in views:
        t = v.tags
        key = (t.get("family"), t.get("op"), t.get("seed"))
        groups.setdefault(key, {})["wd" if t.get("wd") else "wd0"] = v
    return {k: g for k, g in sorted(groups.items(), key=str) if "wd" in g and "wd0" in g}


def weight_decay_run(tags: dict) -> bool:
    """A weight-decay run, or a run without a weight-decay twin (a language model, a sweep)."""
    return bool(tags.get("wd", True))


def family_of(v: RunView) -> str:
    """``family`` (or ``family/op`` for the modular families, whose ops differ)."""
    t = v.tags
    fam = str(t.get("family", "?"))
    return f"{fam}/{t['op']}" if fam.startswith(("modarith", "mlp")) and "op" in t else fam


# --- series ------------------------------------------------------------------------------------


def series(v: RunView, column: str, *, full: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(steps, values) of one window column, NaN rows dropped; full windows by default."""
    w = v.full_windows() if full else v.windows()
    if column not in w.columns:
        raise NotRun(f"run {v.name} stored no {column!r} per window")
    w = w[["step", column]].dropna()
    return w["step"].to_numpy(), w[column].to_numpy(dtype=np.float64)


def aligned(v: RunView, column: str, loss: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Full windows joined with the metric ``loss`` at the same steps: (steps, x, loss)."""
    s, x = series(v, column)
    m = v.metrics()
    if loss not in m.columns:
        raise NotRun(f"run {v.name} logged no {loss}")
    m = m[["step", loss]].dropna().set_index("step")[loss]
    keep = np.isin(s, m.index.to_numpy())
    s, x = s[keep], x[keep]
    return s, x, m.loc[s].to_numpy(dtype=np.float64)


def value_at(v: RunView, column: str, step: int) -> float:
    """The column at the last full window at or before ``step`` (NaN when there is none)."""
    s, x = series(v, column)
    keep = s <= step
    return float(x[keep][-1]) if keep.any() else math.nan


# --- thesis Table 7 ----------------------------------------------------------------------------


def decline_author(v: RunView, grok: int | None) -> float | None:
    """The author's ``analyze_run``: max g23 over full windows with step < grok, divided by g23
    at the last full window with step ≤ grok; None without a grokking step (which is how his
    controls never show a decline)."""
    if grok is None:
        return None
    s, g = series(v, "g23")
    before, upto = g[s < grok], g[s <= grok]
    if not len(before) or not len(upto) or upto[-1] <= 0:
        return None
    return float(before.max() / upto[-1])


def decline_at(v: RunView, step: int | None) -> float | None:
    """Max g23 over full windows up to ``step`` / g23 at the last one (controls are measured at
    the grokking step of their weight-decay twin)."""
    if step is None:
        return None
    s, g = series(v, "g23")
    if not len(s) or s[0] > step:
        return None
    return float(gap_decline(s, g, step))


def summary(v: RunView) -> dict:
    """The run's per-run summary (:func:`spectral_edge.dynamics.summary.run_summary`): the
    grokking step at :data:`GROK_THESIS`, the g23 decline and k* at it over all stored windows,
    t_mem, and the early warning (:func:`warning_step_of`), computed once per run."""
    if "summary" not in v._cache:
        v._cache["summary"] = run_summary(
            v.windows(),
            v.metrics(),
            window=v.window,
            every=v.every,
            rule=warning_rule(v.train.get("warning_rule", "")),
            threshold=GROK_THESIS,
            label=v.name,
        )
    return v._cache["summary"]


def warning_step_of(v: RunView) -> int | None:
    """The step at which the run's early warning fires (None: silent).

    The one hook for the C1 warning column: the early-warning rule of issue 17
    (:mod:`spectral_edge.dynamics.early_warning`, docs/early-warning.md) that the run was
    configured with (``warning_rule``; a run that recorded none, like every run trained before
    that rule existed, gets the monitor's default), replayed over its full windows and
    evaluations with the same online object a live monitor uses (:func:`summary`).
    """
    return summary(v)["warning_step"]


# --- phases ------------------------------------------------------------------------------------


def phases_author(steps, r23, tau: float = TAU) -> dict:
    """The author's ``detect_phases(method="peak")`` and collapse test on r23: peak = first
    argmax, plateau = the contiguous run around it with r23 ≥ 0.85·peak, collapse = the first
    window after the peak with r23 < τ. No smoothing and no "peak ≥ τ" condition; the pattern
    is there when the peak is not at either end and a collapse follows.

    >>> phases_author([1, 2, 3, 4, 5], [1.0, 1.5, 2.0, 1.9, 1.1])
    {'peak_step': 3, 'peak': 2.0, 'collapse_step': 5, 'pattern': True}
    """
    s, r = np.asarray(steps), np.asarray(r23, dtype=np.float64)
    if len(r) < 3:
        raise NotRun("fewer than 3 full windows with r23")
    p = int(np.argmax(r))
    below = np.flatnonzero(r[p + 1 :] < tau)
    collapse = int(s[p + 1 + below[0]]) if len(below) else None
    inside = 0 < p < len(r) - 1
    return {
        "peak_step": int(s[p]),
        "peak": float(r[p]),
        "collapse_step": collapse,
        "pattern": bool(inside and collapse is not None),
    }


def phases_ours(v: RunView, column: str = "r23", tau: float = TAU) -> dict:
    """Our offline detector (:func:`spectral_edge.dynamics.detect_phases`, rolling median of 5)
    on full windows; the pattern needs a peak ≥ τ, a plateau and a collapse."""
    s, x = series(v, column)
    try:
        res = detect_phases(s, x, tau=tau, quantity=column)
    except SpectralEdgeError as exc:
        raise NotRun(f"{v.name}: {exc}") from None
    return {
        "peak_step": res.peak_step,
        "peak": res.peak_value,
        "plateau_start_step": res.plateau_start_step,
        "collapse_step": res.collapse_step,
        "pattern": bool(res.found and res.collapsed),
    }


# --- coupling ----------------------------------------------------------------------------------


def coupling(v: RunView, column: str, loss: str, lags) -> dict:
    """Detrended lagged correlation of a window column with a loss metric, with its null."""
    s, x, y = aligned(v, column, loss)
    try:
        return peak_coupling(s, x, y, lags)
    except SpectralEdgeError as exc:
        raise NotRun(f"{v.name}: {exc}") from None


# --- commutator --------------------------------------------------------------------------------


def onset_step(v: RunView) -> int | None:
    """The companion papers' commutator onset (10× baseline and > 20, index ≥ 2)."""
    m = v.metrics()
    if "commutator_defect" not in m.columns:
        raise NotRun(f"run {v.name} has no commutator probe")
    c = m[["step", "commutator_defect"]].dropna()
    try:
        return commutator_onset(c["step"].to_numpy(), c["commutator_defect"].to_numpy())[
            "onset_step"
        ]
    except SpectralEdgeError as exc:
        raise NotRun(f"{v.name}: {exc}") from None


# --- words -------------------------------------------------------------------------------------


def fmt(x, spec: str = ".3g") -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "-"
    return format(x, spec)


def span(values, spec: str = ".3g") -> str:
    """ "lo–hi" of the finite values (one value when they agree, "-" when there are none)."""
    vals = [x for x in values if x is not None and np.isfinite(x)]
    if not vals:
        return "-"
    lo, hi = min(vals), max(vals)
    return fmt(lo, spec) if lo == hi else f"{fmt(lo, spec)}–{fmt(hi, spec)}"


def count(flags) -> str:
    """ "k/n" of a list of booleans."""
    flags = list(flags)
    return f"{sum(bool(f) for f in flags)}/{len(flags)}"


__all__ = [
    "AUTHOR_LAGS",
    "DECLINE",
    "GROK_LEAD",
    "GROK_LOCKIN",
    "GROK_STOP",
    "GROK_THESIS",
    "OUR_LAGS",
    "TAU",
    "aligned",
    "count",
    "coupling",
    "decline_at",
    "decline_author",
    "family_of",
    "fmt",
    "grok_step",
    "max_test_acc",
    "onset_step",
    "pairs",
    "per_run",
    "phases_author",
    "phases_ours",
    "series",
    "span",
    "summary",
    "value_at",
    "warning_step_of",
    "weight_decay_run",
]
