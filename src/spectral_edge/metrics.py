"""One metric vocabulary: the names the report, compare, grokking detection and the warning read.

Training loops spell the same metric in many ways: a plain loop logs ``loss``, Hugging Face's
Trainer ``loss`` and ``eval_loss``, Lightning users ``val_loss`` or ``val/acc``. The readers of a
run understand seven canonical names, and each spelling listed maps onto one of them:

* ``train_loss``: loss on training data. ``loss``, ``train_loss``, ``train/loss``,
  ``training_loss``, ``train_loss_step``.
* ``test_loss``: loss on held-out data (validation or test: one split here). ``eval_loss``,
  ``val_loss``, ``valid_loss``, ``validation_loss``, ``test_loss``, ``val/loss``.
* ``train_acc``: accuracy on training data. ``acc``, ``accuracy``, ``train_acc``,
  ``train_accuracy``.
* ``test_acc``: accuracy on held-out data; grokking is test_acc reaching its threshold.
  ``eval_accuracy``, ``val_acc``, ``val_accuracy``, ``val/acc``, ``test_acc``, ``test_accuracy``.
* ``lr``: learning rate. ``lr``, ``learning_rate``, ``lr-AdamW``.
* ``weight_norm``: norm of the parameters. ``weight_norm``, ``param_norm``, ``parameter_norm``.
* ``grad_norm``: norm of the gradient. ``grad_norm``, ``gradient_norm``.

The rule behind the list, so that a spelling not listed is still predictable: a name is cut into
words at any non-alphanumeric character (``_``, ``/``, ``-``, ``.``, space) and lowercased; a
trailing ``step`` or ``epoch`` word (Lightning's ``_step``/``_epoch`` suffixes) is dropped; then

* loss and accuracy: an optional split word and a kind word, nothing else. Split words: ``train``,
  ``training`` (also the default: an unprefixed ``loss`` is the training loss, as in the HF
  Trainer's logs and most loops), and ``val``, ``valid``, ``validation``, ``eval``,
  ``evaluation``, ``test``, ``dev``, ``heldout`` for held-out data. Kind words: ``loss``;
  ``acc``, ``accuracy``. ``val_loss_task2`` or ``train_acc_top5`` say something more and are left
  alone;
* ``lr`` as the first word, or ``learning rate``: lr; ``grad``/``gradient`` with ``norm``:
  grad_norm (Lightning's ``grad_2.0_norm_total`` too: numbers and ``total`` are ignored here);
  ``weight``/``param``/``params``/``parameter`` with ``norm``: weight_norm.

Anything else is not understood and is left under its own name (it is stored and exported as
logged, and ``plot_comparison(runs, "my_metric")`` draws it).

Stored data is never renamed: the store keeps the names a run logged, and readers resolve them
here. When a run logged several spellings of one canonical name (the HF Trainer logs ``loss`` at
every logging step and one ``train_loss``, the run's average, at the end), the spelling with the
most values is read, ties going to the canonical name itself; two spellings are never mixed into
one series.

A run can declare which of its metrics is which, for names the rule does not cover:
``SpectralMonitor(..., metric_names={"test_acc": "val_top1"})`` records
``config["metric_names"]``, which every reader applies before the rule (or
``run.update_config({"metric_names": {...}})`` after the fact).

>>> canonical_name("eval_loss"), canonical_name("val/acc"), canonical_name("loss")
('test_loss', 'test_acc', 'train_loss')
>>> canonical_name("train_loss_epoch"), canonical_name("lr-AdamW"), canonical_name("bleu")
('train_loss', 'lr', None)
>>> canonical_metrics({"loss": 0.7, "eval_accuracy": 0.91, "bleu": 12.0})
{'train_loss': 0.7, 'test_acc': 0.91, 'bleu': 12.0}
>>> canonical_metrics({"val_top1": 0.5}, names={"test_acc": "val_top1"})
{'test_acc': 0.5}
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

from spectral_edge.errors import SpectralEdgeError

__all__ = [
    "CANONICAL",
    "canonical_metrics",
    "canonical_name",
    "check_metric_names",
    "declared_names",
    "find_metric",
    "numeric_metrics",
]

CANONICAL: dict[str, str] = {
    "train_loss": "loss on training data",
    "test_loss": "loss on held-out (validation or test) data",
    "train_acc": "accuracy on training data",
    "test_acc": "accuracy on held-out data (grokking: it reaches the threshold)",
    "lr": "learning rate",
    "weight_norm": "norm of the parameters",
    "grad_norm": "norm of the gradient",
}

_TRAIN_WORDS = frozenset({"train", "training"})
_HELD_OUT_WORDS = frozenset(
    {"val", "valid", "validation", "eval", "evaluation", "test", "dev", "heldout"}
)
_KINDS = {"loss": "loss", "acc": "acc", "accuracy": "acc"}
_PARAM_WORDS = frozenset({"weight", "weights", "param", "params", "parameter", "parameters"})


def canonical_name(name: str) -> str | None:
    """The canonical name a metric's spelling stands for (see the module docstring), or None."""
    if not isinstance(name, str):
        return None
    words = [w for w in re.split(r"[^0-9a-z]+", name.lower()) if w]
    while len(words) > 1 and words[-1] in ("step", "epoch"):
        words.pop()
    if not words:
        return None
    if words[0] == "lr" or words == ["learning", "rate"] or words == ["learningrate"]:
        return "lr"
    core = [w for w in words if not w.isdigit() and w != "total"]  # grad_2.0_norm_total
    if "norm" in core and len(core) <= 3:
        if {"grad", "gradient", "grads"} & set(core):
            return "grad_norm"
        if _PARAM_WORDS & set(core):
            return "weight_norm"
    if len(words) > 2 or words[-1] not in _KINDS:
        return None
    kind = _KINDS[words[-1]]
    if len(words) == 1 or words[0] in _TRAIN_WORDS:
        return f"train_{kind}"
    if words[0] in _HELD_OUT_WORDS:
        return f"test_{kind}"
    return None


def numeric_metrics(logs: Mapping[str, Any]) -> tuple[dict[str, float], bool]:
    """``(finite numeric entries, is_summary)`` of one log record (a framework's ``logs`` dict,
    an HF ``log_history`` entry). ``is_summary`` marks the Hugging Face Trainer's end-of-training
    record (it holds ``train_runtime``): its ``train_loss`` is the run's average, not a loss at
    that step, so it belongs in the run's config, not beside the per-step metrics."""
    numbers = {
        str(k): float(v)
        for k, v in logs.items()
        if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
    }
    return numbers, "train_runtime" in numbers


def check_metric_names(names: Mapping[str, str] | None) -> dict[str, str]:
    """A run's declared ``{canonical: logged name}`` map, validated (one clear error if not)."""
    if names is None:
        return {}
    if not isinstance(names, Mapping):
        raise SpectralEdgeError(
            f"metric_names maps a canonical name to the name you log, e.g. "
            f"{{'test_acc': 'val_top1'}}; got {type(names).__name__}"
        )
    out = {}
    for canonical, logged in names.items():
        if canonical not in CANONICAL:
            raise SpectralEdgeError(
                f"metric_names key {canonical!r} is not a canonical metric name; "
                f"use one of {', '.join(CANONICAL)}"
            )
        if not isinstance(logged, str) or not logged:
            raise SpectralEdgeError(
                f"metric_names[{canonical!r}] must be the (non-empty) name you log, got {logged!r}"
            )
        out[canonical] = logged
    return out


def declared_names(config: Any) -> dict[str, str]:
    """The ``metric_names`` a run's config declares ({} when none, or when malformed)."""
    names = config.get("metric_names") if isinstance(config, Mapping) else None
    try:
        return check_metric_names(names)
    except SpectralEdgeError:
        return {}  # a reader must still read a run whose config was written by hand


def _resolve(
    counts: Mapping[str, int], names: Mapping[str, str] | None
) -> dict[str, str]:
    """{canonical: the logged name to read}, from each logged name's count of values."""
    declared = {c: n for c, n in (names or {}).items() if n in counts}
    chosen: dict[str, str] = dict(declared)
    taken = set(declared.values())
    candidates: dict[str, list[str]] = {}
    for logged in counts:
        canonical = canonical_name(logged)
        if canonical is not None and canonical not in declared and logged not in taken:
            candidates.setdefault(canonical, []).append(logged)
    for canonical, logged in candidates.items():
        # Most values first; on a tie the canonical spelling, then the order logged.
        order = {n: i for i, n in enumerate(logged)}
        chosen[canonical] = min(
            logged, key=lambda n: (-counts[n], n != canonical, order[n])
        )
    return chosen


def find_metric(metrics, canonical: str, names: Mapping[str, str] | None = None) -> str | None:
    """Which logged metric holds ``canonical``: a column of a wide metrics DataFrame (the one
    with the most values when several spellings were logged), a key of a dict, or None.

    A name that is not canonical is looked up as it is.
    """
    counts = _counts(metrics)
    if canonical not in CANONICAL:
        return canonical if canonical in counts else None
    return _resolve(counts, names).get(canonical)


def canonical_metrics(metrics, names: Mapping[str, str] | None = None):
    """``metrics`` under canonical names: a dict (one step's metrics) or a wide DataFrame.

    Understood spellings are renamed to their canonical name (one per canonical name: see the
    module docstring); spellings not chosen are dropped; other names are kept as they are.
    """
    counts = _counts(metrics)
    chosen = _resolve(counts, names)
    rename = {logged: canonical for canonical, logged in chosen.items()}
    dropped = {n for n in counts if n not in rename and canonical_name(n) in chosen}
    if isinstance(metrics, Mapping):
        return {rename.get(k, k): v for k, v in metrics.items() if k not in dropped}
    keep = [c for c in metrics.columns if c not in dropped]
    return metrics[keep].rename(columns=rename)


def _counts(metrics) -> dict[str, int]:
    """{name: number of finite values} of a dict or a wide DataFrame (its ``step`` excluded)."""
    if isinstance(metrics, Mapping):
        return {k: 1 for k in metrics if k != "step"}
    if hasattr(metrics, "columns"):
        return {
            str(c): int(metrics[c].notna().sum()) for c in metrics.columns if c != "step"
        }
    if isinstance(metrics, Iterable) and not isinstance(metrics, str):
        return {str(c): 1 for c in metrics if c != "step"}
    raise SpectralEdgeError(
        f"metrics must be a dict or a DataFrame of metrics, got {type(metrics).__name__}"
    )
