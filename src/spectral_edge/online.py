"""The dynamics a monitor follows while training runs: the phases of R and the early warning.

Both are fed full windows only (a filling window has fewer updates and is not comparable); the
warning of docs/early-warning.md also reads the training metrics. Each returns what it noticed as
``(kind, message, evidence)`` triples, which the monitor turns into events.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict

from spectral_edge.dynamics.early_warning import DEFAULT_RULE, EarlyWarning, WarningRule
from spectral_edge.dynamics.phases import PhaseTracker

Noticed = list[tuple[str, str, dict]]


class OnlineDynamics:
    """A phase tracker and an early warning, either of them optional.

    Args:
        phases: True for the default :class:`~spectral_edge.dynamics.PhaseTracker`, a tracker,
            or False/None for none.
        warning: True for :data:`~spectral_edge.dynamics.early_warning.DEFAULT_RULE`, a
            :class:`WarningRule`, an :class:`EarlyWarning`, a legacy
            :class:`~spectral_edge.dynamics.GapWarning`, or False/None for none.
        window, every: the monitor's W and snapshot interval (the warning counts in steps).
    """

    def __init__(self, phases=True, warning=True, window: int = 10, every: int = 1):
        self.tracker = PhaseTracker() if phases is True else (phases or None)
        if warning is True:
            warning = DEFAULT_RULE
        if isinstance(warning, WarningRule):
            warning = EarlyWarning(warning, window=window, every=every)
        self.warning = warning or None
        self.phase = "before"

    def describe(self) -> dict:
        """The tracker's settings and the warning's rule, for the run's configuration."""
        if self.warning is None:
            rule = None
        elif isinstance(self.warning, EarlyWarning):
            rule = asdict(self.warning.rule)
        else:
            rule = {"legacy": "GapWarning", **asdict(self.warning.config)}
        tracker = None if self.tracker is None else asdict(self.tracker.config)
        return {"phase_tracker": tracker, "warning_rule": rule}

    @property
    def reads_metrics(self) -> bool:
        """Whether :meth:`metrics` has a use (the warning of docs/early-warning.md)."""
        return isinstance(self.warning, EarlyWarning)

    def window(self, step: int, features: Mapping) -> Noticed:
        """A full window: phase changes of R, and the warning if it fires."""
        noticed = []
        if self.tracker is not None:
            value = features.get(self.tracker.config.quantity, math.nan)
            self.phase, changes = self.tracker.update(step, value)
            noticed += [("phase", c["message"], c["evidence"]) for c in changes]
        if isinstance(self.warning, EarlyWarning):
            noticed += _fired(self.warning.observe_window(step, features))
        elif self.warning is not None:  # a GapWarning (the rule before docs/early-warning.md)
            noticed += _fired(self.warning.update(step, features))
        return noticed

    def metrics(self, step: int, named: Mapping[str, float]) -> Noticed:
        """Training metrics under canonical names (the warning reads train_acc and signals)."""
        if not self.reads_metrics:
            return []
        return _fired(self.warning.observe_metrics(step, named))

    def state_dict(self) -> dict:
        return {
            "phase": self.phase,
            "tracker": None if self.tracker is None else self.tracker.state_dict(),
            "warning": None if self.warning is None else self.warning.state_dict(),
        }

    def load_state_dict(self, state: Mapping) -> None:
        self.phase = state["phase"]
        if self.tracker is not None:
            self.tracker.load_state_dict(state["tracker"])
        if self.warning is not None:
            self.warning.load_state_dict(state["warning"])


def _fired(fired: dict | None) -> Noticed:
    return [] if fired is None else [("warning", fired["message"], fired["evidence"])]
