"""Rise, plateau, collapse: the three-phase pattern of R(t), offline and online (docs/thesis.md §4).

The thesis' prediction T4/C7 is that the gap ratio R(t) = σ_{k*}/σ_{k*+1} (or the fixed-index
r23 = σ2/σ3) rises, holds a plateau while a circuit is stable, then collapses. Its detectors are
a peak/threshold rule and a plateau band; this module implements exactly those definitions on a
robustly smoothed series, so that they can be reported with their parameters:

- smoothing: ``s`` = rolling median of ``smooth`` windows (default 5, causal). A median, not a
  mean, because the monitor's ratios are spiky (a near-degenerate σ_{k+1} inflates one window);
  see :mod:`spectral_edge.dynamics._series`. ``smooth=1`` turns smoothing off.
- peak: p = the first argmax of ``s``; M = s[p].
- pattern present only if M ≥ τ. Otherwise every window is ``"before"`` and there is no
  plateau and no collapse (a ratio that never clears τ never formed an edge worth the name).
- plateau: the contiguous run of windows around p with s ≥ ``plateau_frac``·M (0.85 in the
  thesis), [plateau_start, plateau_end].
- collapse step: the first window after p with s < τ (τ = 1.20 primary; 1.15, 1.25, 1.30 for
  sensitivity, :func:`collapse_sensitivity`). When plateau_frac·M < τ that window can lie inside
  the band; the plateau then ends just before it.
- rise: from the window after the last s < τ before the plateau up to the plateau start.

Per-window labels: ``"before"`` (up to the rise), ``"rise"``, ``"plateau"``, ``"collapse"`` (the
fall from the end of the plateau down to and including the collapse step) and ``"after"``
(everything past the collapse step; when no collapse was found, everything past the plateau: the
run left its plateau without falling below τ).

The thresholds are absolute, meant for ratio series whose floor is 1 (R, r12, r23, r34); for
another series pass a τ in its own units.

Offline versus online. With the default causal smoother every smoothed value depends on the past
only, so :class:`PhaseTracker`, fed one window at a time, computes the same smoothed series and
applies the same definitions to the prefix it has seen. It announces a phase only once the
future cannot un-make it under these definitions (the plateau needs ``patience`` windows without a
new maximum, or the series leaving the band; the collapse needs the τ crossing) and back-dates
the phase start. On a clean single-hump series its phase starts, peak and collapse step equal
:func:`detect_phases` on the full series. ``centered=True`` removes the causal smoother's delay of
(smooth − 1) // 2 windows on a clean edge, but is offline only.

Minimum length: :func:`min_windows` = max(8, 2·smooth) windows (10 with the defaults). Below it a
median of ``smooth`` windows is barely more than the raw values and a rise, a plateau and a
fall cannot each span more than a couple of windows, so :func:`detect_phases` raises instead of
returning labels that mean nothing.

>>> import numpy as np
>>> steps = np.arange(1, 41) * 100
>>> r = np.r_[np.full(10, 1.05), np.linspace(1.05, 2.0, 6), np.full(14, 2.0),
...           np.linspace(2.0, 1.0, 5), np.full(5, 1.0)]
>>> res = detect_phases(steps, r, smooth=1)
>>> res.peak_step, res.plateau_start_step, res.plateau_end_step, res.collapse_step
(1600, 1500, 3200, 3500)
>>> collapse_sensitivity(steps, r, smooth=1)
{1.15: 3500, 1.2: 3500, 1.25: 3500, 1.3: 3400}
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field

import numpy as np

from spectral_edge.dynamics._series import (
    CausalMedian,
    as_steps_values,
    check_smooth,
    rolling_median,
)
from spectral_edge.errors import SpectralEdgeError

__all__ = [
    "DEFAULT_TAU",
    "LABELS",
    "MIN_WINDOWS",
    "PLATEAU_FRAC",
    "SENSITIVITY_TAUS",
    "PhaseResult",
    "PhaseTracker",
    "collapse_sensitivity",
    "detect_phases",
    "detect_phases_frame",
    "full_windows",
    "min_windows",
    "phase_settings",
]

DEFAULT_TAU = 1.20
SENSITIVITY_TAUS = (1.15, 1.20, 1.25, 1.30)
PLATEAU_FRAC = 0.85
DEFAULT_SMOOTH = 5
MIN_WINDOWS = 8
LABELS = ("before", "rise", "plateau", "collapse", "after")
_ORDER = {name: i for i, name in enumerate(LABELS)}


def min_windows(smooth: int = DEFAULT_SMOOTH) -> int:
    """Fewest windows :func:`detect_phases` accepts: max(8, 2·smooth)."""
    return max(MIN_WINDOWS, 2 * check_smooth(smooth))


def _check_params(tau: float, plateau_frac: float) -> tuple[float, float]:
    tau = float(tau)
    plateau_frac = float(plateau_frac)
    if not np.isfinite(tau):
        raise SpectralEdgeError(f"tau must be a finite threshold, got {tau!r}")
    if not 0.0 < plateau_frac <= 1.0:
        raise SpectralEdgeError(f"plateau_frac must lie in (0, 1], got {plateau_frac!r}")
    return tau, plateau_frac


@dataclass(frozen=True)
class _Points:
    """Window indices of the pattern on a smoothed series (see the module docstring)."""

    peak: int
    peak_value: float
    rise_start: int
    plateau_start: int
    band_end: int  # last window of the ≥ frac·M band around the peak
    plateau_end: int  # band_end, or collapse − 1 when the collapse falls inside the band
    collapse: int | None


def _points(s: np.ndarray, tau: float, frac: float) -> _Points | None:
    finite = np.flatnonzero(~np.isnan(s))
    if len(finite) == 0:
        return None
    p = int(np.nanargmax(s))
    m = float(s[p])
    if m < tau:
        return None
    with np.errstate(invalid="ignore"):
        out_band = ~(s >= frac * m)  # NaN counts as out of the band
        below = s < tau  # NaN never counts as below
    left = np.flatnonzero(out_band[:p])
    a = int(left[-1]) + 1 if len(left) else 0
    right = np.flatnonzero(out_band[p + 1 :])
    b = p + int(right[0]) if len(right) else len(s) - 1
    after = np.flatnonzero(below[p + 1 :])
    c = p + 1 + int(after[0]) if len(after) else None
    pe = b if c is None else min(b, c - 1)
    pre = np.flatnonzero(below[:a])
    r = max(int(pre[-1]) + 1 if len(pre) else 0, int(finite[0]))
    return _Points(p, m, min(r, a), a, b, pe, c)


def _labels(n: int, pts: _Points | None) -> np.ndarray:
    labels = np.full(n, "before", dtype=object)
    if pts is None:
        return labels
    labels[pts.rise_start : pts.plateau_start] = "rise"
    labels[pts.plateau_start : pts.plateau_end + 1] = "plateau"
    if pts.collapse is None:
        labels[pts.plateau_end + 1 :] = "after"
    else:
        labels[pts.plateau_end + 1 : pts.collapse + 1] = "collapse"
        labels[pts.collapse + 1 :] = "after"
    return labels


@dataclass(frozen=True, eq=False)
class PhaseResult:
    """The phases of one series. Steps are the monitor's window steps; None means "not found".

    ``peak_value`` is the smoothed maximum M (what the plateau band and τ are compared with);
    ``labels`` has one entry of :data:`LABELS` per window; ``definitions`` records every choice.
    """

    steps: np.ndarray
    values: np.ndarray
    smoothed: np.ndarray
    labels: np.ndarray
    peak_step: int | None
    peak_value: float | None
    rise_start_step: int | None
    plateau_start_step: int | None
    plateau_end_step: int | None
    collapse_step: int | None
    definitions: dict = field(default_factory=dict)

    @property
    def found(self) -> bool:
        """True when the series rose above τ (the pattern exists, collapse or not)."""
        return self.plateau_start_step is not None

    @property
    def collapsed(self) -> bool:
        return self.collapse_step is not None

    def phase_starts(self) -> dict[str, int | None]:
        """Step of the first window of each phase (None when the phase is absent)."""
        out = {}
        for name in LABELS:
            idx = np.flatnonzero(self.labels == name)
            out[name] = int(self.steps[idx[0]]) if len(idx) else None
        return out

    def to_dict(self) -> dict:
        """A JSON-friendly summary (no per-window arrays) for a run store."""
        return {
            "peak_step": self.peak_step,
            "peak_value": self.peak_value,
            "rise_start_step": self.rise_start_step,
            "plateau_start_step": self.plateau_start_step,
            "plateau_end_step": self.plateau_end_step,
            "collapse_step": self.collapse_step,
            "n_windows": int(len(self.steps)),
            "phase_starts": self.phase_starts(),
            "definitions": dict(self.definitions),
        }

    def to_frame(self):
        """One row per window: step, value, smoothed, label (a pandas DataFrame)."""
        import pandas as pd

        return pd.DataFrame(
            {
                "step": self.steps,
                "value": self.values,
                "smoothed": self.smoothed,
                "label": self.labels.astype(str),
            }
        )


def _definitions(tau, frac, smooth, centered, quantity=None) -> dict:
    d = {
        "tau": tau,
        "plateau_frac": frac,
        "smooth": smooth,
        "smoother": "rolling median, " + ("centred (offline only)" if centered else "causal"),
        "peak": "first argmax of the smoothed series",
        "plateau": "contiguous windows around the peak with smoothed >= plateau_frac * peak",
        "collapse": "first window after the peak with smoothed < tau",
        "pattern": "present only if the smoothed peak >= tau",
    }
    if quantity is not None:
        d["quantity"] = quantity
    return d


def _result(steps, values, smoothed, pts, definitions) -> PhaseResult:
    def at(i):
        return None if i is None else int(steps[i])

    if pts is None:
        peak = None if np.all(np.isnan(smoothed)) else int(np.nanargmax(smoothed))
        return PhaseResult(
            steps=steps,
            values=values,
            smoothed=smoothed,
            labels=_labels(len(steps), None),
            peak_step=at(peak),
            peak_value=None if peak is None else float(smoothed[peak]),
            rise_start_step=None,
            plateau_start_step=None,
            plateau_end_step=None,
            collapse_step=None,
            definitions=definitions,
        )
    return PhaseResult(
        steps=steps,
        values=values,
        smoothed=smoothed,
        labels=_labels(len(steps), pts),
        peak_step=at(pts.peak),
        peak_value=pts.peak_value,
        rise_start_step=at(pts.rise_start) if pts.rise_start < pts.plateau_start else None,
        plateau_start_step=at(pts.plateau_start),
        plateau_end_step=at(pts.plateau_end),
        collapse_step=at(pts.collapse),
        definitions=definitions,
    )


def detect_phases(
    steps,
    series,
    *,
    tau: float = DEFAULT_TAU,
    plateau_frac: float = PLATEAU_FRAC,
    smooth: int = DEFAULT_SMOOTH,
    centered: bool = False,
    quantity: str | None = None,
) -> PhaseResult:
    """Offline phases of ``series`` (R or r23 per window) at ``steps``; see the module docstring.

    Args:
        steps: the window steps, strictly increasing.
        series: one value per window; NaN marks a missing window (skipped by the smoother).
        tau: the collapse threshold τ (thesis primary 1.20).
        plateau_frac: the plateau band, as a fraction of the smoothed peak (thesis 0.85).
        smooth: rolling-median width in windows (1 = no smoothing).
        centered: centred median (no delay, offline only) instead of the causal one.
        quantity: the series' name, recorded in ``definitions``.

    Raises:
        SpectralEdgeError: fewer than :func:`min_windows` finite windows, mismatched or unsorted
            steps, ±inf values, or bad parameters.

    >>> steps = [100 * i for i in range(1, 13)]
    >>> r = [1.0, 1.0, 1.0, 1.6, 2.0, 2.0, 2.0, 1.9, 1.1, 1.0, 1.0, 1.0]
    >>> res = detect_phases(steps, r, smooth=1)
    >>> list(res.labels)  # doctest: +NORMALIZE_WHITESPACE
    ['before', 'before', 'before', 'rise', 'plateau', 'plateau', 'plateau', 'plateau',
     'collapse', 'after', 'after', 'after']
    >>> res.collapse_step
    900
    """
    s, v = as_steps_values(steps, series, what="series")
    tau, frac = _check_params(tau, plateau_frac)
    smooth = check_smooth(smooth)
    need = min_windows(smooth)
    n_finite = int(np.count_nonzero(~np.isnan(v)))
    if n_finite < need:
        raise SpectralEdgeError(
            f"series too short for phase detection: {n_finite} finite windows, need at least "
            f"{need} (max(8, 2*smooth) with smooth={smooth}); train longer, snapshot more often "
            "or lower smooth"
        )
    smoothed = rolling_median(v, smooth, centered=bool(centered))
    pts = _points(smoothed, tau, frac)
    return _result(s, v, smoothed, pts, _definitions(tau, frac, smooth, bool(centered), quantity))


def detect_phases_frame(frame, column: str = "gap_ratio", **kwargs) -> PhaseResult:
    """:func:`detect_phases` on a monitor DataFrame (columns ``step`` and ``column``)."""
    for name in ("step", column):
        if name not in frame.columns:
            raise SpectralEdgeError(
                f"the frame has no column {name!r}; columns are {list(frame.columns)}"
            )
    kwargs.setdefault("quantity", column)
    return detect_phases(frame["step"].to_numpy(), frame[column].to_numpy(), **kwargs)


def phase_settings(config) -> dict:
    """τ, smoothing, plateau band and quantity of a stored run's phase detection, as it ran
    online: the lab's ``config["train"]`` (``phase_tau``...), else the monitor's recorded
    tracker (``config["monitor"]["phase_tracker"]``), else the defaults."""

    def section(mapping, key):
        value = mapping.get(key) if isinstance(mapping, Mapping) else None
        return value if isinstance(value, Mapping) else {}

    train = section(config, "train")
    tracker = section(section(config, "monitor"), "phase_tracker")
    return {
        "tau": float(train.get("phase_tau", tracker.get("tau", DEFAULT_TAU))),
        "smooth": int(train.get("phase_smooth", tracker.get("smooth", DEFAULT_SMOOTH))),
        "plateau_frac": float(tracker.get("plateau_frac", PLATEAU_FRAC)),
        "quantity": str(train.get("phase_quantity", tracker.get("quantity", "gap_ratio"))),
    }


def full_windows(windows, config=None):
    """The windows (a DataFrame with a ``w`` column) holding W updates.

    The first W − 2 windows of a run, and of each restart, are still filling: they hold fewer
    updates and are not comparable. The online tracker never sees them (the monitor feeds it
    full windows only), so the offline phases of a stored run leave them out too; otherwise
    the offline rise starts at the first, filling window while the online one starts later.
    W is ``config["monitor"]["window"]``, else the largest ``w``.
    """
    if "w" not in windows.columns or len(windows) == 0:
        return windows
    size = windows["w"].to_numpy(dtype=float)
    monitor = config.get("monitor") if isinstance(config, Mapping) else None
    window = monitor.get("window") if isinstance(monitor, Mapping) else None
    full = size == (window if isinstance(window, int) else np.nanmax(size))
    return windows[full].reset_index(drop=True)


def collapse_sensitivity(
    steps,
    series,
    *,
    taus: Iterable[float] = SENSITIVITY_TAUS,
    plateau_frac: float = PLATEAU_FRAC,
    smooth: int = DEFAULT_SMOOTH,
    centered: bool = False,
) -> dict[float, int | None]:
    """Collapse step for each τ (thesis: 1.20 primary, 1.15/1.25/1.30 as sensitivity).

    The peak does not depend on τ and a larger τ only enlarges the set of windows below it, so a
    higher τ never collapses later; None means no collapse (or a peak below that τ).

    >>> steps = list(range(10, 130, 10))
    >>> r = [1.0, 1.2, 1.8, 2.0, 2.0, 1.9, 1.4, 1.28, 1.22, 1.17, 1.1, 1.0]
    >>> collapse_sensitivity(steps, r, smooth=1)
    {1.15: 110, 1.2: 100, 1.25: 90, 1.3: 80}
    """
    return {
        float(t): detect_phases(
            steps, series, tau=t, plateau_frac=plateau_frac, smooth=smooth, centered=centered
        ).collapse_step
        for t in taus
    }


@dataclass(frozen=True)
class _TrackerConfig:
    tau: float = DEFAULT_TAU
    plateau_frac: float = PLATEAU_FRAC
    smooth: int = DEFAULT_SMOOTH
    patience: int = 3
    quantity: str = "gap_ratio"


class PhaseTracker:
    """Online phases of one series, one window at a time (for the monitor).

    ``update(step, value)`` returns ``(label, events)``: the phase the run is in as far as the
    tracker can tell without the future, and a list (usually empty) of transition events, each a
    dict ``{"step", "kind", "message", "evidence"}`` with kind ``"rise"``, ``"plateau"`` or
    ``"collapse"``, shaped to become a monitor ``Event(**event)``.

    Rules (the offline definitions applied to the prefix seen so far, with the causal smoother):

    - nothing is announced before :func:`min_windows` windows (the label stays ``"before"``);
    - rise: announced when the smoothed peak first reaches τ;
    - plateau: announced once the peak has stood for ``patience`` windows, or the series has left
      the band, or collapsed; ``evidence["start_step"]`` is the back-dated plateau start;
    - collapse: announced at the collapse step itself (first smoothed value < τ after the peak);
      ``evidence["start_step"]`` is the first window after the plateau;
    - a new maximum after a collapse starts a new cycle (a ``"rise"`` event with
      ``evidence["new_cycle"] = True``), so that the final answer follows the global peak as the
      offline detector does;
    - a climb out of an announced plateau to a higher one (no window seen when the plateau was
      announced is in the new band) is a ``"rise"`` again (``evidence["resumed_after"]``: the
      step the superseded plateau was announced at), followed by a new ``"plateau"`` event:
      offline, on the whole run, that first plateau is part of the rise.

    ``label`` is the last announced phase (``"collapse"`` on the collapse step, ``"after"`` past
    it); :meth:`result` gives the per-window labels of the prefix, identical to
    :func:`detect_phases` on it.

    >>> tracker = PhaseTracker(smooth=1, patience=2)
    >>> r = [1.0, 1.0, 1.0, 1.6, 2.0, 2.0, 2.0, 1.9, 1.1, 1.0, 1.0, 1.0]
    >>> for i, x in enumerate(r, start=1):
    ...     label, events = tracker.update(100 * i, x)
    ...     for e in events:
    ...         print(e["step"], e["kind"], e["evidence"]["start_step"])
    800 rise 400
    800 plateau 500
    900 collapse 900
    >>> label
    'after'
    """

    def __init__(
        self,
        *,
        tau: float = DEFAULT_TAU,
        plateau_frac: float = PLATEAU_FRAC,
        smooth: int = DEFAULT_SMOOTH,
        patience: int = 3,
        quantity: str = "gap_ratio",
    ):
        tau, frac = _check_params(tau, plateau_frac)
        if isinstance(patience, bool) or not isinstance(patience, (int, np.integer)):
            raise SpectralEdgeError(f"patience must be a non-negative integer, got {patience!r}")
        if patience < 0:
            raise SpectralEdgeError(f"patience must be a non-negative integer, got {patience!r}")
        self.config = _TrackerConfig(tau, frac, check_smooth(smooth), int(patience), str(quantity))
        self.reset()

    def reset(self) -> None:
        """Forget everything seen (a fresh run)."""
        self._median = CausalMedian(self.config.smooth)
        self._steps: list[int] = []
        self._raw: list[float] = []
        self._s = np.empty(64, dtype=np.float64)
        self._n = 0
        self._n_finite = 0
        self.phase = "before"
        self._plateau_confirmed = False
        self._confirmed_at: int | None = None  # window index at which the plateau was announced
        self._collapse: int | None = None
        self.events: list[dict] = []

    # -- online --------------------------------------------------------------------------------

    def update(self, step: int, value: float) -> tuple[str, list[dict]]:
        """Feed one window; returns (label, transition events). See the class docstring."""
        step = int(step)
        value = float(value)
        if np.isinf(value):
            raise SpectralEdgeError(f"value at step {step} is ±inf; pass NaN for a missing window")
        if self._steps and step <= self._steps[-1]:
            raise SpectralEdgeError(f"steps must increase: got {step} after {self._steps[-1]}")
        smoothed = self._median.push(value)
        if self._n == len(self._s):
            self._s = np.concatenate([self._s, np.empty(len(self._s), dtype=np.float64)])
        self._s[self._n] = smoothed
        self._n += 1
        self._steps.append(step)
        self._raw.append(value)
        if not np.isnan(value):
            self._n_finite += 1
        if self._n_finite < min_windows(self.config.smooth):
            return self.phase, []
        return self._advance()

    def _advance(self) -> tuple[str, list[dict]]:
        c = self.config
        i = self._n - 1
        s = self._s[: self._n]
        pts = _points(s, c.tau, c.plateau_frac)
        events: list[dict] = []
        if pts is None:
            return self.phase, events
        new_cycle = self._collapse is not None and pts.peak > self._collapse
        if new_cycle:
            self._collapse = None
            self._plateau_confirmed = False
        old = "before" if new_cycle else self.phase
        if old == "before":
            events.append(self._event("rise", pts, new_cycle=new_cycle))
        elif self._superseded(pts):
            # The series climbed out of the announced plateau to a higher one: none of the
            # windows seen when the plateau was announced is in the new band, so the offline
            # detector would call all of that a rise. Say so instead of staying on "plateau".
            events.append(self._event("rise", pts, resumed_after=self._steps[self._confirmed_at]))
            self._plateau_confirmed = False
        if pts.collapse is not None:
            target = "collapse" if pts.collapse == i else "after"
        elif self._plateau_confirmed or i - pts.peak >= c.patience or i > pts.band_end:
            target = "plateau"
        else:
            target = "rise"
        if _ORDER[target] >= _ORDER["plateau"] and not self._plateau_confirmed:
            self._plateau_confirmed = True
            self._confirmed_at = i
            if pts.collapse is not None:
                how = "collapse"
            elif i > pts.band_end:
                how = "left the band"
            else:
                how = "patience"
            events.append(self._event("plateau", pts, confirmed_by=how))
        if _ORDER[target] >= _ORDER["collapse"] and self._collapse is None:
            self._collapse = pts.collapse
            events.append(self._event("collapse", pts))
        self.phase = target
        self.events.extend(events)
        return target, events

    def _superseded(self, pts: _Points) -> bool:
        """An announced plateau, not collapsed, that the band of a higher peak has left."""
        return (
            self._plateau_confirmed
            and self._collapse is None
            and self._confirmed_at is not None
            and pts.plateau_start > self._confirmed_at
        )

    def _event(self, kind: str, pts: _Points, **extra) -> dict:
        c = self.config
        steps = self._steps
        now = steps[-1]
        evidence = {
            "phase": kind,
            "quantity": c.quantity,
            "value": float(self._s[self._n - 1]),
            "raw_value": self._raw[-1],
            "peak_step": steps[pts.peak],
            "peak_value": pts.peak_value,
            "tau": c.tau,
            "plateau_frac": c.plateau_frac,
            "smooth": c.smooth,
        }
        if kind == "rise":
            # back-dated to just after the last window below τ before the peak: the band (and so
            # the offline rise/plateau boundary) is not known yet while the series still climbs
            s = self._s[: pts.peak + 1]
            below = np.flatnonzero(s < c.tau)
            start = int(below[-1]) + 1 if len(below) else 0
            finite = np.flatnonzero(~np.isnan(s))
            evidence["start_step"] = steps[max(start, int(finite[0]))]
            message = f"{c.quantity} rose above tau={c.tau:g}"
            if "resumed_after" in extra:
                message = (
                    f"{c.quantity} rose out of the plateau announced at step "
                    f"{extra['resumed_after']} (now {pts.peak_value:.4g} at step {steps[pts.peak]})"
                )
        elif kind == "plateau":
            evidence["start_step"] = steps[pts.plateau_start]
            evidence["band"] = c.plateau_frac * pts.peak_value
            evidence["patience"] = c.patience
            message = (
                f"{c.quantity} plateau since step {steps[pts.plateau_start]} "
                f"(peak {pts.peak_value:.4g} at step {steps[pts.peak]})"
            )
        else:
            evidence["start_step"] = steps[pts.plateau_end + 1]
            evidence["collapse_step"] = steps[pts.collapse]
            evidence["plateau_end_step"] = steps[pts.plateau_end]
            message = (
                f"{c.quantity} collapsed below tau={c.tau:g} at step {steps[pts.collapse]} "
                f"(peak {pts.peak_value:.4g} at step {steps[pts.peak]})"
            )
        evidence.update(extra)
        return {"step": now, "kind": kind, "message": message, "evidence": evidence}

    # -- views ---------------------------------------------------------------------------------

    @property
    def n_windows(self) -> int:
        return self._n

    def result(self) -> PhaseResult:
        """:func:`detect_phases` of the prefix seen so far (causal smoother); raises if short."""
        c = self.config
        need = min_windows(c.smooth)
        if self._n_finite < need:
            raise SpectralEdgeError(
                f"only {self._n_finite} finite windows seen; phases need at least {need}"
            )
        s = self._s[: self._n].copy()
        return _result(
            np.asarray(self._steps, dtype=np.int64),
            np.asarray(self._raw, dtype=np.float64),
            s,
            _points(s, c.tau, c.plateau_frac),
            _definitions(c.tau, c.plateau_frac, c.smooth, False, c.quantity),
        )

    # -- resume --------------------------------------------------------------------------------

    def state_dict(self) -> dict:
        """Everything needed to continue exactly here; plain Python values (JSON-friendly)."""
        return {
            "config": asdict(self.config),
            "median": self._median.state_dict(),
            "steps": list(self._steps),
            "raw": list(self._raw),
            "smoothed": self._s[: self._n].tolist(),
            "n_finite": self._n_finite,
            "phase": self.phase,
            "plateau_confirmed": self._plateau_confirmed,
            "confirmed_at": self._confirmed_at,
            "collapse": self._collapse,
            "events": [dict(e, evidence=dict(e["evidence"])) for e in self.events],
        }

    def load_state_dict(self, state: Mapping) -> None:
        if dict(state["config"]) != asdict(self.config):
            raise SpectralEdgeError(
                "the saved tracker state was made with a different configuration: "
                f"{dict(state['config'])} != {asdict(self.config)}"
            )
        if state["phase"] not in LABELS:
            raise SpectralEdgeError(f"bad phase in saved state: {state['phase']!r}")
        self._median = CausalMedian(self.config.smooth)
        self._median.load_state_dict(state["median"])
        self._steps = [int(x) for x in state["steps"]]
        self._raw = [float(x) for x in state["raw"]]
        smoothed = np.asarray(state["smoothed"], dtype=np.float64)
        if not (len(self._steps) == len(self._raw) == len(smoothed)):
            raise SpectralEdgeError("corrupt tracker state: steps, raw and smoothed differ in size")
        self._s = np.empty(max(64, 2 * len(smoothed)), dtype=np.float64)
        self._s[: len(smoothed)] = smoothed
        self._n = len(smoothed)
        self._n_finite = int(state["n_finite"])
        self.phase = state["phase"]
        self._plateau_confirmed = bool(state["plateau_confirmed"])
        confirmed_at = state.get("confirmed_at")  # absent from states saved by earlier versions
        self._confirmed_at = None if confirmed_at is None else int(confirmed_at)
        self._collapse = None if state["collapse"] is None else int(state["collapse"])
        self.events = [dict(e, evidence=dict(e["evidence"])) for e in state["events"]]
