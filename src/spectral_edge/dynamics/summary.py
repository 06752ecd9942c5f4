"""One run in one row: grokking, the g23 decline, k*, memorisation and the early warning.

:func:`run_summary` is the per-run summary every reader of a run shares: the demo's closing
lines, the report's table, and the grokking step and warning of the reproduction's C1 pairs (and
so of ``scripts/c1_pairs.py``; the author's and the paired declines of C1 over full windows are
readings of their own, in :mod:`spectral_edge.reproduce.measures`). It is a pure
function of the run's stored frames (windows and metrics, as ``run.windows()`` /
``run.metrics()`` or the monitor's ``to_dataframe()`` return them), so the same numbers come out
whoever asks. Its definitions are those of :mod:`.grokking` and :mod:`.early_warning`:

- grokking step t_grok: the first evaluation with test accuracy ≥ ``threshold`` held for
  ``sustain`` evaluations (:func:`~.grokking.grokking_step`);
- memorisation step t_mem: the first evaluation with training accuracy ≥ the rule's
  ``settle_accuracy`` (:func:`~.early_warning.memorised_step`);
- g23 decline D = max{g23(w) : w ≤ t} / g23(last window ≤ t) and k* at t, read at
  t = t_grok, or at ``reference_step`` for a run that did not grok (a control is read at the
  grokking step of the run it controls) (docs/thesis.md §4);
- the warning: the step at which the early-warning rule fires when the run is replayed through
  the online object a live monitor uses (:func:`~.early_warning.replay`), so the summary and a
  live monitor cannot disagree; lead = t_grok − t_warning (:func:`~.warning.lead_time`).

A missing ingredient (no accuracy, no g23, no window before t_grok) leaves its cells None; with
``strict=True`` it raises :class:`~spectral_edge.errors.SpectralEdgeError` instead, for callers
that asked for exactly that number (the ``grokking`` analysis).

>>> import pandas as pd
>>> windows = pd.DataFrame({"step": [100, 200, 300], "w": 2, "g23": [1.0, 9.0, 3.0],
...                         "k_star": [2, 2, 1]})
>>> metrics = pd.DataFrame({"step": [100, 200, 300], "train_acc": [0.5, 1.0, 1.0],
...                         "test_acc": [0.1, 0.5, 0.97]})
>>> s = run_summary(windows, metrics, window=2, every=1)
>>> s["grok_step"], s["memorised_step"], s["decline"], s["k_star_at_grok"], s["warning_step"]
(300, 200, 3.0, 1, None)
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from spectral_edge.dynamics.early_warning import (
    DEFAULT_RULE,
    WarningRule,
    frame_rows,
    memorised_step,
    replay,
)
from spectral_edge.dynamics.grokking import DECLINE_THRESHOLD, GROK_THRESHOLD, grokking_summary
from spectral_edge.dynamics.warning import lead_time
from spectral_edge.errors import SpectralEdgeError
from spectral_edge.metrics import canonical_metrics

__all__ = [
    "TABLE7_KEYS",
    "recorded_rule",
    "run_summary",
    "summary_from_frames",
    "warning_step",
]

# The thesis' Table 7 row of a run, the part of a summary :func:`.grokking.grokking_summary`
# has always returned.
TABLE7_KEYS = (
    "label",
    "grok_step",
    "threshold",
    "sustain",
    "measured_at",
    "reference",
    "decline",
    "decline_threshold",
    "shows_gap_dynamics",
    "k_star_at_grok",
)


def warning_step(rule: WarningRule, windows, metrics, *, window: int, every: int) -> int | None:
    """The step at which ``rule`` fires when the run is replayed (None: it stays silent).

    ``windows`` and ``metrics`` are the run's frames; only full windows (``w == window``) are
    read, as the live monitor reads them.
    """
    rows, evals = frame_rows(windows, metrics, window)
    hit = replay(rule, rows, evals, window=window, every=every)
    return None if hit is None else int(hit["step"])


def recorded_rule(config: Mapping | None) -> WarningRule | None:
    """The early-warning rule a stored run's monitor ran with, from its ``monitor`` config.

    A run that recorded none (trained before the rule existed) or ran the legacy ``GapWarning``
    gets :data:`~.early_warning.DEFAULT_RULE`, the monitor's default; a monitor whose warning was
    switched off (``warning_rule: None``) gets None: there is no warning to replay.
    """
    monitor = config.get("monitor") if isinstance(config, Mapping) else None
    if not isinstance(monitor, Mapping) or "warning_rule" not in monitor:
        return DEFAULT_RULE
    recorded = monitor["warning_rule"]
    if recorded is None:
        return None
    if not isinstance(recorded, Mapping) or "legacy" in recorded:
        return DEFAULT_RULE
    try:
        return WarningRule(**recorded).validate()
    except (TypeError, SpectralEdgeError):
        # A config written by hand or by another version: a reader must still read the run.
        return DEFAULT_RULE


def _finite(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    """(step, column) rows with a finite value, in step order (empty when the column is absent)."""
    if column not in frame.columns or "step" not in frame.columns:
        return pd.DataFrame({"step": [], column: []})
    sub = frame[["step", column]].copy()
    sub[column] = pd.to_numeric(sub[column], errors="coerce")
    sub = sub[np.isfinite(sub[column].to_numpy(dtype=float))]
    return sub.sort_values("step", kind="stable")


def run_summary(
    windows: pd.DataFrame,
    metrics: pd.DataFrame,
    *,
    window: int | None = None,
    every: int = 1,
    rule: WarningRule | None = DEFAULT_RULE,
    threshold: float = GROK_THRESHOLD,
    sustain: int = 1,
    decline_threshold: float = DECLINE_THRESHOLD,
    reference_step: int | None = None,
    metric_names: Mapping[str, str] | None = None,
    label: str | None = None,
    strict: bool = False,
) -> dict:
    """The per-run summary: the Table 7 row (:data:`TABLE7_KEYS`), then memorisation, the
    replayed warning and its lead, k*'s most common value and the accuracies.

    ``windows``: the run's windows (``step``, ``g23``, ``k_star``, ``w`` and the features a
    window rule reads). ``metrics``: its evaluations, under any spelling
    :mod:`spectral_edge.metrics` understands (``metric_names`` as the run declared them).
    ``window``/``every``: the monitor's W and snapshot cadence, needed for the warning; with
    ``window`` None, or ``rule`` None, no warning is replayed (``warning_step`` None).
    """
    windows = windows.sort_values("step", kind="stable") if "step" in windows else windows
    metrics = canonical_metrics(metrics, metric_names)
    acc = _finite(metrics, "test_acc")
    train = _finite(metrics, "train_acc")
    if strict and not len(acc):
        raise SpectralEdgeError("no test accuracy: the run logged no evaluations")
    out = grokking_summary(
        acc["step"].to_numpy(),
        acc["test_acc"].to_numpy(),
        windows["step"].to_numpy() if "step" in windows else np.array([]),
        _column(windows, "g23") if strict or "g23" in windows else None,
        _column(windows, "k_star") if "k_star" in windows else None,
        threshold=threshold,
        sustain=sustain,
        decline_threshold=decline_threshold,
        reference_step=reference_step,
        label=label,
        strict=strict,
    )
    grok = out["grok_step"]
    settle = (rule or DEFAULT_RULE).settle_accuracy
    out["memorised_step"] = (
        memorised_step(train["step"].to_numpy(), train["train_acc"].to_numpy(), settle)
        if len(train)
        else None
    )
    fired = None
    if rule is not None and window is not None and "step" in windows and "step" in metrics:
        try:
            fired = warning_step(rule, windows, metrics, window=int(window), every=int(every))
        except SpectralEdgeError:
            if strict:
                raise
    out["warning_step"] = fired
    out["warning_rule"] = None if rule is None else rule.describe()
    out["lead"] = lead_time(fired, grok if grok is not None else reference_step)
    k = _finite(windows, "k_star")["k_star"]
    if len(k):
        counts = k.astype(int).value_counts()
        out["k_star_mode"] = int(counts.index[0])
        out["k_star_mode_share"] = float(counts.iloc[0] / len(k))
    else:
        out["k_star_mode"] = out["k_star_mode_share"] = None
    out["final_train_acc"] = float(train["train_acc"].iloc[-1]) if len(train) else None
    out["final_test_acc"] = float(acc["test_acc"].iloc[-1]) if len(acc) else None
    out["max_test_acc"] = float(acc["test_acc"].max()) if len(acc) else None
    out["steps"] = int(acc["step"].iloc[-1]) if len(acc) else None
    return out


def _column(frame: pd.DataFrame, name: str) -> np.ndarray:
    if name not in frame.columns:
        raise SpectralEdgeError(
            f"the windows frame lacks column {name!r}; it has {list(frame.columns)}"
        )
    return pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=float)


def summary_from_frames(
    windows: pd.DataFrame,
    evals: pd.DataFrame,
    *,
    acc_column: str = "test_acc",
    step_column: str = "step",
    **kwargs,
) -> dict:
    """The Table 7 row (:data:`TABLE7_KEYS`) of :func:`run_summary`, strictly: from a monitor
    DataFrame (step, g23, k_star) and an eval log whose accuracy is ``acc_column``; a missing
    column or a decline that cannot be read raises. ``kwargs``: ``threshold``, ``sustain``,
    ``decline_threshold``, ``reference_step``, ``label``."""
    for frame, cols, name in (
        (windows, (step_column, "g23"), "windows"),
        (evals, (step_column, acc_column), "evals"),
    ):
        missing = [c for c in cols if c not in frame.columns]
        if missing:
            raise SpectralEdgeError(
                f"the {name} frame lacks column(s) {missing}; it has {list(frame.columns)}"
                + (" (a run without accuracy cannot be analysed)" if name == "evals" else "")
            )
    if step_column != "step":
        windows = windows.drop(columns="step", errors="ignore")
    windows = windows.rename(columns={step_column: "step"})
    evals = pd.DataFrame({"step": evals[step_column], "test_acc": evals[acc_column]})
    summary = run_summary(windows, evals, strict=True, **kwargs)
    return {key: summary[key] for key in TABLE7_KEYS}
