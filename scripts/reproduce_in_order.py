"""Train a suite's unfinished runs with some families first; the plan itself is unchanged.

`spectral-edge reproduce` trains in plan order. When a campaign is interrupted and less time is
left than it needs, the runs a result depends on most should go first: this script sorts the
same plan (same configs, tags and names, so finished runs are skipped and interrupted ones
resume exactly as `reproduce` would) by the prefixes given, then calls the same runner. The CPU
campaign of docs/reproduction.md was restarted this way after a machine restart:

    python scripts/reproduce_in_order.py --suite cpu --out /work/runs/cpu --jobs 2 \\
        --first multitask lockin dyck mlp-add mlp-sub mlp-mul mlp-a2_b2 modarith-f04 mlp-f04 \\
                lm- lrsweep scan

Evaluate afterwards with `spectral-edge reproduce --suite SUITE --out DIR --no-train`.
"""

from __future__ import annotations

import argparse
import sys

from spectral_edge.reproduce.plan import Plan, make_plan
from spectral_edge.reproduce.runner import execute


def ordered(plan: Plan, first: list[str]) -> Plan:
    """``plan`` with its runs sorted by the first prefix of ``first`` their short name starts
    with; runs matching none keep their place at the front (the finished ones are skipped)."""

    def rank(spec) -> int:
        short = spec.name.split("/", 1)[-1]
        for i, prefix in enumerate(first):
            if short.startswith(prefix):
                return i
        return -1

    return Plan(plan.suite, tuple(sorted(plan.specs, key=rank)))  # sorted is stable


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", default="cpu")
    parser.add_argument("--out", required=True, help="the run directory of the campaign")
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--first", nargs="+", required=True, help="run-name prefixes, in order")
    args = parser.parse_args()
    status = execute(ordered(make_plan(args.suite), args.first), args.out, jobs=args.jobs)
    print({k: v for k, v in status.items() if v != "skipped"}, file=sys.stderr)


if __name__ == "__main__":  # the workers are spawned and re-import this module
    main()
