"""Reproduce the twenty predictions of the Spectral Edge Thesis on our own runs.

``spectral-edge reproduce [--suite quick|cpu|gpu] [--only ID ...] [--out DIR] [--budget-min M]``
(or :func:`reproduce`) plans the runs each prediction needs (:mod:`.plan`), trains those not yet
finished in the run store at ``DIR`` (resuming interrupted ones, skipping finished ones:
:mod:`.runner`), evaluates every prediction T1–T8, C1–C12 (:mod:`.predictions`) and writes the
verdict table:

- ``DIR/predictions.md`` (markdown) and ``DIR/predictions.json``;
- into the store, as a run named ``"predictions"`` (and ``"predictions-<suite>"``) whose config
  holds ``{"predictions": [record dicts], "suite", "generated_at", "seeds", "wall_s"}``; the
  report command renders it from there. A record dict has the keys ``id, statement, paper,
  measured, verdict, reason, runs, scale``.

Verdicts are ``confirmed``, ``not confirmed`` or ``not run`` (with the reason). Every result of
the ``quick`` and ``cpu`` suites is ``scaled-down``: our models and data are smaller than the
paper's. Seeds: 0 is the tuning seed (never scored), 1–3 the scoring seeds (the gpu suite keeps the
paper's 42, 137, 2024 for mod-arith).
"""

from __future__ import annotations

import json
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from spectral_edge.reproduce.plan import SCORING_SEEDS, SUITES, TUNING_SEEDS, make_plan
from spectral_edge.reproduce.predictions import ORDER, Record, Runs, evaluate

PREDICTIONS_RUN = "predictions"


def markdown_table(records: list[Record]) -> str:
    def cell(x) -> str:
        return str(x).replace("|", "\\|").replace("\n", " ")

    lines = [
        "| id | prediction | paper | measured | verdict | reason | runs | scale |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in records:
        runs = f"{len(r.runs)}" + (f" ({r.runs[0]}…)" if r.runs else "")
        lines.append(
            "| "
            + " | ".join(
                cell(x)
                for x in (
                    r.id,
                    r.statement,
                    r.paper,
                    r.measured or "-",
                    f"**{r.verdict}**",
                    r.reason,
                    runs,
                    r.scale,
                )
            )
            + " |"
        )
    return "\n".join(lines) + "\n"


def write_table(store, records: list[Record], suite: str, extra: dict | None = None) -> None:
    """The table into the store: runs ``predictions`` and ``predictions-<suite>``."""
    payload = {
        "predictions": [r.to_dict() for r in records],
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
        for r in records:
            if r.verdict == "not run" and suite == "gpu" and not torch.cuda.is_available():
                r.reason = "gpu suite planned, not run here (no GPU): " + r.reason
            left = [n for n, s in status.items() if s == "not started"]
            if r.verdict == "not run" and left and any(n in r.reason for n in left):
                r.reason += " — stopped by the time budget"
        wall = time.monotonic() - t0
        write_table(store, records, suite, {"wall_s": wall, "run_status": status})
    table = markdown_table(records)
    (out_dir / "predictions.md").write_text(table, encoding="utf-8")
    (out_dir / "predictions.json").write_text(
        json.dumps([r.to_dict() for r in records], indent=1) + "\n", encoding="utf-8"
    )
    if progress:
        counts = {v: sum(r.verdict == v for r in records) for v in ("confirmed", "not confirmed")}
        print(table, file=stream)
        print(
            f"{counts['confirmed']} confirmed, {counts['not confirmed']} not confirmed, "
            f"{len(records) - sum(counts.values())} not run; wall {wall:.0f} s; table in "
            f"{out_dir / 'predictions.md'}",
            file=stream,
        )
    return records


__all__ = ["PREDICTIONS_RUN", "SUITES", "markdown_table", "reproduce", "write_table"]
