"""A Lightning Callback: ``Trainer(callbacks=[SpectralEdgeCallback(window=10, store="runs/")])``.

When: once per real optimizer step. Lightning's ``trainer.global_step`` counts optimizer steps, so
the callback observes in ``on_train_batch_end`` exactly when it advanced: with
``accumulate_grad_batches=k`` that is every k-th batch, and with several optimizers stepped in
one batch (manual optimization) it is once per batch, after all of them. The step recorded is
``trainer.global_step``, the number a Lightning checkpoint and its logger use too.

η: from ``trainer.optimizers`` by the monitor's ``lr_policy`` (first group of the first optimizer by
default; ``"max"`` / ``"mean"`` over all groups of all optimizers), read after the step, so a
scheduler's value is the one in force.

Checkpoints: the callback's ``state_dict`` holds the monitor's state (made of tensors and plain
containers, so ``torch.load(weights_only=True)`` reads it), and ``Trainer.fit(ckpt_path=...)``
restores it: the resumed run gives the windows an uninterrupted run would have given, written
into the same run of the store.

Metrics and config: the loss of the batch that completes an optimizer step is stored as
``train_loss`` at the monitor's cadence, and what the module logged with ``self.log`` (``val_loss``,
``val_acc``, ...) at the end of each validation, under its own names, which the report reads
through :mod:`spectral_edge.metrics`. When training starts the callback records the optimizers
(class and hyper-parameters, ``config["optimizer"]``) and the trainer settings that define the
training (``config["trainer"]``). The run is finished in ``on_train_end`` (``failed`` or
``interrupted`` from ``on_exception``).

Distributed: the monitor is built by
:func:`spectral_edge.integrations.distributed.distributed_monitor`, so under DDP every process
computes (or only rank 0, ``compute="rank0"``) and only global rank 0 writes the store; a model
sharded with FSDP2 (Lightning's ``ModelParallelStrategy``) is reduced exactly. Lightning's
``FSDPStrategy`` (FSDP1, flat parameters) is not supported. Mixed precision (``16-mixed``,
``bf16-mixed``) keeps float32 weights, which is what the monitor reads.
"""

from __future__ import annotations

import math

from spectral_edge.errors import SpectralEdgeError
from spectral_edge.integrations._session import MonitorSession
from spectral_edge.training_config import describe_optimizers, plain_values

MINIMUM = (2, 0)


def _import_lightning():
    try:
        import lightning.pytorch as pl
    except ImportError:
        try:
            import pytorch_lightning as pl
        except ImportError:
            raise SpectralEdgeError(
                "the Lightning callback needs Lightning: pip install 'spectral-edge[lightning]'"
            ) from None
    version = tuple(int(p) for p in pl.__version__.split(".")[:2] if p.isdigit())
    if version < MINIMUM:
        raise SpectralEdgeError(
            f"Lightning {pl.__version__} is too old for SpectralEdgeCallback: it needs the "
            f"callback state_dict hooks of Lightning >= {'.'.join(map(str, MINIMUM))}"
        )
    return pl


pl = _import_lightning()

# Trainer settings that change what is trained: recorded in the run's config under "trainer".
TRAINER_SETTINGS = (
    "accumulate_grad_batches",
    "gradient_clip_val",
    "gradient_clip_algorithm",
    "precision",
    "max_steps",
    "max_epochs",
    "world_size",
)


def trainer_settings(trainer) -> dict:
    """The training-defining settings of a Lightning ``Trainer``, as plain values."""
    return plain_values({name: getattr(trainer, name, None) for name in TRAINER_SETTINGS})


def scalar_metrics(metrics) -> dict[str, float]:
    """The finite one-number entries of Lightning's ``callback_metrics`` (tensors or floats)."""
    out = {}
    for name, value in metrics.items():
        if hasattr(value, "numel") and value.numel() == 1:
            value = float(value.detach())
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            out[str(name)] = float(value)
    return out


class SpectralEdgeCallback(pl.Callback):
    """Watch the spectral edge of a LightningModule's updates.

    Args:
        store: run store (path, RunStore or Run); only global rank 0 writes it.
        compute: under DDP, ``"all"`` processes or ``"rank0"`` only.
        trackers: tracker loggers (:mod:`spectral_edge.integrations.trackers`) fed each window.
        monitor_kwargs: what :class:`spectral_edge.SpectralMonitor` takes (window, every,
            params, sketch_dim, ...).

    ``callback.monitor`` is the monitor once training started (``.latest``, ``.history``, ...).
    """

    def __init__(self, store=None, *, compute: str = "all", trackers=(), **monitor_kwargs):
        super().__init__()
        self.session = MonitorSession(store, compute, trackers, **monitor_kwargs)
        self._last_step: int | None = None

    @property
    def monitor(self):
        return self.session.monitor

    @property
    def state_key(self) -> str:
        return "SpectralEdgeCallback"

    def on_train_start(self, trainer, pl_module) -> None:
        # After setup, strategy wrapping and checkpoint restore: the model and state are final.
        self.session.start(pl_module)
        self._last_step = trainer.global_step
        self.session.record_config(
            {**describe_optimizers(trainer.optimizers), "trainer": trainer_settings(trainer)}
        )

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        step = trainer.global_step
        if self._last_step is None or step == self._last_step:
            return  # an accumulation batch: the optimizer has not stepped
        self._last_step = step
        self.session.observe(step, trainer.optimizers)
        every = self.session.monitor_kwargs.get("every", 1)
        loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
        if step % every == 0 and hasattr(loss, "item") and getattr(loss, "numel", int)() == 1:
            # The loss of the batch that completed the step, at the monitor's cadence (one
            # device sync per snapshot, not per step).
            self.session.monitor.log_metrics(step, train_loss=float(loss.detach()))

    def on_validation_end(self, trainer, pl_module) -> None:
        if self.session.monitor is None or trainer.sanity_checking:
            return
        # What the module logged with self.log (val_loss, val_acc, ...), under its own names:
        # the report reads them through spectral_edge.metrics.
        numbers = scalar_metrics(trainer.callback_metrics)
        if numbers:
            self.session.monitor.log_metrics(trainer.global_step, **numbers)

    def on_train_end(self, trainer, pl_module) -> None:
        self.session.finish()

    def on_exception(self, trainer, pl_module, exception) -> None:
        self.session.finish("interrupted" if isinstance(exception, KeyboardInterrupt) else "failed")

    def state_dict(self) -> dict:
        return self.session.state()

    def load_state_dict(self, state_dict: dict) -> None:
        self.session.restore(state_dict)
