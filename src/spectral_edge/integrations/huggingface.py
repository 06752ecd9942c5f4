"""A Hugging Face ``transformers.Trainer`` callback:
``Trainer(..., callbacks=[SpectralEdgeTrainerCallback(window=10, store="runs/")])``.

When: ``on_step_end``, which the Trainer calls once per optimizer step, after the gradient
accumulation of ``gradient_accumulation_steps`` micro-batches, the clipping and the optimizer and
scheduler steps; the step recorded is ``state.global_step``. η comes from the ``optimizer`` the
Trainer passes to callbacks (read after the scheduler step, as the next update will use it).

Checkpoints: the Trainer saves ``output_dir/checkpoint-N/`` and then calls ``on_save``; the
callback writes the monitor's state there as ``spectral_edge_monitor.pt`` (one file per process,
``spectral_edge_monitor-rank{r}.pt``, when parameters are sharded). On
``trainer.train(resume_from_checkpoint=...)`` the Trainer restores ``state.global_step`` before
``on_train_begin``, where the callback loads the file from ``checkpoint-{global_step}`` (or from the
directory given as ``resume_from``), so the resumed run continues its windows and its run in the
store. The numeric values the Trainer logs (loss, learning_rate, grad_norm, ...) are written beside
the windows as metrics.

Distributed: as for Lightning, via
:func:`spectral_edge.integrations.distributed.distributed_monitor` on the unwrapped model; only
rank 0 writes the store and the state file of replicated (DDP) parameters.
"""

from __future__ import annotations

import os

import torch

from spectral_edge.errors import SpectralEdgeError
from spectral_edge.integrations._session import MonitorSession
from spectral_edge.metrics import numeric_metrics
from spectral_edge.parallel import global_rank
from spectral_edge.training_config import describe_optimizers, plain_values

STATE_FILE = "spectral_edge_monitor.pt"
MINIMUM = (4, 30)


def _import_transformers():
    try:
        import transformers
    except ImportError:
        raise SpectralEdgeError(
            "the Hugging Face callback needs transformers: pip install 'spectral-edge[hf]'"
        ) from None
    check_version(transformers.__version__)
    return transformers


def check_version(version: str) -> None:
    """Refuse a transformers older than the callback contract this adapter relies on."""
    parsed = tuple(int(p) for p in version.split(".")[:2] if p.isdigit())
    if parsed < MINIMUM:
        raise SpectralEdgeError(
            f"transformers {version} is too old for SpectralEdgeTrainerCallback "
            f"(its on_step_end and on_save contract is that of >= {'.'.join(map(str, MINIMUM))})"
        )


transformers = _import_transformers()


# The TrainingArguments that change what is trained (not where logs go): recorded in the run's
# config under "trainer", so that compare names a different learning rate or batch size.
TRAINER_ARGS = (
    "learning_rate",
    "weight_decay",
    "adam_beta1",
    "adam_beta2",
    "adam_epsilon",
    "max_grad_norm",
    "optim",
    "lr_scheduler_type",
    "warmup_steps",
    "warmup_ratio",
    "per_device_train_batch_size",
    "gradient_accumulation_steps",
    "max_steps",
    "num_train_epochs",
    "seed",
    "fp16",
    "bf16",
    "label_smoothing_factor",
)


def trainer_args(args) -> dict:
    """The training-defining fields of a ``TrainingArguments`` (enums as their value)."""
    values = {}
    for name in TRAINER_ARGS:
        value = getattr(args, name, None)
        values[name] = getattr(value, "value", value)  # OptimizerNames, SchedulerType: str
    return plain_values(values)


class SpectralEdgeTrainerCallback(transformers.TrainerCallback):
    """Watch the spectral edge of a ``transformers.Trainer`` run.

    Args:
        store: run store (path, RunStore or Run); only global rank 0 writes it.
        compute: under DDP, ``"all"`` processes or ``"rank0"`` only.
        trackers: tracker loggers (:mod:`spectral_edge.integrations.trackers`) fed each window.
        resume_from: a checkpoint directory to take the monitor state from (default: the
            ``checkpoint-{global_step}`` the Trainer resumed from).
        monitor_kwargs: what :class:`spectral_edge.SpectralMonitor` takes.
    """

    def __init__(
        self, store=None, *, compute: str = "all", trackers=(), resume_from=None, **monitor_kwargs
    ):
        self.session = MonitorSession(store, compute, trackers, **monitor_kwargs)
        self.resume_from = resume_from

    @property
    def monitor(self):
        return self.session.monitor

    def on_train_begin(self, args, state, control, model=None, optimizer=None, **kwargs):
        if model is None:
            raise SpectralEdgeError("the Trainer passed no model to on_train_begin")
        if self.session.monitor is None and state.global_step > 0:
            self._load(args, state)
        self.session.start(model)
        optimizers = [] if optimizer is None else [optimizer]
        self.session.record_config(
            {**describe_optimizers(optimizers), "trainer": trainer_args(args)}
        )

    def on_step_end(self, args, state, control, optimizer=None, **kwargs):
        if self.session.monitor is not None:
            self.session.observe(state.global_step, [] if optimizer is None else [optimizer])

    def on_log(self, args, state, control, logs=None, **kwargs):
        monitor = self.session.monitor
        if monitor is None or not logs:
            return
        numbers, summary = numeric_metrics(logs)
        if summary:
            # The end-of-training summary: train_loss there is the run's average, not a loss
            # at this step; as a metric it would be a lone point beside the per-step "loss".
            monitor.record_config({"train_summary": numbers})
        elif numbers:
            monitor.log_metrics(state.global_step, **numbers)

    def on_save(self, args, state, control, **kwargs):
        path = self._state_path(os.path.join(args.output_dir, f"checkpoint-{state.global_step}"))
        if path is not None:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            torch.save(self.session.state(), path)

    def on_train_end(self, args, state, control, **kwargs):
        self.session.finish()

    # -- state files ---------------------------------------------------------------------------

    def _sharded(self) -> bool:
        monitor = self.session.monitor
        return getattr(monitor, "reduce", None) is not None

    def _state_path(self, directory: str) -> str | None:
        """Where this process keeps its state; None if another process writes it."""
        if self._sharded():
            return os.path.join(directory, f"spectral_edge_monitor-rank{global_rank()}.pt")
        return os.path.join(directory, STATE_FILE) if global_rank() == 0 else None

    def _load(self, args, state) -> None:
        directory = self.resume_from or os.path.join(
            args.output_dir, f"checkpoint-{state.global_step}"
        )
        candidates = [
            os.path.join(directory, STATE_FILE),
            os.path.join(directory, f"spectral_edge_monitor-rank{global_rank()}.pt"),
        ]
        found = [p for p in candidates if os.path.isfile(p)]
        if not found:
            # Resuming a run that was trained without the callback: start fresh, say so.
            import warnings

            warnings.warn(
                f"spectral-edge: no monitor state in {directory}; the monitor starts afresh at "
                f"step {state.global_step}",
                RuntimeWarning,
                stacklevel=2,
            )
            return
        try:
            saved = torch.load(found[0], weights_only=True)
        except Exception as exc:
            raise SpectralEdgeError(f"cannot read the monitor state {found[0]}: {exc}") from exc
        self.session.restore(saved)
