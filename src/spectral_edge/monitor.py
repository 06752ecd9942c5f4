"""SpectralMonitor: snapshot → rolling Gram → spectrum → events → store, during training.

One line attaches it to a plain PyTorch loop::

    monitor = SpectralMonitor(model, window=10, every=100, params="attention", store="runs/")
    monitor.attach(optimizer)          # observes after every optimizer.step()

or call ``monitor.observe(step)`` yourself after each optimizer step, and ``monitor.close()`` (or
``with SpectralMonitor(...) as monitor``) when training is over; see :mod:`spectral_edge.lifecycle`
for what happens to the run otherwise.

Every ``every`` optimizer steps the monitor pushes the update δ_t = θ_t − θ_{t−1} of the selected
parameters (or its sketch) into its :class:`RollingGram`, and records each new window's features,
the regime included, in its history, the run store, the online dynamics and the callbacks. This
module keeps that state and the hooks; the parts live beside it: the parameters and their changes
(:mod:`~spectral_edge.snapshot`), the updates (:mod:`~spectral_edge.updates`), η
(:mod:`~spectral_edge.learning_rate`), the phases and the warning (:mod:`~spectral_edge.online`),
the store behind a guarded writer (:mod:`~spectral_edge.sink`), the records
(:mod:`~spectral_edge.records`).

The monitor must never break the training it watches. A non-finite update is rejected (the window
is not poisoned), reported as an event, and the next snapshot starts a fresh baseline; a parameter
that disappears or changes shape starts a fresh window and is reported; a store that fails is
reported and caught up later (:mod:`spectral_edge.sink`); any other failure inside the monitor is
reported as a ``monitor_error`` event and a warning. Only ``strict=True`` lets errors propagate.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from dataclasses import asdict

import numpy as np
import pandas as pd
import torch
from torch import nn

from spectral_edge._version import __version__
from spectral_edge.core.features import window_features
from spectral_edge.core.gram import RollingGram
from spectral_edge.core.sketch import make_sketch
from spectral_edge.errors import SpectralEdgeError
from spectral_edge.learning_rate import LR_POLICIES as LR_POLICIES  # re-exported: public name
from spectral_edge.learning_rate import learning_rate
from spectral_edge.lifecycle import RunCloser
from spectral_edge.metrics import canonical_metrics, check_metric_names
from spectral_edge.online import OnlineDynamics
from spectral_edge.parallel import mesh_reduce, unwrap, writes_store
from spectral_edge.records import Event, MonitorConfig, WindowRecord, check_state
from spectral_edge.sink import GuardedWriter, open_run
from spectral_edge.snapshot import LayoutFollower, Selection, describe_selection
from spectral_edge.snapshot import layout_change as layout_change  # re-exported: public name
from spectral_edge.store import integer_columns
from spectral_edge.training_config import describe_optimizers
from spectral_edge.updates import UpdateStream, resolution_floor

log = logging.getLogger(__name__)


class SpectralMonitor:
    """Watch the spectral edge of a model's parameter updates.

    Args:
        model: the torch module being trained.
        window: W, updates per window (≥ 2; the thesis default is 10).
        every: snapshot every N optimizer steps (a snapshot is taken when step % every == 0).
        params: parameter selection, see :mod:`spectral_edge.snapshot`.
        sketch_dim: None for the exact Gram, or d for a seeded linear sketch of dimension d.
        store: a RunStore, a Run, or a path (a run is created in it), or None.
        sketch, seed: sketch family ("fold" or "gaussian") and its seed.
        k_star: k* variant driving R, g and A: "plain", "weighted" or "weighted_cut".
        center: analyse centred windows (an ablation; the thesis is uncentred).
        trainable_only: select only parameters with requires_grad at construction.
        lr_policy: which η the adiabatic parameter uses with several groups/optimizers.
        regime: (low, high) thresholds of the A_DK regimes.
        ratio_floor: σ_j below ratio_floor·σ_1 count as ratio_floor·σ_1 in the ratios r_j.
            Default: the Gram's resolution, 1e-3 for float32 (or narrower) parameters and 1e-6
            for float64 ones (see :func:`resolution_floor`).
        phases: track the phase of R (rise, plateau, collapse) online and emit "phase" events;
            True for the default :class:`~spectral_edge.dynamics.PhaseTracker`, or pass one.
        warning: run the online early warning and emit a "warning" event; True for the rule of
            docs/early-warning.md, or pass a rule or a warning (:mod:`spectral_edge.online`).
            Both see full windows only: a filling window has fewer updates and is not comparable.
        strict: let errors inside the monitor raise into the training loop.
        run_name, run_config: name of the created run and extra configuration to record with it
            (seeds, model, data: whatever makes the run reproducible).
        overwrite: replace a run of that name in the store (and everything it logged).
        resume: continue the run of that name if there is one (status back to ``running``;
            restore the monitor itself with :meth:`load_state_dict`), else create it.
        metric_names: which logged metric is which canonical one, for names the vocabulary
            of :mod:`spectral_edge.metrics` does not know, e.g. ``{"test_acc": "val_top1"}``
            (what grokking is detected on); recorded as ``config["metric_names"]``.
        callbacks: functions called as ``f(event, monitor)`` for every event.
        window_callbacks: functions called as ``f(record, monitor)`` for every new window (a
            tracker, a live plot); failures are reported like the monitor's own.
        reduce: for parameters sharded across processes, a function summing a float64
            vector over the processes (an all-reduce), applied to each new Gram row and to each
            sketch S(θ). Not needed for FSDP2: sharded parameters are found and reduced over
            their own device mesh (:mod:`spectral_edge.parallel`).

    Under torch.distributed the monitor needs no ceremony: a ``DistributedDataParallel``
    wrapper is read through to its module, FSDP2 (``fully_shard``) parameters are reduced over
    their mesh so that every process gets the single-process windows, and only global rank 0
    writes the store (see :mod:`spectral_edge.parallel`).
    """

    def __init__(
        self, model: nn.Module, window: int = 10, every: int = 1, params: Selection = "all",
        sketch_dim: int | None = None, store=None, *, sketch: str = "fold", seed: int = 0,
        k_star: str = "plain", center: bool = False, trainable_only: bool = True,
        lr_policy: str = "first", regime: tuple[float, float] = (0.1, 10.0),
        ratio_floor: float | None = None, phases=True, warning=True, strict: bool = False,
        run_name: str | None = None, run_config: dict | None = None, overwrite: bool = False,
        resume: bool = False, metric_names: dict[str, str] | None = None,
        callbacks: list[Callable] | None = None, window_callbacks: list[Callable] | None = None,
        reduce: Callable[[np.ndarray], np.ndarray] | None = None,
    ):  # fmt: skip
        self.config = MonitorConfig(
            window=window, every=every, params=describe_selection(params), sketch_dim=sketch_dim,
            sketch=sketch, seed=seed, k_star=k_star, center=center, trainable_only=trainable_only,
            lr_policy=lr_policy, regime_low=float(regime[0]), regime_high=float(regime[1]),
            ratio_floor=ratio_floor, phases=phases is not False and phases is not None,
            warning=warning is not False and warning is not None, strict=strict,
        )  # fmt: skip
        self.config.validate()
        if overwrite and resume:
            raise SpectralEdgeError(
                "overwrite=True replaces a run and resume=True continues it: pass one of them"
            )
        self.model = unwrap(model)  # DDP: the module itself (spectral_edge.parallel)
        self.follower = LayoutFollower(self.model, params, trainable_only, strict)
        if reduce is None and self.layout.is_sharded(self.model):
            reduce = mesh_reduce(self.layout.tensors(self.model))  # FSDP2: sum over the shards
        self.reduce = reduce
        self.sketcher = None if sketch_dim is None else make_sketch(sketch, sketch_dim, seed)
        self.updates = UpdateStream(self.sketcher, reduce)
        self.gram = RollingGram(window)
        self.ratio_floor = ratio_floor or resolution_floor(self.layout.tensors(self.model)[0].dtype)
        self.dynamics = OnlineDynamics(phases, warning, window, every)
        self.tracker, self.warning = self.dynamics.tracker, self.dynamics.warning
        self.callbacks = list(callbacks or [])
        self.window_callbacks = list(window_callbacks or [])
        self.events: list[Event] = []
        self.history: list[dict] = []
        self.latest: WindowRecord | None = None
        self.steps_observed = 0
        self._hook = None
        self._optimizers: list[torch.optim.Optimizer] = []
        self.metric_names = check_metric_names(metric_names)
        names = {"metric_names": self.metric_names} if self.metric_names else {}
        if not writes_store() and store is not None:
            log.debug("this process is not global rank 0: it leaves the run store to rank 0")
            store = None  # one writer: the others would each create the same run
        self._closer = None  # finishes the run this monitor opened (spectral_edge.lifecycle)
        self.run = None  # no writer while the run is opened: an error there is only an event
        run_config = {**names, **(run_config or {})}
        self.run = self._open_run(store, run_name, run_config, overwrite, resume)

    @property
    def run(self):
        """The run (any :class:`~spectral_edge.sink.Sink`) written to, or None; assignable."""
        return self._run

    @run.setter
    def run(self, run) -> None:
        self._run = run
        self.writer = None if run is None else GuardedWriter(run, self.emit, self.config.strict)

    @property
    def phase(self) -> str:
        """The phase of R the online tracker is in ("before" without one)."""
        return self.dynamics.phase

    @property
    def layout(self):
        """The :class:`~spectral_edge.snapshot.ParameterLayout` watched now."""
        return self.follower.layout

    # -- public --------------------------------------------------------------------------------

    def describe(self) -> dict:
        """The configuration to record: definitions, layout and versions."""
        return {
            **asdict(self.config),
            "ratio_floor_used": self.ratio_floor,
            **self.dynamics.describe(),
            "n_params": self.layout.numel,
            "n_tensors": len(self.layout.slots),
            "spectral_edge_version": __version__,
            "torch_version": torch.__version__,
        }

    def definitions(self) -> dict:
        """The open definitions of the thesis, as this monitor resolves them."""
        return self.config.definitions()

    def attach(self, optimizer, *more: torch.optim.Optimizer):
        """Observe after every ``optimizer.step()``; returns self. The η comes from ``optimizer``
        (and ``more``, by ``lr_policy``). Gradient accumulation needs nothing special: the hook
        fires once per real optimizer step."""
        if not hasattr(optimizer, "register_step_post_hook"):
            raise SpectralEdgeError(
                "this optimizer has no register_step_post_hook (torch >= 2.0 needed); "
                "call monitor.observe(step) after optimizer.step() instead"
            )
        self.detach()
        self._optimizers = [optimizer, *more]
        self._hook = optimizer.register_step_post_hook(lambda *_: self.observe())
        self.record_config(describe_optimizers(self._optimizers))
        return self

    def detach(self) -> None:
        if self._hook is not None:
            self._hook.remove()
            self._hook = None

    def record_config(self, updates: dict) -> None:
        """Add what the run's config should say about the training (the optimizer, framework
        arguments) to the stored run; a later value of a key replaces the earlier one."""
        if self.writer is not None:
            self.writer.update_config(updates)

    def close(self, status: str = "finished") -> None:
        """Training is over: stop observing and finish the run this monitor opened (status
        ``finished``, or ``failed``/``interrupted``). Also done by ``with SpectralMonitor(...)``,
        when the monitor is garbage-collected, and at interpreter exit. Idempotent; a run
        handed in as ``store=`` is its creator's to finish."""
        self.detach()
        if self._closer is not None:
            self._closer.close(status)

    def __enter__(self) -> SpectralMonitor:
        return self

    def __exit__(self, exc_type, *rest) -> None:
        failed = "interrupted" if exc_type is KeyboardInterrupt else "failed"
        self.close("finished" if exc_type is None else failed)

    def observe(self, step: int | None = None, lr: float | None = None) -> WindowRecord | None:
        """Record optimizer step ``step`` (default: count calls); returns a new window or None."""
        self.steps_observed += 1
        step = self.steps_observed if step is None else int(step)
        if step % self.config.every:
            return None
        try:
            return self._snapshot(step, lr)
        except Exception as exc:
            if self.config.strict:
                raise
            self.updates.reset()
            self.emit(step, "monitor_error", f"{type(exc).__name__}: {exc}")
            warnings.warn(f"spectral-edge monitor: {exc}", RuntimeWarning, stacklevel=2)
            return None

    def log_metrics(self, step: int, **metrics: float) -> None:
        """Training metrics (loss, accuracy, lr, ...) into the run store beside the windows,
        under your names; readers understand the usual ones (:mod:`spectral_edge.metrics`)."""
        if self.writer is not None:
            self.writer.log_metrics(int(step), metrics)
        if self.dynamics.reads_metrics:  # the warning reads train_acc and metric signals
            try:
                named = canonical_metrics(metrics, self.metric_names)
                self._emit_all(int(step), self.dynamics.metrics(int(step), named))
            except Exception as exc:
                if self.config.strict:
                    raise
                self.emit(int(step), "monitor_error", f"{type(exc).__name__}: {exc}")

    def to_dataframe(self) -> pd.DataFrame:
        """One row per window: step and every feature, the regime included (k* and w as ints);
        the columns of the stored run's ``windows()``."""
        if not self.history:  # the same empty frame as a run store's windows()
            return pd.DataFrame({"step": np.array([], dtype=np.int64)})
        return integer_columns(pd.DataFrame(self.history))

    def emit(self, step: int, kind: str, message: str, evidence: dict | None = None) -> Event:
        """Record an event: the history, the run store (but a store's own error) and callbacks."""
        event = Event(step, kind, message, dict(evidence or {}))
        self.events.append(event)
        if self.writer is not None and kind != "store_error":
            self.writer.log_event(step, kind, message, event.evidence)
        for callback in self.callbacks:
            self._call_user(callback, event)
        return event

    # -- the snapshot --------------------------------------------------------------------------

    def _snapshot(self, step: int, lr: float | None) -> WindowRecord | None:
        if not self._follow_layout(step):
            return None
        pieces = list(self.layout.pieces(self.model))
        pushed, problem = self.updates.advance(self.gram, pieces, step)
        if problem is not None:
            self.emit(step, "nonfinite", problem)
        if not pushed:
            return None
        new_sq, _, _ = self.gram.last_transition()
        if new_sq == 0.0:
            self.emit(step, "zero_update", "the selected parameters did not change")
        if self.gram.size < 2:
            return None
        return self._record(step, lr)

    def _follow_layout(self, step: int) -> bool:
        """A changed selection starts a new window (:class:`LayoutFollower`); False while no
        parameter is selected."""
        change = self.follower.follow(self.model)
        if change is None:
            return True
        self.gram = RollingGram(self.config.window)
        self.updates.reset()
        if change.message is not None:
            self.emit(step, "layout_changed", change.message, change.evidence)
        return not change.paused

    def _record(self, step: int, lr: float | None) -> WindowRecord:
        if lr is None and self._optimizers:
            lr = learning_rate(self._optimizers, self.config.lr_policy)
        spec, features = self._window_features(lr)
        record = WindowRecord(step, spec, features, features["regime"])
        self.latest = record
        self.history.append({"step": step, **features})
        if self.writer is not None:
            self.writer.log_window(step, features)
        if spec.w == self.config.window:  # the online dynamics compare full windows only
            self._emit_all(step, self.dynamics.window(step, features))
        for callback in self.window_callbacks:
            self._call_user(callback, record)
        return record

    def _window_features(self, lr: float | None):
        c, gram = self.config, self.gram
        return window_features(
            gram.gram(), union_gram=gram.union_gram(), transition=gram.last_transition(), lr=lr,
            n_params=self.layout.numel, k_star=c.k_star, center=c.center,
            ratio_floor=self.ratio_floor, regime=(c.regime_low, c.regime_high),
        )  # fmt: skip

    def _emit_all(self, step: int, noticed: list[tuple[str, str, dict]]) -> None:
        for kind, message, evidence in noticed:
            self.emit(step, kind, message, evidence)

    def _call_user(self, callback: Callable, item) -> None:
        """A user's callback must not stop training either (unless strict)."""
        try:
            callback(item, self)
        except Exception as exc:
            if self.config.strict:
                raise
            warnings.warn(f"spectral-edge callback failed: {exc}", RuntimeWarning, stacklevel=3)

    def _open_run(self, store, run_name, run_config, overwrite=False, resume=False):
        """The run to write to: ``store`` itself if it is a run (its creator's to finish), else
        a run opened in it and finished by this monitor; None without a store or if it fails."""
        if store is None or hasattr(store, "log_window"):
            return store
        config = {"monitor": self.describe(), **run_config}
        seeds = {"sketch_seed": self.config.seed, **run_config.get("seeds", {})}
        run = open_run(
            store, run_name, config, seeds, self.definitions(), report=self.emit,
            overwrite=overwrite, resume=resume, strict=self.config.strict,
        )
        self._closer = None if run is None else RunCloser(self, run)
        return run

    # -- resume --------------------------------------------------------------------------------

    def state_dict(self) -> dict:
        """Everything needed to continue exactly where this monitor is (not the model)."""
        return {
            "config": asdict(self.config),
            "layout": self.layout.signature(),
            "gram": self.gram.state_dict(),
            "previous": self.updates.state(),
            "steps_observed": self.steps_observed,
            "nonfinite_since": self.updates.nonfinite_since,
            "history": [dict(h) for h in self.history],
            "events": [asdict(e) for e in self.events],
            **self.dynamics.state_dict(),  # phase, tracker, warning
        }

    def load_state_dict(self, state: dict) -> None:
        check_state(state, asdict(self.config), self.layout.signature())
        self.gram.load_state_dict(state["gram"])
        self.updates.load_state(state["previous"], self.layout.tensors(self.model)[0].device)
        self.steps_observed = int(state["steps_observed"])
        self.updates.nonfinite_since = state.get("nonfinite_since")  # absent before issue 13
        self.history = [dict(h) for h in state["history"]]
        self.events = [Event(**e) for e in state["events"]]
        self.dynamics.load_state_dict(state)
        self.latest = None
        if self.history and self.gram.size >= 2:
            last = self.history[-1]
            spec, features = self._window_features(last.get("lr"))
            self.latest = WindowRecord(int(last["step"]), spec, features, last["regime"])
