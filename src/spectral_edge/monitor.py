"""SpectralMonitor: snapshot → rolling Gram → spectrum → events → store, during training.

One line attaches it to a plain PyTorch loop::

    monitor = SpectralMonitor(model, window=10, every=100, params="attention", store="runs/")
    monitor.attach(optimizer)          # observes after every optimizer.step()

or call ``monitor.observe(step)`` yourself after each optimizer step, and ``monitor.close()`` (or
``with SpectralMonitor(...) as monitor``) when training is over; see :mod:`spectral_edge.lifecycle`
for what happens to the run otherwise.

Every ``every`` optimizer steps the monitor reads the selected parameters. On the exact path it
writes δ_t = θ_t − θ_{t−1} straight into the free slot of its :class:`RollingGram` and computes
the new Gram row parameter by parameter, so one snapshot costs about W + 3 reads of P floats and
memory is (W + 2)·P floats. With ``sketch_dim=d`` it keeps only S(θ_{t−1}) and W + 1 sketched
updates: by linearity S(θ_t) − S(θ_{t−1}) = S(δ_t), so memory is O(W·d) whatever P is.

The monitor must never break the training it watches. A non-finite update is rejected (the window
is not poisoned), reported as an event, and the next snapshot starts a fresh baseline; a parameter
that disappears or changes shape starts a fresh window and is reported; any other failure inside
the monitor is reported as a ``monitor_error`` event and a warning. Only ``strict=True`` lets
errors propagate.
"""

from __future__ import annotations

import logging
import math
import sqlite3
import warnings
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from torch import nn

from spectral_edge._version import __version__
from spectral_edge.core.features import window_features
from spectral_edge.core.gram import RollingGram
from spectral_edge.core.sketch import make_sketch
from spectral_edge.core.spectrum import K_STAR_VARIANTS, WindowSpectrum
from spectral_edge.core.stability import adiabatic_regime
from spectral_edge.dynamics.early_warning import DEFAULT_RULE, EarlyWarning, WarningRule
from spectral_edge.errors import SpectralEdgeError
from spectral_edge.learning_rate import LR_POLICIES as LR_POLICIES  # re-exported: public name
from spectral_edge.learning_rate import check_lr_policy
from spectral_edge.learning_rate import learning_rate as learning_rate  # re-exported: public name
from spectral_edge.lifecycle import RunCloser, resumable_run
from spectral_edge.metrics import canonical_metrics, check_metric_names
from spectral_edge.parallel import mesh_reduce, unwrap, writes_store
from spectral_edge.snapshot import (
    ParameterLayout,
    Selection,
    describe_selection,
    select_parameters,
)
from spectral_edge.training_config import describe_optimizers

log = logging.getLogger(__name__)

# Store writes refused by a full disk or read-only store, kept for a retry: about 50 MB at most.
UNWRITTEN_LIMIT = 10_000


@dataclass(frozen=True)
class MonitorConfig:
    """Every choice that defines what the monitor computes; recorded with each run."""

    window: int = 10
    every: int = 1
    params: str = "all"
    sketch_dim: int | None = None
    sketch: str = "fold"
    seed: int = 0
    k_star: str = "plain"
    center: bool = False
    trainable_only: bool = True
    lr_policy: str = "first"
    regime_low: float = 0.1
    regime_high: float = 10.0
    ratio_floor: float | None = None
    phases: bool = True
    warning: bool = True
    strict: bool = False

    def validate(self) -> None:
        if not isinstance(self.every, int) or self.every < 1:
            raise SpectralEdgeError(f"every must be a positive integer, got {self.every!r}")
        if self.k_star not in K_STAR_VARIANTS:
            raise SpectralEdgeError(
                f"unknown k_star variant {self.k_star!r}; choose one of {K_STAR_VARIANTS}"
            )
        check_lr_policy(self.lr_policy)
        if self.ratio_floor is not None and not 0 < self.ratio_floor < 1:
            raise SpectralEdgeError(
                f"ratio_floor is a fraction of σ_1 in (0, 1), got {self.ratio_floor!r}"
            )
        if not 0 < self.regime_low < self.regime_high:
            raise SpectralEdgeError(
                f"regime thresholds need 0 < low < high, got {self.regime_low}, {self.regime_high}"
            )


@dataclass
class Event:
    """Something the monitor noticed at an optimizer step."""

    step: int
    kind: str
    message: str = ""
    evidence: dict = field(default_factory=dict)


@dataclass(frozen=True)
class WindowRecord:
    """The newest window: its step, spectrum, flat features and adiabatic regime."""

    step: int
    spectrum: WindowSpectrum
    features: dict
    regime: str

    def __getattr__(self, name):
        # record.k_star, record.gap_ratio, record.adiabatic ... read through to the features.
        spec = object.__getattribute__(self, "spectrum")
        if hasattr(spec, name):
            return getattr(spec, name)
        feats = object.__getattribute__(self, "features")
        if name in feats:
            return feats[name]
        raise AttributeError(name)


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
        warning: run the online early warning on g23 and emit a "warning" event; True for the
            default :class:`~spectral_edge.dynamics.GapWarning`, or pass one. Both see full
            windows only: a filling window has fewer updates and is not comparable.
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
        self,
        model: nn.Module,
        window: int = 10,
        every: int = 1,
        params: Selection = "all",
        sketch_dim: int | None = None,
        store=None,
        *,
        sketch: str = "fold",
        seed: int = 0,
        k_star: str = "plain",
        center: bool = False,
        trainable_only: bool = True,
        lr_policy: str = "first",
        regime: tuple[float, float] = (0.1, 10.0),
        ratio_floor: float | None = None,
        phases=True,
        warning=True,
        strict: bool = False,
        run_name: str | None = None,
        run_config: dict | None = None,
        overwrite: bool = False,
        resume: bool = False,
        metric_names: dict[str, str] | None = None,
        callbacks: list[Callable] | None = None,
        window_callbacks: list[Callable] | None = None,
        reduce: Callable[[np.ndarray], np.ndarray] | None = None,
    ):
        self.config = MonitorConfig(
            window=window,
            every=every,
            params=describe_selection(params),
            sketch_dim=sketch_dim,
            sketch=sketch,
            seed=seed,
            k_star=k_star,
            center=center,
            trainable_only=trainable_only,
            lr_policy=lr_policy,
            regime_low=float(regime[0]),
            regime_high=float(regime[1]),
            ratio_floor=ratio_floor,
            phases=phases is not False and phases is not None,
            warning=warning is not False and warning is not None,
            strict=strict,
        )
        self.config.validate()
        model = unwrap(model)  # DDP: the module itself (spectral_edge.parallel)
        self.model = model
        self._selection = params
        self.layout = ParameterLayout(model, params, trainable_only=trainable_only)
        if reduce is None and self.layout.is_sharded(model):
            reduce = mesh_reduce(self.layout.tensors(model))  # FSDP2: sum over the shards
        self.reduce = reduce
        if not writes_store() and store is not None:
            log.debug("this process is not global rank 0: it leaves the run store to rank 0")
            store = None  # one writer: the others would each create the same run
        self.sketcher = None if sketch_dim is None else make_sketch(sketch, sketch_dim, seed)
        self.gram = RollingGram(window)
        self.ratio_floor = ratio_floor or resolution_floor(self.layout.tensors(model)[0].dtype)
        self.tracker = _tracker(phases)
        self.warning = _warning(warning, window, every)
        self.phase = "before"
        self.callbacks = list(callbacks or [])
        self.window_callbacks = list(window_callbacks or [])
        self.events: list[Event] = []
        self.history: list[dict] = []
        self.latest: WindowRecord | None = None
        self.steps_observed = 0
        self._previous = None  # θ_{t−1} (exact path) or S(θ_{t−1}) (sketch path)
        self._nonfinite_since: int | None = None  # step a non-finite episode began
        self._paused: str | None = None  # why no parameter is selected, while none is
        self._signature: list | None = None  # (name, requires_grad, shape) at the last check
        self._unwritten: deque = deque(maxlen=UNWRITTEN_LIMIT)
        self._dropped = self._written_back = 0
        self._outage_since: int | None = None
        self._hook = None
        self._optimizers: list[torch.optim.Optimizer] = []
        self.run = None
        self._closer = None  # finishes the run this monitor opened (spectral_edge.lifecycle)
        if overwrite and resume:
            raise SpectralEdgeError(
                "overwrite=True replaces a run and resume=True continues it: pass one of them"
            )
        names = check_metric_names(metric_names)
        self.metric_names = names
        run_config = {**({"metric_names": names} if names else {}), **(run_config or {})}
        self.run = self._open_run(store, run_name, run_config, overwrite, resume)

    # -- public --------------------------------------------------------------------------------

    def describe(self) -> dict:
        """The configuration to record: definitions, layout and versions."""
        return {
            **asdict(self.config),
            "ratio_floor_used": self.ratio_floor,
            "phase_tracker": None if self.tracker is None else asdict(self.tracker.config),
            "warning_rule": _warning_rule(self.warning),
            "n_params": self.layout.numel,
            "n_tensors": len(self.layout.slots),
            "spectral_edge_version": __version__,
            "torch_version": torch.__version__,
        }

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
        if self.run is not None and updates and hasattr(self.run, "update_config"):
            self._guarded(lambda: self.run.update_config(updates, replace=True), 0)

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
            self._previous = None
            self.emit(step, "monitor_error", f"{type(exc).__name__}: {exc}")
            warnings.warn(f"spectral-edge monitor: {exc}", RuntimeWarning, stacklevel=2)
            return None

    def log_metrics(self, step: int, **metrics: float) -> None:
        """Training metrics (loss, accuracy, lr, ...) into the run store beside the windows,
        under your names; readers understand the usual ones (:mod:`spectral_edge.metrics`)."""
        if self.run is not None:
            self._guarded(lambda: self.run.log_metrics(int(step), metrics), step)
        if isinstance(self.warning, EarlyWarning):  # it reads train_acc and metric signals
            try:
                named = canonical_metrics(metrics, self.metric_names)
                self._emit_warning(int(step), self.warning.observe_metrics(int(step), named))
            except Exception as exc:
                if self.config.strict:
                    raise
                self.emit(int(step), "monitor_error", f"{type(exc).__name__}: {exc}")

    def to_dataframe(self):
        """One row per window: step, every feature and the regime (k* and w as ints)."""
        import pandas as pd

        from spectral_edge.store import integer_columns

        if not self.history:  # the same empty frame as a run store's windows()
            return pd.DataFrame({"step": np.array([], dtype=np.int64)})
        return integer_columns(pd.DataFrame(self.history))

    # -- the snapshot --------------------------------------------------------------------------

    def _snapshot(self, step: int, lr: float | None) -> WindowRecord | None:
        if not self._follow_layout(step):
            return None
        pieces = list(self.layout.pieces(self.model))
        if self._previous is None:
            self._previous = self._baseline(pieces)
            if self._previous is None:
                self._nonfinite(
                    step,
                    "the parameters contain NaN or Inf; monitoring waits for finite ones "
                    "to take a new baseline",
                )
            return None
        accepted = self._push_exact(pieces) if self.sketcher is None else self._push_sketch(pieces)
        if not accepted:
            self._previous = None
            self._nonfinite(
                step,
                "the update contains NaN or Inf (or overflows); it was left out of the window "
                "and the next snapshot starts a new baseline",
            )
            return None
        self._nonfinite_since = None
        new_sq, _, _ = self.gram.last_transition()
        if new_sq == 0.0:
            self.emit(step, "zero_update", "the selected parameters did not change")
        if self.gram.size < 2:
            return None
        return self._record(step, lr)

    def _nonfinite(self, step: int, message: str) -> None:
        """One ``nonfinite`` event per episode: from the first rejected update (or non-finite
        baseline) until an update is accepted again. A diverged run whose parameters stay NaN
        would otherwise report at every other snapshot. Every branch here follows from reduced
        quantities (the all-reduced Gram row or sketch, the all-reduced finiteness of the
        baseline), so under FSDP all processes take it together."""
        if self._nonfinite_since is None:
            self._nonfinite_since = step
            self.emit(step, "nonfinite", message)

    def _follow_layout(self, step: int) -> bool:
        """Check the selected parameters against the layout; False while there are none.

        A window is a set of updates of one fixed parameter vector, so when the selection changes
        (a parameter added, removed or reshaped; with ``trainable_only``, frozen or unfrozen) the
        monitor reports what changed and starts a new window on the new selection. Mixing updates
        of different coordinate sets would put an artificial jump into the spectrum.
        """
        # The selection is re-resolved only when names, shapes or requires_grad changed: one
        # pass over the parameters instead of a full selection at every snapshot.
        named = dict(self.model.named_parameters())
        signature = [(n, p.requires_grad, p.shape) for n, p in named.items()]
        if signature == self._signature and self._paused is None:
            return True
        self._signature = signature
        try:
            chosen = select_parameters(
                self.model, self._selection, trainable_only=self.config.trainable_only
            )
        except SpectralEdgeError as exc:
            chosen, nothing = [], str(exc)
        change = layout_change(self.layout, chosen, named)
        if change is None and self._paused is None:
            return True
        if self.config.strict:
            raise SpectralEdgeError(f"the monitored parameters changed: {change}")
        self.gram = RollingGram(self.config.window)
        self._previous = None
        if not chosen:
            if self._paused is None:
                self._paused = nothing
                self.emit(step, "layout_changed", f"{change}; {nothing}; monitoring pauses")
            return False
        self._paused = None
        if change is not None:
            self.layout = ParameterLayout(
                self.model, self._selection, trainable_only=self.config.trainable_only
            )
        self.emit(
            step,
            "layout_changed",
            f"{change or 'the same parameters are selected again'}; "
            "monitoring restarts with a new window",
            {"n_params": self.layout.numel},
        )
        return True

    def _baseline(self, pieces):
        """θ (or S(θ)) to subtract from the next snapshot; None when it is not finite."""
        if self.sketcher is not None:
            current = self._sketch(pieces)  # already reduced over the processes
            return current if np.all(np.isfinite(current)) else None
        # The stored vector is what this process holds: all of θ, or its shards packed densely
        # (inner products do not care where coordinates sit, only that both sides agree).
        device = pieces[0][1].device
        dtype = torch.float64 if pieces[0][1].dtype == torch.float64 else torch.float32
        previous = torch.empty(sum(f.numel() for _, f in pieces), dtype=dtype, device=device)
        start = 0
        for _, flat in pieces:
            previous[start : start + flat.numel()].copy_(flat)
            start += flat.numel()
        bad = np.array([0.0 if bool(torch.isfinite(previous).all()) else 1.0])
        if self.reduce is not None:  # a NaN on any shard makes every process wait
            bad = np.asarray(self.reduce(bad), dtype=np.float64)
        return previous if bad[0] == 0.0 else None

    def _sketch(self, pieces) -> np.ndarray:
        current = self.sketcher.apply_pieces(pieces, device=pieces[0][1].device)
        return current if self.reduce is None else np.asarray(self.reduce(current), np.float64)

    def _push_exact(self, pieces) -> bool:
        previous = self._previous
        row = self.gram.stage(previous.numel(), previous.dtype, previous.device)
        start = 0
        for _, flat in pieces:
            stop = start + flat.numel()
            flat = flat.to(previous.device)
            torch.sub(flat, previous[start:stop], out=row[start:stop])
            previous[start:stop].copy_(flat)
            self.gram.accumulate_inner(start, stop)
            start = stop
        return self.gram.commit() if self.reduce is None else self.gram.commit(reduce=self.reduce)

    def _push_sketch(self, pieces) -> bool:
        current = self._sketch(pieces)
        accepted = self.gram.push(current - self._previous)
        self._previous = current
        return accepted

    def _record(self, step: int, lr: float | None) -> WindowRecord:
        if lr is None and self._optimizers:
            lr = learning_rate(self._optimizers, self.config.lr_policy)
        spec, features = self._window_features(lr)
        regime = adiabatic_regime(
            features["adiabatic_dk"], self.config.regime_low, self.config.regime_high
        )
        record = WindowRecord(step, spec, features, regime)
        self.latest = record
        self.history.append({"step": step, **features, "regime": regime})
        if self.run is not None:
            self._guarded(lambda: self.run.log_window(step, features), step)
        if spec.w == self.config.window:
            self._dynamics(step, features)
        for callback in self.window_callbacks:
            self._call_user(callback, record)
        return record

    def _dynamics(self, step: int, features: dict) -> None:
        """Online phases of R and the early warning, on full windows only."""
        if self.tracker is not None:
            value = features.get(self.tracker.config.quantity, math.nan)
            self.phase, changes = self.tracker.update(step, value)
            for change in changes:
                self.emit(step, "phase", change["message"], change["evidence"])
        if isinstance(self.warning, EarlyWarning):
            self._emit_warning(step, self.warning.observe_window(step, features))
        elif self.warning is not None:  # a GapWarning (the rule before docs/early-warning.md)
            self._emit_warning(step, self.warning.update(step, features))

    def _emit_warning(self, step: int, fired: dict | None) -> None:
        if fired is not None:
            self.emit(step, "warning", fired["message"], fired["evidence"])

    # -- events and store ----------------------------------------------------------------------

    def emit(self, step: int, kind: str, message: str, evidence: dict | None = None) -> Event:
        event = Event(step, kind, message, dict(evidence or {}))
        self.events.append(event)
        if self.run is not None and kind != "store_error":
            self._guarded(lambda: self.run.log_event(step, kind, message, event.evidence), step)
        for callback in self.callbacks:
            self._call_user(callback, event)
        return event

    def _call_user(self, callback: Callable, item) -> None:
        """A user's callback must not stop training either (unless strict)."""
        try:
            callback(item, self)
        except Exception as exc:
            if self.config.strict:
                raise
            warnings.warn(f"spectral-edge callback failed: {exc}", RuntimeWarning, stacklevel=3)

    def _guarded(self, write: Callable[[], object], step: int) -> None:
        """Run a store write; a full disk or read-only store is reported and training goes on.

        Writes refused for such a reason are kept (up to UNWRITTEN_LIMIT, oldest dropped first)
        and retried in order before the next write, so once space returns the store catches up
        and a "store_recovered" event records the outage. One "store_error" event reports an
        outage, not every refused write. A write refused for any other reason (bad data) is
        reported each time and not retried.
        """
        try:
            if self._unwritten and not self._retry_unwritten(step):
                self._hold(step, write)
                return
            write()
        except Exception as exc:
            if self.config.strict:
                raise
            if not _store_unavailable(exc):
                self._report_store_error(step, exc)
                return
            self._hold(step, write)
            if len(self._unwritten) == 1:
                self._report_store_error(
                    step,
                    exc,
                    " (writes are kept in memory and retried; the history is in "
                    "monitor.to_dataframe())",
                )

    def _hold(self, step: int, write: Callable[[], object]) -> None:
        if len(self._unwritten) == self._unwritten.maxlen:
            self._dropped += 1
        self._unwritten.append((step, write))

    def _retry_unwritten(self, step: int) -> bool:
        """Write what an outage held back, oldest first; False if the store still refuses."""
        first = self._unwritten[0][0] if self._outage_since is None else self._outage_since
        self._outage_since = first  # a retry may write part of the backlog, then fail again
        while self._unwritten:
            held_step, write = self._unwritten[0]
            try:
                write()
                self._written_back += 1
            except Exception as exc:
                if _store_unavailable(exc):
                    return False
                self._report_store_error(held_step, exc)
            self._unwritten.popleft()
        written, dropped = self._written_back, self._dropped
        self._written_back = self._dropped = 0
        self._outage_since = None
        self.emit(
            step,
            "store_recovered",
            f"the run store accepts writes again after an outage since step {first}: {written} "
            "held writes were written" + (f", {dropped} older ones dropped" if dropped else ""),
            {"since_step": first, "written": written, "dropped": dropped},
        )
        return True

    def _report_store_error(
        self, step: int, exc: Exception, note: str = "", action: str = "write to"
    ) -> None:
        self.emit(step, "store_error", f"could not {action} the run store: {exc}{note}")
        warnings.warn(f"spectral-edge store: {exc}", RuntimeWarning, stacklevel=4)

    def _open_run(self, store, run_name, run_config, overwrite=False, resume=False):
        """The run to write to; a store that cannot be opened is reported, not raised."""
        if store is None:
            return None
        if hasattr(store, "log_window"):
            return store
        try:
            run = self._create_run(store, run_name, run_config, overwrite, resume)
            self._closer = RunCloser(self, run)
            return run
        except Exception as exc:
            if self.config.strict or not _store_unavailable(exc):
                raise
            self._report_store_error(
                0,
                exc,
                " (the monitor keeps its history in memory only: monitor.to_dataframe())",
                action="open",
            )
            return None

    def _create_run(self, store, run_name, run_config, overwrite, resume):
        from spectral_edge.store import RunStore, open_store

        if not isinstance(store, RunStore):
            store = open_store(store)
        config = {"monitor": self.describe(), **(run_config or {})}
        if resume:
            run = resumable_run(store, run_name, config["monitor"])
            if run is not None:
                return run
        seeds = {"sketch_seed": self.config.seed}
        seeds.update((run_config or {}).get("seeds", {}))
        return store.create_run(
            run_name,
            config=config,
            seeds=seeds,
            definitions=self.definitions(),
            overwrite=overwrite,
        )

    def definitions(self) -> dict:
        """The open definitions of THESIS.md section 9, as this monitor resolves them."""
        c = self.config
        return {
            "update": f"theta_t - theta_(t-every), every={c.every}",
            "centering": "centred" if c.center else "uncentred",
            "parameters": c.params,
            "k_star": c.k_star,
            "gap_in_A": "sigma-gap (paper form); lambda-gap in A_DK",
            "delta_G": "exact Delta C of consecutive windows",
            "eta": f"lr_policy={c.lr_policy}",
            "regimes": f"A_DK < {c.regime_low} plateau, > {c.regime_high} forgetting",
            "sketch": "exact" if c.sketch_dim is None else f"{c.sketch}, d={c.sketch_dim}",
        }

    # -- resume --------------------------------------------------------------------------------

    def state_dict(self) -> dict:
        """Everything needed to continue exactly where this monitor is (not the model)."""
        previous = self._previous
        if isinstance(previous, torch.Tensor):
            previous = previous.detach().cpu().clone()
        elif previous is not None:
            previous = torch.from_numpy(np.array(previous))  # torch.load(weights_only=True) safe
        return {
            "config": asdict(self.config),
            "layout": self._layout_signature(),
            "gram": self.gram.state_dict(),
            "previous": previous,
            "steps_observed": self.steps_observed,
            "nonfinite_since": self._nonfinite_since,
            "history": [dict(h) for h in self.history],
            "events": [asdict(e) for e in self.events],
            "phase": self.phase,
            "tracker": None if self.tracker is None else self.tracker.state_dict(),
            "warning": None if self.warning is None else self.warning.state_dict(),
        }

    def _layout_signature(self) -> list[tuple]:
        return [(slot.name, *slot.shape) for slot in self.layout.slots]

    def load_state_dict(self, state: dict) -> None:
        if state["config"] != asdict(self.config):
            raise SpectralEdgeError(
                "the saved monitor state was made with a different configuration: "
                f"{state['config']} != {asdict(self.config)}"
            )
        if [tuple(x) for x in state["layout"]] != self._layout_signature():
            raise SpectralEdgeError(
                "the saved monitor state watched different parameters (names or shapes); build "
                "the monitor on the same model with the same selection"
            )
        self.gram.load_state_dict(state["gram"])
        previous = state["previous"]
        if previous is not None and self.sketcher is not None:
            previous = torch.as_tensor(previous, dtype=torch.float64).numpy().copy()
        elif previous is not None:
            device = self.layout.tensors(self.model)[0].device
            previous = previous.clone().to(device)
        self._previous = previous
        self.steps_observed = int(state["steps_observed"])
        self._nonfinite_since = state.get("nonfinite_since")  # absent before issue 13
        self.history = [dict(h) for h in state["history"]]
        self.events = [Event(**e) for e in state["events"]]
        self.phase = state["phase"]
        if self.tracker is not None:
            self.tracker.load_state_dict(state["tracker"])
        if self.warning is not None:
            self.warning.load_state_dict(state["warning"])
        self.latest = None
        if self.history and self.gram.size >= 2:
            self.latest = self._record_from_state()

    def _record_from_state(self) -> WindowRecord:
        last = self.history[-1]
        spec, features = self._window_features(last.get("lr"))
        return WindowRecord(int(last["step"]), spec, features, last["regime"])

    def _window_features(self, lr: float | None):
        return window_features(
            self.gram.gram(),
            union_gram=self.gram.union_gram(),
            transition=self.gram.last_transition(),
            lr=lr,
            n_params=self.layout.numel,
            k_star=self.config.k_star,
            center=self.config.center,
            ratio_floor=self.ratio_floor,
        )


def resolution_floor(dtype: torch.dtype) -> float:
    """The smallest σ_j/σ_1 a Gram of such parameters resolves: the default ratio floor.

    The floor was chosen when Gram entries of float32 updates were accurate to ~1e-6 relative,
    so that σ_j below ~1e-3·σ_1 were rounding noise; left unfloored they produced ratios of 10^7
    at the bottom of the spectrum (seen in a weight-decay-0 run whose updates had collapsed onto a
    few directions), and k* landed there. Since issue 13 the Gram is exact for the stored updates
    (core/gram.py), which resolves σ_j down to ~1e-7·σ_1; the floor is kept, because a collapsed
    window would still put k* at its bottom. Lowering it would be a change of definition
    (docs/definitions.md). float64 parameters: 1e-6.
    """
    return 1e-6 if dtype == torch.float64 else 1e-3


def _tracker(phases):
    if phases is True:
        from spectral_edge.dynamics.phases import PhaseTracker

        return PhaseTracker()
    return phases or None


def _warning(warning, window: int, every: int):
    """The monitor's warning: True for :data:`DEFAULT_RULE`, a :class:`WarningRule`, an
    :class:`EarlyWarning`, a legacy :class:`~spectral_edge.dynamics.GapWarning`, or None."""
    if warning is True:
        warning = DEFAULT_RULE
    if isinstance(warning, WarningRule):
        return EarlyWarning(warning, window=window, every=every)
    return warning or None


def _warning_rule(warning) -> dict | None:
    if warning is None:
        return None
    if isinstance(warning, EarlyWarning):
        return asdict(warning.rule)
    return {"legacy": "GapWarning", **asdict(warning.config)}


def _store_unavailable(exc: BaseException) -> bool:
    """True for failures of the storage itself (full disk, read-only, locked), not of the data."""
    while exc is not None:
        if isinstance(exc, OSError | sqlite3.OperationalError):
            return True
        exc = exc.__cause__
    return False


def layout_change(layout: ParameterLayout, chosen, named: dict) -> str | None:
    """How the parameters a selection picks now differ from ``layout``, in words; None if not.

    ``chosen``: the (name, parameter) pairs selected now; ``named``: every named parameter of
    the model, to tell a parameter that was frozen from one that was removed.
    """
    before = {slot.name: slot.shape for slot in layout.slots}
    after = {name: tuple(p.shape) for name, p in chosen}
    if before == after:
        return None
    gone = sorted(before.keys() - after.keys())
    parts = [
        ("removed", [n for n in gone if n not in named]),
        ("frozen", [n for n in gone if n in named]),
        ("added or unfrozen", sorted(after.keys() - before.keys())),
        (
            "changed shape",
            [
                f"{n} {before[n]} -> {after[n]}"
                for n in sorted(before.keys() & after.keys())
                if before[n] != after[n]
            ],
        ),
    ]
    return "; ".join(f"{what}: {_quoted(names)}" for what, names in parts if names)


def _quoted(names: list[str], limit: int = 8) -> str:
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")
