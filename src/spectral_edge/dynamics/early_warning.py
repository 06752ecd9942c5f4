"""An early warning of grokking, and the one rule form every candidate signal is scored with.

The question (docs/early-warning.md): does any signal, watched online, announce a grokking
transition before it happens, on runs it was not tuned on, while staying silent on weight-decay-0
controls? This module answers it for one run at a time. A :class:`WarningRule` names a signal
and a threshold; :class:`EarlyWarning` applies it online, point by point, exactly as a monitor
attached to a training run sees the data; :func:`replay` feeds a stored run through the same
object, so the evaluation and the live warning cannot disagree.

The rule (``kind="change"``):

1. **Wait for memorisation to settle.** t_mem is the first evaluation with training accuracy
   ≥ ``settle_accuracy``. Before it the updates are the memorisation burst, and a rule that
   reads them sees a "collapse" in every run, controls included (the old ``GapWarning`` fired on
   every modular-arithmetic control at step 170 for that reason). A window counts only once its
   oldest update comes after t_mem (window step − W·every ≥ t_mem); an evaluated metric counts
   from t_mem on.
2. **Smooth** with a causal running median of ``smooth`` points, so one spiky window cannot fire
   the rule.
3. **Baseline** B = median of the first ``baseline`` smoothed points.
4. **Fire** at the first point that completes ``sustain`` consecutive points whose change from
   the baseline, in the signal's transform f (log for positive quantities, identity for
   accuracies, k* and angles), is at least ``threshold`` in the rule's ``direction``:
   f(s) − f(B) ≥ θ ("rise") or f(B) − f(s) ≥ θ ("fall"). On a log scale θ = log(factor), so the
   rule is scale-free: it does not move with the learning rate or the parameter count.

``kind="peak_decline"`` is the thesis' own shape (Table 7: g23 rises, then falls before
grokking), corrected: after the same settling and baseline, it is armed once the running maximum
M of the smoothed signal since the baseline reaches ``rise``·B, and fires when the smoothed value
has stayed ≤ M/``decline`` for ``sustain`` points. ``kind="calendar"`` is a null: it fires
``delay`` points after t_mem whatever the signal does. A warning is a dict shaped like a monitor
event, with its evidence (signal, rule, t_mem, baseline, the values that fired it).

>>> rule = WarningRule("test_loss", "fall", threshold=math.log(2.0))
>>> steps = [100 * i for i in range(1, 11)]
>>> metrics = [{"train_acc": a, "test_loss": x} for a, x in zip(
...     [0.5, 0.995, 1, 1, 1, 1, 1, 1, 1, 1], [5, 6, 6, 6, 6, 5, 3, 2, 1, 1])]
>>> w = replay(rule, [], list(zip(steps, metrics)))
>>> w["step"], w["evidence"]["t_mem"], w["evidence"]["baseline"]
(900, 200, 6.0)
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass

import numpy as np

from spectral_edge.dynamics._series import CausalMedian
from spectral_edge.errors import SpectralEdgeError

__all__ = [
    "DEFAULT_RULE",
    "DIRECTIONS",
    "KINDS",
    "SIGNALS",
    "EarlyWarning",
    "Signal",
    "WEIGHT_NORM_RULE",
    "WarningRule",
    "frame_rows",
    "memorised_step",
    "replay",
    "signal_value",
]

DIRECTIONS = ("rise", "fall")
KINDS = ("change", "peak_decline", "calendar")


@dataclass(frozen=True)
class Signal:
    """A watched quantity: where it comes from and on which scale its changes are measured."""

    name: str
    source: str  # "window": a feature of a full window; "metric": a logged metric
    scale: str  # "log" (positive quantities) or "linear"
    description: str


def _lambdas(row: Mapping) -> np.ndarray:
    """λ_j = σ_j² of the window, from the stored sigma_1..sigma_w."""
    w = int(row["w"])
    return np.array([float(row[f"sigma_{j}"]) ** 2 for j in range(1, w + 1)])


def _g23_share(row: Mapping) -> float:
    lam = _lambdas(row)
    total = float(lam.sum())
    return (lam[1] - lam[2]) / total if lam.size >= 3 and total > 0 else math.nan


def _effective_rank(row: Mapping) -> float:
    lam = _lambdas(row)
    total = float(lam.sum())
    if not total > 0:
        return math.nan
    p = lam[lam > 0] / total
    return float(math.exp(-np.sum(p * np.log(p))))


def _rotation_angle(row: Mapping) -> float:
    c = float(row.get("rotation_1", math.nan))
    return math.acos(min(1.0, abs(c))) if math.isfinite(c) else math.nan


SIGNALS: dict[str, Signal] = {
    s.name: s
    for s in (
        Signal("r23", "window", "log", "σ2/σ3 (λ2/λ3 = r23² orders the same)"),
        Signal("gap_ratio", "window", "log", "R = σ_k*/σ_k*+1"),
        Signal("g23_share", "window", "log", "(λ2 − λ3)/Σλ: the thesis' g23, scale-free"),
        Signal("pc1_share", "window", "log", "λ1/Σλ"),
        Signal("effective_rank", "window", "log", "exp of the entropy of λ/Σλ"),
        Signal("k_star", "window", "linear", "the gap position k*"),
        Signal("rotation_angle", "window", "linear", "angle between v1(t) and v1(t−1)"),
        Signal("max_angle_top3", "window", "linear", "largest top-3 principal angle"),
        Signal("g23", "window", "log", "λ2 − λ3 (raw; the thesis' Table 7 quantity)"),
        Signal("weight_norm", "metric", "log", "global weight norm"),
        Signal("train_loss", "metric", "log", "training loss"),
        Signal("test_loss", "metric", "log", "validation loss"),
        Signal("test_acc", "metric", "linear", "validation accuracy"),
        Signal("grad_norm", "metric", "log", "mean gradient norm since the last evaluation"),
        Signal("commutator_defect", "metric", "log", "commutator defect (SGD probe)"),
        Signal("llc", "metric", "log", "local learning coefficient (SGLD, devinterp)"),
    )
}

_DERIVED = {
    "g23_share": _g23_share,
    "effective_rank": _effective_rank,
    "rotation_angle": _rotation_angle,
}


def signal_value(name: str, row: Mapping) -> float:
    """The value of signal ``name`` in one window's features or one evaluation's metrics (NaN
    when the row lacks it)."""
    if name in _DERIVED:
        try:
            return float(_DERIVED[name](row))
        except (KeyError, TypeError, ValueError):
            return math.nan
    value = row.get(name, math.nan)
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


@dataclass(frozen=True)
class WarningRule:
    """One online warning rule; see the module docstring for what each field does."""

    signal: str = "r23"
    direction: str = "fall"
    threshold: float = math.log(1.5)
    kind: str = "change"
    rise: float = 1.0  # peak_decline: armed once max ≥ rise·B
    decline: float = 1.5  # peak_decline: fires at s ≤ max/decline
    delay: int = 0  # calendar: points after t_mem
    smooth: int = 3
    baseline: int = 3
    sustain: int = 2
    settle_accuracy: float = 0.99

    def validate(self) -> WarningRule:
        if self.signal not in SIGNALS:
            raise SpectralEdgeError(
                f"unknown warning signal {self.signal!r}; choose one of {', '.join(SIGNALS)}"
            )
        if self.kind not in KINDS:
            raise SpectralEdgeError(f"kind must be one of {', '.join(KINDS)}, got {self.kind!r}")
        if self.direction not in DIRECTIONS:
            raise SpectralEdgeError(f"direction must be 'rise' or 'fall', got {self.direction!r}")
        for name in ("smooth", "baseline", "sustain"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise SpectralEdgeError(f"{name} must be a positive integer, got {v!r}")
        if isinstance(self.delay, bool) or not isinstance(self.delay, (int, np.integer)):
            raise SpectralEdgeError(f"delay must be an integer, got {self.delay!r}")
        for name in ("threshold", "rise", "decline", "settle_accuracy"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float, np.floating)) and math.isfinite(v)):
                raise SpectralEdgeError(f"{name} must be a finite number, got {v!r}")
        if self.threshold < 0 or self.rise < 1 or self.decline < 1:
            raise SpectralEdgeError("threshold must be ≥ 0, and rise and decline ≥ 1")
        if not 0 < self.settle_accuracy <= 1:
            raise SpectralEdgeError(
                f"settle_accuracy must lie in (0, 1], got {self.settle_accuracy!r}"
            )
        return self

    @property
    def source(self) -> str:
        return SIGNALS[self.signal].source

    def describe(self) -> str:
        """One line: what fires the rule."""
        if self.kind == "calendar":
            return f"{self.delay} points after memorisation"
        if self.kind == "peak_decline":
            return (
                f"{self.signal} falls {self.decline:g}x below its post-baseline peak (armed at "
                f"{self.rise:g}x the baseline)"
            )
        scale = SIGNALS[self.signal].scale
        amount = f"{math.exp(self.threshold):.3g}x" if scale == "log" else f"{self.threshold:g}"
        return f"{self.signal} {'rises' if self.direction == 'rise' else 'falls'} {amount} " + (
            "from its baseline"
        )


# The monitor's default warning (SpectralMonitor(warning=True)): the spectral rule with the best
# J on the tuning runs of docs/early-warning.md (seed 0 of five families; docs/early-warning/
# rules.json): g23/Σλ falling 10x below its post-memorisation baseline. Tuning: 6 of 13 grokking
# runs in time, 4 of 13 controls fired. Scored on runs it was not tuned on (seeds 1-3 and two
# held-out families, "Results on the scoring runs"): in time on 13 of 38 grokking runs (Wilson
# 95 % 0.21-0.50), fired on 15 of 39 controls (0.25-0.54), median lead 0.78 of t_grok - t_mem:
# no better than chance, and none of the spectral signals tested does better. It is kept as the
# default because the protocol fixed that before scoring; the free signal below did far better.
DEFAULT_RULE = WarningRule("g23_share", "fall", threshold=math.log(10.0))
# The best free baseline, for comparison: the global weight norm falling 10 % below its
# post-memorisation baseline. Tuning: 12 of 13 in time, 0 of 13 controls. Scored: 32 of 38 in
# time (0.70-0.93), 0 of 39 controls (0.00-0.09), but 0 of 5 in the x² MLP, and its warning
# keeps a nearly fixed time after memorisation rather than tracking grokking (slope 0.37).
WEIGHT_NORM_RULE = WarningRule("weight_norm", "fall", threshold=math.log(1.1))


def memorised_step(steps, train_acc, threshold: float = 0.99) -> int | None:
    """t_mem: the first step with training accuracy ≥ ``threshold``, or None.

    >>> memorised_step([0, 100, 200, 300], [0.1, 0.98, 0.995, 1.0])
    200
    """
    for step, acc in zip(steps, train_acc, strict=True):
        if acc is not None and math.isfinite(float(acc)) and float(acc) >= threshold:
            return int(step)
    return None


class EarlyWarning:
    """The online rule: feed evaluations (:meth:`observe_metrics`) and full windows
    (:meth:`observe_window`) in training order; each returns None or, once, the warning.

    ``window`` and ``every`` (W and the snapshot cadence) date a window's oldest update; they
    are needed only for window signals.
    """

    def __init__(self, rule: WarningRule | None = None, *, window: int = 0, every: int = 0):
        self.rule = (rule or WarningRule()).validate()
        if self.rule.source == "window" and self.rule.kind != "calendar":
            if window < 1 or every < 1:
                raise SpectralEdgeError(
                    f"the window signal {self.rule.signal!r} needs the monitor's window W and "
                    "snapshot cadence every (positive integers)"
                )
        self.window, self.every = int(window), int(every)
        self.reset()

    def reset(self) -> None:
        self.t_mem: int | None = None
        self._median = CausalMedian(self.rule.smooth)
        self._smoothed: list[float] = []
        self._steps: list[int] = []
        self.baseline: float | None = None
        self.peak = -math.inf
        self.peak_step: int | None = None
        self._hits: list[tuple[int, float]] = []
        self.n_points = 0
        self.warning: dict | None = None

    # -- inputs ---------------------------------------------------------------------------------

    def observe_metrics(self, step: int, metrics: Mapping) -> dict | None:
        """An evaluation: sets t_mem from ``train_acc``, and feeds a metric signal."""
        step = int(step)
        acc = metrics.get("train_acc")
        if self.t_mem is None and acc is not None and math.isfinite(float(acc)):
            if float(acc) >= self.rule.settle_accuracy:
                self.t_mem = step
        if self.rule.kind == "calendar":
            return self._calendar(step)
        if self.rule.source != "metric" or self.t_mem is None or step < self.t_mem:
            return None
        return self._push(step, signal_value(self.rule.signal, metrics))

    def observe_window(self, step: int, features: Mapping) -> dict | None:
        """A full window: feeds a window signal once its oldest update follows t_mem."""
        step = int(step)
        if self.rule.source != "window" or self.rule.kind == "calendar" or self.t_mem is None:
            return None
        if step - self.window * self.every < self.t_mem:
            return None
        return self._push(step, signal_value(self.rule.signal, features))

    # -- the rule --------------------------------------------------------------------------------

    def _calendar(self, step: int) -> dict | None:
        if self.warning is not None or self.t_mem is None:
            return None
        self.n_points += 1
        if self.n_points > self.rule.delay:
            self.warning = self._event(step, math.nan, [(step, math.nan)], "calendar")
            return self.warning
        return None

    def _push(self, step: int, value: float) -> dict | None:
        if self.warning is not None:
            return None
        scale = SIGNALS[self.rule.signal].scale
        if not math.isfinite(value) or (scale == "log" and value <= 0):
            return None  # a missing point: skipped, as if it had not happened
        r = self.rule
        s = self._median.push(value)
        self.n_points += 1
        if self.baseline is None:
            self._smoothed.append(s)
            self._steps.append(step)
            if len(self._smoothed) == r.baseline:
                self.baseline = float(np.median(self._smoothed))
            return None
        if s > self.peak:
            self.peak, self.peak_step = s, step
        if self._hit(s):
            self._hits.append((step, s))
        else:
            self._hits = []
        if len(self._hits) < r.sustain:
            return None
        self.warning = self._event(step, s, self._hits[-r.sustain :], r.kind)
        return self.warning

    def _f(self, x: float) -> float:
        return math.log(x) if SIGNALS[self.rule.signal].scale == "log" else x

    def change(self, s: float) -> float:
        """f(s) − f(B) in the rule's direction (positive: towards firing)."""
        d = self._f(s) - self._f(self.baseline)
        return d if self.rule.direction == "rise" else -d

    def _hit(self, s: float) -> bool:
        r = self.rule
        if r.kind == "peak_decline":
            armed = self.peak > 0 and self.peak >= r.rise * self.baseline
            return armed and s <= self.peak / r.decline
        # a change equal to θ counts whatever the rounding of log(a) − log(b) against log(a/b)
        return self.change(s) >= r.threshold - 1e-12 * max(1.0, r.threshold)

    def _event(self, step: int, s: float, hits, kind: str) -> dict:
        r = self.rule
        evidence = {
            "signal": r.signal,
            "rule": asdict(r),
            "t_mem": self.t_mem,
            "baseline": self.baseline,
            "baseline_steps": list(self._steps),
            "value": s,
            "steps": [h[0] for h in hits],
            "values": [h[1] for h in hits],
        }
        if kind == "change":
            evidence["change"] = self.change(s)
        if kind == "peak_decline":
            evidence.update(peak=self.peak, peak_step=self.peak_step, decline=self.peak / s)
        message = (
            f"early warning: {r.describe()} (since memorisation at step {self.t_mem}): a "
            "transition may be near"
        )
        return {"step": step, "kind": "warning", "message": message, "evidence": evidence}

    # -- resume ----------------------------------------------------------------------------------

    def state_dict(self) -> dict:
        return {
            "rule": asdict(self.rule),
            "window": self.window,
            "every": self.every,
            "t_mem": self.t_mem,
            "median": self._median.state_dict(),
            "smoothed": list(self._smoothed),
            "steps": list(self._steps),
            "baseline": self.baseline,
            "peak": self.peak,
            "peak_step": self.peak_step,
            "hits": [list(h) for h in self._hits],
            "n_points": self.n_points,
            "warning": self.warning,
        }

    def load_state_dict(self, state: Mapping) -> None:
        if dict(state["rule"]) != asdict(self.rule):
            raise SpectralEdgeError(
                "the saved early-warning state was made with a different rule: "
                f"{dict(state['rule'])} != {asdict(self.rule)}"
            )
        self.window, self.every = int(state["window"]), int(state["every"])
        self.t_mem = state["t_mem"]
        self._median = CausalMedian(self.rule.smooth)
        self._median.load_state_dict(state["median"])
        self._smoothed = [float(v) for v in state["smoothed"]]
        self._steps = [int(v) for v in state["steps"]]
        self.baseline = state["baseline"]
        self.peak = float(state["peak"])
        self.peak_step = state["peak_step"]
        self._hits = [(int(a), float(b)) for a, b in state["hits"]]
        self.n_points = int(state["n_points"])
        self.warning = state["warning"]


def frame_rows(windows, metrics, window: int) -> tuple[list, list]:
    """(full windows, evaluations) as the (step, row) pairs :func:`replay` takes, from a run's
    windows and metrics DataFrames (a store's ``run.windows()``/``run.metrics()`` or the
    monitor's ``to_dataframe()``)."""
    full = windows[windows["w"] == window] if len(windows) and "w" in windows else windows[:0]
    rows = [(int(s), r) for s, r in zip(full["step"], full.to_dict("records"), strict=True)]
    evals = [(int(s), r) for s, r in zip(metrics["step"], metrics.to_dict("records"), strict=True)]
    return rows, evals


def replay(
    rule: WarningRule,
    windows: Iterable[tuple[int, Mapping]],
    metrics: Iterable[tuple[int, Mapping]],
    *,
    window: int = 0,
    every: int = 0,
) -> dict | None:
    """Feed a whole run through a fresh :class:`EarlyWarning`; the warning or None.

    ``windows`` and ``metrics`` are (step, row) pairs: full windows only, and the evaluations.
    At equal steps the window goes first, as in a training loop (the optimizer step is observed
    before that step's evaluation). Nothing after the warning is read.
    """
    warn = EarlyWarning(rule, window=window, every=every)
    events = [(int(s), 0, row) for s, row in windows] + [(int(s), 1, row) for s, row in metrics]
    for step, is_metric, row in sorted(events, key=lambda e: (e[0], e[1])):
        out = warn.observe_metrics(step, row) if is_metric else warn.observe_window(step, row)
        if out is not None:
            return out
    return None
