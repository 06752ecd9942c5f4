"""Training presets: one flat :class:`TrainConfig` per paper configuration, plus CPU-sized ones.

A preset is a complete :class:`TrainConfig`; ``--set key=value`` (:func:`parse_overrides`) changes
single fields with type and range checks, so a typo is a one-line :class:`SpectralEdgeError`
naming the closest key instead of a silently ignored option.

Paper configurations (docs/thesis.md §7), named after the family; they need a GPU or hours of
CPU and are meant for a GPU machine:

``modarith-add``, ``modarith-sub``, ``modarith-mul``, ``modarith-sq`` (a² + b²; also
``modarith-a2_ab_b2`` and ``modarith-a3_ab``, which the paper says do not grok), ``multitask``,
``dyck``, ``scan``, ``tinystories-51m``, ``gpt2-124m``, ``mlp-lockin``.

The language-model presets train on the offline generated corpora of
:mod:`spectral_edge.lab.tasks.language`, never on TinyStories, FineWeb or OpenWebText (which cannot
be downloaded here): their results are "scaled-down" (``scaled_down=True`` in the recorded config),
not reproductions, even at the paper's model shape.

CPU-sized variants (minutes on a laptop core):

- ``modadd-cpu``: the embedding MLP (docs/measurements.md, "Before the project"), p = 59, train
  fraction 0.5, AdamW lr 3e-3, β (0.9, 0.98), wd 1.0, full batch; groks in about 900 steps.
  ``modadd-cpu-wd0`` is its weight-decay-0 control with the identical cadence.
- ``modadd-tf-cpu``: the one-layer transformer measured there (p = 97, fraction 0.5, lr 1e-3).
- ``dyck-cpu``, ``scan-cpu``: the paper models narrowed (1 layer, d 64) for a CPU.
- ``lm-tiny``: the ``tiny`` GPT on the generated stories; ``lm-shift-cpu`` switches to the
  report corpus mid-run (a distribution shift).
"""

from __future__ import annotations

import difflib
import math
import typing
from dataclasses import asdict, dataclass, fields, replace

from spectral_edge.dynamics.early_warning import DEFAULT_RULE, WarningRule
from spectral_edge.errors import SpectralEdgeError
from spectral_edge.learning_rate import LR_POLICIES

TASKS = ("modular", "multitask", "mlp-modular", "dyck", "scan", "language")
SCHEDULES = ("constant", "cosine")
OPTIMIZERS = ("adamw", "adam", "sgd", "muon")
LOSS_REDUCTIONS = ("mean", "sum_centred")
K_STAR = ("plain", "weighted", "weighted_cut")


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run is; recorded whole with the run.

    Zero means "not used" for ``batch_size`` (full batch), ``clip`` (no clipping),
    ``monitor_sketch_dim`` (exact Gram), ``checkpoint_every`` (only at the end), ``weights_every``
    (no weight snapshots), ``eval_size`` (the whole test set) and ``shift_step`` (no corpus
    switch).
    """

    # data
    task: str = "modular"
    op: str = "add"
    ops: str = "add,mul"  # multitask: comma-separated operations, one head each
    p: int = 97
    train_fraction: float = 0.5
    n_train: int = 50  # dyck / scan
    n_test: int = 5000  # dyck / scan
    max_pairs: int = 12  # dyck
    corpus: str = "stories"  # language
    shift_corpus: str = "reports"  # language, used when shift_step > 0
    shift_step: int = 0
    n_docs: int = 2000
    seq_len: int = 128
    data_seed: int = 42
    # model
    model: str = "modular-transformer"
    model_args: str = ""  # builder keyword overrides, "hidden=128,d_embed=32"
    # optimizer
    optimizer: str = "adamw"
    lr: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.98)
    weight_decay: float = 1.0
    momentum: float = 0.9
    loss_reduction: str = "mean"  # mlp-modular: "sum_centred" is the author's MSE (trainer.py)
    batch_size: int = 512
    steps: int = 5000
    warmup: int = 10
    schedule: str = "constant"
    final_fraction: float = 0.1
    clip: float = 1.0
    # evaluation and bookkeeping
    eval_every: int = 100
    eval_size: int = 0
    seed: int = 42
    checkpoint_every: int = 0
    weights_every: int = 0
    grok_threshold: float = 0.95
    # monitor
    monitor_window: int = 10
    monitor_every: int = 100
    monitor_params: str = "attention"
    monitor_sketch_dim: int = 0
    monitor_k_star: str = "plain"
    monitor_lr_policy: str = "first"
    # online dynamics: PhaseTracker on phase_quantity; the early warning (docs/early-warning.md)
    phase_quantity: str = "gap_ratio"
    phase_tau: float = 1.2
    phase_smooth: int = 5
    warning_rule: str = ""  # "" = the monitor's default; else "signal=r23,direction=fall,..."
    # provenance
    scaled_down: bool = False
    note: str = ""

    def to_dict(self) -> dict:
        return asdict(self)

    def validate(self) -> TrainConfig:
        """Check every field's range; returns self. Errors are one-line SpectralEdgeErrors."""
        for f in fields(self):
            _check_range(f.name, getattr(self, f.name))
        if self.schedule == "cosine" and self.steps <= self.warmup:
            raise SpectralEdgeError(
                f"a cosine schedule needs steps > warmup, got steps={self.steps}, "
                f"warmup={self.warmup}"
            )
        return self


_CHOICES = {
    "task": TASKS,
    "schedule": SCHEDULES,
    "optimizer": OPTIMIZERS,
    "loss_reduction": LOSS_REDUCTIONS,
    "monitor_k_star": K_STAR,
    "monitor_lr_policy": LR_POLICIES,
    "corpus": ("stories", "reports"),
    "shift_corpus": ("stories", "reports"),
}
_POSITIVE = {
    "p",
    "n_train",
    "n_test",
    "max_pairs",
    "n_docs",
    "seq_len",
    "steps",
    "eval_every",
    "monitor_every",
    "phase_smooth",
}
_NON_NEGATIVE = {
    "batch_size",
    "warmup",
    "clip",
    "weight_decay",
    "checkpoint_every",
    "weights_every",
    "eval_size",
    "monitor_sketch_dim",
    "shift_step",
    "seed",
    "data_seed",
    "momentum",
}
_UNIT_OPEN = {"train_fraction"}  # (0, 1)
_UNIT_HALF_OPEN = {"grok_threshold"}  # (0, 1]
_UNIT_CLOSED = {"final_fraction"}  # [0, 1]
# Fields that no longer exist. They configured only the online reporting (the g23 GapWarning),
# never the training, so a stored run that recorded them is still the same training run
# (reproduce/runner.py).
RETIRED_FIELDS = frozenset(
    {"warning_quantity", "warning_smooth", "warning_rise", "warning_decline", "warning_sustain"}
)


def _check_range(name: str, value) -> None:
    bad = None
    if name in _CHOICES and value not in _CHOICES[name]:
        bad = f"one of {', '.join(_CHOICES[name])}"
    elif isinstance(value, float) and not math.isfinite(value):
        bad = "a finite number"
    elif name in _POSITIVE and value < 1:
        bad = "a positive integer"
    elif name in _NON_NEGATIVE and value < 0:
        bad = "≥ 0"
    elif name == "lr" and value <= 0:
        bad = "> 0"
    elif name == "betas" and not all(0.0 <= b < 1.0 for b in value):
        bad = "two numbers in [0, 1)"
    elif name in _UNIT_OPEN and not 0.0 < value < 1.0:
        bad = "in (0, 1)"
    elif name in _UNIT_HALF_OPEN and not 0.0 < value <= 1.0:
        bad = "in (0, 1]"
    elif name in _UNIT_CLOSED and not 0.0 <= value <= 1.0:
        bad = "in [0, 1]"
    elif name == "monitor_window" and value < 2:
        bad = "an integer ≥ 2"
    elif name == "model_args":
        parse_model_args(value)
    elif name == "warning_rule":
        warning_rule(value)
    elif name == "phase_tau" and value <= 0:
        bad = "> 0"
    if bad is not None:
        raise SpectralEdgeError(f"{name} must be {bad}, got {value!r}")


# --- presets -------------------------------------------------------------------------------

_MODARITH = TrainConfig(
    task="modular",
    p=97,
    train_fraction=0.5,
    model="modular-transformer",
    lr=1e-3,
    weight_decay=1.0,
    batch_size=512,
    steps=10_000,
    warmup=10,
    clip=1.0,
    eval_every=100,
    monitor_every=100,
    monitor_window=10,
    monitor_params="attention",
    note="docs/thesis.md §7, modular arithmetic (seeds 42, 137, 2024); groks ~2-4k steps",
)

_MODADD_CPU = TrainConfig(
    task="modular",
    op="add",
    p=59,
    train_fraction=0.5,
    data_seed=0,
    model="mlp-embed",
    lr=3e-3,
    weight_decay=1.0,
    batch_size=0,
    steps=1500,
    warmup=10,
    clip=0.0,
    eval_every=25,
    seed=0,
    monitor_window=10,
    monitor_every=25,
    monitor_params="all",
    scaled_down=True,
    note="embedding MLP of docs/measurements.md: p=59, fraction 0.5, full batch; groks ~900 steps",
)

PRESETS: dict[str, TrainConfig] = {
    "modarith-add": replace(_MODARITH, op="add"),
    "modarith-sub": replace(_MODARITH, op="sub"),
    "modarith-mul": replace(_MODARITH, op="mul"),
    "modarith-sq": replace(_MODARITH, op="a2_b2"),
    "modarith-a2_ab_b2": replace(_MODARITH, op="a2_ab_b2", note="does not grok in the paper"),
    "modarith-a3_ab": replace(_MODARITH, op="a3_ab", note="does not grok in the paper"),
    "multitask": replace(
        _MODARITH,
        task="multitask",
        ops="add,mul",
        monitor_params="all",
        note="docs/thesis.md §7, multi-task mod-arith: shared trunk, one head per task; wd 0-1",
    ),
    "dyck": TrainConfig(
        task="dyck",
        n_train=50,
        n_test=5000,
        max_pairs=12,
        model="dyck-transformer",
        lr=1e-3,
        weight_decay=1.0,
        batch_size=0,
        steps=3000,
        warmup=10,
        clip=1.0,
        eval_every=50,
        monitor_every=100,
        monitor_window=5,
        monitor_params="attention",
        note="docs/thesis.md §7, Dyck-1 depth; groks 600-1,400 steps",
    ),
    "scan": TrainConfig(
        task="scan",
        n_train=2048,
        n_test=2000,
        model="scan-seq2seq",
        lr=1e-4,
        weight_decay=1.0,
        batch_size=256,
        steps=6000,
        warmup=10,
        clip=1.0,
        eval_every=100,
        monitor_every=200,
        monitor_window=5,
        monitor_params="attention",
        note="docs/thesis.md §7, SCAN simple split; sequence accuracy (teacher-forced argmax)",
    ),
    "tinystories-51m": TrainConfig(
        task="language",
        corpus="stories",
        seq_len=256,
        n_docs=20_000,
        model="tinystories-51m",
        lr=1e-3,
        betas=(0.9, 0.95),
        weight_decay=0.5,
        batch_size=32,
        steps=10_000,
        warmup=1500,
        schedule="cosine",
        final_fraction=0.1,
        clip=1.0,
        eval_every=200,
        eval_size=64,
        monitor_every=200,
        monitor_window=10,
        monitor_params="all",
        monitor_sketch_dim=4096,
        scaled_down=True,
        note="TinyStories 51M shape on the generated story corpus (not TinyStories); GPU",
    ),
    "gpt2-124m": TrainConfig(
        task="language",
        corpus="stories",
        shift_corpus="reports",
        shift_step=17_800,
        seq_len=256,
        n_docs=20_000,
        model="gpt2-124m",
        lr=3e-5,
        betas=(0.9, 0.95),
        weight_decay=0.1,
        batch_size=16,
        steps=30_000,
        warmup=0,
        clip=1.0,
        eval_every=200,
        eval_size=64,
        monitor_every=200,
        monitor_window=10,
        monitor_params="all",
        monitor_sketch_dim=4096,
        scaled_down=True,
        note="GPT-2 124M shape; generated corpora stand in for FineWeb -> OpenWebText; GPU",
    ),
    "mlp-lockin": TrainConfig(
        task="mlp-modular",
        p=71,
        train_fraction=0.4,
        model="mlp-quadratic",
        lr=1e-3,
        betas=(0.9, 0.999),
        weight_decay=2e-4,
        batch_size=0,
        steps=5000,
        warmup=0,
        clip=0.0,
        eval_every=10,
        monitor_every=1,
        monitor_window=20,
        monitor_params="all",
        note="docs/thesis.md §7, two-layer x^2 MLP, MSE, full-batch Adam (one step = one epoch)",
    ),
    "modadd-cpu": _MODADD_CPU,
    "modadd-cpu-wd0": replace(_MODADD_CPU, weight_decay=0.0, note="wd-0 control of modadd-cpu"),
    "modadd-tf-cpu": replace(
        _MODADD_CPU,
        p=97,
        model="tf-1layer",
        lr=1e-3,
        steps=2000,
        monitor_params="attention",
        note="one-layer transformer of docs/measurements.md, p=97, fraction 0.5; groks 500-1,450",
    ),
    "dyck-cpu": TrainConfig(
        task="dyck",
        n_train=50,
        n_test=1000,
        max_pairs=12,
        model="dyck-transformer",
        lr=1e-3,
        weight_decay=1.0,
        batch_size=0,
        steps=1500,
        warmup=10,
        clip=1.0,
        eval_every=50,
        monitor_every=25,
        monitor_window=5,
        monitor_params="attention",
        scaled_down=True,
        note="Dyck-1 at the paper's shape, smaller test set",
    ),
    "scan-cpu": TrainConfig(
        task="scan",
        n_train=2048,
        n_test=500,
        model="scan-seq2seq",
        lr=5e-4,
        weight_decay=1.0,
        batch_size=128,
        steps=2000,
        warmup=10,
        clip=1.0,
        eval_every=100,
        monitor_every=50,
        monitor_window=5,
        monitor_params="attention",
        scaled_down=True,
        note="SCAN with the paper's data; a 1+1 layer d 64 model would need model overrides",
    ),
    "lm-tiny": TrainConfig(
        task="language",
        corpus="stories",
        seq_len=64,
        n_docs=500,
        model="tiny",
        lr=1e-3,
        betas=(0.9, 0.95),
        weight_decay=0.1,
        batch_size=16,
        steps=600,
        warmup=50,
        schedule="cosine",
        clip=1.0,
        eval_every=50,
        eval_size=16,
        monitor_every=10,
        monitor_window=10,
        monitor_params="all",
        scaled_down=True,
        note="tiny GPT (116K) on the generated stories",
    ),
}
PRESETS["lm-shift-cpu"] = replace(
    PRESETS["lm-tiny"], shift_step=300, note="lm-tiny with a switch to the report corpus at 300"
)


def parse_model_args(text: str) -> dict:
    """``"hidden=128,d_embed=32"`` → ``{"hidden": 128, "d_embed": 32}`` (int, float, bool, str)."""
    out: dict = {}
    for item in (x.strip() for x in text.split(",")):
        if not item:
            continue
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise SpectralEdgeError(
                f"model_args must look like 'key=value,key=value', got {text!r}"
            )
        value = value.strip()
        for cast in (int, float, _parse_bool):
            try:
                out[key.strip()] = cast(value)
                break
            except ValueError:
                continue
        else:
            out[key.strip()] = value
    return out


def warning_rule(text: str):
    """The early-warning rule of ``warning_rule``: the monitor's default for ``""``, else a
    :class:`~spectral_edge.dynamics.early_warning.WarningRule` from ``"key=value,..."``."""
    if not text:
        return DEFAULT_RULE
    fields_ = {f.name for f in fields(WarningRule)}
    values = parse_model_args(text)
    unknown = sorted(set(values) - fields_)
    if unknown:
        raise SpectralEdgeError(
            f"unknown warning_rule key(s) {unknown}; known: {', '.join(sorted(fields_))}"
        )
    for key in ("threshold", "rise", "decline", "settle_accuracy"):
        if key in values:
            values[key] = float(values[key])
    return replace(WarningRule(), **values).validate()


def get_preset(name: str) -> TrainConfig:
    """The named preset; an unknown name is an error that suggests the closest one."""
    if name not in PRESETS:
        close = difflib.get_close_matches(name, PRESETS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise SpectralEdgeError(
            f"unknown preset {name!r}{hint}; choose one of: {', '.join(PRESETS)}"
        )
    return PRESETS[name]


# --- overrides -----------------------------------------------------------------------------

_FIELDS = {f.name: f for f in fields(TrainConfig)}
_HINTS = typing.get_type_hints(TrainConfig)


def _parse_bool(text: str) -> bool:
    low = text.strip().lower()
    if low in ("1", "true", "yes", "on"):
        return True
    if low in ("0", "false", "no", "off"):
        return False
    raise ValueError(text)


def _parse_value(key: str, text: str):
    hint = _HINTS[key]
    try:
        if hint is bool:
            return _parse_bool(text)
        if hint is int:
            return int(text.replace("_", ""))
        if hint is float:
            return float(text)
        if hint is str:
            return text
        if typing.get_origin(hint) is tuple:
            parts = [p for p in text.strip("()[] ").split(",") if p.strip()]
            args = typing.get_args(hint)
            if len(parts) != len(args):
                raise ValueError(text)
            return tuple(t(p) for t, p in zip(args, parts, strict=True))
    except ValueError:
        pass
    else:
        raise SpectralEdgeError(f"cannot set {key}: unsupported type {hint}")  # pragma: no cover
    names = {bool: "a boolean (true/false)", int: "an integer", float: "a number"}
    want = names.get(hint) or f"{len(typing.get_args(hint))} comma-separated numbers"
    raise SpectralEdgeError(f"{key} must be {want}, got {text!r}")


def parse_overrides(items, base: TrainConfig | None = None) -> TrainConfig | dict:
    """``["key=value", ...]`` → the checked values, applied to ``base`` when one is given.

    Without ``base`` returns the dict of parsed values; with it, the new validated config.
    Unknown keys suggest the closest field name (difflib); wrong types and out-of-range values
    are one-line :class:`SpectralEdgeError`s.
    """
    values: dict = {}
    for item in items or ():
        if not isinstance(item, str) or "=" not in item:
            raise SpectralEdgeError(f"override {item!r} is not of the form key=value")
        key, _, text = item.partition("=")
        key = key.strip().replace("-", "_")
        if key not in _FIELDS:
            close = difflib.get_close_matches(key, _FIELDS, n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"keys: {', '.join(_FIELDS)}"
            raise SpectralEdgeError(f"unknown config key {key!r}; {hint}")
        value = _parse_value(key, text.strip())
        _check_range(key, value)
        values[key] = value
    if base is None:
        return values
    return replace(base, **values).validate()


def config_from_dict(data: dict) -> TrainConfig:
    """A TrainConfig from its recorded dict (a checkpoint or a stored run's config); retired
    fields (:data:`RETIRED_FIELDS`) are dropped."""
    known = {k: v for k, v in data.items() if k in _FIELDS}
    if "betas" in known:
        known["betas"] = tuple(known["betas"])
    return TrainConfig(**known)


__all__ = [
    "PRESETS",
    "RETIRED_FIELDS",
    "TrainConfig",
    "config_from_dict",
    "get_preset",
    "parse_overrides",
    "warning_rule",
]
