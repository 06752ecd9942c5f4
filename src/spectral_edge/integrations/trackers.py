"""Feed the windows to the trackers people already watch: TensorBoard, Weights & Biases, MLflow.

Each tracker is attached to a monitor (``TensorBoardTracker("tb/").attach(monitor)``) or handed to
an adapter (``SpectralEdgeCallback(trackers=[...])``), and from then on receives every window and
every event. Every name sits under one namespace so it never collides with the run's own metrics:

=================================  ===========================================================
``spectral_edge/sigma_j``          σ_1 … σ_w of the window (``sigma_1`` … as many as the window)
``spectral_edge/k_star``           the gap position k*
``spectral_edge/gap_ratio``        R = σ_{k*}/σ_{k*+1}
``spectral_edge/g23``              σ_2/σ_3
``spectral_edge/adiabatic``        A (paper form, needs η); ``adiabatic_dk`` the scale-free one
``spectral_edge/regime``           0 plateau, 1 transition, 2 forgetting (NaN undefined); the
                                   name as text where the tracker has text (TB text, MLflow tag)
``spectral_edge/events/<kind>``    running count of each event kind (non-finite updates, ...)
=================================  ===========================================================

Each tracker's package is imported only when that tracker is created, so none is a dependency
(``pip install 'spectral-edge[trackers]'`` installs all three; the extras ``tensorboard``,
``wandb`` and ``mlflow`` one each). The tests run the real libraries offline (W&B's offline mode,
MLflow on a SQLite file) and read back what was logged with the libraries' own readers. A failing
tracker warns and never stops training. Under torch.distributed, attach trackers on rank 0 only
(the adapters do).
"""

from __future__ import annotations

import importlib
import math
import warnings
from collections import Counter

from spectral_edge.errors import SpectralEdgeError

PREFIX = "spectral_edge"
REGIME_CODES = {"plateau": 0.0, "transition": 1.0, "forgetting": 2.0}
SCALARS = ("k_star", "gap_ratio", "g23", "adiabatic", "adiabatic_dk")


def window_scalars(features, prefix: str = PREFIX) -> dict[str, float]:
    """The namespaced numbers of one window: its features (a dict, as the monitor records them)
    or a :class:`~spectral_edge.WindowRecord`."""
    features = getattr(features, "features", features)
    out, j = {}, 1
    while f"sigma_{j}" in features:  # σ_1 … σ_w
        out[f"{prefix}/sigma_{j}"] = float(features[f"sigma_{j}"])
        j += 1
    for name in SCALARS:
        value = features.get(name, math.nan)
        out[f"{prefix}/{name}"] = float(value) if value is not None else math.nan
    out[f"{prefix}/regime"] = REGIME_CODES.get(features.get("regime"), math.nan)
    return out


def _require(module: str, extra: str):
    try:
        return importlib.import_module(module)
    except ImportError:
        raise SpectralEdgeError(
            f"this tracker needs {module.split('.')[0]}: pip install {extra}"
        ) from None


class Tracker:
    """Base: turns windows and events into namespaced scalars; subclasses say where they go.

    A tracker is a :class:`~spectral_edge.sink.Sink`, like a run of the store: it takes
    ``log_window(step, features)`` and ``log_event(step, kind, message, evidence)``; training
    metrics are the loop's own to log to its tracker, so ``log_metrics`` writes nothing.
    """

    def __init__(self, prefix: str = PREFIX):
        self.prefix = prefix
        self.event_counts: Counter = Counter()

    def attach(self, monitor):
        """Receive every window and event of ``monitor`` from now on; returns self."""
        monitor.window_callbacks.append(
            lambda record, _monitor: self._safely(self.log_window, record.step, record.features)
        )
        monitor.callbacks.append(
            lambda event, _monitor: self._safely(
                self.log_event, event.step, event.kind, event.message, event.evidence
            )
        )
        return self

    def log_window(self, step: int, features) -> None:
        self.write_scalars(step, window_scalars(features, self.prefix))
        self.write_text(step, f"{self.prefix}/regime", features["regime"])

    def log_event(self, step: int, kind: str, message: str = "", evidence=None) -> None:
        self.event_counts[kind] += 1
        name = f"{self.prefix}/events/{kind}"
        self.write_scalars(step, {name: float(self.event_counts[kind])})
        self.write_text(step, f"{self.prefix}/events", f"{kind}: {message}")

    def log_metrics(self, step: int, metrics) -> None:
        """Nothing: the training loop logs its metrics to its tracker itself."""

    def write_scalars(self, step: int, scalars: dict[str, float]) -> None:
        raise NotImplementedError

    def write_text(self, step: int, name: str, text: str) -> None:
        """Text where the tracker has it; by default nothing."""

    def close(self) -> None:
        pass

    def _safely(self, write, *args) -> None:
        try:
            write(*args)
        except Exception as exc:  # a tracker must not stop training
            warnings.warn(
                f"spectral-edge {type(self).__name__}: {exc}", RuntimeWarning, stacklevel=3
            )


class TensorBoardTracker(Tracker):
    """Scalars and regime/event text to TensorBoard (``torch.utils.tensorboard``).

    Args:
        log_dir: where to write event files (ignored when ``writer`` is given).
        writer: an existing ``SummaryWriter`` (e.g. Lightning's ``logger.experiment``).
    """

    def __init__(self, log_dir=None, writer=None, prefix: str = PREFIX):
        super().__init__(prefix)
        if writer is None:
            _require("tensorboard", "'spectral-edge[tensorboard]'")
            from torch.utils.tensorboard import SummaryWriter

            writer = SummaryWriter(log_dir=None if log_dir is None else str(log_dir))
            self._own = True
        else:
            self._own = False
        self.writer = writer

    def write_scalars(self, step, scalars):
        for name, value in scalars.items():
            self.writer.add_scalar(name, value, global_step=step)

    def write_text(self, step, name, text):
        self.writer.add_text(name, text, global_step=step)

    def close(self):
        self.writer.flush()
        if self._own:
            self.writer.close()


class WandbTracker(Tracker):
    """Scalars to Weights & Biases, on their own x-axis ``spectral_edge/step``.

    A separate step metric (``define_metric``) keeps these logs from fighting with the training
    loop's own ``wandb.log`` steps. Pass ``run=`` (an active run, e.g. ``wandb.run``) or
    ``wandb.init`` keyword arguments (``mode="offline"`` works without a network).
    """

    def __init__(self, run=None, prefix: str = PREFIX, **init_kwargs):
        super().__init__(prefix)
        wandb = _require("wandb", "'spectral-edge[wandb]'")
        self._own = False
        if run is None:
            run = wandb.run
        if run is None:
            run = wandb.init(**init_kwargs)
            self._own = True
        self.run = run
        self.run.define_metric(f"{prefix}/step")
        self.run.define_metric(f"{prefix}/*", step_metric=f"{prefix}/step")

    def write_scalars(self, step, scalars):
        self.run.log({f"{self.prefix}/step": step, **scalars})

    def log_window(self, step: int, features) -> None:
        scalars = window_scalars(features, self.prefix)
        scalars[f"{self.prefix}/regime_name"] = features["regime"]
        self.write_scalars(step, scalars)

    def close(self):
        if self._own:
            self.run.finish()


class MLflowTracker(Tracker):
    """Metrics to MLflow (the active run, or one started here); the regime also as a tag.

    Without a tracking server, give a local store: ``tracking_uri="sqlite:///mlflow.db"``
    (MLflow 3 refuses a bare ``./mlruns`` directory unless ``MLFLOW_ALLOW_FILE_STORE=true``).
    ``run_id`` names the run written, for ``MlflowClient().get_metric_history(run_id, name)``.
    """

    def __init__(self, tracking_uri=None, prefix: str = PREFIX, **start_run_kwargs):
        super().__init__(prefix)
        self.mlflow = _require("mlflow", "'spectral-edge[mlflow]'")
        if tracking_uri is not None:
            self.mlflow.set_tracking_uri(str(tracking_uri))
        self._own = self.mlflow.active_run() is None
        run = self.mlflow.start_run(**start_run_kwargs) if self._own else self.mlflow.active_run()
        self.run_id = run.info.run_id

    def write_scalars(self, step, scalars):
        finite = {
            k: v for k, v in scalars.items() if math.isfinite(v)
        }  # NaN left out: not every MLflow store keeps it
        if finite:
            self.mlflow.log_metrics(finite, step=int(step))

    def write_text(self, step, name, text):
        if name.endswith("/regime"):
            self.mlflow.set_tag(name, text)

    def close(self):
        if self._own:
            self.mlflow.end_run()
