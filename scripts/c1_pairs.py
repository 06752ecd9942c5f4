"""The per-pair table of the weight-decay experiment (C1, C8) from a reproduce store.

    python scripts/c1_pairs.py /tmp/repro/cpu2

For every weight-decay run of the scoring seeds and its weight-decay-0 control: the grokking step
(test accuracy ≥ 0.95), the g23 decline (max g23 up to that step / g23 at it) of both runs at the
same step, the control's best test accuracy, the commutator onset of the wd run, and the first
online warning of each run.
"""

import re
import sys

from spectral_edge import open_store
from spectral_edge.dynamics.commutator import commutator_onset
from spectral_edge.dynamics.grokking import gap_decline, grokking_step
from spectral_edge.errors import SpectralEdgeError

PAIR = re.compile(r"^cpu/(?P<family>\w+)-(?P<op>\w+)-wd-s(?P<seed>[1-9])$")


def first(events, kind):
    hits = events[events["kind"] == kind]["step"] if len(events) else []
    return int(hits.iloc[0]) if len(hits) else None


def decline(run, step):
    w = run.windows()
    full = w[w["w"] == w["w"].max()]
    try:
        return gap_decline(full["step"].to_numpy(), full["g23"].to_numpy(), step)
    except SpectralEdgeError:
        return None


def onset(run):
    m = run.metrics()
    if "commutator_defect" not in m:
        return None
    m = m.dropna(subset=["commutator_defect"])
    try:
        found = commutator_onset(m["step"].to_numpy(), m["commutator_defect"].to_numpy())
    except SpectralEdgeError:
        return None
    return found["onset_step"]


def fmt(x):
    return "-" if x is None else (f"{x:.3g}" if isinstance(x, float) else str(x))


def main(path):
    store = open_store(path, read_only=True)
    names = set(store.runs()["name"])
    print(
        "| family/op | seed | wd grok step | g23 decline (wd) | g23 decline (wd 0, same step) "
        "| wd-0 max test acc | commutator onset (wd) | warning (wd / wd 0) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name in sorted(names):
        match = PAIR.match(name)
        control = name.replace("-wd-", "-wd0-")
        if not match or control not in names:
            continue
        wd, c = store.run(name), store.run(control)
        acc = wd.metrics().dropna(subset=["test_acc"])
        grok = grokking_step(acc["step"].to_numpy(), acc["test_acc"].to_numpy())
        c_acc = c.metrics()["test_acc"].max()
        family = match["family"] + ("" if match["family"] != "modadd" else "/" + match["op"])
        row = [
            family,
            match["seed"],
            fmt(grok),
            fmt(decline(wd, grok) if grok else None),
            fmt(decline(c, grok) if grok else None),
            f"{c_acc:.2f}",
            fmt(onset(wd)),
            f"{fmt(first(wd.events(), 'warning'))} / {fmt(first(c.events(), 'warning'))}",
        ]
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main(sys.argv[1])
