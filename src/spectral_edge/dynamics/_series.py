"""Shared plumbing of the dynamics analyses: input checks and the rolling-median smoother.

The smoother is a rolling median because the monitor's series (R, r23, g23) are spiky: one
window with a near-degenerate σ_{k+1} can multiply R by ten for a single step. A median of ``w``
windows ignores up to ``(w − 1) // 2`` such outliers in a row, where a moving average would be
dragged by each of them. Two alignments exist:

- causal (trailing): the value at window i is the median of windows i−w+1 … i. It uses no future
  value, so an online tracker computes exactly the same numbers; on a clean edge it delays the
  signal by ``(w − 1) // 2`` windows.
- centred: the median of windows i−h … i+w−1−h with h = (w − 1) // 2. No delay on a clean edge,
  but the last h values of a series change when more data arrive: offline only.

Near the ends the window is truncated to the values that exist. Missing values (NaN) are skipped
by the median; a window with no finite value inherits the previous smoothed value (leading ones
stay NaN).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping

import numpy as np

from spectral_edge.errors import SpectralEdgeError


def as_steps_values(steps, values, *, what: str = "series") -> tuple[np.ndarray, np.ndarray]:
    """(int64 steps, float64 values) after checking lengths, order and finiteness."""
    s = np.asarray(steps)
    v = np.asarray(values, dtype=np.float64)
    if s.ndim != 1 or v.ndim != 1:
        raise SpectralEdgeError(f"steps and {what} must be one-dimensional")
    if len(s) != len(v):
        raise SpectralEdgeError(f"steps and {what} have different lengths ({len(s)} and {len(v)})")
    if len(s) and not np.all(np.isfinite(s.astype(np.float64))):
        raise SpectralEdgeError("steps must be finite numbers")
    s = s.astype(np.int64)
    if len(s) > 1 and np.any(np.diff(s) <= 0):
        raise SpectralEdgeError("steps must be strictly increasing (one row per window/eval)")
    if np.any(np.isinf(v)):
        raise SpectralEdgeError(
            f"{what} contains ±inf; a ratio with a zero denominator should be floored upstream "
            "(missing values may be NaN)"
        )
    return s, v


def check_smooth(smooth) -> int:
    if isinstance(smooth, bool) or not isinstance(smooth, (int, np.integer)) or smooth < 1:
        raise SpectralEdgeError(f"smooth must be a positive integer window count, got {smooth!r}")
    return int(smooth)


def _nanmedian_rows(view: np.ndarray) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows → NaN, handled by ffill
        return np.nanmedian(view, axis=1)


def forward_fill(x: np.ndarray) -> np.ndarray:
    """Replace each NaN by the last finite value before it (leading NaNs stay NaN)."""
    x = np.array(x, dtype=np.float64)
    ok = ~np.isnan(x)
    if ok.all() or not ok.any():
        return x
    idx = np.where(ok, np.arange(len(x)), -1)
    np.maximum.accumulate(idx, out=idx)
    out = np.full_like(x, np.nan)
    has = idx >= 0
    out[has] = x[idx[has]]
    return out


def rolling_median(values, window: int, *, centered: bool = False) -> np.ndarray:
    """Rolling median of ``window`` values, causal (trailing) or centred, NaN-aware.

    >>> rolling_median([1.0, 9.0, 1.0, 1.0, 5.0, 5.0, 5.0], 3).tolist()
    [1.0, 5.0, 1.0, 1.0, 1.0, 5.0, 5.0]
    >>> rolling_median([1.0, 9.0, 1.0, 1.0, 5.0, 5.0, 5.0], 3, centered=True).tolist()
    [5.0, 1.0, 1.0, 1.0, 5.0, 5.0, 5.0]
    """
    x = np.asarray(values, dtype=np.float64)
    w = check_smooth(window)
    if w == 1 or len(x) == 0:
        return forward_fill(x)
    left = (w - 1) // 2 if centered else w - 1
    right = w - 1 - left
    padded = np.concatenate([np.full(left, np.nan), x, np.full(right, np.nan)])
    view = np.lib.stride_tricks.sliding_window_view(padded, w)
    return forward_fill(_nanmedian_rows(view))


class CausalMedian:
    """The online twin of ``rolling_median(..., centered=False)``: same numbers, one at a time.

    >>> m = CausalMedian(3)
    >>> [m.push(v) for v in [1.0, 9.0, 1.0, 1.0, 5.0, 5.0, 5.0]]
    [1.0, 5.0, 1.0, 1.0, 1.0, 5.0, 5.0]
    """

    def __init__(self, window: int):
        self.window = check_smooth(window)
        self.buffer: list[float] = []
        self.last = float("nan")

    def push(self, value: float) -> float:
        self.buffer.append(float(value))
        if len(self.buffer) > self.window:
            del self.buffer[0]
        finite = [v for v in self.buffer if not np.isnan(v)]
        if finite:
            self.last = float(np.median(np.asarray(finite, dtype=np.float64)))
        return self.last

    def state_dict(self) -> dict:
        return {"window": self.window, "buffer": list(self.buffer), "last": self.last}

    def load_state_dict(self, state: Mapping) -> None:
        self.window = check_smooth(state["window"])
        self.buffer = [float(v) for v in state["buffer"]]
        self.last = float(state["last"])
