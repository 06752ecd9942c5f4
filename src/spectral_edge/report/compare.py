"""Several runs side by side: what differs in their set-up, their windows, and their numbers.

:func:`compare_runs` says first *what differs* (a different W, cadence or parameter selection
makes the spectra incomparable window for window; a different weight decay or optimizer is
usually the experiment), then lays out every differing config key, each run's windows and its
summary numbers. :func:`format_comparison` turns that into text for the terminal;
``spectral-edge compare STORE RUN RUN ... [--out FILE]`` prints it and can also write an HTML
page with the runs' curves on shared axes.

>>> import pandas as pd
>>> from spectral_edge.report.plots import RunData
>>> a = RunData("a", pd.DataFrame({"step": [10, 20]}), config={"monitor": {"window": 10}})
>>> b = RunData("b", pd.DataFrame({"step": [10, 20]}), config={"monitor": {"window": 20}})
>>> compare_runs([a, b])["differences"][0]
'different W (monitor.window): a=10, b=20'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from spectral_edge.errors import SpectralEdgeError
from spectral_edge.report.plots import RunData, load_run_data
from spectral_edge.report.summary import fmt, run_summary, selection

__all__ = ["compare_runs", "flatten", "format_comparison", "window_facts", "window_grid"]

# Keys whose difference changes what a window *is*: named first, with what they mean.
_NAMED = {
    "monitor.window": "W",
    "monitor.every": "snapshot cadence",
    "monitor.params": "parameter selection",
    "monitor.n_params": "number of watched parameters P",
    "monitor.sketch_dim": "sketch dimension",
    "monitor.sketch": "sketch family",
    "monitor.k_star": "k* variant",
    "monitor.center": "centring",
    "monitor.lr_policy": "η policy",
    "train.optimizer": "optimizer",
    "train.weight_decay": "weight decay",
    "train.lr": "learning rate",
    "train.model": "model",
    "train.task": "task",
    "train.seed": "seed",
    "optimizer.class": "optimizer",
    "trainer.optim": "optimizer",
}
# What an experiment usually varies, by the last part of a key of the training sections
# ("optimizer" as the monitor and the callbacks record it, "trainer" for the framework's
# arguments, "train" for the lab's presets).
_NAMED_LEAVES = {
    "lr": "learning rate",
    "initial_lr": "learning rate",
    "learning_rate": "learning rate",
    "weight_decay": "weight decay",
    "betas": "Adam betas",
    "adam_beta1": "Adam betas",
    "adam_beta2": "Adam betas",
    "momentum": "momentum",
    "per_device_train_batch_size": "batch size",
    "batch_size": "batch size",
    "gradient_accumulation_steps": "gradient accumulation",
    "accumulate_grad_batches": "gradient accumulation",
    "lr_scheduler_type": "learning-rate schedule",
    "schedule": "learning-rate schedule",
    "max_steps": "training length",
    "steps": "training length",
    "seed": "seed",
}
_TRAINING_SECTIONS = ("optimizer", "trainer", "train")
# Bookkeeping that differs between any two runs and says nothing about the experiment.
_IGNORED = (
    "monitor.spectral_edge_version",
    "monitor.torch_version",
    "spectral_edge_version",
    "torch_version",
)


def flatten(obj: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts as one level with dotted keys; lists become tuples (hashable, comparable)."""
    out: dict[str, Any] = {}
    if isinstance(obj, Mapping):
        for key, value in obj.items():
            out.update(flatten(value, f"{prefix}{key}."))
        if not obj and prefix:
            out[prefix[:-1]] = {}
        return out
    if isinstance(obj, list):
        obj = tuple(obj)
    out[prefix[:-1]] = obj
    return out


def window_grid(data: RunData) -> dict[str, Any]:
    """How many windows, from which step to which, at what spacing."""
    steps = data.windows["step"].to_numpy() if len(data.windows) else np.array([], dtype=int)
    spacing = None
    if steps.size > 1:
        diffs = np.unique(np.diff(steps))
        spacing = int(diffs[0]) if diffs.size == 1 else f"{int(diffs.min())}–{int(diffs.max())}"
    return {
        "windows": int(steps.size),
        "first step": int(steps[0]) if steps.size else None,
        "last step": int(steps[-1]) if steps.size else None,
        "spacing": spacing,
    }


def compare_runs(sources: Sequence) -> dict[str, Any]:
    """Compare stored runs (or RunData): ``differences`` (sentences, the important first),
    ``config`` (one row per differing key), ``windows``, ``selections`` and ``summaries``
    (one row per run), ``names``."""
    runs = [load_run_data(s) for s in sources]
    if len(runs) < 2:
        raise SpectralEdgeError(f"compare needs at least two runs, got {len(runs)}")
    names = [r.name for r in runs]
    if len(set(names)) != len(names):
        raise SpectralEdgeError(f"compare needs distinct runs, got {names}")
    flat = [
        {
            **flatten(r.config),
            **flatten(r.info.get("seeds", {}), "seeds."),
            **flatten(r.info.get("definitions", {}), "definitions."),
        }
        for r in runs
    ]
    keys = sorted(set().union(*flat))
    missing = object()
    config_rows = []
    differences = []
    named: set[str] = set()
    for key in keys:
        if key in _IGNORED:
            continue
        values = [f.get(key, missing) for f in flat]
        if all(_same(values[0], v) for v in values[1:]):
            continue
        shown = ["(absent)" if v is missing else v for v in values]
        config_rows.append(
            {"key": key, **{n: _short(v) for n, v in zip(names, shown, strict=True)}}
        )
        label = _named(key)
        if label is not None:
            named.add(label)
            differences.append(
                f"different {label} ({key}): "
                + ", ".join(f"{n}={_short(v)}" for n, v in zip(names, shown, strict=True))
            )
    differences += _recorded_differences(runs, named)
    grids = [window_grid(r) for r in runs]
    grid_keys = ("windows", "first step", "last step", "spacing")
    if any(g != grids[0] for g in grids[1:]):
        differences.append(
            "different window steps: "
            + "; ".join(
                f"{n}: {g['windows']} windows"
                + (f" at steps {g['first step']}–{g['last step']}" if g["windows"] else "")
                + (f" every {g['spacing']}" if g["spacing"] is not None else "")
                for n, g in zip(names, grids, strict=True)
            )
        )
    feature_sets = [set(r.windows.columns) - {"step"} for r in runs]
    common = set.intersection(*feature_sets)
    for n, fs in zip(names, feature_sets, strict=True):
        extra = sorted(fs - common)
        if extra:
            differences.append(
                f"{n} has window features the others lack: {', '.join(extra[:8])}"
                + (" ..." if len(extra) > 8 else "")
            )
    statuses = [r.status for r in runs]
    if any(s == "running" for s in statuses):
        differences.append(
            "partial: "
            + ", ".join(n for n, s in zip(names, statuses, strict=True) if s == "running")
            + " still being written"
        )
    others = [row["key"] for row in config_rows if _named(row["key"]) is None]
    if others:
        differences.append(
            f"{len(others)} other config key(s) differ: "
            + ", ".join(others[:10])
            + (" ..." if len(others) > 10 else "")
        )
    if not differences:
        differences.append("no differences in configuration, selection or window steps")
    return {
        "names": names,
        "differences": differences,
        "config": config_rows,
        "windows": [{"run": n, **g} for n, g in zip(names, grids, strict=True)],
        "selections": [{"run": n, **selection(r.config)} for n, r in zip(names, runs, strict=True)],
        "summaries": [run_summary(r) for r in runs],
        "grid_keys": grid_keys,
        "runs": runs,
    }


def _named(key: str) -> str | None:
    """What a differing config key means, when it is one an experiment usually varies."""
    if key in _NAMED:
        return _NAMED[key]
    section, _, leaf = key.partition(".")
    if section in _TRAINING_SECTIONS and "." not in leaf:
        return _NAMED_LEAVES.get(leaf)
    return None


def window_facts(data: RunData) -> dict[str, Any]:
    """What the windows themselves record of a run's set-up, whatever its config says: W (the
    fullest window) and the learning rate η the monitor saw (median over the windows)."""
    w = data.windows
    facts: dict[str, Any] = {"W": None, "lr": None}
    if "w" in w.columns and w["w"].notna().any():
        facts["W"] = int(np.nanmax(w["w"].to_numpy(dtype=float)))
    if "lr" in w.columns:
        lr = w["lr"].to_numpy(dtype=float)
        lr = lr[np.isfinite(lr)]
        facts["lr"] = float(np.median(lr)) if lr.size else None
    return facts


def _recorded_differences(runs: Sequence[RunData], named: set[str]) -> list[str]:
    """Differences the windows show that the configs did not name (a plain loop's config says
    nothing of its learning rate; its windows' η does)."""
    names = [r.name for r in runs]
    facts = [window_facts(r) for r in runs]
    out = []
    for fact, label in (("W", "W"), ("lr", "learning rate")):
        values = [f[fact] for f in facts]
        if label in named or any(v is None for v in values):
            continue
        if fact == "lr" and np.allclose(values, values[0], rtol=1e-6, atol=0.0):
            continue
        if fact == "W" and len(set(values)) == 1:
            continue
        out.append(
            f"different {label} (recorded in the windows"
            + (", median" if fact == "lr" else "")
            + "): "
            + ", ".join(f"{n}={v:.4g}" for n, v in zip(names, values, strict=True))
        )
    return out


def format_comparison(result: Mapping[str, Any]) -> str:
    """The comparison as plain text: what differs, then tables with one column per run."""
    names = result["names"]
    lines = ["What differs:"]
    lines += [f"  - {d}" for d in result["differences"]]

    def table(title: str, rows: list[tuple[str, list[Any]]]) -> None:
        if not rows:
            return
        lines.append("")
        lines.append(title)
        width = max(len(k) for k, _ in rows)
        widths = [max(len(n), *(len(fmt(v[i])) for _, v in rows)) for i, n in enumerate(names)]
        lines.append(
            "  "
            + " " * width
            + "  "
            + "  ".join(n.ljust(w) for n, w in zip(names, widths, strict=True))
        )
        for key, values in rows:
            lines.append(
                "  "
                + key.ljust(width)
                + "  "
                + "  ".join(fmt(v).ljust(w) for v, w in zip(values, widths, strict=True))
            )

    def by_run(rows: list[dict], skip=("run",)) -> list[tuple[str, list[Any]]]:
        keys = [k for k in rows[0] if k not in skip]
        return [(k, [r.get(k) for r in rows]) for k in keys]

    table("Selection:", by_run(result["selections"]))
    table("Windows:", by_run(result["windows"]))
    table("Summary:", by_run(result["summaries"], skip=("run", "phases note")))
    table("Config differences:", [(r["key"], [r[n] for n in names]) for r in result["config"]])
    return "\n".join(lines)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and np.isnan(a) and np.isnan(b):
        return True
    return (
        type(a) is type(b)
        and a == b
        or (
            isinstance(a, (int, float))
            and isinstance(b, (int, float))
            and not isinstance(a, bool)
            and not isinstance(b, bool)
            and a == b
        )
    )


def _short(value: Any, limit: int = 60) -> Any:
    text = value if isinstance(value, (int, float, bool)) or value is None else str(value)
    if isinstance(text, str) and len(text) > limit:
        return text[: limit - 1] + "…"
    return text
