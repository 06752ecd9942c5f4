"""``spectral-edge watch``: follow a running job from another terminal.

The store is SQLite in WAL mode, so a reader costs the writer nothing: the watcher opens it
read-only, asks short questions (no transaction is held between two refreshes, so the writer's
checkpoints are never held back) and reads each table from the last step it has seen, since a
step's rows may still be growing (metrics logged in two calls at one step, events at the step of
a window); once the run has ended it reads the whole run one last time. What it shows,
refreshed every ``interval`` seconds until the run leaves ``running``
(finished, failed, interrupted, or a writer that died: :mod:`spectral_edge.lifecycle`):

* the latest windows: k*, R, r23, g23, A and its regime;
* small text plots (sparklines) of R, g23, k*, A_DK and the training metrics, read under their
  canonical names (:mod:`spectral_edge.metrics`);
* the latest metrics and events (phase, warning, grokking, errors) as they arrive.

On a terminal the frame is redrawn in place (``rich``); otherwise (a pipe, a log file) each new
window, metric step and event is printed once as a line, and the final frame at the end, so that
nothing is lost and the output reads like a log. ``once=True`` prints one frame.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from spectral_edge.core.stability import adiabatic_regime
from spectral_edge.errors import SpectralEdgeError
from spectral_edge.metrics import canonical_metrics, declared_names

BARS = "▁▂▃▄▅▆▇█"
# (heading, window feature) of the windows table and of the window lines
WINDOW_COLUMNS = (
    ("k*", "k_star"),
    ("R", "gap_ratio"),
    ("r23", "r23"),
    ("g23", "g23"),
    ("A", "adiabatic"),
    ("A_DK", "adiabatic_dk"),
)
WINDOW_SERIES = (("R", "gap_ratio"), ("g23", "g23"), ("k*", "k_star"), ("A_DK", "adiabatic_dk"))
METRIC_SERIES = ("train_loss", "test_loss", "train_acc", "test_acc")
SHOWN = 8  # rows of windows and events in a frame


@dataclass
class RunView:
    """What the watcher has read of one run so far."""

    name: str
    id: int
    status: str = "running"
    config: dict = field(default_factory=dict)
    windows: pd.DataFrame = field(default_factory=pd.DataFrame)
    metrics: pd.DataFrame = field(default_factory=pd.DataFrame)
    events: pd.DataFrame = field(default_factory=pd.DataFrame)


@dataclass
class News:
    """What one refresh found that was not there before (for the line-by-line output)."""

    windows: pd.DataFrame
    metrics: pd.DataFrame
    events: pd.DataFrame

    def __bool__(self) -> bool:
        return not (self.windows.empty and self.metrics.empty and self.events.empty)


class Follower:
    """Reads a run incrementally: each refresh asks only for the steps from the last one seen.

    A writer logs in step order, except for rows it held back during a store outage and wrote
    later (:class:`spectral_edge.sink.GuardedWriter`); those are read by the last refresh, which
    reads the whole run once it has ended, so the final frame and the lines miss nothing.
    """

    def __init__(self, run):
        self.run = run
        self.view = RunView(run.name, run.id)
        self._reported: dict[str, set | Counter] = {
            "windows": set(),
            "metrics": set(),
            "events": Counter(),
        }

    def refresh(self) -> News:
        """Read the status, then what was added; the status first, so that a run seen ended
        has every row it wrote in this read."""
        info = self.run.info
        view = self.view
        view.status, view.config = info["status"], info["config"]
        ended = not self.running
        for table in ("windows", "metrics", "events"):
            read = getattr(self.run, table)
            seen = getattr(view, table)
            fresh = read() if ended else _grow(seen, read(since=_last(seen)))
            setattr(view, table, fresh)
        # A window is written whole; the metrics of the newest step may still grow (a second
        # log_metrics call at that step): they are news once a later step exists or the run
        # has ended.
        return News(
            self._new_steps("windows", view.windows, complete=True),
            self._new_steps("metrics", view.metrics, complete=ended),
            self._new_events(view.events),
        )

    def _new_steps(self, table: str, frame: pd.DataFrame, complete: bool) -> pd.DataFrame:
        reported = self._reported[table]
        if frame.empty:
            return frame
        fresh = frame[~frame["step"].isin(reported)]
        if not complete:
            fresh = fresh[fresh["step"] < frame["step"].iloc[-1]]
        reported.update(int(s) for s in fresh["step"])
        return fresh

    def _new_events(self, events: pd.DataFrame) -> pd.DataFrame:
        """Events not reported yet: two identical events at one step are two events."""
        reported, counts, fresh = self._reported["events"], Counter(), []
        columns = [events.get(c, []) for c in ("step", "kind", "message")]
        for i, key in enumerate(zip(*columns, strict=True)):
            counts[key] += 1
            if counts[key] > reported[key]:
                fresh.append(i)
        reported.update(counts - reported)
        return events.iloc[fresh]

    @property
    def running(self) -> bool:
        return self.view.status == "running"


def _last(frame: pd.DataFrame) -> int | None:
    return None if frame.empty else int(frame["step"].iloc[-1])


def _grow(seen: pd.DataFrame, read: pd.DataFrame) -> pd.DataFrame:
    """``seen`` with its rows from the first step of ``read`` on replaced by ``read``."""
    if seen.empty:
        return read.reset_index(drop=True)
    if read.empty:
        return seen
    kept = seen[seen["step"] < read["step"].iloc[0]]
    return pd.concat([kept, read], ignore_index=True)


# -- choosing the run ----------------------------------------------------------------------------


def choose_run(store, name=None):
    """The run named (name or id), else the newest ``running`` run, else the newest run."""
    if name is not None:
        return store.run(name)
    table = store.runs()
    if table.empty:
        raise SpectralEdgeError(f"no runs in {store.path} yet; start one, or use --wait")
    running = table[table["status"] == "running"]
    chosen = running if not running.empty else table
    return store.run(int(chosen["id"].iloc[-1]))


def open_run(path, name=None, wait: bool = False, interval: float = 1.0, say=None):
    """Open the store read-only and find the run; with ``wait``, until both exist."""
    from spectral_edge.store import open_store

    said = False
    while True:
        try:
            store = open_store(path, read_only=True)
        except SpectralEdgeError as exc:
            if not wait:
                raise SpectralEdgeError(
                    f"{exc} (a job that is just starting: add --wait to wait for it)"
                ) from None
            store = None
        if store is not None:
            try:
                return store, choose_run(store, name)
            except SpectralEdgeError:
                store.close()
                if not wait:
                    raise
        if say is not None and not said:
            say(f"waiting for {'run ' + repr(name) if name else 'a run'} in {path} ...")
            said = True
        time.sleep(interval)


# -- what is shown -------------------------------------------------------------------------------


def regimes(windows: pd.DataFrame, config: dict) -> list[str]:
    """The A_DK regime of each window, with the thresholds the run's monitor used."""
    monitor = config.get("monitor", {}) if isinstance(config, dict) else {}
    low, high = monitor.get("regime_low", 0.1), monitor.get("regime_high", 10.0)
    if "adiabatic_dk" not in windows:
        return ["undefined"] * len(windows)
    return [adiabatic_regime(float(a), low, high) for a in windows["adiabatic_dk"]]


def sparkline(values, width: int = 40) -> str:
    """A text plot of a series: ``width`` bars, each the mean of its share of the points."""
    data = np.asarray(pd.to_numeric(pd.Series(values), errors="coerce"), dtype=float)
    if data.size == 0:
        return ""
    if data.size > width:
        data = np.array(
            [np.nanmean(c) if np.isfinite(c).any() else np.nan for c in np.array_split(data, width)]
        )
    finite = data[np.isfinite(data)]
    if finite.size == 0:
        return " " * data.size
    lo, hi = float(finite.min()), float(finite.max())
    span = hi - lo
    out = []
    for v in data:
        if not math.isfinite(v):
            out.append(" ")
        elif span == 0:
            out.append(BARS[len(BARS) // 2])
        else:
            out.append(BARS[min(len(BARS) - 1, int((v - lo) / span * len(BARS)))])
    return "".join(out)


def number(value, spec: str = ".4g") -> str:
    """A value for the screen: integers as they are, NaN and missing as '-'."""
    if value is None:
        return "-"
    try:
        x = float(value)
    except (TypeError, ValueError):
        return str(value)
    if not math.isfinite(x):
        return "-" if math.isnan(x) else str(x)
    return str(int(x)) if x == int(x) and abs(x) < 1e15 else format(x, spec)


def window_line(row, regime: str) -> str:
    cells = " ".join(f"{head}={number(row.get(key))}" for head, key in WINDOW_COLUMNS)
    return f"window step={int(row['step'])} {cells} regime={regime}"


def metrics_line(row, config: dict) -> str:
    """One step's metrics, under their canonical names where the vocabulary knows them."""
    named = canonical_metrics(
        {k: v for k, v in row.items() if k != "step" and not _missing(v)}, declared_names(config)
    )
    cells = " ".join(f"{k}={number(v)}" for k, v in named.items())
    return f"metrics step={int(row['step'])} {cells}"


def event_line(row) -> str:
    return f"event step={int(row['step'])} {row['kind']}: {row['message']}"


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def frame(view: RunView, width: int = 40):
    """The screen: a rich renderable of the run's header, windows, series, metrics, events."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    windows, events = view.windows, view.events
    metrics = canonical_metrics(view.metrics, declared_names(view.config))
    monitor = view.config.get("monitor", {})
    sketch = monitor.get("sketch_dim")
    last_step = max(
        [int(f["step"].iloc[-1]) for f in (windows, view.metrics, events) if not f.empty],
        default=None,
    )
    header = Text()
    header.append(f"run {view.name!r} (id {view.id}) ", style="bold")
    header.append(view.status, style="green" if view.status == "running" else "yellow")
    header.append(
        f"  step {number(last_step)}  {len(windows)} windows  {len(events)} events"
        f"  W={monitor.get('window', '?')} every={monitor.get('every', '?')}"
        f" params={monitor.get('params', '?')} "
        + ("exact" if sketch is None else f"sketch d={sketch}")
    )

    table = Table(title="latest windows", title_justify="left", expand=False)
    table.add_column("step", justify="right")
    for head, _ in WINDOW_COLUMNS:
        table.add_column(head, justify="right")
    table.add_column("regime")
    tail = windows.tail(SHOWN)
    for row, regime in zip(
        tail.to_dict("records"), regimes(tail, view.config)[-len(tail) :], strict=True
    ):
        table.add_row(
            str(int(row["step"])), *(number(row.get(key)) for _, key in WINDOW_COLUMNS), regime
        )

    series = Table(title="series", title_justify="left", expand=False)
    for head in ("", "plot", "min", "last", "max"):
        series.add_column(head, justify="left" if head in ("", "plot") else "right")
    plotted = [(head, windows[key]) for head, key in WINDOW_SERIES if key in windows]
    plotted += [(name, metrics[name]) for name in METRIC_SERIES if name in metrics]
    for head, values in plotted:
        finite = pd.to_numeric(values, errors="coerce").dropna()
        series.add_row(
            head,
            sparkline(values, width),
            number(finite.min() if len(finite) else None),
            number(finite.iloc[-1] if len(finite) else None),
            number(finite.max() if len(finite) else None),
        )

    latest = Table(title="latest metrics", title_justify="left", expand=False)
    latest.add_column("metric")
    latest.add_column("value", justify="right")
    latest.add_column("step", justify="right")
    for name in [c for c in metrics.columns if c != "step"]:
        known = metrics[["step", name]].dropna()
        if len(known):
            latest.add_row(name, number(known[name].iloc[-1]), str(int(known["step"].iloc[-1])))

    happened = Table(title="events", title_justify="left", expand=False)
    happened.add_column("step", justify="right")
    happened.add_column("kind")
    happened.add_column("message", overflow="fold")
    for row in events.tail(SHOWN).to_dict("records"):
        happened.add_row(str(int(row["step"])), str(row["kind"]), str(row["message"])[:160])
    return Group(header, table, series, latest, happened)


# -- the loop ------------------------------------------------------------------------------------


def watch(
    path,
    run=None,
    *,
    interval: float = 2.0,
    once: bool = False,
    live: bool | None = None,
    wait: bool = False,
    console=None,
    sleep: Callable[[float], None] = time.sleep,
) -> str:
    """Follow a run until it is no longer ``running``; returns its final status.

    Args:
        path: the store (file or directory), opened read-only.
        run: a run name or id (default: the newest running run, else the newest run).
        interval: seconds between two refreshes.
        once: print one frame and return.
        live: redraw in place (default: when the console is a terminal); else print each new
            window, metric step and event as a line, and the final frame at the end.
        wait: wait for the store and the run to appear instead of failing.
        console: a ``rich.console.Console`` (default: standard output).
    """
    from rich.console import Console

    if not interval > 0:
        raise SpectralEdgeError(f"--interval must be a positive number of seconds, got {interval}")
    if console is None:
        import sys

        # A pipe or a file gets a width that fits the tables, not rich's default 80.
        console = Console(highlight=False, width=None if sys.stdout.isatty() else 120)
    live = console.is_terminal if live is None else live
    say = (lambda text: console.print(text, markup=False)) if not once else None
    store, chosen = open_run(path, run, wait=wait, interval=interval, say=say)
    with store:
        follower = Follower(chosen)
        if once:
            follower.refresh()
            console.print(frame(follower.view))
            return follower.view.status
        if live:
            _follow_live(follower, console, interval, sleep)
        else:
            _follow_lines(follower, console, interval, sleep)
        return follower.view.status


def _follow_live(follower: Follower, console, interval: float, sleep) -> None:
    from rich.live import Live

    follower.refresh()
    with Live(frame(follower.view), console=console, auto_refresh=False) as screen:
        while follower.running:
            sleep(interval)
            if follower.refresh():
                screen.update(frame(follower.view), refresh=True)
        screen.update(frame(follower.view), refresh=True)
    console.print(f"run {follower.view.name!r}: {follower.view.status}", markup=False)


def _follow_lines(follower: Follower, console, interval: float, sleep) -> None:
    view = follower.view
    console.print(f"following run {view.name!r} (id {view.id})", markup=False)
    while True:
        news = follower.refresh()
        for line in _lines(news, view.config):
            console.print(line, markup=False, soft_wrap=True)
        if not follower.running:
            break
        sleep(interval)
    console.print(f"run {view.name!r}: {view.status}", markup=False)
    console.print(frame(view))


def _lines(news: News, config: dict) -> list[str]:
    """New windows, metric steps and events, in step order (a window before its events)."""
    out: list[tuple[int, int, str]] = []
    for row, regime in zip(
        news.windows.to_dict("records"), regimes(news.windows, config), strict=True
    ):
        out.append((int(row["step"]), 0, window_line(row, regime)))
    for row in news.metrics.to_dict("records"):
        out.append((int(row["step"]), 1, metrics_line(row, config)))
    for row in news.events.to_dict("records"):
        out.append((int(row["step"]), 2, event_line(row)))
    return [line for *_, line in sorted(out, key=lambda item: item[:2])]
