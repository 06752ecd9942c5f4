"""Pictures of a run: every function takes a stored run (or a windows DataFrame) and returns
``(fig, ax)``.

The figures are plain :class:`matplotlib.figure.Figure` objects with an Agg canvas, made without
``pyplot``: nothing here changes the global backend or keeps figures alive in pyplot's registry,
so they are safe in scripts, tests and servers (save them with ``fig.savefig``; in a notebook,
display them with ``display(fig)``). matplotlib is imported only when a plot is drawn
(``pip install spectral-edge[plots]``).

What is drawn, so that a reader (or a test) can find it: every artist that marks something
carries a ``gid``:

- ``"phase-rise"``, ``"phase-plateau"``, ``"phase-collapse"``: shaded spans (``ax.patches``) of
  the phases of R detected offline by :func:`spectral_edge.dynamics.detect_phases`, with the run's
  own τ and smoothing when its config records them;
- ``"event-grok"``, ``"event-collapse"``, ``"event-warning"``: vertical lines (``ax.lines``) at
  the grokking step, the collapse step of R and each online warning;
- ``"regime-plateau"``, ``"regime-transition"``, ``"regime-forgetting"``: the horizontal bands of
  the adiabatic regimes (thresholds from ``config["monitor"]``).

>>> import pandas as pd
>>> frame = pd.DataFrame({"step": [10, 20, 30], "sigma_1": [3.0, 2.0, 1.5],
...                       "sigma_2": [1.0, 0.9, 0.8]})
>>> fig, ax = plot_singular_values(frame)
>>> len(ax.lines), ax.get_yscale()
(2, 'log')
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from spectral_edge.errors import SpectralEdgeError

__all__ = [
    "PHASE_COLORS",
    "RunData",
    "load_run_data",
    "new_figure",
    "phase_result",
    "plot_adiabatic",
    "plot_comparison",
    "plot_g23",
    "plot_gap",
    "plot_singular_values",
    "plot_sketch_accuracy",
    "plot_stability",
    "plot_training",
    "run_events",
    "sketch_accuracy_table",
]

PHASE_COLORS = {"rise": "#f9d9a8", "plateau": "#cfe8cf", "collapse": "#f4c2c2"}
REGIME_COLORS = {"plateau": "#e3eefa", "transition": "#f2f2f2", "forgetting": "#fbe3e3"}
EVENT_STYLES = {
    "grok": {"color": "tab:green", "ls": "--", "lw": 1.2},
    "collapse": {"color": "tab:purple", "ls": "-.", "lw": 1.2},
    "warning": {"color": "tab:red", "ls": ":", "lw": 1.4},
}
_SIGMA = re.compile(r"^sigma_(\d+)$")


# -- data ---------------------------------------------------------------------------------------


@dataclass
class RunData:
    """What the plots read of one run: frames, config, and the run's identity."""

    name: str
    windows: pd.DataFrame
    metrics: pd.DataFrame = field(default_factory=lambda: pd.DataFrame({"step": []}))
    events: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=["step", "kind", "message", "evidence"])
    )
    config: dict = field(default_factory=dict)
    info: dict = field(default_factory=dict)
    _phases: Any = field(default=None, repr=False)

    @property
    def status(self) -> str | None:
        return self.info.get("status")

    def column(self, name: str) -> pd.DataFrame | None:
        """(step, name) rows with a finite value, from the windows or else the metrics.

        A metric is found by the vocabulary of :mod:`spectral_edge.metrics`: ``test_loss`` reads
        the run's ``eval_loss`` or ``val_loss``, after the names its config declares.
        """
        from spectral_edge.metrics import declared_names, find_metric

        found = name if name in self.windows.columns else None
        frame = self.windows
        if found is None:
            frame = self.metrics
            found = find_metric(frame, name, declared_names(self.config))
        if found is None:
            return None
        sub = frame[["step", found]].rename(columns={found: name})
        sub[name] = pd.to_numeric(sub[name], errors="coerce")
        return sub[np.isfinite(sub[name].to_numpy(dtype=float))]


def load_run_data(source, *, metrics=None, events=None, config=None, name=None) -> RunData:
    """A :class:`RunData` from a stored :class:`~spectral_edge.store.Run`, a windows DataFrame
    (a monitor's ``to_dataframe()``) or a RunData (returned as is).

    ``metrics``, ``events`` and ``config`` complete a DataFrame source (a stored run brings its
    own); ``name`` labels it.
    """
    if isinstance(source, RunData):
        return source
    if isinstance(source, pd.DataFrame):
        if "step" not in source.columns:
            raise SpectralEdgeError(
                f"a windows DataFrame needs a 'step' column; it has {list(source.columns)}"
            )
        data = RunData(name or "run", source.sort_values("step").reset_index(drop=True))
        if metrics is not None:
            data.metrics = metrics
        if events is not None:
            data.events = events
        data.config = dict(config or {})
        return data
    if hasattr(source, "windows") and hasattr(source, "info"):
        info = source.info
        return RunData(
            name or source.name,
            source.windows(),
            source.metrics() if metrics is None else metrics,
            source.events() if events is None else events,
            info["config"] if config is None else dict(config),
            info,
        )
    raise SpectralEdgeError(
        f"cannot plot a {type(source).__name__}: pass a stored Run, a windows DataFrame or RunData"
    )


def _section(config: Mapping, key: str) -> Mapping:
    value = config.get(key) if isinstance(config, Mapping) else None
    return value if isinstance(value, Mapping) else {}


def phase_result(data: RunData, quantity: str | None = None):
    """Offline phases of R (or the run's ``phase_quantity``), or None when there are too few
    windows; uses τ and the smoothing recorded in ``config["train"]`` when present."""
    train = _section(data.config, "train")
    quantity = quantity or train.get("phase_quantity", "gap_ratio")
    if data._phases is not None and data._phases[0] == quantity:
        return data._phases[1]
    from spectral_edge.dynamics import detect_phases

    result = None
    series = data.windows[quantity] if quantity in data.windows.columns else None
    if series is not None and len(series):
        values = pd.to_numeric(series, errors="coerce").to_numpy(dtype=float)
        values = np.where(np.isfinite(values), values, np.nan)
        try:
            result = detect_phases(
                data.windows["step"].to_numpy(),
                values,
                tau=float(train.get("phase_tau", 1.2)),
                smooth=int(train.get("phase_smooth", 5)),
                quantity=quantity,
            )
        except SpectralEdgeError:
            result = None
    data._phases = (quantity, result)
    return result


def run_events(data: RunData) -> dict[str, list[int]]:
    """Steps to mark: ``grok`` (the run's own event, else the first test accuracy ≥ its
    threshold), ``collapse`` (offline phases of R) and ``warning`` (the online warnings)."""
    events = data.events
    out: dict[str, list[int]] = {"grok": [], "collapse": [], "warning": []}
    kinds = events["kind"] if len(events) else pd.Series([], dtype=object)
    grok = events[kinds == "grok"] if len(events) else events
    if len(grok):
        out["grok"] = [int(grok["step"].iloc[0])]
    else:
        acc = data.column("test_acc")
        if acc is not None and len(acc):
            from spectral_edge.dynamics import grokking_step

            threshold = float(_section(data.config, "train").get("grok_threshold", 0.95))
            step = grokking_step(acc["step"].to_numpy(), acc["test_acc"].to_numpy(), threshold)
            if step is not None:
                out["grok"] = [int(step)]
    phases = phase_result(data)
    if phases is not None and phases.collapse_step is not None:
        out["collapse"] = [int(phases.collapse_step)]
    if len(events):
        out["warning"] = [int(s) for s in events[kinds == "warning"]["step"]]
    return out


# -- figure plumbing ----------------------------------------------------------------------------


def new_figure(nrows: int = 1, ncols: int = 1, *, figsize=(8.0, 3.4), **kwargs):
    """``(fig, ax)`` on an Agg canvas, without pyplot."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots(nrows, ncols, **kwargs)
    return fig, ax


def _figure_ax(ax, **kwargs):
    if ax is not None:
        return ax.figure, ax
    return new_figure(**kwargs)


def _empty(ax, what: str) -> None:
    ax.text(
        0.5,
        0.5,
        f"no {what} recorded yet",
        transform=ax.transAxes,
        ha="center",
        va="center",
        color="0.4",
    )


def _title(ax, text: str, data: RunData) -> None:
    suffix = f" — {data.name}" if data.name else ""
    if data.status == "running":
        suffix += " (running: partial)"
    ax.set_title(text + suffix, fontsize=10)


def _shade_phases(ax, data: RunData) -> int:
    """Shade rise/plateau/collapse spans; returns how many spans were drawn."""
    phases = phase_result(data)
    if phases is None:
        return 0
    steps = np.asarray(phases.steps)
    labels = np.asarray(phases.labels).astype(str)
    drawn, seen = 0, set()
    i = 0
    while i < len(labels):
        j = i
        while j + 1 < len(labels) and labels[j + 1] == labels[i]:
            j += 1
        name = labels[i]
        if name in PHASE_COLORS:
            end = steps[j + 1] if j + 1 < len(steps) else steps[j]
            ax.axvspan(
                steps[i],
                end,
                color=PHASE_COLORS[name],
                alpha=0.8,
                lw=0,
                zorder=0,
                gid=f"phase-{name}",
                label=None if name in seen else name,
            )
            seen.add(name)
            drawn += 1
        i = j + 1
    return drawn


def _mark_events(ax, data: RunData, kinds: Iterable[str] = ("grok", "collapse", "warning")) -> int:
    marks = run_events(data)
    drawn = 0
    for kind in kinds:
        for n, step in enumerate(marks.get(kind, [])):
            label = f"{kind} ({step})" if n == 0 else None
            ax.axvline(step, gid=f"event-{kind}", label=label, zorder=3, **EVENT_STYLES[kind])
            drawn += 1
    return drawn


def _plain_log_labels(ax) -> None:
    """Plain numbers (2, 3, 5) instead of 2×10⁰ on a log axis spanning less than two decades."""
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    lo, hi = ax.get_ylim()
    if lo > 0 and hi / lo < 100:
        ax.yaxis.set_major_formatter(ScalarFormatter())
        ax.yaxis.set_minor_formatter(NullFormatter())


def _legend(ax, **kwargs) -> None:
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        ax.legend(fontsize=7, **kwargs)


def _positive(values) -> np.ndarray:
    v = np.asarray(values, dtype=float)
    return np.where(np.isfinite(v) & (v > 0), v, np.nan)


# -- one run ------------------------------------------------------------------------------------


def plot_singular_values(source, *, ax=None, max_modes: int = 10, **load):
    """σ_1 … σ_k of each window over the steps (log scale): one line per mode."""
    data = load_run_data(source, **load)
    fig, ax = _figure_ax(ax)
    cols = sorted(
        (c for c in data.windows.columns if _SIGMA.match(str(c))),
        key=lambda c: int(_SIGMA.match(c).group(1)),
    )[:max_modes]
    if not cols or data.windows.empty:
        _empty(ax, "singular values")
    else:
        cmap = _colormap(len(cols))
        for i, col in enumerate(cols):
            ax.plot(
                data.windows["step"],
                _positive(data.windows[col]),
                color=cmap[i],
                lw=1.6 if i < 3 else 0.9,
                label=f"σ{col.split('_')[1]}",
            )
        ax.set_yscale("log")
        _legend(ax, ncol=min(5, len(cols)), loc="lower left")
    ax.set(xlabel="step", ylabel="σ_j (window of updates)")
    _title(ax, "Singular values of the update window", data)
    return fig, ax


def plot_gap(source, *, ax=None, **load):
    """The gap ratio R = σ_k*/σ_k*+1 (log scale) with its phases shaded, τ and the collapse,
    and k* as a step line on a second axis (``ax.k_star_ax``)."""
    data = load_run_data(source, **load)
    fig, ax = _figure_ax(ax)
    w = data.windows
    if w.empty or "gap_ratio" not in w.columns:
        _empty(ax, "windows")
    else:
        _shade_phases(ax, data)
        ax.plot(w["step"], _positive(w["gap_ratio"]), color="tab:blue", lw=1.6, label="R")
        phases = phase_result(data)
        if phases is not None:
            ax.plot(phases.steps, phases.smoothed, color="tab:blue", lw=0.8, ls="--", alpha=0.6)
        tau = float(_section(data.config, "train").get("phase_tau", 1.2))
        ax.axhline(tau, color="0.5", lw=0.8, ls="-.", label=f"τ = {tau:g}")
        ax.set_yscale("log")
        _plain_log_labels(ax)
        _mark_events(ax, data)
        if "k_star" in w.columns:
            k_ax = ax.twinx()
            k_ax.step(w["step"], w["k_star"], where="post", color="tab:orange", lw=1, alpha=0.8)
            k_ax.set_ylabel("k*", color="tab:orange")
            k_ax.yaxis.get_major_locator().set_params(integer=True)
            ax.k_star_ax = k_ax
            ax.plot([], [], color="tab:orange", lw=1, label="k* (right)")
        _legend(ax, loc="upper right")
    ax.set(xlabel="step", ylabel="R = σ_k*/σ_k*+1")
    _title(ax, "Gap ratio R and k*, phases shaded", data)
    return fig, ax


def plot_g23(source, *, ax=None, **load):
    """g23 = λ2 − λ3 = σ2² − σ3² per window (log scale), with events marked."""
    data = load_run_data(source, **load)
    fig, ax = _figure_ax(ax)
    w = data.windows
    if w.empty or "g23" not in w.columns:
        _empty(ax, "g23")
    else:
        ax.plot(w["step"], _positive(w["g23"]), color="tab:blue", lw=1.5, label="g23")
        ax.set_yscale("log")
        _mark_events(ax, data)
        _legend(ax)
    ax.set(xlabel="step", ylabel="g23 = λ2 − λ3")
    _title(ax, "Gap g23", data)
    return fig, ax


def plot_adiabatic(source, *, ax=None, **load):
    """The adiabatic parameter A_DK = ‖ΔC‖/(λ_k* − λ_k*+1) (log scale, and the paper form A
    dashed when the learning rate is known) over the regime bands plateau/transition/forgetting."""
    data = load_run_data(source, **load)
    fig, ax = _figure_ax(ax)
    monitor = _section(data.config, "monitor")
    low = float(monitor.get("regime_low", 0.1))
    high = float(monitor.get("regime_high", 10.0))
    w = data.windows
    series = []
    for col, style in (
        ("adiabatic_dk", {"color": "tab:blue", "lw": 1.5}),
        ("adiabatic", {"color": "0.3", "lw": 0.9, "ls": "--"}),
    ):
        if col in w.columns:
            v = _positive(w[col])
            if np.isfinite(v).any():
                series.append((col, v, style))
    if not series:
        _empty(ax, "adiabatic parameter")
    else:
        finite = np.concatenate([v[np.isfinite(v)] for _, v, _ in series])
        lo = min(float(finite.min()), low) / 3
        hi = max(float(finite.max()), high) * 3
        ax.set_yscale("log")
        ax.set_ylim(lo, hi)
        for name, a, b in (
            ("plateau", lo, low),
            ("transition", low, high),
            ("forgetting", high, hi),
        ):
            ax.axhspan(
                a,
                b,
                color=REGIME_COLORS[name],
                zorder=0,
                gid=f"regime-{name}",
                label=f"{name} regime",
            )
        labels = {"adiabatic_dk": "A_DK (regimes)", "adiabatic": "A (paper form, η)"}
        for col, v, style in series:
            ax.plot(w["step"], v, label=labels[col], **style)
        ax.set_autoscaley_on(False)
        _mark_events(ax, data, ("grok", "warning"))
        _legend(ax, loc="upper right", ncol=2)
    ax.set(xlabel="step", ylabel="adiabatic parameter")
    _title(
        ax, f"Adiabatic parameter (plateau < {low:g} ≤ transition ≤ {high:g} < forgetting)", data
    )
    return fig, ax


def plot_stability(source, *, ax=None, split: bool = False, **load):
    """Stability coefficients α_j of the leading modes (``alpha_split_j`` with ``split=True``)."""
    data = load_run_data(source, **load)
    fig, ax = _figure_ax(ax)
    prefix = "alpha_split_" if split else "alpha_"
    pattern = re.compile("^" + prefix + r"(\d+)$")
    cols = sorted(
        (c for c in data.windows.columns if pattern.match(str(c))),
        key=lambda c: int(pattern.match(c).group(1)),
    )
    if not cols or data.windows.empty:
        _empty(ax, "stability coefficients")
    else:
        cmap = _colormap(len(cols))
        for i, col in enumerate(cols):
            ax.plot(
                data.windows["step"],
                pd.to_numeric(data.windows[col], errors="coerce"),
                color=cmap[i],
                lw=1.3,
                label=f"α{pattern.match(col).group(1)}",
            )
        _mark_events(ax, data, ("grok", "warning"))
        _legend(ax, ncol=len(cols) + 1)
    ax.set(xlabel="step", ylabel="α_j" + (" (split)" if split else ""))
    _title(ax, "Stability coefficients of the leading modes", data)
    return fig, ax


def plot_training(source, *, axes=None, **load):
    """Train and test accuracy (top) and loss (bottom, log scale) on one shared step axis, with
    grokking, the collapse of R and the warnings marked on both. Returns ``(fig, (acc, loss))``."""
    data = load_run_data(source, **load)
    if axes is None:
        fig, axes = new_figure(2, 1, figsize=(8.0, 5.0), sharex=True)
    else:
        fig = axes[0].figure
    acc_ax, loss_ax = axes
    drawn = {"acc": 0, "loss": 0}
    for split, style in (("train", {"ls": ":", "alpha": 0.8}), ("test", {"lw": 1.6})):
        acc = data.column(f"{split}_acc")
        if acc is not None and len(acc):
            acc_ax.plot(
                acc["step"],
                acc[f"{split}_acc"],
                color=_SPLIT[split],
                label=f"{split} accuracy",
                **style,
            )
            drawn["acc"] += 1
        loss = data.column(f"{split}_loss")
        if loss is not None and len(loss):
            loss_ax.plot(
                loss["step"],
                _positive(loss[f"{split}_loss"]),
                color=_SPLIT[split],
                label=f"{split} loss",
                **style,
            )
            drawn["loss"] += 1
    if not drawn["acc"]:
        _empty(acc_ax, "accuracy")
    else:
        acc_ax.set_ylim(-0.03, 1.03)
    if not drawn["loss"]:
        _empty(loss_ax, "loss")
    else:
        loss_ax.set_yscale("log")
    for ax in axes:
        _mark_events(ax, data)
    _legend(acc_ax, loc="center right")
    _legend(loss_ax, loc="upper right")
    acc_ax.set_ylabel("accuracy")
    loss_ax.set(xlabel="step", ylabel="loss")
    _title(acc_ax, "Accuracy and loss", data)
    return fig, axes


_SPLIT = {"train": "tab:gray", "test": "tab:blue"}


def _colormap(n: int) -> list:
    from matplotlib import colormaps

    cmap = colormaps["viridis"]
    return [cmap(x) for x in np.linspace(0.0, 0.9, max(n, 1))]


_LOG_QUANTITIES = (
    "gap_ratio",
    "g23",
    "gap",
    "eigen_gap",
    "r12",
    "r23",
    "r34",
    "adiabatic",
    "adiabatic_dk",
    "delta_c",
)


# -- several runs -------------------------------------------------------------------------------


def plot_comparison(
    sources: Sequence,
    quantity: str = "gap_ratio",
    *,
    labels: Sequence[str] | None = None,
    ax=None,
    log: bool | None = None,
    mark_grok: bool = True,
):
    """One quantity (a window feature such as ``gap_ratio``, ``g23``, ``k_star``, or a metric
    such as ``test_acc``) of several runs on one step axis: weight decay against its control,
    AdamW against Muon... Each run's grokking step is marked in its colour (``gid``
    ``"event-grok"``). ``log`` defaults to a log scale for positive ratio/gap quantities."""
    runs = [load_run_data(s) for s in sources]
    if not runs:
        raise SpectralEdgeError("plot_comparison needs at least one run")
    if labels is not None and len(labels) != len(runs):
        raise SpectralEdgeError(f"{len(labels)} labels for {len(runs)} runs")
    fig, ax = _figure_ax(ax)
    if log is None:
        log = (
            quantity in _LOG_QUANTITIES
            or quantity.startswith("sigma_")
            or quantity.endswith("_loss")
        )
    colors = [f"C{i % 10}" for i in range(len(runs))]
    any_drawn = False
    for i, data in enumerate(runs):
        label = labels[i] if labels is not None else data.name
        series = data.column(quantity)
        if series is None or series.empty:
            continue
        any_drawn = True
        y = series[quantity].to_numpy(dtype=float)
        if log:
            y = _positive(y)
        if quantity == "k_star":
            ax.step(series["step"], y, where="post", color=colors[i], label=label)
        else:
            ax.plot(series["step"], y, color=colors[i], lw=1.4, label=label)
        if mark_grok:
            for step in run_events(data)["grok"]:
                ax.axvline(step, gid="event-grok", **{**EVENT_STYLES["grok"], "color": colors[i]})
    if not any_drawn:
        _empty(ax, quantity)
    else:
        if log:
            ax.set_yscale("log")
            _plain_log_labels(ax)
        _legend(ax)
    ax.set(xlabel="step", ylabel=quantity)
    ax.set_title(f"{quantity}: " + " vs ".join(labels or [r.name for r in runs]), fontsize=10)
    return fig, ax


# -- sketch accuracy ----------------------------------------------------------------------------


def sketch_accuracy_table(
    updates, *, window: int = 10, dims=(20, 50, 100, 200), seeds=(0, 1), family: str = "fold"
):
    """:func:`spectral_edge.core.accuracy.compare_sketch` at several sketch dimensions, stacked
    with ``sketch_dim`` and ``window`` columns: the input of :func:`plot_sketch_accuracy`."""
    from spectral_edge.core.accuracy import compare_sketch

    tables = []
    for d in dims:
        t = compare_sketch(updates, window=window, sketch_dim=int(d), seeds=seeds, family=family)
        tables.append(t.assign(sketch_dim=int(d), window=int(window)))
    return pd.concat(tables, ignore_index=True)


def plot_sketch_accuracy(
    table, *, features=("gap_ratio", "r23", "g23"), ax=None, claim: float | None = 0.057
):
    """The sketch accuracy curve: median relative error of sketched against exact features.

    With a ``sketch_dim`` column (:func:`sketch_accuracy_table`) the x axis is d (or d/W when a
    ``window`` column is there), log–log, with the paper's claim (5.7 % at d = 10W) drawn; the
    band is the 25–75 % range over windows and seeds. Without it (one ``compare_sketch`` table)
    the x axis is the window.
    """
    if not isinstance(table, pd.DataFrame) or table.empty:
        raise SpectralEdgeError("plot_sketch_accuracy needs a non-empty compare_sketch table")
    fig, ax = _figure_ax(ax)
    cols = [f"err_{f}" for f in features if f"err_{f}" in table.columns]
    if not cols:
        raise SpectralEdgeError(f"the table has none of err_{list(features)}")
    if "sketch_dim" in table.columns:
        per_w = "window" in table.columns and table["window"].nunique() == 1
        x_name = "d / W" if per_w else "sketch dimension d"
        grouped = table.groupby("sketch_dim")
        x = np.asarray(sorted(table["sketch_dim"].unique()), dtype=float)
        xs = x / float(table["window"].iloc[0]) if per_w else x
        for i, col in enumerate(cols):
            med = grouped[col].median().reindex(x).to_numpy()
            q1 = grouped[col].quantile(0.25).reindex(x).to_numpy()
            q3 = grouped[col].quantile(0.75).reindex(x).to_numpy()
            ax.plot(xs, _positive(med), marker="o", color=f"C{i}", label=col[4:])
            ax.fill_between(xs, _positive(q1), _positive(q3), color=f"C{i}", alpha=0.15, lw=0)
        ax.set_xscale("log")
        ax.set_yscale("log")
        if claim is not None:
            ax.axhline(claim, color="0.4", ls="--", lw=0.9, label=f"paper: {claim:.1%} at d = 10W")
            if per_w:
                ax.axvline(10, color="0.6", ls=":", lw=0.8)
        ax.set_xlabel(x_name)
    else:
        grouped = table.groupby("window_end")
        for i, col in enumerate(cols):
            med = grouped[col].median()
            ax.plot(med.index, _positive(med.to_numpy()), color=f"C{i}", label=col[4:])
        ax.set_yscale("log")
        ax.set_xlabel("window (index of its newest update)")
    if "k_star_match" in table.columns:
        rate = float(table["k_star_match"].mean())
        ax.text(
            0.99,
            0.02,
            f"k* agrees in {rate:.0%} of windows",
            transform=ax.transAxes,
            ha="right",
            va="bottom",
            fontsize=8,
            color="0.3",
        )
    ax.set_ylabel("median relative error")
    ax.set_title("Sketch accuracy: sketched vs exact", fontsize=10)
    _legend(ax)
    return fig, ax


def _finite_or_none(x) -> float | None:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None
