"""Reproduce the twenty predictions of the Spectral Edge Thesis on our own runs.

``spectral-edge reproduce [--suite quick|cpu|gpu] [--only ID ...] [--out DIR] [--budget-min M]``
(or :func:`reproduce`) plans the runs each prediction needs (:mod:`.plan`), trains those not yet
finished in the run store at ``DIR`` (resuming interrupted ones, skipping finished ones:
:mod:`.runner`), evaluates every prediction T1–T8, C1–C12 under two readings (:mod:`.predictions`,
:mod:`.engine`) and writes the verdict table:

- ``DIR/predictions.md`` (a summary table, then every prediction's two readings in full) and
  ``DIR/predictions.json``;
- into the store, as a run named ``"predictions"`` (and ``"predictions-<suite>"``) whose config
  holds ``{"predictions": [record dicts], "counts", "suite", "generated_at", "seeds",
  "wall_s"}``; the report command renders it from there. A record dict is flat:
  ``id, statement, figure``, then ``paper_rule, paper_verdict, paper_measured, paper_null,
  paper_reason`` and the same ``strict_*`` keys, ``source, runs, apart, scale``.

Verdicts are ``confirmed``, ``not confirmed`` or ``not run`` (with the reason), per reading: the
**paper's** (the author's quantity, threshold and scoring) and the **strict** one (what a skeptic
would require, nulls included). Seeds: 0 is the tuning seed (never scored), 1–3 the scoring seeds
(1–5 for the x² MLP; the gpu suite keeps the paper's 42, 137, 2024 for mod-arith).
"""

from __future__ import annotations

import json
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from spectral_edge.reproduce.plan import SCORING_SEEDS, SUITES, TUNING_SEEDS, make_plan
from spectral_edge.reproduce.predictions import ORDER, Record, Runs, counts, evaluate

PREDICTIONS_RUN = "predictions"
READINGS = (("paper", "paper's reading"), ("strict", "strict reading"))


def _cell(x) -> str:
    return str(x).replace("|", "\\|").replace("\n", " ")


def count_line(records: list[Record]) -> str:
    """ "paper's reading: a confirmed, b not confirmed, c not run; strict reading: …"."""
    c = counts(records)
    return "; ".join(
        f"{label}: " + ", ".join(f"{n} {v}" for v, n in c[key].items()) for key, label in READINGS
    )


def markdown_table(records: list[Record]) -> str:
    """The summary table (one row a prediction, both verdicts), then each prediction in full."""
    lines = [
        "| id | prediction | paper's figure | paper's reading | strict reading | runs | scale |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in records:
        lines.append(
            "| "
            + " | ".join(
                _cell(x)
                for x in (
                    r.id,
                    r.statement,
                    r.figure,
                    f"**{r.paper.verdict}**",
                    f"**{r.strict.verdict}**",
                    len(r.runs),
                    r.scale,
                )
            )
            + " |"
        )
    lines += ["", count_line(records), ""]
    for r in records:
        lines += [f"### {r.id}: {r.statement} (paper: {r.figure})", ""]
        for key, label in READINGS:
            reading = getattr(r, key)
            lines.append(f"- **{label}: {reading.verdict}.** Rule: {reading.rule}.")
            for part, text in (
                ("measured", reading.measured),
                ("null", reading.null),
                ("note", reading.reason),
            ):
                if text:
                    lines.append(f"  {part.capitalize()}: {text}.")
        lines.append(f"- Source of the paper's reading: {r.source}.")
        if r.runs:
            shown = ", ".join(r.runs[:6]) + (
                f" … ({len(r.runs)} in all)" if len(r.runs) > 6 else ""
            )
            lines.append(f"- Runs used: {shown}.")
        for what, why in r.apart:
            lines.append(f"- Reported apart: {what}: {why}.")
        lines.append("")
    return "\n".join(lines)


def versions() -> dict:
    """The versions a table was computed with (recorded beside it)."""
    import platform

    import numpy
    import pandas
    import torch

    from spectral_edge._version import __version__

    return {
        "spectral_edge": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "pandas": pandas.__version__,
    }


def write_table(store, records: list[Record], suite: str, extra: dict | None = None) -> None:
    """The table into the store: runs ``predictions`` and ``predictions-<suite>``."""
    payload = {
        "predictions": [r.to_dict() for r in records],
        "counts": counts(records),
        "suite": suite,
        "generated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "seeds": {"tuning": list(TUNING_SEEDS), "scoring": list(SCORING_SEEDS)},
        **(extra or {}),
    }
    for name in (PREDICTIONS_RUN, f"{PREDICTIONS_RUN}-{suite}"):
        run = store.create_run(name, config=payload, overwrite=True)
        run.finish()


def reproduce(
    suite: str = "quick",
    out: str | None = None,
    only=None,
    *,
    budget_s: float | None = None,
    progress: bool = True,
    train: bool = True,
    stream=None,
    jobs: int = 1,
) -> list[Record]:
    """Plan, run (what is not finished, ``jobs`` at a time) and evaluate; write the table.

    Returns the records."""
    import torch

    from spectral_edge.reproduce.runner import execute
    from spectral_edge.store import open_store

    stream = stream or sys.stderr
    t0 = time.monotonic()
    out_dir = Path(out or f"runs/reproduce-{suite}")
    only_set = {x.upper() for x in only} if only else None
    if only_set:
        unknown = only_set - set(ORDER)
        if unknown:
            from spectral_edge.errors import SpectralEdgeError

            raise SpectralEdgeError(
                f"unknown prediction id(s) {sorted(unknown)}; choose from {', '.join(ORDER)}"
            )
    plan = make_plan(suite).select(only_set)
    status = {}
    if train and suite != "gpu" or (train and torch.cuda.is_available()):
        status = execute(
            plan, out_dir, budget_s=budget_s, progress=progress, stream=stream, jobs=jobs
        )
    elif progress:
        print(
            f"suite {suite!r}: {len(plan.specs)} runs planned; not training them here "
            "(the gpu suite needs a GPU)",
            file=stream,
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    with open_store(out_dir) as store:
        planned = {s.name: s.tags for s in plan.specs}
        runs = Runs.from_store(store, suite, planned)
        records = evaluate(runs, only_set, suite)
        left = [n for n, st in status.items() if st == "not started"]
        for r in records:
            for reading in (r.paper, r.strict):
                if reading.verdict != "not run":
                    continue
                if suite == "gpu" and not torch.cuda.is_available():
                    reading.reason = "gpu suite planned, not run here (no GPU): " + reading.reason
                if left and any(n in reading.reason for n in left):
                    reading.reason += " — stopped by the time budget"
        wall = time.monotonic() - t0
        extra = {"wall_s": wall, "run_status": status, "versions": versions()}
        write_table(store, records, suite, extra)
    table = markdown_table(records)
    (out_dir / "predictions.md").write_text(table, encoding="utf-8")
    (out_dir / "predictions.json").write_text(
        json.dumps([r.to_dict() for r in records], indent=1) + "\n", encoding="utf-8"
    )
    if progress:
        print(table, file=stream)
        print(
            f"{count_line(records)}; wall {wall:.0f} s; versions {extra['versions']}; table in "
            f"{out_dir / 'predictions.md'}",
            file=stream,
        )
    return records


__all__ = ["PREDICTIONS_RUN", "SUITES", "count_line", "markdown_table", "reproduce", "write_table"]
