"""The lab's trainer: one :class:`TrainConfig` → a seeded, monitored, resumable training run.

What a run does, in order, each optimizer step ``t = 1..steps``:

1. draw the batch for step ``t``: full batch, or the ``t``-th slice of a per-epoch permutation
   seeded by ``(seed, epoch)`` (language: windows drawn by a generator seeded by ``(seed, t)``).
   Data order is a pure function of the seed and the step, so a resumed run sees the same batches;
2. forward, backward, global gradient clipping, step every optimizer, step the schedulers;
3. ``monitor.observe(t, lr)`` with the η that step used (the monitor snapshots when
   ``t % monitor_every == 0``); the monitor runs the online :class:`PhaseTracker` (on
   ``phase_quantity``, R by default) and the early warning (``warning_rule``: the default rule
   of docs/early-warning.md unless set) built from this config, whose transitions are events
   of kind ``"phase"`` (evidence ``phase`` = rise / plateau / collapse) and ``"warning"`` in
   the monitor and the run store;
4. every ``eval_every`` steps (and at step 0 and the last step): train and test loss and accuracy,
   the lr, the global weight norm ``weight_norm`` (all trainable parameters) and ``grad_norm``
   (the mean pre-clipping global gradient norm of the steps since the previous evaluation) into
   the run's metrics; the first test accuracy ≥ ``grok_threshold`` is a ``"grok"`` event. The
   two norms are there because they are what a user can watch for free: the early-warning
   evaluation (docs/early-warning.md) compares every spectral signal with them;
5. every ``checkpoint_every`` steps and at the end: a checkpoint ``<out>/checkpoints/<run>.pt``
   (model, optimizers, schedulers, the monitor with its tracker and warning, RNG states, step);
   every ``weights_every`` steps (and at step 0) the model's weights alone into
   ``<out>/weights/<run>/step-NNNNNNN.pt``, for measurements made afterwards at those points
   (the local learning coefficient, :mod:`spectral_edge.reproduce.llc`).

The run store is ``<out>/`` + :data:`spectral_edge.store.DEFAULT_FILENAME`, so
``spectral-edge runs <out>`` lists its runs. The run's config holds the full TrainConfig
(``train``), the monitor's description (``monitor``) and the preset name; seeds are recorded.

``resume=True`` loads the checkpoint, reopens the same run (status back to ``running``), says
from which step and checkpoint, and continues; the result is identical to an uninterrupted run
(same parameters, same windows), and ``steps`` may be raised to train longer. With no checkpoint
and no run of that name it says so and starts a new run, so a job can always pass it. Ctrl-C
saves a checkpoint of the last completed step, marks the run ``"interrupted"`` and re-raises
``KeyboardInterrupt``.
"""

from __future__ import annotations

import math
import os
import random
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from spectral_edge._version import __version__
from spectral_edge.dynamics import PhaseTracker
from spectral_edge.errors import SpectralEdgeError
from spectral_edge.lab.models import build_model
from spectral_edge.lab.optim import clip_gradients, current_lr, make_optimizers, make_schedulers
from spectral_edge.lab.presets import (
    TrainConfig,
    config_from_dict,
    get_preset,
    parse_model_args,
    warning_rule,
)
from spectral_edge.lab.tasks import (
    make_dyck,
    make_language,
    make_mlp_modular,
    make_modular,
    make_multitask,
    make_scan,
    make_shift,
)
from spectral_edge.lab.tasks.language import eval_batches, sample_batch
from spectral_edge.monitor import Event, SpectralMonitor
from spectral_edge.store import open_store

CHECKPOINT_DIR = "checkpoints"
WEIGHTS_DIR = "weights"


# --- tasks: data, model, loss and accuracy -----------------------------------------------------


def _sequences_right(logits: torch.Tensor, targets: torch.Tensor, valid: torch.Tensor):
    """Which sequences have every real position right."""
    return ((logits.argmax(-1) == targets) | ~valid).all(dim=1)


class _Task:
    """Adapter from a task family to ``batch(step)``, ``loss(model, batch)`` and ``evaluate``."""

    def __init__(self, cfg: TrainConfig):
        self.cfg = cfg
        self._perm_epoch = -1
        self._perm = None
        t = cfg.task
        if t in ("modular", "multitask"):
            if t == "modular":
                d = make_modular(cfg.p, cfg.op, cfg.train_fraction, cfg.data_seed)
            else:
                ops = tuple(o.strip() for o in cfg.ops.split(",") if o.strip())
                d = make_multitask(cfg.p, ops, cfg.train_fraction, cfg.data_seed)
            self.train = (d.train_x, d.train_y)
            self.test = (d.test_x, d.test_y)
            self.model_kw = {"p": cfg.p}
            if cfg.model == "modular-transformer":
                self.model_kw["n_tasks"] = d.n_tasks
        elif t == "mlp-modular":
            d = make_mlp_modular(cfg.p, cfg.train_fraction, cfg.data_seed, cfg.op)
            self.train = (d.train_x, d.train_y, d.train_labels)
            self.test = (d.test_x, d.test_y, d.test_labels)
            self.model_kw = {"p": cfg.p}
        elif t == "dyck":
            d = make_dyck(cfg.n_train, cfg.n_test, cfg.max_pairs, cfg.data_seed)
            self.train = (d.train_x, d.train_y)
            self.test = (d.test_x, d.test_y)
            self.model_kw = {"max_pairs": cfg.max_pairs}
        elif t == "scan":
            d = make_scan(cfg.n_train, cfg.n_test, cfg.data_seed)
            self.train = (d.train_src, d.train_tgt_in, d.train_tgt_out)
            self.test = (d.test_src, d.test_tgt_in, d.test_tgt_out)
            self.model_kw = {}
        elif t == "language":
            if cfg.shift_step > 0:
                self.lm = make_shift(
                    cfg.corpus, cfg.shift_corpus, cfg.shift_step, cfg.n_docs, seed=cfg.data_seed
                )
            else:
                self.lm = make_language(cfg.corpus, cfg.n_docs, seed=cfg.data_seed)
            self.train = self.test = None
            self.model_kw = {}
        else:  # validated earlier; kept for a clear message
            raise SpectralEdgeError(f"unknown task {t!r}")
        if self.test is not None and cfg.eval_size:
            self.test = tuple(x[: cfg.eval_size] for x in self.test)
            self.train_eval = tuple(x[: cfg.eval_size] for x in self.train)
        else:
            self.train_eval = self.train

    def build_model(self) -> nn.Module:
        return build_model(
            self.cfg.model, **{**self.model_kw, **parse_model_args(self.cfg.model_args)}
        )

    # batches ------------------------------------------------------------------------------

    def batch(self, step: int):
        """The training batch of optimizer step ``step`` (1-based); a function of seed and step."""
        cfg = self.cfg
        if cfg.task == "language":
            gen = torch.Generator().manual_seed(cfg.seed * 1_000_003 + step)
            bs = cfg.batch_size or 32
            if cfg.shift_step > 0:
                return self.lm.batch(step - 1, bs, cfg.seq_len, gen)
            return sample_batch(self.lm.train_tokens, bs, cfg.seq_len, gen)
        n = len(self.train[0])
        bs = cfg.batch_size
        if bs == 0 or bs >= n:
            return self.train
        per_epoch = math.ceil(n / bs)
        epoch, i = divmod(step - 1, per_epoch)
        if epoch != self._perm_epoch:
            gen = torch.Generator().manual_seed(cfg.seed * 1_000_003 + epoch)
            self._perm = torch.randperm(n, generator=gen)
            self._perm_epoch = epoch
        idx = self._perm[i * bs : (i + 1) * bs]
        return tuple(x[idx] for x in self.train)

    # loss and accuracy ----------------------------------------------------------------------

    def forward(self, model: nn.Module, batch, reduction: str = "mean"):
        """(loss, n_correct, n_counted) of one batch.

        ``reduction`` matters for ``mlp-modular`` only: ``"mean"`` is torch's MSE (mean over
        samples and outputs); ``"sum_centred"`` is the x² MLP paper's loss: outputs and one-hot
        targets centred over the p classes, squared error summed over the outputs and averaged
        over the samples. It is p times the mean form plus the centring, and under Adam's
        *coupled* L2 that factor is the effective strength of the weight decay, so the
        weight-decay experiment (C12) needs the author's form (docs/reproduction.md).
        """
        t = self.cfg.task
        if t == "mlp-modular":
            x, y, labels = batch
            out = model(x)
            if reduction == "sum_centred":
                err = (out - out.mean(dim=1, keepdim=True)) - (y - y.mean(dim=1, keepdim=True))
                loss = err.square().sum(dim=1).mean()
            else:
                loss = F.mse_loss(out, y)
            return loss, (out.argmax(-1) == labels).sum(), labels.numel()
        if t == "scan":
            src, tgt_in, tgt_out = batch
            logits = model(src, tgt_in)
            loss = F.cross_entropy(logits.flatten(0, 1), tgt_out.flatten(), ignore_index=0)
            return loss, _sequences_right(logits, tgt_out, tgt_out != 0).sum(), len(tgt_out)
        x, y = batch
        logits = model(x)
        flat = logits.reshape(-1, logits.shape[-1])
        loss = F.cross_entropy(flat, y.reshape(-1), ignore_index=-100)
        valid = y != -100
        if t == "dyck":  # per-token depth accuracy is too easy to show grokking (tasks/dyck.py)
            return loss, _sequences_right(logits, y, valid).sum(), len(y)
        correct = ((logits.argmax(-1) == y) & valid).sum()
        return loss, correct, int(valid.sum())

    @torch.no_grad()
    def evaluate(self, model: nn.Module, splits=("train", "test")) -> dict:
        """Loss and accuracy of each split (``train``: the evaluated training subset)."""
        was = model.training
        model.eval()
        try:
            if self.cfg.task == "language":
                return self._evaluate_language(model)
            out = {}
            data_of = {"train": self.train_eval, "test": self.test}
            for split, data in ((name, data_of[name]) for name in splits):
                loss_sum, correct, count = 0.0, 0, 0
                n = len(data[0])
                chunk = 4096
                for i in range(0, n, chunk):
                    part = tuple(x[i : i + chunk] for x in data)
                    loss, c, k = self.forward(model, part)
                    loss_sum += float(loss) * k
                    correct += int(c)
                    count += k
                out[f"{split}_loss"] = loss_sum / max(count, 1)
                out[f"{split}_acc"] = correct / max(count, 1)
            return out
        finally:
            model.train(was)

    def _evaluate_language(self, model: nn.Module) -> dict:
        """Next-token loss and accuracy on fixed validation windows: ``train_*`` on the first
        corpus, ``test_*`` on the corpus trained on last (the same one without a shift)."""
        cfg = self.cfg
        max_batches = max(1, (cfg.eval_size or 64) // 16)
        data = self.lm.after if cfg.shift_step > 0 else self.lm
        before = self.lm.before if cfg.shift_step > 0 else self.lm
        out = {}
        for split, tokens in (("train", before.val_tokens), ("test", data.val_tokens)):
            loss_sum, correct, count = 0.0, 0, 0
            for x, y in eval_batches(tokens, 16, cfg.seq_len, max_batches):
                logits = model(x)
                loss_sum += float(F.cross_entropy(logits.flatten(0, 1), y.flatten())) * y.numel()
                correct += int((logits.argmax(-1) == y).sum())
                count += y.numel()
            out[f"{split}_loss"] = loss_sum / max(count, 1)
            out[f"{split}_acc"] = correct / max(count, 1)
        return out


def make_task(cfg: TrainConfig) -> _Task:
    """The data, model builder (``build_model()``), loss (``forward``) and ``evaluate`` of a
    config, without training: for measurements made afterwards on saved weights."""
    return _Task(cfg.validate())


# --- progress --------------------------------------------------------------------------------


class Progress:
    """One live status line on stderr: carriage return on a terminal, plain lines otherwise."""

    def __init__(self, enabled: bool = True, stream=None, min_interval: float = 0.1):
        self.enabled = enabled
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.min_interval = min_interval
        self._last = 0.0
        self._width = 0

    def show(self, text: str, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not self.tty:
            if force:
                print(text, file=self.stream, flush=True)
            return
        if not force and now - self._last < self.min_interval:
            return
        self._last = now
        pad = max(0, self._width - len(text))
        self._width = len(text)
        self.stream.write("\r" + text + " " * pad)
        self.stream.flush()

    def message(self, text: str) -> None:
        """A line that stays (an event), printed above the live line."""
        if not self.enabled:
            return
        if self.tty and self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self._width = 0
        print(text, file=self.stream, flush=True)

    def close(self) -> None:
        if self.enabled and self.tty and self._width:
            self.stream.write("\n")
            self.stream.flush()
            self._width = 0


def _fmt(x, spec: str = ".3f") -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "-"
    return format(x, spec)


# --- the trainer -----------------------------------------------------------------------------


class Trainer:
    """Train one :class:`TrainConfig` into ``out_dir`` with the spectral monitor attached.

    Args:
        config: a TrainConfig or a preset name.
        out_dir: run directory: the store, checkpoints.
        store: an open RunStore to use instead of ``<out_dir>``'s.
        run_name: the run's name (default: the preset name or ``run-<time>``).
        overwrite: replace an existing run of that name (and its checkpoint).
        progress: show the live status line on stderr.
        resume: continue from ``<out_dir>/checkpoints/<run_name>.pt``; without one (and
            without a run of that name) start a new run, and say so.
        preset: the preset name, recorded with the run.

    Use :meth:`fit` for a whole run, or :meth:`start`, :meth:`advance`, :meth:`finish` to drive
    several runs side by side (the demo does).
    """

    def __init__(
        self,
        config: TrainConfig | str,
        out_dir: str | os.PathLike = "runs",
        store=None,
        run_name: str | None = None,
        overwrite: bool = False,
        progress: bool = True,
        resume: bool = False,
        preset: str | None = None,
        callbacks=None,
    ):
        if isinstance(config, str):
            preset = preset or config
            config = get_preset(config)
        if not isinstance(config, TrainConfig):
            raise SpectralEdgeError(f"config must be a TrainConfig or preset name, got {config!r}")
        self.config = config.validate()
        self.preset = preset
        self.out_dir = Path(out_dir)
        self.run_name = run_name or preset
        self.overwrite = bool(overwrite)
        self.resume = bool(resume)
        self.progress = Progress(progress) if isinstance(progress, bool) else progress
        self.callbacks = list(callbacks or [])
        self._store = store
        self._own_store = store is None
        self.step = 0
        self.grok_step: int | None = None
        self.last_eval: dict = {}
        self.last_loss = math.nan
        self.started = False
        self.done = False
        self._grad_norms: list[float] = []  # pre-clipping norms since the last evaluation
        self.resumed_from: int | None = None  # the checkpoint's step, once started from one

    # -- set-up ---------------------------------------------------------------------------------

    def _check_out_dir(self) -> None:
        d = self.out_dir
        if d.exists() and not d.is_dir():
            raise SpectralEdgeError(f"the output path {d} exists and is not a directory")
        try:
            d.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SpectralEdgeError(
                f"cannot create the output directory {d}: {exc.strerror or exc}"
            ) from None
        if not d.is_dir():
            raise SpectralEdgeError(f"the output path {d} exists and is not a directory")
        probe = d / f".write-test-{os.getpid()}"
        try:
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise SpectralEdgeError(
                f"the output directory {d} is not writable: {exc.strerror or exc}"
            ) from None

    @property
    def checkpoint_path(self) -> Path:
        return self.out_dir / CHECKPOINT_DIR / f"{self.run_name}.pt"

    @property
    def weights_dir(self) -> Path:
        return self.out_dir / WEIGHTS_DIR / self.run_name

    def start(self) -> Trainer:
        """Build data, model, optimizers, monitor and run (or restore them from a checkpoint)."""
        if self.started:
            return self
        cfg = self.config
        self._check_out_dir()
        if self._store is None:
            self._store = open_store(self.out_dir)
        store = self._store
        if self.run_name is None:
            self.run_name = _free_run_name(store)
        ckpt = None
        exists = self.run_name in set(store.runs()["name"])
        if self.resume and self.checkpoint_path.is_file():
            ckpt = torch.load(self.checkpoint_path, map_location="cpu", weights_only=False)
            _check_resumable(ckpt["config"], cfg)
        elif self.resume and exists and not self.overwrite:
            raise SpectralEdgeError(
                f"cannot resume {self.run_name!r}: the run is in {store.path} but its checkpoint "
                f"{self.checkpoint_path} is missing; replace the run (--overwrite) or choose "
                "another name (--name)"
            )
        else:  # a new run; with resume, there was nothing to resume (said below)
            if exists and not self.overwrite:
                raise SpectralEdgeError(
                    f"a run named {self.run_name!r} already exists in {store.path}; choose "
                    "another name (--name), resume it (--resume) or replace it (--overwrite)"
                )

        torch.manual_seed(cfg.seed)
        random.seed(cfg.seed)
        np.random.seed(cfg.seed % 2**32)  # noqa: NPY002 (the global RNG, for any user code)
        self.task = _Task(cfg)
        self.model = self.task.build_model()
        self.optimizers = make_optimizers(
            self.model,
            cfg.optimizer,
            lr=cfg.lr,
            weight_decay=cfg.weight_decay,
            betas=tuple(cfg.betas),
            momentum=cfg.momentum,
        )
        self.schedulers = make_schedulers(
            self.optimizers, cfg.schedule, cfg.warmup, cfg.steps, cfg.final_fraction
        )
        self.monitor = SpectralMonitor(
            self.model,
            window=cfg.monitor_window,
            every=cfg.monitor_every,
            params=cfg.monitor_params,
            sketch_dim=cfg.monitor_sketch_dim or None,
            seed=cfg.seed,
            k_star=cfg.monitor_k_star,
            lr_policy=cfg.monitor_lr_policy,
            callbacks=[self._on_event],
            phases=PhaseTracker(
                tau=cfg.phase_tau, smooth=cfg.phase_smooth, quantity=cfg.phase_quantity
            ),
            warning=warning_rule(cfg.warning_rule),
        )
        if ckpt is None:
            run_config = {
                "train": cfg.to_dict(),
                "preset": self.preset,
                "monitor": self.monitor.describe(),
                "model_parameters": sum(p.numel() for p in self.model.parameters()),
                "spectral_edge_version": __version__,
                "torch_version": torch.__version__,
            }
            seeds = {"torch": cfg.seed, "data": cfg.data_seed, "sketch": cfg.seed}
            self.run = store.create_run(
                self.run_name,
                config=run_config,
                seeds=seeds,
                definitions=self.monitor.definitions(),
                overwrite=self.overwrite,
            )
            if self.overwrite and self.checkpoint_path.exists():
                self.checkpoint_path.unlink()
        else:
            self.run = store.run(self.run_name)
            self._restore(ckpt)
            self.run.set_status("running")
            if cfg.steps != ckpt["config"]["steps"]:
                self.run.update_config({"resumed_with_steps": cfg.steps}, replace=True)
        self.monitor.run = self.run
        self.started = True
        self.resumed_from = None if ckpt is None else self.step
        if ckpt is not None:
            self.progress.message(
                f"[{self.run_name}] resumed at step {self.step} from {self.checkpoint_path}"
            )
        elif self.resume:
            self.progress.message(
                f"[{self.run_name}] nothing to resume (no checkpoint {self.checkpoint_path}); "
                "started a new run at step 0"
            )
        if ckpt is None:
            self._evaluate()
            if cfg.weights_every:
                self.save_weights()
        return self

    # -- one step -------------------------------------------------------------------------------

    def advance(self, n: int = 1) -> None:
        """Train up to ``n`` more steps (not beyond ``steps``); Ctrl-C is handled here."""
        if not self.started:
            self.start()
        try:
            for _ in range(n):
                if self.step >= self.config.steps:
                    break
                self._train_step()
        except KeyboardInterrupt:
            self.interrupt()
            raise

    def _train_step(self) -> None:
        cfg = self.config
        step = self.step + 1
        batch = self.task.batch(step)
        loss, _, _ = self.task.forward(self.model, batch, cfg.loss_reduction)
        for opt in self.optimizers:
            opt.zero_grad(set_to_none=True)
        loss.backward()
        self._grad_norms.append(clip_gradients(self.model, cfg.clip))
        lr = current_lr(self.optimizers, cfg.monitor_lr_policy)
        for opt in self.optimizers:
            opt.step()
        for sched in self.schedulers:
            sched.step()
        self.step = step
        self.last_loss = float(loss.detach())
        self.monitor.observe(step, lr=lr)
        if step % cfg.eval_every == 0 or step == cfg.steps:
            self._evaluate()
        if cfg.checkpoint_every and step % cfg.checkpoint_every == 0:
            self.save_checkpoint()
        if cfg.weights_every and step % cfg.weights_every == 0:
            self.save_weights()
        self.progress.show(self.status_line())

    def _evaluate(self) -> None:
        metrics = self.task.evaluate(self.model)
        metrics["lr"] = current_lr(self.optimizers, self.config.monitor_lr_policy)
        metrics["weight_norm"] = _weight_norm(self.model)
        metrics["grad_norm"] = float(np.mean(self._grad_norms)) if self._grad_norms else math.nan
        self._grad_norms = []
        self.last_eval = metrics
        self.monitor.log_metrics(self.step, **metrics)
        acc = metrics.get("test_acc", math.nan)
        if self.grok_step is None and acc >= self.config.grok_threshold:
            self.grok_step = self.step
            if self.config.weights_every and self.step % self.config.weights_every:
                self.save_weights()  # the grokking point itself, for measurements made there
            self.monitor.emit(
                self.step,
                "grok",
                f"test accuracy {acc:.3f} >= {self.config.grok_threshold:g}",
                {"test_acc": acc, "threshold": self.config.grok_threshold},
            )

    def _on_event(self, event: Event, monitor) -> None:
        for callback in self.callbacks:
            callback(event, self)
        if self.callbacks:
            return
        self.progress.message(f"[{self.run_name}] step {event.step}: {describe_event(event)}")

    # -- the whole run --------------------------------------------------------------------------

    def fit(self) -> dict:
        """Train to ``steps``, checkpoint, finish the run; returns :meth:`summary`."""
        self.start()
        self.advance(self.config.steps - self.step)
        return self.finish()

    def finish(self, status: str = "finished") -> dict:
        if self.done:
            return self.summary()
        self.save_checkpoint()
        self.run.finish(status)
        self.progress.show(self.status_line(), force=True)
        self.progress.close()
        self.done = True
        summary = self.summary()
        if self._own_store:
            self._store.close()
        return summary

    def interrupt(self) -> None:
        """Checkpoint the last completed step and mark the run interrupted (Ctrl-C)."""
        if not self.started or self.done:
            return
        try:
            self.save_checkpoint()
        finally:
            self.run.set_status("interrupted")
            self.progress.close()
            self.progress.message(
                f"[{self.run_name}] interrupted at step {self.step}; checkpoint "
                f"{self.checkpoint_path} (continue with resume)"
            )
            self.done = True
            if self._own_store:
                self._store.close()

    @property
    def phase(self) -> str:
        """The online phase of R, as the monitor's tracker sees it."""
        return self.monitor.phase

    def summary(self) -> dict:
        fired = self.monitor.warning.warning
        return {
            "run": self.run_name,
            "steps": self.step,
            "grok_step": self.grok_step,
            "phase": self.phase,
            "warning_step": None if fired is None else fired["step"],
            **self.last_eval,
            "checkpoint": str(self.checkpoint_path),
            "store": str(self._store.path),
        }

    def status_line(self) -> str:
        ev = self.last_eval
        rec = self.monitor.latest
        k = R = A = None
        if rec is not None:
            k = rec.features.get("k_star")
            R = rec.features.get("gap_ratio")
            A = rec.features.get("adiabatic")
        return (
            f"[{self.run_name}] step {self.step}/{self.config.steps} "
            f"loss {_fmt(self.last_loss, '.4f')} "
            f"train {_fmt(ev.get('train_loss'), '.3f')}/{_fmt(ev.get('train_acc'), '.2f')} "
            f"test {_fmt(ev.get('test_loss'), '.3f')}/{_fmt(ev.get('test_acc'), '.2f')} "
            f"k* {_fmt(k, '.0f')} R {_fmt(R, '.2f')} {self.phase} A {_fmt(A, '.2g')}"
        )

    # -- checkpoints ----------------------------------------------------------------------------

    def save_checkpoint(self) -> Path:
        path = self.checkpoint_path
        path.parent.mkdir(parents=True, exist_ok=True)
        state = {
            "format": 2,  # 2: tracker and warning live in the monitor state
            "step": self.step,
            "config": self.config.to_dict(),
            "preset": self.preset,
            "run_name": self.run_name,
            "model": self.model.state_dict(),
            "optimizers": [o.state_dict() for o in self.optimizers],
            "schedulers": [s.state_dict() for s in self.schedulers],
            "monitor": self.monitor.state_dict(),
            "grok_step": self.grok_step,
            "last_eval": dict(self.last_eval),
            "last_loss": self.last_loss,
            "grad_norms": list(self._grad_norms),
            "rng": {
                "torch": torch.get_rng_state(),
                "numpy": np.random.get_state(),  # noqa: NPY002
                "python": random.getstate(),
            },
            "version": __version__,
        }
        tmp = path.with_suffix(".pt.tmp")
        try:
            torch.save(state, tmp)
            os.replace(tmp, path)
        except OSError as exc:
            raise SpectralEdgeError(f"cannot write the checkpoint {path}: {exc}") from None
        return path

    def save_weights(self) -> Path:
        """The model's weights alone at this step (``weights_every``): a few MB, no optimizer."""
        path = self.weights_dir / f"step-{self.step:07d}.pt"
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".pt.tmp")
        try:
            torch.save({"step": self.step, "model": self.model.state_dict()}, tmp)
            os.replace(tmp, path)
        except OSError as exc:
            raise SpectralEdgeError(f"cannot write the weights {path}: {exc}") from None
        return path

    def _restore(self, ckpt: dict) -> None:
        self.model.load_state_dict(ckpt["model"])
        for opt, s in zip(self.optimizers, ckpt["optimizers"], strict=True):
            opt.load_state_dict(s)
        for sched, s in zip(self.schedulers, ckpt["schedulers"], strict=True):
            sched.load_state_dict(s)
        self.monitor.load_state_dict(ckpt["monitor"])
        self.step = int(ckpt["step"])
        self.grok_step = ckpt["grok_step"]
        self.last_eval = dict(ckpt["last_eval"])
        self.last_loss = ckpt["last_loss"]
        self._grad_norms = list(ckpt.get("grad_norms", []))  # absent before weight/grad norms
        rng = ckpt["rng"]
        torch.set_rng_state(rng["torch"])
        np.random.set_state(rng["numpy"])  # noqa: NPY002
        random.setstate(rng["python"])
        # a longer run keeps the saved schedule's multiplier function (it is rebuilt from the
        # new config above; cosine schedules depend on steps, so they must not change)




def _weight_norm(model: nn.Module) -> float:
    """Global L2 norm of the trainable parameters, accumulated in float64."""
    total = 0.0
    for p in model.parameters():
        if p.requires_grad:
            total += float(p.detach().double().pow(2).sum())
    return math.sqrt(total)


def _free_run_name(store) -> str:
    names = set(store.runs()["name"])
    base = "run-" + time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    name, n = base, 1
    while name in names:
        n += 1
        name = f"{base}-{n}"
    return name


def _check_resumable(saved: dict, cfg: TrainConfig) -> None:
    old = config_from_dict(saved)
    new = asdict(cfg)
    changed = [k for k, v in asdict(old).items() if k != "steps" and new[k] != v]
    if cfg.schedule == "cosine" and old.steps != cfg.steps:
        changed.append("steps (a cosine schedule depends on it)")
    if changed:
        raise SpectralEdgeError(
            f"cannot resume: the config differs from the checkpoint's in {changed}; only "
            "steps may change"
        )
    if cfg.steps < old.steps and cfg.steps < 0:  # pragma: no cover - validated elsewhere
        raise SpectralEdgeError("steps must not be negative")


def describe_event(event: Event) -> str:
    """One readable line for a monitor event (phase, warning, grok, anything else)."""
    e = event.evidence or {}
    if event.kind == "phase":
        phase = e.get("phase", "?")
        start = e.get("start_step")
        peak = e.get("peak_value")
        q = "R" if e.get("quantity") == "gap_ratio" else e.get("quantity", "")
        if phase == "rise":
            return f"{q} rises (since step {start}, now {_fmt(e.get('value'), '.2f')})"
        if phase == "plateau":
            return f"{q} plateau since step {start} (peak {_fmt(peak, '.2f')})"
        if phase == "collapse":
            return (
                f"{q} collapses below {e.get('tau')} (peak {_fmt(peak, '.2f')} at step "
                f"{e.get('peak_step')})"
            )
    if event.kind == "warning":
        return (
            f"WARNING {e.get('quantity')} fell {_fmt(e.get('decline'), '.1f')}x from its peak "
            f"(step {e.get('running_max_step')}): a transition may be near"
        )
    if event.kind == "grok":
        return f"GROKKED: {event.message}"
    return f"{event.kind}: {event.message}"


def train(
    config: TrainConfig | str,
    out_dir: str | os.PathLike = "runs",
    *,
    store=None,
    run_name: str | None = None,
    overwrite: bool = False,
    progress: bool = True,
    resume: bool = False,
    preset: str | None = None,
) -> dict:
    """Train one config (or preset name) into ``out_dir``; returns the run's summary."""
    trainer = Trainer(
        config,
        out_dir,
        store=store,
        run_name=run_name,
        overwrite=overwrite,
        progress=progress,
        resume=resume,
        preset=preset,
    )
    return trainer.fit()


__all__ = ["Progress", "Trainer", "describe_event", "make_task", "train"]
