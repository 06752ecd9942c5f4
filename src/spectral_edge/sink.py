"""Where a monitor's windows, metrics and events go, and how a failing store is survived.

A *sink* is anything with the three writes of :class:`Sink`: the run store's
:class:`~spectral_edge.store.Run`, the recorder that stands in for a run while checkpoints are
read (:mod:`spectral_edge.integrations.checkpoints`), or a test double. The monitor writes only
through a :class:`GuardedWriter`, because the monitor must never break the training it watches:

* a full disk, a read-only or locked store (an ``OSError`` or SQLite ``OperationalError``, also
  as the cause of another error) is an *outage*. The refused writes are kept, up to
  :data:`UNWRITTEN_LIMIT` (oldest dropped first), and retried in order before the next write, so
  once space returns the store catches up and a ``store_recovered`` event records the outage.
  One ``store_error`` event reports an outage, not every refused write;
* a write refused for any other reason (bad data) is reported each time and not retried;
* with ``strict=True`` every failure propagates instead.

Events are reported through a callback (the monitor's ``emit``), so they reach the monitor's
history and callbacks even while the store is down.
"""

from __future__ import annotations

import sqlite3
import warnings
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from spectral_edge.lifecycle import resumable_run
from spectral_edge.store import RunStore, open_store

# Store writes refused by a full disk or read-only store, kept for a retry: about 50 MB at most.
UNWRITTEN_LIMIT = 10_000


class Sink(Protocol):
    """What a monitor writes to; :class:`~spectral_edge.store.Run` is the usual one."""

    def log_window(self, step: int, features: Mapping[str, Any]) -> None: ...

    def log_metrics(self, step: int, metrics: Mapping[str, Any]) -> None: ...

    def log_event(
        self, step: int, kind: str, message: str = "", evidence: Mapping[str, Any] | None = None
    ) -> None: ...


# report(step, kind, message, evidence): how the writer tells its owner about an outage
Report = Callable[[int, str, str, dict], object]


def store_unavailable(exc: BaseException | None) -> bool:
    """True for failures of the storage itself (full disk, read-only, locked), not of the data."""
    while exc is not None:
        if isinstance(exc, OSError | sqlite3.OperationalError):
            return True
        exc = exc.__cause__
    return False


class GuardedWriter:
    """Writes to a sink; an outage is held back and retried, never raised (module docstring)."""

    def __init__(self, sink: Sink, report: Report, strict: bool = False):
        self.sink = sink
        self.report = report
        self.strict = strict
        self.unwritten: deque = deque(maxlen=UNWRITTEN_LIMIT)  # (step, write) refused in outage
        self.dropped = self.written_back = 0
        self.outage_since: int | None = None

    def log_window(self, step: int, features: Mapping[str, Any]) -> None:
        self.write(step, lambda: self.sink.log_window(step, features))

    def log_metrics(self, step: int, metrics: Mapping[str, Any]) -> None:
        self.write(step, lambda: self.sink.log_metrics(step, metrics))

    def log_event(
        self, step: int, kind: str, message: str = "", evidence: Mapping[str, Any] | None = None
    ) -> None:
        self.write(step, lambda: self.sink.log_event(step, kind, message, evidence))

    def update_config(self, updates: dict) -> None:
        if updates and hasattr(self.sink, "update_config"):
            self.write(0, lambda: self.sink.update_config(updates, replace=True))

    def write(self, step: int, write: Callable[[], object]) -> None:
        """Run one write of the sink; see the module docstring for what a failure does."""
        try:
            if self.unwritten and not self._retry_unwritten(step):
                self._hold(step, write)
                return
            write()
        except Exception as exc:
            if self.strict:
                raise
            if not store_unavailable(exc):
                report_store_error(self.report, step, exc)
                return
            self._hold(step, write)
            if len(self.unwritten) == 1:
                report_store_error(
                    self.report,
                    step,
                    exc,
                    " (writes are kept in memory and retried; the history is in "
                    "monitor.to_dataframe())",
                )

    def _hold(self, step: int, write: Callable[[], object]) -> None:
        if len(self.unwritten) == self.unwritten.maxlen:
            self.dropped += 1
        self.unwritten.append((step, write))

    def _retry_unwritten(self, step: int) -> bool:
        """Write what an outage held back, oldest first; False if the store still refuses."""
        first = self.unwritten[0][0] if self.outage_since is None else self.outage_since
        self.outage_since = first  # a retry may write part of the backlog, then fail again
        while self.unwritten:
            held_step, write = self.unwritten[0]
            try:
                write()
                self.written_back += 1
            except Exception as exc:
                if store_unavailable(exc):
                    return False
                report_store_error(self.report, held_step, exc)
            self.unwritten.popleft()
        written, dropped = self.written_back, self.dropped
        self.written_back = self.dropped = 0
        self.outage_since = None
        self.report(
            step,
            "store_recovered",
            f"the run store accepts writes again after an outage since step {first}: {written} "
            "held writes were written" + (f", {dropped} older ones dropped" if dropped else ""),
            {"since_step": first, "written": written, "dropped": dropped},
        )
        return True


def report_store_error(
    report: Report,
    step: int,
    exc: Exception,
    note: str = "",
    action: str = "write to",
    stacklevel: int = 5,
) -> None:
    """A ``store_error`` event and a warning (the event itself is never written to the store);
    ``stacklevel`` points the warning at the training loop's line."""
    report(step, "store_error", f"could not {action} the run store: {exc}{note}", {})
    warnings.warn(f"spectral-edge store: {exc}", RuntimeWarning, stacklevel=stacklevel)


def open_run(
    store,
    name: str | None,
    config: dict,
    seeds: dict,
    definitions: dict,
    *,
    report: Report,
    overwrite: bool = False,
    resume: bool = False,
    strict: bool = False,
):
    """The run a monitor writes: ``store`` is a :class:`RunStore` or a path; with ``resume`` the
    run of that name is continued if there is one (``config["monitor"]`` must match).

    A store that cannot be opened (an outage, as above) is reported and None returned: the
    monitor then keeps its history in memory only. Bad arguments raise.
    """
    try:
        if not isinstance(store, RunStore):
            store = open_store(store)
        if resume:
            run = resumable_run(store, name, config["monitor"])
            if run is not None:
                return run
        return store.create_run(
            name, config=config, seeds=seeds, definitions=definitions, overwrite=overwrite
        )
    except Exception as exc:
        if strict or not store_unavailable(exc):
            raise
        note = " (the monitor keeps its history in memory only: monitor.to_dataframe())"
        report_store_error(report, 0, exc, note, action="open", stacklevel=5)
        return None
