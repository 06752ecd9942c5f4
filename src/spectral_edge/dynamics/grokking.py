"""Grokking step and the thesis' Table 7 quantities: g23 decline and k* at grokking (§4).

Definitions:

- grokking step: the first evaluation whose test accuracy is ≥ ``threshold`` and stays ≥ it for
  ``sustain`` consecutive evaluations (that one included). The thesis uses 0.95 once; companion
  papers 0.90, or 0.98 sustained for 3. An accuracy run that reaches the threshold only in its
  last ``sustain − 1`` evaluations has not (yet) grokked: sustained means observed.
- gap decline: D = max{g23(w) : w ≤ t_grok} / g23(last window ≤ t_grok), with g23 = λ2 − λ3 =
  σ2² − σ3² per window. D ≥ 1 by construction; a run "shows gap dynamics" if D > 1.5. The thesis
  reports 24/24 weight-decay runs above it (8–111× on modular arithmetic) and 0/24 (v2: 1/24)
  without weight decay.
- k* at grokking: k* of the last window ≤ t_grok.

A control (weight decay 0) usually never groks, so its decline is measured at a reference step:
the grokking step of the run it controls (same cadence), passed as ``reference_step``.

All functions take plain arrays (a monitor DataFrame's columns, an eval log); nothing here reads a
store or a model.

>>> evals = [100, 200, 300, 400, 500, 600]
>>> acc = [0.1, 0.2, 0.96, 0.5, 0.97, 0.99]
>>> grokking_step(evals, acc), grokking_step(evals, acc, threshold=0.95, sustain=2)
(300, 500)
>>> gap_decline([100, 200, 300, 400, 500], [1.0, 40.0, 20.0, 5.0, 2.0], grok_step=450)
8.0
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from spectral_edge.dynamics._series import as_steps_values
from spectral_edge.errors import SpectralEdgeError

__all__ = [
    "DECLINE_THRESHOLD",
    "GROK_THRESHOLD",
    "compare_with_control",
    "gap_decline",
    "grokking_step",
    "grokking_summary",
    "k_star_at",
    "shows_gap_dynamics",
]

GROK_THRESHOLD = 0.95
DECLINE_THRESHOLD = 1.5


def grokking_step(steps, test_acc, threshold: float = GROK_THRESHOLD, sustain: int = 1):
    """First eval step with ``test_acc ≥ threshold`` for ``sustain`` consecutive evals, or None.

    Accuracies are fractions in [0, 1]; NaN (a missing evaluation) is not ≥ anything and so
    breaks a sustained run.

    >>> grokking_step([1, 2, 3, 4, 5], [0.2, 0.91, 0.96, 0.99, 0.985], threshold=0.98, sustain=2)
    4
    >>> grokking_step([1, 2, 3], [0.2, 0.5, 0.99], sustain=3) is None
    True
    """
    s, a = as_steps_values(steps, test_acc, what="test accuracy")
    if len(a) == 0:
        raise SpectralEdgeError("no test accuracy: the run logged no evaluations")
    if np.all(np.isnan(a)):
        raise SpectralEdgeError("no test accuracy: every logged evaluation is NaN")
    if np.nanmax(a) > 1.0 + 1e-9 or np.nanmin(a) < 0.0:
        raise SpectralEdgeError(
            "test accuracies must be fractions in [0, 1] (divide percentages by 100)"
        )
    threshold = float(threshold)
    if not 0.0 < threshold <= 1.0:
        raise SpectralEdgeError(f"threshold must lie in (0, 1], got {threshold!r}")
    if isinstance(sustain, bool) or not isinstance(sustain, (int, np.integer)) or sustain < 1:
        raise SpectralEdgeError(f"sustain must be a positive integer, got {sustain!r}")
    with np.errstate(invalid="ignore"):
        ok = (a >= threshold).astype(np.int64)
    if len(ok) < sustain:
        return None
    run = np.convolve(ok, np.ones(int(sustain), dtype=np.int64), mode="valid")
    hits = np.flatnonzero(run == sustain)
    return int(s[hits[0]]) if len(hits) else None


def _last_at_or_before(window_steps, values, step, what):
    s, v = as_steps_values(window_steps, values, what=what)
    if step is None:
        raise SpectralEdgeError(
            f"no step to read {what} at: the run did not grok; pass the grokking step of the "
            "matched run as the reference"
        )
    idx = np.flatnonzero((s <= int(step)) & ~np.isnan(v))
    if len(idx) == 0:
        raise SpectralEdgeError(
            f"no window with a finite {what} at or before step {step} (first window: "
            f"{int(s[0]) if len(s) else 'none'}); the monitor started too late or W is too large"
        )
    return s, v, idx


def gap_decline(window_steps, g23, grok_step) -> float:
    """max pre-grok g23 / g23 at the last window ≤ ``grok_step`` (thesis Table 7).

    Windows with NaN g23 are skipped. Returns inf when that last g23 is 0 while the maximum is
    not (the gap closed completely) and NaN when both are 0.

    >>> gap_decline([10, 20, 30], [2.0, 6.0, 3.0], grok_step=30)
    2.0
    """
    _, v, idx = _last_at_or_before(window_steps, g23, grok_step, "g23")
    peak = float(np.max(v[idx]))
    last = float(v[idx[-1]])
    if last > 0:
        return peak / last
    return math.inf if peak > 0 else math.nan


def shows_gap_dynamics(decline, threshold: float = DECLINE_THRESHOLD) -> bool | None:
    """``decline > threshold`` (1.5 in the thesis); None when the decline is unknown."""
    if decline is None or (isinstance(decline, float) and math.isnan(decline)):
        return None
    return bool(decline > threshold)


def k_star_at(window_steps, k_star, step) -> int:
    """k* of the last window at or before ``step`` (windows with NaN k* skipped).

    >>> k_star_at([100, 200, 300], [1, 2, 2], 250)
    2
    """
    _, v, idx = _last_at_or_before(window_steps, k_star, step, "k_star")
    return int(round(float(v[idx[-1]])))


def grokking_summary(
    eval_steps,
    test_acc,
    window_steps,
    g23,
    k_star=None,
    *,
    threshold: float = GROK_THRESHOLD,
    sustain: int = 1,
    decline_threshold: float = DECLINE_THRESHOLD,
    reference_step: int | None = None,
    label: str | None = None,
    strict: bool = True,
) -> dict:
    """The Table 7 row of one run: grokking step, decline, shows_gap_dynamics, k* at grokking.

    The decline (and k*) are read at the run's own grokking step; if the run did not grok, at
    ``reference_step`` (for a control: the grokking step of the run it controls). With neither,
    they are None. ``reference`` in the result says which step was used. A missing ingredient
    (no evaluation, no g23, no window at or before that step) raises; with ``strict=False`` it
    leaves its cell None instead (``g23`` may then be None).

    >>> s = grokking_summary([100, 200, 300], [0.1, 0.5, 0.97],
    ...                      [100, 200, 300], [1.0, 9.0, 3.0], [2, 2, 1])
    >>> s["grok_step"], s["decline"], s["shows_gap_dynamics"], s["k_star_at_grok"]
    (300, 3.0, True, 1)
    """
    grok = None
    if strict or len(eval_steps):
        grok = grokking_step(eval_steps, test_acc, threshold=threshold, sustain=sustain)
    if grok is not None:
        at, reference = grok, "own grokking step"
    elif reference_step is not None:
        at, reference = int(reference_step), "reference step"
    else:
        at, reference = None, None
    decline = kstar = None
    if at is not None and (strict or g23 is not None):
        decline = _read(strict, gap_decline, window_steps, g23, at)
    if at is not None and k_star is not None:
        kstar = _read(strict, k_star_at, window_steps, k_star, at)
    return {
        "label": label,
        "grok_step": grok,
        "threshold": float(threshold),
        "sustain": int(sustain),
        "measured_at": at,
        "reference": reference,
        "decline": decline,
        "decline_threshold": float(decline_threshold),
        "shows_gap_dynamics": shows_gap_dynamics(decline, decline_threshold),
        "k_star_at_grok": kstar,
    }


def _read(strict: bool, read, *args):
    """``read(*args)``; None instead of its SpectralEdgeError unless ``strict``."""
    try:
        return read(*args)
    except SpectralEdgeError:
        if strict:
            raise
        return None


def compare_with_control(run_summary: Mapping, control_summary: Mapping) -> dict:
    """Set a run beside its weight-decay-0 control (thesis C1: gap dynamics with wd, not without).

    ``separates`` is True when the run shows gap dynamics and the control does not; None when
    either is unknown. The control should be measured at the run's grokking step
    (``reference_step``); ``same_measurement_step`` says whether it was.

    >>> run = {"grok_step": 3000, "decline": 40.0, "shows_gap_dynamics": True,
    ...        "measured_at": 3000, "k_star_at_grok": 1}
    >>> ctl = {"grok_step": None, "decline": 1.1, "shows_gap_dynamics": False,
    ...        "measured_at": 3000, "k_star_at_grok": 2}
    >>> c = compare_with_control(run, ctl)
    >>> c["separates"], round(c["decline_ratio"], 2), c["control_grokked"]
    (True, 36.36, False)
    """
    for name, summ in (("run", run_summary), ("control", control_summary)):
        missing = [k for k in ("grok_step", "decline", "shows_gap_dynamics") if k not in summ]
        if missing:
            raise SpectralEdgeError(
                f"the {name} summary lacks {missing}; build it with grokking_summary()"
            )
    r, c = run_summary, control_summary
    rs, cs = r["shows_gap_dynamics"], c["shows_gap_dynamics"]
    separates = None if rs is None or cs is None else bool(rs and not cs)
    rd, cd = r["decline"], c["decline"]
    ratio = None
    if rd is not None and cd is not None and cd > 0 and math.isfinite(cd):
        ratio = float(rd) / float(cd)
    same = None
    if "measured_at" in r and "measured_at" in c:
        same = r["measured_at"] is not None and r["measured_at"] == c["measured_at"]
    return {
        "run": dict(r),
        "control": dict(c),
        "run_grokked": r["grok_step"] is not None,
        "control_grokked": c["grok_step"] is not None,
        "grok_delay": (
            None
            if r["grok_step"] is None or c["grok_step"] is None
            else int(c["grok_step"]) - int(r["grok_step"])
        ),
        "decline_ratio": ratio,
        "separates": separates,
        "same_measurement_step": same,
        "k_star_at_grok": (r.get("k_star_at_grok"), c.get("k_star_at_grok")),
    }
