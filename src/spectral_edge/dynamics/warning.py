"""An online spectral early warning: the gap g23 falling from its peak (docs/thesis.md §4).

Why this rule. The thesis' Table 7 finds that, in runs that grok, g23 = λ2 − λ3 first grows (an
edge forms between the second and third modes) and then declines by 8–111× before the grokking
step, while weight-decay-0 controls show no such decline. The companion papers only scored that
decline in hindsight (max before grokking / value at grokking). :class:`GapWarning` asks the same
question online, using nothing but windows already seen:

1. smooth: s_t = causal rolling median of the last ``smooth`` values of ``quantity`` (g23 by
   default), so that one spiky window cannot fire or break the rule;
2. baseline: b = median of s over the first ``baseline_windows`` windows;
3. arm: once the running maximum M_t = max_{u ≤ t} s_u reaches ``rise_factor``·b (the gap has
   risen; a series that never rose has nothing to lose);
4. fire at the first window t, once armed, that completes ``sustain`` consecutive windows with
   s ≤ M / ``decline_factor``. The warning step is that window's step: when it is known.

Every threshold is a ratio, so the rule is scale-free: g23 is in units of squared update norms and
moves with the learning rate and the parameter count; rise and decline factors do not. The rule
fires at most once per run (:meth:`GapWarning.reset` re-arms it). Non-finite values are skipped
as if the window had not happened.

Tuning and scoring. The defaults below are a starting point chosen from the thesis' orders of
magnitude, not fitted values. Tune ``GapWarningConfig`` on one set of seeds and report lead times
(:func:`lead_time`) and the false-alarm rate on weight-decay-0 controls with identical cadence
(:func:`false_alarm_rate`) on *other* seeds: a rule scored on the runs it was tuned on measures
nothing. A warning at or after the grokking step has no lead; :func:`warning_report` counts those
separately as "after the fact", never as successes.

>>> import numpy as np
>>> steps = np.arange(1, 31) * 100
>>> g23 = np.r_[np.full(5, 1.0), np.linspace(1, 20, 8), np.full(5, 20.0),
...             np.geomspace(20, 0.5, 12)]
>>> w = first_warning(steps, g23)
>>> w["step"], w["evidence"]["quantity"], round(w["evidence"]["decline"], 2)
(2500, 'g23', 5.35)
>>> lead_time(w["step"], 3000)
500
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass

import numpy as np

from spectral_edge.dynamics._series import CausalMedian, as_steps_values
from spectral_edge.errors import SpectralEdgeError

__all__ = [
    "GapWarning",
    "GapWarningConfig",
    "false_alarm_rate",
    "first_warning",
    "lead_time",
    "warning_report",
]


@dataclass(frozen=True)
class GapWarningConfig:
    """The parameters of :class:`GapWarning`; see the module docstring for the rule.

    quantity: the monitor column watched: ``g23`` (the thesis' quantity); ``eigen_gap`` or
        ``gap`` work the same way; a ratio series (``r23``, ``gap_ratio``) needs factors tuned for
        it, since ratios live just above 1.
    smooth: causal rolling-median width, in windows.
    baseline_windows: windows whose median smoothed value is the baseline b.
    rise_factor: armed once the running max M ≥ rise_factor·b.
    decline_factor: a window counts when its smoothed value ≤ M / decline_factor.
    sustain: consecutive counting windows needed to fire.
    """

    quantity: str = "g23"
    smooth: int = 3
    baseline_windows: int = 5
    rise_factor: float = 3.0
    decline_factor: float = 2.0
    sustain: int = 3

    def validate(self) -> None:
        for name in ("smooth", "baseline_windows", "sustain"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise SpectralEdgeError(f"{name} must be a positive integer, got {v!r}")
        for name in ("rise_factor", "decline_factor"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float, np.floating)) and math.isfinite(v) and v >= 1.0):
                raise SpectralEdgeError(f"{name} must be a finite factor ≥ 1, got {v!r}")
        if not isinstance(self.quantity, str) or not self.quantity:
            raise SpectralEdgeError(f"quantity must be a column name, got {self.quantity!r}")


def _read(row, quantity: str) -> float:
    if isinstance(row, (int, float, np.floating, np.integer)) and not isinstance(row, bool):
        return float(row)
    source = row
    if not isinstance(row, Mapping) and hasattr(row, "features"):
        source = row.features  # a monitor WindowRecord
    try:
        value = source[quantity]
    except (KeyError, IndexError, TypeError):
        raise SpectralEdgeError(
            f"the features row has no {quantity!r}; pass a monitor row (dict, pandas row or "
            "window record) that contains it, or choose another GapWarningConfig.quantity"
        ) from None
    return float(value)


class GapWarning:
    """Online early warning on a decline of g23 (or another gap series) from its running peak.

    ``update(step, features_row)`` returns None, or once per run the warning: a dict
    ``{"step", "kind": "warning", "message", "evidence"}`` shaped to become a monitor
    ``Event(**warning)``. The evidence names the quantity and carries its smoothed value, the
    baseline, the running maximum and where it was, the decline factor reached, the last
    ``sustain`` smoothed values with their steps, and every threshold.

    >>> warn = GapWarning(GapWarningConfig(smooth=1, baseline_windows=2, sustain=2))
    >>> rows = [1.0, 1.0, 4.0, 8.0, 8.0, 5.0, 3.5, 3.0, 2.0]
    >>> [warn.update(100 * i, {"g23": x}) is not None for i, x in enumerate(rows, 1)]
    [False, False, False, False, False, False, False, True, False]
    >>> warn.warning["evidence"]["steps"], warn.warning["evidence"]["values"]
    ([700, 800], [3.5, 3.0])
    """

    def __init__(self, config: GapWarningConfig | None = None, **overrides):
        if config is None:
            config = GapWarningConfig(**overrides)
        elif overrides:
            config = GapWarningConfig(**{**asdict(config), **overrides})
        config.validate()
        self.config = config
        self.reset()

    def reset(self) -> None:
        """Forget everything seen and re-arm (a fresh run)."""
        self._median = CausalMedian(self.config.smooth)
        self._baseline_values: list[float] = []
        self.baseline: float | None = None
        self.running_max = -math.inf
        self.running_max_step: int | None = None
        self._run_steps: list[int] = []
        self._run_values: list[float] = []
        self.last_step: int | None = None
        self.n_windows = 0
        self.warning: dict | None = None

    @property
    def armed(self) -> bool:
        """Whether the gap has risen: running max ≥ rise_factor · baseline (and > 0)."""
        b = self.baseline
        return (
            b is not None
            and self.running_max > 0
            and self.running_max >= (self.config.rise_factor * b)
        )

    def update(self, step: int, features_row) -> dict | None:
        """Feed one window (a monitor row, a mapping or a bare number); None or the warning."""
        step = int(step)
        if self.last_step is not None and step <= self.last_step:
            raise SpectralEdgeError(f"steps must increase: got {step} after {self.last_step}")
        value = _read(features_row, self.config.quantity)
        if not math.isfinite(value):
            return None  # a missing window: skipped, as if it had not happened
        self.last_step = step
        self.n_windows += 1
        c = self.config
        s = self._median.push(value)
        if self.baseline is None:
            self._baseline_values.append(s)
            if len(self._baseline_values) == c.baseline_windows:
                self.baseline = float(np.median(self._baseline_values))
        if s > self.running_max:
            self.running_max, self.running_max_step = s, step
        if self.warning is not None:
            return None
        if self.armed and s <= self.running_max / c.decline_factor:
            self._run_steps.append(step)
            self._run_values.append(s)
        else:
            self._run_steps, self._run_values = [], []
        if len(self._run_steps) < c.sustain:
            return None
        self.warning = self._make_warning(step, value, s)
        return self.warning

    def _make_warning(self, step: int, raw: float, s: float) -> dict:
        c = self.config
        decline = self.running_max / s if s > 0 else math.inf
        evidence = {
            "quantity": c.quantity,
            "value": s,
            "raw_value": raw,
            "baseline": self.baseline,
            "running_max": self.running_max,
            "running_max_step": self.running_max_step,
            "rise": self.running_max / self.baseline if self.baseline else math.inf,
            "decline": decline,
            "steps": list(self._run_steps[-c.sustain :]),
            "values": list(self._run_values[-c.sustain :]),
            "thresholds": asdict(c),
        }
        message = (
            f"{c.quantity} fell {decline:.3g}x below its peak {self.running_max:.4g} "
            f"(step {self.running_max_step}) for {c.sustain} windows, after rising "
            f"{evidence['rise']:.3g}x above its baseline: a transition may be near"
        )
        return {"step": step, "kind": "warning", "message": message, "evidence": evidence}

    # -- resume --------------------------------------------------------------------------------

    def state_dict(self) -> dict:
        """Everything needed to continue exactly here; plain Python values."""
        return {
            "config": asdict(self.config),
            "median": self._median.state_dict(),
            "baseline_values": list(self._baseline_values),
            "baseline": self.baseline,
            "running_max": self.running_max,
            "running_max_step": self.running_max_step,
            "run_steps": list(self._run_steps),
            "run_values": list(self._run_values),
            "last_step": self.last_step,
            "n_windows": self.n_windows,
            "warning": None if self.warning is None else _copy_event(self.warning),
        }

    def load_state_dict(self, state: Mapping) -> None:
        if dict(state["config"]) != asdict(self.config):
            raise SpectralEdgeError(
                "the saved warning state was made with a different configuration: "
                f"{dict(state['config'])} != {asdict(self.config)}"
            )
        self._median = CausalMedian(self.config.smooth)
        self._median.load_state_dict(state["median"])
        self._baseline_values = [float(v) for v in state["baseline_values"]]
        self.baseline = None if state["baseline"] is None else float(state["baseline"])
        self.running_max = float(state["running_max"])
        rms = state["running_max_step"]
        self.running_max_step = None if rms is None else int(rms)
        self._run_steps = [int(v) for v in state["run_steps"]]
        self._run_values = [float(v) for v in state["run_values"]]
        self.last_step = None if state["last_step"] is None else int(state["last_step"])
        self.n_windows = int(state["n_windows"])
        self.warning = None if state["warning"] is None else _copy_event(state["warning"])


def _copy_event(event: Mapping) -> dict:
    ev = dict(event)
    ev["evidence"] = dict(ev["evidence"])
    for key in ("steps", "values"):
        if key in ev["evidence"]:
            ev["evidence"][key] = list(ev["evidence"][key])
    if "thresholds" in ev["evidence"]:
        ev["evidence"]["thresholds"] = dict(ev["evidence"]["thresholds"])
    return ev


def first_warning(steps, values, config: GapWarningConfig | None = None, **overrides):
    """Replay a whole series through a fresh :class:`GapWarning`; the warning dict or None.

    Exactly what the online rule would have said, window by window: no value after the warning
    step is read.
    """
    s, v = as_steps_values(steps, values, what="values")
    warn = GapWarning(config, **overrides)
    for step, value in zip(s.tolist(), v.tolist(), strict=True):
        out = warn.update(step, value)
        if out is not None:
            return out
    return None


def lead_time(warning_step, grok_step) -> int | None:
    """t_grok − t_warning in optimizer steps; None if either is None.

    Positive: the warning came first (a real lead). Zero or negative: it fired at or after
    grokking, i.e. after the fact, and must be reported as such (see :func:`warning_report`).

    >>> lead_time(2100, 3000), lead_time(3200, 3000), lead_time(None, 3000)
    (900, -200, None)
    """
    if warning_step is None or grok_step is None:
        return None
    return int(grok_step) - int(warning_step)


def false_alarm_rate(control_warning_steps: Iterable, *, until: int | None = None) -> float:
    """Fraction of control runs (weight decay 0, same cadence) on which the rule fired.

    One entry per control: its warning step, or None if silent. With ``until``, a warning after
    that step is not counted (score the controls over the same span as the runs they control).

    >>> false_alarm_rate([None, 4200, None, None]), false_alarm_rate([None, 4200], until=4000)
    (0.25, 0.0)
    """
    steps = list(control_warning_steps)
    if not steps:
        raise SpectralEdgeError("no control runs given: a false-alarm rate needs at least one")
    fired = [s for s in steps if s is not None and (until is None or int(s) <= int(until))]
    return len(fired) / len(steps)


def warning_report(runs: Iterable, controls: Iterable = (), *, until: int | None = None) -> dict:
    """Score a rule: ``runs`` = (warning_step, grok_step) pairs; ``controls`` = warning steps.

    Each run that grokked is counted once as ``early`` (lead > 0), ``after_the_fact``
    (lead ≤ 0) or ``missed`` (no warning); runs that never grokked are ``not_grokked`` (with
    ``warned_not_grokked`` counting those where the rule fired anyway). Lead statistics use the
    early runs only; the false-alarm rate is that of :func:`false_alarm_rate`.

    >>> rep = warning_report([(2100, 3000), (3300, 3000), (None, 2800)], [None, None])
    >>> [rep[k] for k in ("early", "after_the_fact", "missed", "median_lead")]
    [1, 1, 1, 900.0]
    >>> rep["false_alarm_rate"]
    0.0
    """
    pairs = [(w, g) for w, g in runs]
    leads = [lead_time(w, g) for w, g in pairs]
    early = [x for x in leads if x is not None and x > 0]
    report = {
        "n_runs": len(pairs),
        "early": len(early),
        "after_the_fact": sum(1 for x in leads if x is not None and x <= 0),
        "missed": sum(1 for w, g in pairs if w is None and g is not None),
        "not_grokked": sum(1 for _, g in pairs if g is None),
        "warned_not_grokked": sum(1 for w, g in pairs if g is None and w is not None),
        "leads": leads,
        "median_lead": float(np.median(early)) if early else None,
        "min_lead": min(early) if early else None,
        "max_lead": max(early) if early else None,
    }
    controls = list(controls)
    report["n_controls"] = len(controls)
    report["false_alarm_rate"] = false_alarm_rate(controls, until=until) if controls else None
    return report
