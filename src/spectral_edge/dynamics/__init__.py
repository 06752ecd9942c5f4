"""Dynamics of the spectral edge: phases of R(t), grokking quantities and an online warning.

Pure analyses of the monitor's per-window series (docs/thesis.md §4). They take arrays or
pandas DataFrames (the monitor's ``to_dataframe()`` or a stored run's windows) and never touch a
model, the monitor or the run store, so the same code scores a live run and a stored one.

- :mod:`.phases`: :func:`detect_phases` (offline), :class:`PhaseTracker` (online),
  :func:`collapse_sensitivity`.
- :mod:`.grokking`: :func:`grokking_step`, :func:`gap_decline`, :func:`k_star_at`,
  :func:`grokking_summary`, :func:`compare_with_control`.
- :mod:`.summary`: :func:`run_summary`, the one per-run summary (grokking, decline, k*,
  memorisation, the replayed early warning and its lead) that the demo, the report and the
  reproduction share; :func:`summary_from_frames`, its Table 7 row.
- :mod:`.warning`: :class:`GapWarning` with :class:`GapWarningConfig`, :func:`lead_time`,
  :func:`false_alarm_rate`, :func:`warning_report`.
- :mod:`.early_warning`: the early-warning rule the monitor runs online and :func:`replay` offline.

The measurements that run a model to produce some of these series (the commutator defect, the
Hessian's eigenvalues, the loss decomposition, holographic encoding) are
:mod:`spectral_edge.reproduce.probes`; the pure rules on their output stay here
(:func:`~.commutator.commutator_onset`, :func:`~.hessian.krylov_bound`).
"""

from spectral_edge.dynamics.grokking import (
    compare_with_control,
    gap_decline,
    grokking_step,
    grokking_summary,
    k_star_at,
    shows_gap_dynamics,
)
from spectral_edge.dynamics.phases import (
    PhaseResult,
    PhaseTracker,
    collapse_sensitivity,
    detect_phases,
    detect_phases_frame,
    min_windows,
)
from spectral_edge.dynamics.summary import run_summary, summary_from_frames
from spectral_edge.dynamics.warning import (
    GapWarning,
    GapWarningConfig,
    false_alarm_rate,
    first_warning,
    lead_time,
    warning_report,
)

__all__ = [
    "GapWarning",
    "GapWarningConfig",
    "PhaseResult",
    "PhaseTracker",
    "collapse_sensitivity",
    "compare_with_control",
    "detect_phases",
    "detect_phases_frame",
    "false_alarm_rate",
    "first_warning",
    "gap_decline",
    "grokking_step",
    "grokking_summary",
    "k_star_at",
    "lead_time",
    "min_windows",
    "run_summary",
    "shows_gap_dynamics",
    "summary_from_frames",
    "warning_report",
]
