"""The per-pair table of the weight-decay experiment (C1, C8) from a reproduce store.

    python scripts/c1_pairs.py /work/runs/cpu [SUITE]

For every weight-decay run of the scoring seeds and its weight-decay-0 control, as C1 and C8
measure them (spectral_edge.reproduce): the grokking step (test acc ≥ 0.95), the g23 decline in
the author's reading (peak strictly before grokking; a control that never groks has none) and in
the paired reading (the control at its twin's grokking step), the commutator onsets, and the
early warning (measures.warning_step_of) of both runs. Families none of whose weight-decay runs
grokked are listed apart. Reads the store only.
"""

import sys

from spectral_edge.reproduce.engine import NotRun
from spectral_edge.reproduce.measures import fmt
from spectral_edge.reproduce.plan import make_plan
from spectral_edge.reproduce.predictions import BY_ID, Runs
from spectral_edge.store import open_store


def main(path, suite="cpu"):
    with open_store(path, read_only=True) as store:
        planned = {s.name: s.tags for s in make_plan(suite).specs}
        runs = Runs.from_store(store, suite, planned)
        c1 = BY_ID["C1"].measure(runs.pick("C1", BY_ID["C1"].select))
        try:
            c8 = BY_ID["C8"].measure(runs.pick("C8", BY_ID["C8"].select))
            onsets = {r["runs"][0]: (r["onset"], r["control_onset"]) for r in c8["rows"]}
        except NotRun:
            onsets = {}
    print(
        "| family/op | seed | wd grok step | decline wd (author / paired) | decline wd 0 (author "
        "/ paired) | onset (wd / wd 0) | warning (wd / wd 0) |"
    )
    print("|---|---|---|---|---|---|---|")
    for r in c1["rows"]:
        on = onsets.get(r["runs"][0], (None, None))
        cells = [
            f"{r['family']}/{r['op']}",
            str(r["seed"]),
            fmt(r["grok"]),
            f"{fmt(r['author'])} / {fmt(r['paired'])}",
            f"{fmt(r['author_control'])} / {fmt(r['paired_control'])}",
            f"{fmt(on[0])} / {fmt(on[1])}",
            f"{fmt(r['warning'])} / {fmt(r['control_warning'])}",
        ]
        print("| " + " | ".join(cells) + " |")
    for family, why in c1.get("apart", []):
        print(f"\nReported apart: {family}: {why}")


if __name__ == "__main__":
    try:
        main(*sys.argv[1:])
    except NotRun as exc:
        sys.exit(f"c1_pairs: {exc}")
