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
    "config_section",
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


def config_section(config: Mapping, key: str) -> Mapping:
    """``config[key]`` when it is a mapping, else ``{}``: a reader must read any run's config."""
    value = config.get(key) if isinstance(config, Mapping) else None
    return value if isinstance(value, Mapping) else {}


def phase_result(data: RunData, quantity: str | None = None):
    """Offline phases of R (or the run's phase quantity) over the full windows, with the run's
    own settings (:func:`spectral_edge.dynamics.phases.phase_settings`: those the online
    tracker used), so that they end where the run's phase events do; None when there are too
    few windows."""
    from spectral_edge.dynamics.phases import phase_settings

    settings = phase_settings(data.config)
    quantity = quantity or settings["quantity"]
    if data._phases is not None and data._phases[0] == quantity:
        return data._phases[1]
    from spectral_edge.dynamics.phases import detect_phases, full_windows

    result = None
    windows = full_windows(data.windows, data.config)
    series = windows[quantity] if quantity in windows.columns else None
    if series is not None and len(series):
        values = pd.to_numeric(series, errors="coerce").to_numpy(dtype=float)
        values = np.where(np.isfinite(values), values, np.nan)
        try:
            result = detect_phases(
                windows["step"].to_numpy(),
                values,
                tau=settings["tau"],
                smooth=settings["smooth"],
                plateau_frac=settings["plateau_frac"],
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

            threshold = float(config_section(data.config, "train").get("grok_threshold", 0.95))
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
    """``(fig, ax)`` on an Agg canvas, without pyplot; every figure starts here, so this is
    where a missing matplotlib becomes one clear error."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise SpectralEdgeError(
            "drawing figures needs matplotlib: pip install 'spectral-edge[plots]'"
        ) from None

    fig = Figure(figsize=figsize, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots(nrows, ncols, **kwargs)
    return fig, ax


def _figure_ax(ax, **kwargs):
    if ax is not None:
        return ax.figure, ax
    return new_figure(**kwargs)


def _empty(ax, what: str, why: str = "") -> None:
    """Say in the panel what is missing and why, instead of leaving it blank."""
    ax.text(
        0.5,
        0.5,
        f"no {what} recorded yet" + (f"\n{why}" if why else ""),
        transform=ax.transAxes,
        ha="center",
        va="center",
        color="0.4",
        fontsize=9,
    )


def _no_windows(ax, data: RunData, what: str) -> None:
    """The empty panel of a window quantity: no windows at all, or windows without it."""
    monitor = config_section(data.config, "monitor")
    if data.windows.empty:
        every = monitor.get("every", 1)
        cadence = "at every step" if every == 1 else f"every {every} steps"
        why = f"a window needs two snapshots ({cadence}):\nthe run " + (
            "has not reached them yet"
            if data.status == "running"
            else "ended before them, or logged metrics only"
        )
    else:
        why = f"the windows of this run do not hold {what}\n(an older spectral-edge, or by hand)"
    _empty(ax, what, why)


_METRIC_HINT = (
    "log it as {name} (or {spellings}: see spectral_edge.metrics)\n"
    "with monitor.log_metrics(step, {name}=...)"
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


def _log_ticks(ax, which: str = "y") -> None:
    """Labelled ticks on a log axis whatever its range.

    Over two decades or more matplotlib's decade labels are right. Over less, a range such as
    1.2–4 holds no power of ten, so it would have no label at all: label 1-2-5 steps (or, within
    less than a factor 3, plain evenly spaced values) as plain numbers.
    """
    from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter

    axis = ax.yaxis if which == "y" else ax.xaxis
    lo, hi = ax.get_ylim() if which == "y" else ax.get_xlim()
    if not (lo > 0 and hi > lo) or hi / lo >= 100:
        return
    plain = FuncFormatter(lambda v, _: f"{v:.3g}")
    if hi / lo >= 10:
        axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    elif hi / lo >= 3:
        axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 3.0, 5.0)))
    else:
        axis.set_major_locator(MaxNLocator(nbins=4))
    axis.set_major_formatter(plain)
    axis.set_minor_formatter(NullFormatter())


def _legend(ax, beside=None, **kwargs) -> None:
    """The legend outside the data, to the right of the axes (and of ``beside``, a twin axis
    whose ticks and label are there too), naming every labelled artist."""
    handles, labels = ax.get_legend_handles_labels()
    if not handles:
        return
    pad = 0.5
    if beside is not None:
        # The twin's tick labels and label stand to the right of the axes: leave their width
        # (in points, which the layout does not change) between the axes and the legend.
        renderer = ax.figure.canvas.get_renderer()
        width = beside.get_tightbbox(renderer).x1 - beside.bbox.x1
        pad += width * 72.0 / ax.figure.dpi / 7.0
    kwargs.setdefault("loc", "upper left")
    ax.legend(fontsize=7, bbox_to_anchor=(1.0, 1.0), borderaxespad=pad, **kwargs)


def _integer_axis(ax, values) -> None:
    """An axis of whole numbers (k*): integer ticks, and a constant series shown as that
    integer with room around it, not as 0.96–1.04."""
    from matplotlib.ticker import MaxNLocator

    v = np.asarray(pd.to_numeric(pd.Series(values), errors="coerce"), dtype=float)
    v = v[np.isfinite(v)]
    if v.size:
        ax.set_ylim(max(0.5, v.min() - 0.5), v.max() + 0.5)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))


def _step_range(data: RunData) -> tuple[float, float] | None:
    """The steps the run covers (windows and metrics): the x range of its panels, so that a
    lone point (an end-of-run average) cannot zoom a panel onto itself."""
    steps = [
        pd.to_numeric(frame["step"], errors="coerce").to_numpy(dtype=float)
        for frame in (data.windows, data.metrics)
        if "step" in frame.columns and len(frame)
    ]
    steps = np.concatenate(steps) if steps else np.array([])
    steps = steps[np.isfinite(steps)]
    if steps.size == 0 or steps.min() == steps.max():
        return None
    return float(steps.min()), float(steps.max())


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
        _no_windows(ax, data, "singular values")
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
        _log_ticks(ax)
        _legend(ax, ncol=1 if len(cols) <= 5 else 2)
    ax.set(xlabel="step", ylabel="σ_j (window of updates)")
    _title(ax, "Singular values of the update window", data)
    return fig, ax


def plot_gap(source, *, ax=None, **load):
    """The gap ratio R = σ_k*/σ_k*+1 (log scale) with its phases shaded, τ and the collapse,
    and k* as a step line on a second axis (``ax.k_star_ax``, integer ticks)."""
    data = load_run_data(source, **load)
    fig, ax = _figure_ax(ax)
    w = data.windows
    if w.empty or "gap_ratio" not in w.columns:
        _no_windows(ax, data, "gap ratio R")
    else:
        _shade_phases(ax, data)
        ax.plot(w["step"], _positive(w["gap_ratio"]), color="tab:blue", lw=1.6, label="R")
        phases = phase_result(data)
        if phases is not None:
            ax.plot(
                phases.steps,
                phases.smoothed,
                color="tab:blue",
                lw=0.8,
                ls="--",
                alpha=0.6,
                label=f"R smoothed (median of {phases.definitions.get('smooth')})",
            )
        from spectral_edge.dynamics.phases import phase_settings

        tau = phase_settings(data.config)["tau"]
        ax.axhline(tau, color="0.5", lw=0.8, ls="-.", label=f"τ = {tau:g}")
        ax.set_yscale("log")
        _mark_events(ax, data)
        k_ax = None
        if "k_star" in w.columns:
            k_ax = ax.twinx()
            k_ax.step(w["step"], w["k_star"], where="post", color="tab:orange", lw=1, alpha=0.8)
            k_ax.set_ylabel("k*", color="tab:orange")
            _integer_axis(k_ax, w["k_star"])
            ax.k_star_ax = k_ax
            ax.plot([], [], color="tab:orange", lw=1, label="k* (right axis)")
        _log_ticks(ax)
        _legend(ax, beside=k_ax)
    ax.set(xlabel="step", ylabel="R = σ_k*/σ_k*+1")
    _title(ax, "Gap ratio R and k*, phases shaded", data)
    return fig, ax


def plot_g23(source, *, ax=None, **load):
    """g23 = λ2 − λ3 = σ2² − σ3² per window (log scale), with events marked."""
    data = load_run_data(source, **load)
    fig, ax = _figure_ax(ax)
    w = data.windows
    if w.empty or "g23" not in w.columns:
        _no_windows(ax, data, "g23")
    else:
        ax.plot(w["step"], _positive(w["g23"]), color="tab:blue", lw=1.5, label="g23")
        ax.set_yscale("log")
        _mark_events(ax, data)
        _log_ticks(ax)
        _legend(ax)
    ax.set(xlabel="step", ylabel="g23 = λ2 − λ3")
    _title(ax, "Gap g23", data)
    return fig, ax


def plot_adiabatic(source, *, ax=None, **load):
    """The adiabatic parameter A_DK = ‖ΔC‖/(λ_k* − λ_k*+1) (log scale, and the paper form A
    dashed when the learning rate is known) over the regime bands plateau/transition/forgetting."""
    data = load_run_data(source, **load)
    fig, ax = _figure_ax(ax)
    monitor = config_section(data.config, "monitor")
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
        _no_windows(ax, data, "adiabatic parameter")
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
        if len(series) == 1 and series[0][0] == "adiabatic_dk":
            ax.plot([], [], color="0.3", lw=0.9, ls="--", label="A (paper form): no η recorded")
        ax.set_autoscaley_on(False)
        _mark_events(ax, data, ("grok", "warning"))
        _log_ticks(ax)
        _legend(ax)
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
        _no_windows(ax, data, "stability coefficients")
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
        _legend(ax)
    ax.set(xlabel="step", ylabel="α_j" + (" (split)" if split else ""))
    _title(ax, "Stability coefficients of the leading modes", data)
    return fig, ax


def plot_training(source, *, axes=None, **load):
    """Train and test accuracy (top) and loss (bottom, log scale) on one shared step axis, with
    grokking, the collapse of R and the warnings marked on both. Returns ``(fig, (acc, loss))``.

    Metrics are found by the vocabulary of :mod:`spectral_edge.metrics` (``loss`` and
    ``eval_loss`` of a Hugging Face run are the train and test loss); the step axis spans the
    whole run, and a series of one or two points is drawn with markers."""
    data = load_run_data(source, **load)
    if axes is None:
        fig, axes = new_figure(2, 1, figsize=(8.0, 5.0), sharex=True)
    else:
        fig = axes[0].figure
    acc_ax, loss_ax = axes
    drawn = {"acc": 0, "loss": 0}
    for split, style in (("train", {"ls": ":", "alpha": 0.8}), ("test", {"lw": 1.6})):
        for kind, ax in (("acc", acc_ax), ("loss", loss_ax)):
            name = f"{split}_{kind}"
            series = data.column(name)
            if series is None or not len(series):
                continue
            values = series[name] if kind == "acc" else _positive(series[name])
            word = "accuracy" if kind == "acc" else "loss"
            ax.plot(
                series["step"],
                values,
                color=_SPLIT[split],
                label=f"{'test (held-out)' if split == 'test' else split} {word}",
                marker="o" if len(series) <= 2 else None,
                **style,
            )
            drawn[kind] += 1
    for kind, ax, word in (("acc", acc_ax, "accuracy"), ("loss", loss_ax, "loss")):
        if not drawn[kind]:
            spellings = "eval_accuracy, val_acc, accuracy" if kind == "acc" else "loss, val_loss"
            _empty(ax, word, _METRIC_HINT.format(name=f"test_{kind}", spellings=spellings))
    if drawn["acc"]:
        acc_ax.set_ylim(-0.03, 1.03)
    if drawn["loss"]:
        loss_ax.set_yscale("log")
    span = _step_range(data)
    for ax in axes:
        _mark_events(ax, data)
        if span is not None:
            ax.set_xlim(*span)
    if drawn["loss"]:
        _log_ticks(loss_ax)
    _legend(acc_ax)
    _legend(loss_ax)
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
                ax.axvline(
                    step,
                    gid="event-grok",
                    label=f"{label} grokked ({step})",
                    **{**EVENT_STYLES["grok"], "color": colors[i]},
                )
    if not any_drawn:
        _empty(ax, quantity, "none of these runs recorded it")
    else:
        if log:
            ax.set_yscale("log")
            _log_ticks(ax)
        if quantity == "k_star":
            _integer_axis(ax, np.concatenate([line.get_ydata() for line in ax.lines]))
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
        _log_ticks(ax, "x")
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
    _log_ticks(ax)
    _legend(ax)
    return fig, ax
