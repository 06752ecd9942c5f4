"""Offline analysis: the spectral edge of a run that is over, from its saved checkpoints.

``analyze(paths, store=...)`` reads a sequence of checkpoints, orders them by training step and
feeds them, one at a time, to the same :class:`~spectral_edge.SpectralMonitor` that watches live
training. Each checkpoint is one snapshot θ_t, so the windows are those an online monitor with
``every`` = the saving interval would have written, with the same parameter selections, sketch and
definitions (the tests check equality with the online monitor of the same run).

Formats (one per analysis; a mix is refused, as it usually means two runs in one directory):

* ``torch``: ``.pt`` / ``.pth`` / ``.bin`` files from ``torch.save``: a state dict, or a dict with
  ``model`` / ``model_state_dict`` / ``state_dict`` and optionally ``step`` / ``global_step`` and
  ``optimizer`` (whose first parameter group gives η);
* ``lightning``: ``.ckpt`` files (``state_dict``, ``global_step``, ``optimizer_states``);
* ``safetensors``: ``.safetensors`` files (weights only: give η with ``lr=``);
* ``hf``: Hugging Face checkpoint directories (``checkpoint-N/`` with ``model.safetensors`` or
  ``pytorch_model.bin``, sharded or not, and ``trainer_state.json`` for the step and η).

A path may be a checkpoint or a directory of them (an ``output_dir`` of ``checkpoint-N/``
directories is read as those, not as the final model beside them; Lightning's ``last.ckpt`` is
left out when numbered checkpoints are there). The step is the one stored in the checkpoint
when there is one, else the number in its name (``step=500``, ``checkpoint-500``, the last number).

Parameters: state-dict keys are parameter names, so the selections of :mod:`spectral_edge.snapshot`
apply (``"attention"``, ``"trunk"``, regular expressions, lists of names; types are unknown, so
``trunk`` falls back on names). Buffers are left out where they can be told apart: integer tensors,
BatchNorm statistics, attention masks and rotary frequencies. Tied weights saved twice (the same
storage under two keys) count once, under the first key, as ``named_parameters`` does.

Memory: one checkpoint is loaded at a time (torch files memory-mapped) and released before the
next. The exact path keeps W + 2 vectors of P floats, as online; with ``sketch_dim`` only O(W·d).

Nothing half-written: every checkpoint is read and checked (names, shapes, finite reads, steps)
while the windows accumulate in memory; the run is created in the store only after the last
checkpoint, and written in one transaction per table. A bad input raises
:class:`SpectralEdgeError` naming the file, and the store is untouched.
"""

from __future__ import annotations

import json
import math
import os
import re
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from spectral_edge.errors import SpectralEdgeError
from spectral_edge.learning_rate import saved_learning_rate
from spectral_edge.metrics import numeric_metrics
from spectral_edge.monitor import SpectralMonitor
from spectral_edge.store import RunStore, open_store

TORCH_SUFFIXES = (".pt", ".pth", ".bin")
HF_WEIGHTS = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)
# Buffers that state dicts carry beside parameters (BatchNorm statistics, attention masks,
# rotary frequencies, position ids); matched against the last name components.
BUFFER_NAMES = re.compile(
    r"(^|\.)(running_mean|running_var|num_batches_tracked|masked_bias|inv_freq|position_ids"
    r"|attn\.bias|causal_mask|mask)$"
)
_STEP_PATTERNS = (
    re.compile(r"(?:global_step|step)[=_-]?(\d+)", re.IGNORECASE),
    re.compile(r"checkpoint[=_-]?(\d+)", re.IGNORECASE),
    re.compile(r"(\d+)"),
)


@dataclass
class Checkpoint:
    """One checkpoint on disk: where, which format, and the step its name gives."""

    path: Path
    format: str
    name_step: int | None


# -- finding and ordering ------------------------------------------------------------------------


def format_of(path: Path) -> str | None:
    """The checkpoint format of a file or directory, or None if it is not a checkpoint."""
    if path.is_dir():
        return "hf" if any((path / name).is_file() for name in HF_WEIGHTS) else None
    suffix = path.suffix.lower()
    if suffix in TORCH_SUFFIXES:
        return "torch"
    if suffix == ".ckpt":
        return "lightning"
    if suffix == ".safetensors":
        return "safetensors"
    return None


def step_from_name(path: Path) -> int | None:
    """The training step a checkpoint's name states (``step=500``, ``checkpoint-500``, ``500``)."""
    stem = path.name if path.is_dir() else path.stem
    for pattern in _STEP_PATTERNS:
        found = pattern.findall(stem)
        if found:
            return int(found[-1])
    return None


def discover(paths: Iterable[str | os.PathLike]) -> list[Checkpoint]:
    """Every checkpoint the paths name, one format, in the order of their names' steps."""
    found: list[Checkpoint] = []
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise SpectralEdgeError(f"{path}: no such file or directory")
        kind = format_of(path)
        inside = _checkpoints_in(path) if path.is_dir() else []
        if kind == "hf" and not any(c.format == "hf" for c in inside):
            inside = []  # a checkpoint directory itself: its weight files are its parts
        if kind is not None and not inside:
            found.append(Checkpoint(path, kind, step_from_name(path)))
            continue
        if not path.is_dir():
            raise SpectralEdgeError(
                f"{path}: not a checkpoint (expected .pt/.pth/.bin, .ckpt, .safetensors or a "
                "Hugging Face checkpoint directory)"
            )
        if not inside:
            raise SpectralEdgeError(
                f"{path}: no checkpoints in this directory (looked for .pt/.pth/.bin, .ckpt, "
                ".safetensors files and checkpoint-N/ directories)"
            )
        found.extend(inside)
    formats = sorted({c.format for c in found})
    if len(formats) > 1:
        examples = "; ".join(
            f"{f}: {next(c.path for c in found if c.format == f)}" for f in formats
        )
        raise SpectralEdgeError(
            f"checkpoints of several formats ({examples}); analyse one run's checkpoints at a "
            "time, in one format"
        )
    return found


def _checkpoints_in(directory: Path) -> list[Checkpoint]:
    """The checkpoints directly inside a directory.

    A Hugging Face ``output_dir`` holds ``checkpoint-N/`` directories and often the final model
    beside them: the sequence is the directories. Lightning's ``last.ckpt`` repeats the newest
    checkpoint under another name: it is left out when numbered checkpoints are there.
    """
    inside = [
        Checkpoint(child, kind, step_from_name(child))
        for child in sorted(directory.iterdir())
        if (kind := format_of(child)) is not None
    ]
    directories = [c for c in inside if c.format == "hf"]
    if directories:
        return directories
    numbered = [c for c in inside if not re.match(r"last(-v\d+)?\.ckpt$", c.path.name)]
    return numbered or inside


# -- reading one checkpoint ----------------------------------------------------------------------


@dataclass
class Loaded:
    tensors: dict[str, torch.Tensor]
    step: int | None
    lr: float | None
    payload: dict | None = None  # the torch file's top-level dict, where metrics may be kept
    log_history: list | None = None  # a Hugging Face checkpoint's trainer_state log_history


def _torch_load(path: Path):
    try:
        try:
            return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError as exc:  # legacy (non-zip) files cannot be memory-mapped
            if "mmap" not in str(exc):
                raise
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise SpectralEdgeError(
            f"{path}: cannot read this checkpoint ({type(exc).__name__}: {exc}); it may be "
            "truncated, corrupt or not a torch checkpoint"
        ) from None


def _safetensors_load(path: Path) -> dict[str, torch.Tensor]:
    try:
        from safetensors.torch import load_file
    except ImportError:
        raise SpectralEdgeError(
            f"{path}: reading safetensors needs the safetensors package: "
            "pip install 'spectral-edge[hf]'"
        ) from None
    try:
        return load_file(str(path), device="cpu")
    except Exception as exc:
        raise SpectralEdgeError(
            f"{path}: cannot read this safetensors file ({type(exc).__name__}: {exc}); it may "
            "be truncated or corrupt"
        ) from None


def _tensor_dict(obj, path: Path, what: str) -> dict[str, torch.Tensor]:
    if not isinstance(obj, dict) or not obj:
        raise SpectralEdgeError(f"{path}: {what} is not a non-empty dict of tensors")
    bad = [k for k, v in obj.items() if not isinstance(k, str) or not isinstance(v, torch.Tensor)]
    if len(bad) == len(obj):
        raise SpectralEdgeError(f"{path}: {what} holds no tensors (keys: {list(obj)[:6]})")
    return {k: v for k, v in obj.items() if k not in bad}


def load_checkpoint(ckpt: Checkpoint, lr_policy: str = "first") -> Loaded:
    """The tensors, stored step and η of one checkpoint (weights only, on the CPU)."""
    path = ckpt.path
    if ckpt.format == "safetensors":
        return Loaded(_safetensors_load(path), None, None)
    if ckpt.format == "hf":
        return _load_hf_dir(path)
    payload = _torch_load(path)
    if ckpt.format == "lightning" or (isinstance(payload, dict) and "state_dict" in payload):
        if not isinstance(payload, dict) or "state_dict" not in payload:
            raise SpectralEdgeError(f"{path}: not a Lightning checkpoint (no 'state_dict')")
        states = payload.get("optimizer_states") or [None]
        lr = saved_learning_rate(states[0], lr_policy) if states[0] is not None else None
        step = payload.get("global_step")
        tensors = _tensor_dict(payload["state_dict"], path, "'state_dict'")
        return Loaded(tensors, step, lr, payload)
    if isinstance(payload, dict):
        for key in ("model", "model_state_dict"):
            if isinstance(payload.get(key), dict):
                step = payload.get("step", payload.get("global_step"))
                opt = payload.get("optimizer", payload.get("optimizer_state_dict"))
                lr = saved_learning_rate(opt, lr_policy) if isinstance(opt, dict) else None
                step = int(step) if isinstance(step, int | np.integer) else None
                return Loaded(_tensor_dict(payload[key], path, f"'{key}'"), step, lr, payload)
    return Loaded(_tensor_dict(payload, path, "the file"), None, None)


def _load_hf_dir(path: Path) -> Loaded:
    tensors: dict[str, torch.Tensor] = {}
    for name in HF_WEIGHTS:
        file = path / name
        if not file.is_file():
            continue
        if name.endswith(".index.json"):
            try:
                shards = sorted(set(json.loads(file.read_text())["weight_map"].values()))
            except (ValueError, KeyError) as exc:
                raise SpectralEdgeError(f"{file}: not a weight index ({exc})") from None
            for shard in shards:
                part = path / shard
                if not part.is_file():
                    raise SpectralEdgeError(f"{file}: names shard {shard}, which is missing")
                tensors.update(_read_weights(part))
        else:
            tensors.update(_read_weights(file))
        break
    step = lr = None
    state_file = path / "trainer_state.json"
    if state_file.is_file():
        try:
            state = json.loads(state_file.read_text())
        except ValueError as exc:
            raise SpectralEdgeError(f"{state_file}: not valid JSON ({exc})") from None
        step = state.get("global_step")
        logged = [
            h
            for h in state.get("log_history", [])
            if "learning_rate" in h and h.get("step") == step
        ]
        lr = float(logged[-1]["learning_rate"]) if logged else None
        return Loaded(tensors, step, lr, log_history=state.get("log_history"))
    return Loaded(tensors, step, lr)


def _read_weights(file: Path) -> dict[str, torch.Tensor]:
    if file.suffix == ".safetensors":
        return _safetensors_load(file)
    return _tensor_dict(_torch_load(file), file, "the file")


def parameters_of(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The tensors that are parameters: floating, not a known buffer, tied storage once."""
    out: dict[str, torch.Tensor] = {}
    seen: set[tuple] = set()
    for name, t in tensors.items():
        if not t.is_floating_point() or BUFFER_NAMES.search(name):
            continue
        key = (t.untyped_storage().data_ptr(), t.storage_offset(), tuple(t.shape), t.dtype)
        if t.numel() and key in seen:
            continue  # the same tensor under a second name: a tied weight
        seen.add(key)
        out[name] = t
    return out


# -- the analysis --------------------------------------------------------------------------------


class _Holder(nn.Module):
    """A module whose parameters are a checkpoint's tensors, so the monitor reads it as a model."""

    def __init__(self, shapes: dict[str, tuple[int, ...]], dtypes: dict[str, torch.dtype]):
        super().__init__()
        for name, shape in shapes.items():
            *path, leaf = name.split(".")
            module = self
            for part in path:
                if part not in module._modules:
                    module.add_module(part, nn.Module())
                module = module._modules[part]
            module.register_parameter(leaf, nn.Parameter(torch.empty(shape, dtype=dtypes[name])))

    def load(self, tensors: dict[str, torch.Tensor]) -> None:
        named = dict(self.named_parameters())
        for name, t in tensors.items():
            named[name].data = t  # no copy: the checkpoint's own (memory-mapped) storage


class _Recorder:
    """Stands in for a run while checkpoints are read; replayed into the store at the end."""

    name = None

    def __init__(self):
        self.windows: list[tuple[int, dict]] = []
        self.events: list[tuple] = []
        self.metrics: dict[int, dict] = {}

    def log_window(self, step, features):
        self.windows.append((int(step), dict(features)))

    def log_event(self, step, kind, message="", evidence=None):
        self.events.append((int(step), kind, message, dict(evidence or {})))

    def log_metrics(self, step, metrics):
        self.metrics.setdefault(int(step), {}).update(metrics)


# -- metrics beside the checkpoints -------------------------------------------------------------


def metrics_source(metrics) -> Path | list[str] | None:
    """What ``analyze(metrics=...)`` names: a CSV file (a Path), keys inside the checkpoints
    (a list), or None for the automatic sources only."""
    if metrics is None:
        return None
    if isinstance(metrics, os.PathLike) or str(metrics).lower().endswith(".csv"):
        path = Path(metrics)
        if not path.is_file():
            raise SpectralEdgeError(f"metrics file {path} does not exist")
        return path
    if isinstance(metrics, str):
        keys = [k.strip() for k in metrics.split(",") if k.strip()]
    else:
        keys = [str(k) for k in metrics]
    if not keys:
        raise SpectralEdgeError("metrics= names a CSV file or the keys holding metrics")
    return keys


def read_metrics_csv(path: Path) -> dict[int, dict[str, float]]:
    """{step: {name: value}} from a CSV with a ``step`` column (one row per logged step)."""
    try:
        frame = pd.read_csv(path)
    except Exception as exc:
        raise SpectralEdgeError(f"{path}: cannot read this metrics CSV ({exc})") from None
    if "step" not in frame.columns:
        raise SpectralEdgeError(
            f"{path}: a metrics CSV needs a 'step' column; it has {list(frame.columns)}"
        )
    values = frame.drop(columns="step").apply(pd.to_numeric, errors="coerce")
    out: dict[int, dict[str, float]] = {}
    for step, row in zip(frame["step"], values.to_dict("records"), strict=True):
        numbers = {k: float(v) for k, v in row.items() if math.isfinite(v)}
        if numbers:
            out.setdefault(int(step), {}).update(numbers)
    return out


def checkpoint_metrics(loaded: Loaded, keys: list[str] | None) -> dict[str, float]:
    """The metrics one checkpoint carries: ``payload[key]`` for each key (a number, stored under
    the key, or a dict of numbers), else the dict under ``"metrics"`` when there is one."""
    payload = loaded.payload or {}
    out: dict[str, float] = {}
    for key in keys if keys is not None else ["metrics"]:
        value = payload.get(key)
        if isinstance(value, dict):
            out.update(numeric_metrics(value)[0])
        else:
            out.update(numeric_metrics({key: value.item() if hasattr(value, "item") else value})[0])
    return out


def history_metrics(log_history: list | None) -> dict[int, dict[str, float]]:
    """{step: metrics} of a Hugging Face ``log_history`` (loss, eval_loss, ...), without the
    end-of-training summary (see :func:`spectral_edge.metrics.numeric_metrics`)."""
    out: dict[int, dict[str, float]] = {}
    for entry in log_history or []:
        if not isinstance(entry, dict) or not isinstance(entry.get("step"), int):
            continue
        numbers, summary = numeric_metrics({k: v for k, v in entry.items() if k != "step"})
        if numbers and not summary:
            out.setdefault(entry["step"], {}).update(numbers)
    return out


def _check_same(reference: dict, current: dict, path: Path, first: Path) -> None:
    if current == reference:
        return
    missing = sorted(set(reference) - set(current))
    extra = sorted(set(current) - set(reference))
    reshaped = sorted(n for n in set(reference) & set(current) if reference[n] != current[n])
    parts = []
    if missing:
        parts.append(f"missing {missing[:5]}{' ...' if len(missing) > 5 else ''}")
    if extra:
        parts.append(f"new {extra[:5]}{' ...' if len(extra) > 5 else ''}")
    if reshaped:
        shown = [f"{n} {reference[n]} -> {current[n]}" for n in reshaped[:5]]
        parts.append("reshaped " + ", ".join(shown))
    raise SpectralEdgeError(
        f"{path}: parameters differ from {first.name}: "
        + "; ".join(parts)
        + " (checkpoints of one run must hold the same parameters)"
    )


def analyze(
    paths,
    store=None,
    *,
    name: str | None = None,
    lr: float | None = None,
    overwrite: bool = False,
    progress: Callable[[int, int, int, Path], None] | None = None,
    metrics=None,
    **monitor_kwargs,
) -> SpectralMonitor:
    """Analyse saved checkpoints; returns the monitor (``.history``, ``.events``, ``.run``).

    Args:
        paths: checkpoint files or directories (a str or a list of them).
        store: where to write the run (path, RunStore), or None to keep it in memory.
        name: the run's name (default: analyze-<first path's name>).
        lr: η for the adiabatic parameter when the checkpoints do not store it (or to override).
        overwrite: replace a run of that name.
        progress: called as ``progress(i, n, step, path)`` after each checkpoint.
        metrics: training metrics to store beside the windows (loss, accuracy: what the report
            draws): a CSV file with a ``step`` column, or the key(s) inside each torch or
            Lightning checkpoint that hold them (``"metrics"`` for a dict of numbers, or
            ``"loss,val_acc"`` for numbers saved at the top level). Without it, a dict under
            ``"metrics"`` is read when checkpoints have one, and a Hugging Face checkpoint's
            ``trainer_state.json`` log history always is.
        monitor_kwargs: window, params, sketch_dim, sketch, seed, k_star, center, lr_policy, ...
            exactly as for :class:`SpectralMonitor` (``every`` does not apply: each checkpoint
            is one snapshot).
    """
    if "every" in monitor_kwargs:
        raise SpectralEdgeError("every does not apply to analyze: each checkpoint is a snapshot")
    paths = [paths] if isinstance(paths, str | os.PathLike) else list(paths)
    if not paths:
        raise SpectralEdgeError("analyze needs at least one checkpoint path")
    checkpoints = discover(paths)
    window = monitor_kwargs.get("window", 10)
    if len(checkpoints) < 3:
        raise SpectralEdgeError(
            f"found {len(checkpoints)} checkpoint(s) in {[str(p) for p in paths]}; a window "
            "needs at least 3 (two updates)"
        )
    lr_policy = monitor_kwargs.get("lr_policy", "first")
    checkpoints = _ordered(checkpoints, lr_policy)
    source = metrics_source(metrics)

    recorder = _Recorder()
    if isinstance(source, Path):
        recorder.metrics = read_metrics_csv(source)
    monitor = holder = reference = None
    last_step = None
    steps: list[int] = []
    for i, ckpt in enumerate(checkpoints):
        loaded = load_checkpoint(ckpt, lr_policy)
        step = loaded.step if loaded.step is not None else ckpt.name_step
        if step is None:
            raise SpectralEdgeError(
                f"{ckpt.path}: no step stored and none in the name; name checkpoints like "
                "step=100.pt or checkpoint-100"
            )
        if last_step is not None and step <= last_step:
            raise SpectralEdgeError(
                f"{ckpt.path}: step {step} does not follow step {last_step} of "
                f"{checkpoints[i - 1].path.name} (two checkpoints of one step, or names that "
                "disagree with the stored steps)"
            )
        tensors = parameters_of(loaded.tensors)
        if not tensors:
            raise SpectralEdgeError(f"{ckpt.path}: no floating-point parameters in it")
        shapes = {n: tuple(t.shape) for n, t in tensors.items()}
        if holder is None:
            reference = shapes
            holder = _Holder(shapes, {n: t.dtype for n, t in tensors.items()})
            holder.load(tensors)
            monitor = SpectralMonitor(holder, store=recorder, strict=True, **monitor_kwargs)
        else:
            _check_same(reference, shapes, ckpt.path, checkpoints[0].path)
            holder.load(tensors)
        try:
            monitor.observe(step, lr=lr if lr is not None else loaded.lr)
        except SpectralEdgeError as exc:
            raise SpectralEdgeError(f"{ckpt.path}: {exc}") from None
        if not isinstance(source, Path):
            carried = checkpoint_metrics(loaded, source)
            if carried:
                recorder.log_metrics(step, carried)
            for at, logged in history_metrics(loaded.log_history).items():
                recorder.log_metrics(at, logged)
        del loaded, tensors
        last_step = step
        steps.append(step)
        if progress is not None:
            progress(i + 1, len(checkpoints), step, ckpt.path)
    if isinstance(source, list) and not recorder.metrics:
        raise SpectralEdgeError(
            f"no checkpoint holds metrics under {source}; save them beside the weights "
            "(torch.save({'model': ..., 'step': ..., 'metrics': {'loss': ...}})) or pass a CSV"
        )
    if not monitor.history:
        raise SpectralEdgeError(
            f"{len(checkpoints)} checkpoints gave no window (window={window}); see the events: "
            + "; ".join(e.message for e in monitor.events[:3])
        )
    monitor.run = None
    if store is not None:
        monitor.run = _write(
            monitor,
            recorder,
            store,
            name or _default_name(paths),
            overwrite,
            {
                "paths": [str(p) for p in paths],
                "format": checkpoints[0].format,
                "steps": steps,
                "lr": lr,
                "metrics": None if source is None else str(source),
            },
        )
    return monitor


def _ordered(checkpoints: list[Checkpoint], lr_policy: str) -> list[Checkpoint]:
    """Sort by the step in the name; checkpoints without one are read once to find theirs."""
    for ckpt in checkpoints:
        if ckpt.name_step is None:
            ckpt.name_step = load_checkpoint(ckpt, lr_policy).step
            if ckpt.name_step is None:
                raise SpectralEdgeError(
                    f"{ckpt.path}: no step stored and none in the name; name checkpoints like "
                    "step=100.pt or checkpoint-100"
                )
    return sorted(checkpoints, key=lambda c: c.name_step)


def _default_name(paths) -> str:
    return "analyze-" + Path(paths[0]).resolve().name


def _write(monitor, recorder: _Recorder, store, name: str, overwrite: bool, analysis: dict):
    """Create the run only now that every checkpoint was read; a failure marks it failed."""
    if not isinstance(store, RunStore):
        store = open_store(store)
    config = {"monitor": monitor.describe(), "analyze": analysis}
    definitions = monitor.definitions()
    # Each update spans one checkpoint interval, not the monitor's every=1.
    definitions["update"] = "theta_t - theta of the previous checkpoint"
    run = store.create_run(
        name,
        config=config,
        seeds={"sketch_seed": monitor.config.seed},
        definitions=definitions,
        overwrite=overwrite,
    )
    with run:  # finished on success, "failed" if a write fails half-way
        run.log_windows(recorder.windows)
        for step, logged in sorted(recorder.metrics.items()):
            run.log_metrics(step, logged)
        for step, kind, message, evidence in recorder.events:
            run.log_event(step, kind, message, evidence)
    return run


def summary(monitor, store=None) -> str:
    """A few lines on what an analysis found, for the command line."""
    frame = monitor.to_dataframe()
    columns = [
        c for c in ("step", "k_star", "gap_ratio", "g23", "adiabatic_dk", "regime") if c in frame
    ]
    lines = [frame[columns].tail(10).to_string(index=False)]
    where = f"; run {monitor.run.name!r} in {store}" if monitor.run is not None else ""
    lines.append(
        f"{len(frame)} windows, steps {frame['step'].iloc[0]}..{frame['step'].iloc[-1]}{where}"
    )
    return "\n".join(lines)


def print_progress(i: int, n: int, step: int, path: Path) -> None:
    """A progress bar on stderr: ``analyze [#####.....] 5/10 step 500 name``.

    Redrawn in place on a terminal; one line per checkpoint when stderr is a file or a pipe.
    """
    width = 20
    done = math.floor(width * i / n)
    line = f"analyze [{'#' * done}{'.' * (width - done)}] {i}/{n} step {step} {path.name}"
    if sys.stderr.isatty():
        sys.stderr.write("\r" + line.ljust(100) + ("\n" if i == n else ""))
    else:
        sys.stderr.write(line + "\n")
    sys.stderr.flush()
