"""What the framework adapters share: build the monitor late, save and restore it, own the run.

Frameworks restore their checkpoints at different moments (Lightning after ``setup`` and, for
some strategies, after wrapping the model; Hugging Face before ``on_train_begin``), so an adapter
builds its monitor only when training starts, after any restore, and applies the saved state
then. The saved state names the run it was writing, so a resumed run keeps writing the same run
in the store instead of starting a second one (re-logging a window is harmless: the store keeps
the last value of a (step, name)).
"""

from __future__ import annotations

import warnings

from spectral_edge.errors import SpectralEdgeError
from spectral_edge.integrations.distributed import distributed_monitor
from spectral_edge.learning_rate import learning_rate
from spectral_edge.parallel import global_rank
from spectral_edge.store import RunStore, open_store

STATE_VERSION = 1


class MonitorSession:
    """One adapter's monitor: created at train start, observed per optimizer step, resumable."""

    def __init__(self, store=None, compute: str = "all", trackers=(), **monitor_kwargs):
        if "model" in monitor_kwargs:
            raise SpectralEdgeError("the adapter passes the framework's model itself; drop model=")
        self.store = store
        self.compute = compute
        self.trackers = list(trackers)
        self.monitor_kwargs = monitor_kwargs
        self.monitor = None
        self.pending: dict | None = None
        self._opened = None  # a RunStore this session opened (closed at the end)

    def start(self, model) -> None:
        """Build the monitor on ``model`` (after any restore) and apply a pending state."""
        if self.monitor is not None:
            return
        state, self.pending = self.pending, None
        store = self._store_for(state)
        self.monitor = distributed_monitor(
            model, store=store, compute=self.compute, **self.monitor_kwargs
        )
        if state is not None and self._usable(state):
            self.monitor.load_state_dict(state["monitor"])
        for tracker in self.trackers:
            if global_rank() == 0:
                tracker.attach(self.monitor)

    def observe(self, step: int, optimizers, lr_policy: str | None = None):
        """One optimizer step; η from the framework's optimizers by the monitor's lr_policy."""
        policy = lr_policy or self.monitor_kwargs.get("lr_policy", "first")
        lr = learning_rate(list(optimizers), policy) if optimizers else None
        return self.monitor.observe(int(step), lr=lr)

    def state(self) -> dict:
        """The monitor's state and the name of its run, for the framework's checkpoint."""
        if self.monitor is None:
            return dict(self.pending) if self.pending is not None else {}
        run = getattr(self.monitor, "run", None)
        return {
            "version": STATE_VERSION,
            "monitor": self.monitor.state_dict(),
            "run": None if run is None else run.name,
            "sharded": getattr(self.monitor, "reduce", None) is not None,
            "rank": global_rank(),
        }

    def restore(self, state: dict) -> None:
        """Take a saved state: applied now if the monitor exists, else when training starts."""
        if not state:
            return
        if state.get("version") != STATE_VERSION or "monitor" not in state:
            raise SpectralEdgeError(
                f"the checkpoint's spectral-edge state has version {state.get('version')!r}; "
                f"this spectral-edge reads version {STATE_VERSION}"
            )
        if self.monitor is None:
            self.pending = state
        elif self._usable(state):
            self.monitor.load_state_dict(state["monitor"])

    def _usable(self, state: dict) -> bool:
        """A sharded monitor's state is one process's shard: only that rank may load it.

        A framework that saves callback state from rank 0 alone (Lightning does) hands rank 0's
        shard to every process; the others then start afresh (with a warning) rather than
        computing with another process's coordinates.
        """
        if not state.get("sharded") or state.get("rank", 0) == global_rank():
            return state.get("monitor") != {}
        warnings.warn(
            f"spectral-edge: the saved monitor state is rank {state.get('rank')}'s shard; "
            f"rank {global_rank()} starts a fresh window",
            RuntimeWarning,
            stacklevel=3,
        )
        return False

    def record_config(self, updates: dict) -> None:
        """What the framework says about the training (optimizer, its arguments), into the
        run's config, so that ``compare`` can name a difference in them."""
        if self.monitor is not None:
            self.monitor.record_config(updates)

    def finish(self, status: str = "finished") -> None:
        """Training ended (or failed): finish the run, once, whoever opened it, and close the
        store this session opened (never one the user passed)."""
        monitor = self.monitor
        if monitor is not None:
            monitor.close(status)  # the run the monitor opened, and no second finish at exit
        run = getattr(monitor, "run", None)
        if run is not None and hasattr(run, "finish"):  # a resumed run, handed to the monitor
            try:
                run.finish(status)
            except SpectralEdgeError:
                pass  # a store that went away must not fail the end of training
        opened, self._opened = self._opened, None
        if opened is not None:  # opened here to resume a run; a store the user passed stays open
            opened.close()
        for tracker in self.trackers:
            tracker.close()

    def _store_for(self, state):
        """The store to hand the monitor: the run being resumed if there is one."""
        name = None if state is None else state.get("run")
        if self.store is None or name is None or global_rank() != 0:
            return self.store
        store = self.store
        if hasattr(store, "log_window"):  # already a Run
            return store
        if not isinstance(store, RunStore):
            store = self._opened = open_store(store)
        try:
            run = store.run(name)
        except SpectralEdgeError:
            return store  # the run was deleted: start a new one
        run.set_status("running")  # written again, by this process (spectral_edge.lifecycle)
        return run
