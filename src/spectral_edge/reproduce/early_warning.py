"""The early-warning evaluation of docs/early-warning.md: tune rules on the tuning runs, score
them on the others, against the free baselines and a null.

A stored run becomes a :class:`RunSeries` (its full windows, its evaluations with every metric,
t_grok, t_mem and its tags). Each candidate signal has a grid of :class:`WarningRule` variants
(:func:`candidate_rules`); :func:`outcome` replays one rule on one run with the same online
object the monitor uses (:func:`spectral_edge.dynamics.early_warning.replay`); :func:`score`
counts, over a set of runs, the grokking runs warned in time and the controls that fired, with
Wilson intervals; :func:`tune` picks, per signal, the rule with the best J = in-time rate −
false-alarm rate on the tuning runs (ties to the larger threshold); :func:`key_test` fits
t_warn against t_grok with a bootstrap interval. :func:`write_report` writes the tables and the
figures. Nothing here trains or changes a run.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from spectral_edge.dynamics.commutator import commutator_onset
from spectral_edge.dynamics.early_warning import (
    SIGNALS,
    WarningRule,
    frame_rows,
    memorised_step,
    replay,
)
from spectral_edge.dynamics.grokking import grokking_step
from spectral_edge.errors import SpectralEdgeError

EW = "EW"
GROK_THRESHOLD = 0.95
LOG_FACTORS = (1.1, 1.25, 1.5, 2, 3, 5, 10, 20, 50, 100)
LINEAR_STEPS = {
    "test_acc": (0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5),
    "k_star": (1, 2, 3),
    "rotation_angle": (0.05, 0.1, 0.2, 0.5, 1.0),
    "max_angle_top3": (0.05, 0.1, 0.2, 0.5, 1.0),
}
PEAK_RISES = (1.0, 1.5, 2.0, 3.0)
PEAK_DECLINES = (1.5, 2.0, 3.0, 5.0, 10.0)
CALENDAR_DELAYS = (0, 1, 2, 3, 5, 8, 12, 20, 30)
# the spectral candidates, in the order of the tables; then the thesis', the free baselines,
# the null and the peer
SPECTRAL = (
    "r23",
    "gap_ratio",
    "g23_share",
    "pc1_share",
    "effective_rank",
    "k_star",
    "rotation_angle",
    "max_angle_top3",
)
THESIS = ("g23 peak-decline (a priori)", "g23 peak-decline", "commutator onset (a priori)")
BASELINES = ("weight_norm", "train_loss", "test_loss", "test_acc", "grad_norm")
OTHERS = ("commutator_defect", "calendar", "llc")
ONSET = "the companion papers' onset: > 10x the early median and > 20"


@dataclass
class RunSeries:
    """One stored run as the evaluation reads it."""

    name: str
    tags: dict
    window: int
    every: int
    steps: int
    windows: list = field(default_factory=list)  # (step, features) of full windows
    metrics: list = field(default_factory=list)  # (step, every metric logged at that step)
    t_grok: int | None = None
    t_mem: int | None = None

    @property
    def family(self) -> str:
        return self.tags.get("family", "?")

    @property
    def role(self) -> str:
        return self.tags.get("role", "?")

    @property
    def kind(self) -> str:
        """``grokking`` (groks in budget), ``control`` (wd 0, never groks) or ``not_grokked``
        (a weight-decay run that did not grok: reported apart, counted neither way)."""
        if self.t_grok is not None:
            return "grokking"
        return "not_grokked" if self.tags.get("wd", True) else "control"


def series_from_frames(name, tags, train, windows, metrics, extra=None) -> RunSeries:
    """A :class:`RunSeries` from a run's stored frames (``extra``: more metric rows, e.g. the
    LLC, as a DataFrame with a ``step`` column)."""
    w, every = int(train["monitor_window"]), int(train["monitor_every"])
    m = metrics
    if extra is not None and len(extra):
        m = m.merge(extra, on="step", how="outer").sort_values("step")
    rows, mrows = frame_rows(windows, m, w)
    evals = m.dropna(subset=["test_acc"]) if "test_acc" in m else m[:0]
    t_grok = t_mem = None
    if len(evals):
        t_grok = grokking_step(evals["step"].to_numpy(), evals["test_acc"].to_numpy(), 0.95)
        if "train_acc" in evals:
            t_mem = memorised_step(evals["step"].tolist(), evals["train_acc"].tolist())
    return RunSeries(name, dict(tags), w, every, int(train["steps"]), rows, mrows, t_grok, t_mem)


def load_runs(store, *, llc_dir=None, families: Sequence[str] | None = None) -> list[RunSeries]:
    """The finished runs of ``store`` tagged for the early-warning evaluation (``EW``).

    ``llc_dir``: the directory ``spectral-edge llc --out DIR`` wrote, one ``<run name>.csv``
    (step, llc, ...) per run; it adds the LLC to the runs that have one.
    """
    import pandas as pd

    out = []
    frame = store.runs()
    for name, status in zip(frame["name"], frame["status"], strict=True):
        if status != "finished":
            continue
        run = store.run(name)
        cfg = run.config
        tags = cfg.get("reproduce", {}).get("tags", {})
        if EW not in tags.get("for", ()) or (families and tags.get("family") not in families):
            continue
        extra = None
        if llc_dir is not None:
            path = Path(llc_dir) / f"{name}.csv"  # as `spectral-edge llc --out DIR` writes it
            if path.is_file():
                extra = pd.read_csv(path)[["step", "llc"]]
        out.append(
            series_from_frames(name, tags, cfg["train"], run.windows(), run.metrics(), extra)
        )
    return out


# --- rules and outcomes ------------------------------------------------------------------------


def candidate_rules(candidate: str) -> list[WarningRule]:
    """The grid a candidate is tuned over (docs/early-warning.md, "The rule")."""
    if candidate == "calendar":
        # the signal is irrelevant to a calendar rule; test_acc only carries t_mem's evaluations
        return [WarningRule("test_acc", kind="calendar", delay=d) for d in CALENDAR_DELAYS]
    if candidate == "g23 peak-decline (a priori)":
        return [WarningRule("g23", kind="peak_decline", rise=1.0, decline=1.5)]
    if candidate == "g23 peak-decline":
        return [
            WarningRule("g23", kind="peak_decline", rise=r, decline=d)
            for r in PEAK_RISES
            for d in PEAK_DECLINES
        ]
    if candidate == "commutator onset (a priori)":
        return [WarningRule("commutator_defect", kind="change", threshold=0.0)]  # see outcome()
    if candidate not in SIGNALS:
        raise SpectralEdgeError(f"unknown candidate {candidate!r}")
    if SIGNALS[candidate].scale == "log":
        thetas = [math.log(f) for f in LOG_FACTORS]
    else:
        thetas = list(LINEAR_STEPS[candidate])
    return [WarningRule(candidate, d, threshold=t) for d in ("rise", "fall") for t in thetas]


def warning_step(candidate: str, rule: WarningRule, run: RunSeries) -> int | None:
    """When ``rule`` (of ``candidate``) fires on ``run``, or None."""
    if candidate == "commutator onset (a priori)":
        pts = [(s, r.get("commutator_defect")) for s, r in run.metrics]
        pts = [(s, float(v)) for s, v in pts if v is not None and math.isfinite(float(v))]
        if len(pts) < 4:
            return None
        steps, values = zip(*pts, strict=True)
        return commutator_onset(steps, values)["onset_step"]
    fired = replay(rule, run.windows, run.metrics, window=run.window, every=run.every)
    return None if fired is None else int(fired["step"])


def outcome(candidate: str, rule: WarningRule, run: RunSeries) -> dict:
    """The rule on one run: warning step, and for a grokking run whether it was in time, the
    lead and the lead fraction (t_grok − t_warn)/(t_grok − t_mem)."""
    t = warning_step(candidate, rule, run)
    out = {"run": run.name, "kind": run.kind, "t_warn": t, "t_grok": run.t_grok, "t_mem": run.t_mem}
    if run.kind == "grokking":
        in_time = t is not None and t < run.t_grok
        out["in_time"] = in_time
        out["lead"] = run.t_grok - t if in_time else None
        span = None if run.t_mem is None else run.t_grok - run.t_mem
        out["lead_fraction"] = out["lead"] / span if in_time and span and span > 0 else None
    elif run.kind == "control":
        out["fired"] = t is not None
    return out


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float] | None:
    """The Wilson score interval of k successes in n (95 % by default); None when n = 0.

    >>> [round(x, 3) for x in wilson(9, 10)]
    [0.596, 0.982]
    """
    if n == 0:
        return None
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def score(candidate: str, rule: WarningRule, runs: Iterable[RunSeries]) -> dict:
    """In-time rate on the grokking runs, false-alarm rate on the controls, J, lead fractions."""
    outs = [outcome(candidate, rule, r) for r in runs]
    grok = [o for o in outs if o["kind"] == "grokking"]
    ctl = [o for o in outs if o["kind"] == "control"]
    k_in = sum(o["in_time"] for o in grok)
    k_fa = sum(o["fired"] for o in ctl)
    fractions = [o["lead_fraction"] for o in grok if o.get("lead_fraction") is not None]
    rate = k_in / len(grok) if grok else None
    fa = k_fa / len(ctl) if ctl else None
    return {
        "candidate": candidate,
        "rule": asdict(rule),
        "describe": ONSET if candidate == "commutator onset (a priori)" else rule.describe(),
        "n_grokking": len(grok),
        "in_time": k_in,
        "in_time_rate": rate,
        "in_time_ci": wilson(k_in, len(grok)),
        "n_controls": len(ctl),
        "fired": k_fa,
        "false_alarm_rate": fa,
        "false_alarm_ci": wilson(k_fa, len(ctl)),
        "j": (rate or 0.0) - (fa or 0.0),
        "median_lead_fraction": float(np.median(fractions)) if fractions else None,
        "not_grokked": sum(o["kind"] == "not_grokked" for o in outs),
        "outcomes": outs,
    }


def tune(runs: Sequence[RunSeries], candidates: Sequence[str]) -> dict[str, dict]:
    """Per candidate, the rule of its grid with the best J on ``runs`` (ties: the larger
    threshold, then the larger decline or delay, i.e. the rule that fires less)."""
    chosen = {}
    for candidate in candidates:
        best = None
        for rule in candidate_rules(candidate):
            s = score(candidate, rule, runs)
            key = (round(s["j"], 12), rule.threshold, rule.decline, rule.rise, rule.delay)
            if best is None or key > best[0]:
                best = (key, s)
        chosen[candidate] = best[1]
    return chosen


def curve(candidate: str, runs: Sequence[RunSeries], direction: str | None = None) -> list[dict]:
    """(rule, in-time rate, false-alarm rate) over a candidate's grid, optionally one direction."""
    rows = []
    for rule in candidate_rules(candidate):
        if direction is not None and rule.kind == "change" and rule.direction != direction:
            continue
        s = score(candidate, rule, runs)
        rows.append({k: s[k] for k in ("rule", "describe", "in_time_rate", "false_alarm_rate")})
    return rows


def key_test(outcomes: Sequence[dict], *, n_boot: int = 2000, seed: int = 0) -> dict:
    """Does t_warn move with t_grok? Least-squares slope of t_warn on t_grok over the grokking
    runs warned in time, with a bootstrap 95 % percentile interval (resampling runs). A slope
    near 1 says the warning tracks grokking; near 0, that it comes at a fixed time whatever
    t_grok is (across families, t_mem differs too: read it beside the lead figure)."""
    pts = [(o["t_grok"], o["t_warn"], o["t_mem"]) for o in outcomes if o.get("in_time")]
    out = {"n": len(pts), "slope": None, "slope_ci": None}
    if len(pts) < 3 or len({p[0] for p in pts}) < 2:
        return out
    g = np.array([p[0] for p in pts], dtype=float)
    w = np.array([p[1] for p in pts], dtype=float)

    def slope(x, y):
        x0 = x - x.mean()
        den = float(x0 @ x0)
        return float(x0 @ (y - y.mean()) / den) if den > 0 else math.nan

    rng = np.random.default_rng(seed)
    boots = []
    for _ in range(n_boot):
        i = rng.integers(0, len(g), len(g))
        b = slope(g[i], w[i])
        if math.isfinite(b):
            boots.append(b)
    out["slope"] = slope(g, w)
    if boots:
        out["slope_ci"] = (float(np.quantile(boots, 0.025)), float(np.quantile(boots, 0.975)))
    return out


# --- the whole evaluation ----------------------------------------------------------------------


def all_candidates() -> list[str]:
    """The candidates tuned on every tuning run (the LLC, measured on a subset, apart)."""
    return [*SPECTRAL, *THESIS, *BASELINES, "commutator_defect", "calendar"]


def with_llc(runs: Sequence[RunSeries]) -> list[RunSeries]:
    """The runs that carry an LLC series (``load_runs(..., llc_dir=)`` found its CSV)."""
    return [r for r in runs if any("llc" in row for _, row in r.metrics)]


def rules_to_json(chosen: dict[str, dict]) -> dict:
    return {c: {"rule": s["rule"], "tuning": _brief(s)} for c, s in chosen.items()}


def rules_from_json(data: dict) -> dict[str, WarningRule]:
    return {c: replace(WarningRule(), **v["rule"]).validate() for c, v in data.items()}


def _brief(s: dict) -> dict:
    keys = ("describe", "n_grokking", "in_time", "n_controls", "fired", "j")
    return {k: s[k] for k in keys} | {"median_lead_fraction": s["median_lead_fraction"]}


def evaluate(
    runs: Sequence[RunSeries], rules: dict[str, WarningRule], *, groups: dict | None = None
) -> dict:
    """Score every chosen rule on ``runs`` overall and per family group; with the key test."""
    groups = groups or {}
    table = {}
    for candidate, rule in rules.items():
        overall = score(candidate, rule, runs)
        per = {
            g: score(candidate, rule, [r for r in runs if r.family in fams])
            for g, fams in (groups.items())
        }
        table[candidate] = {
            "overall": overall,
            "groups": per,
            "key_test": key_test(overall["outcomes"]),
        }
    return table


def _fmt_rate(k, n, ci):
    if n == 0:
        return "–"
    return f"{k}/{n} ({ci[0]:.2f}–{ci[1]:.2f})"


def markdown_table(table: dict, group: str | None = None) -> str:
    """One row per candidate: rule, in time, false alarms, median lead fraction, key test."""
    lines = [
        "| candidate | rule | warned in time | false alarms | median lead fraction | "
        "slope of t_warn on t_grok (95 % CI) |",
        "|---|---|---|---|---|---|",
    ]
    for candidate, entry in table.items():
        s = entry["overall"] if group is None else entry["groups"][group]
        kt = entry["key_test"]
        slope = "–" if kt["slope"] is None else f"{kt['slope']:.2f}"
        if kt.get("slope_ci"):
            slope += f" ({kt['slope_ci'][0]:.2f}, {kt['slope_ci'][1]:.2f}; n {kt['n']})"
        lead = s["median_lead_fraction"]
        lines.append(
            f"| {candidate} | {s['describe']} | "
            f"{_fmt_rate(s['in_time'], s['n_grokking'], s['in_time_ci'])} | "
            f"{_fmt_rate(s['fired'], s['n_controls'], s['false_alarm_ci'])} | "
            f"{'–' if lead is None else f'{lead:.2f}'} | {slope if group is None else '–'} |"
        )
    return "\n".join(lines)


# the candidates of the compact per-family table: the default, the thesis' own rules, the best
# free baselines and the peer
HEADLINE = (
    "g23_share",
    "k_star",
    "g23 peak-decline (a priori)",
    "commutator onset (a priori)",
    "weight_norm",
    "test_loss",
    "test_acc",
    "llc",
)


def family_table(table: dict, groups: Sequence[str], candidates: Sequence[str] = HEADLINE) -> str:
    """One row per family group, one column per candidate: "in time k/n · fired k/n".

    >>> entry = {"groups": {"f": {"in_time": 2, "n_grokking": 3, "fired": 0, "n_controls": 3}}}
    >>> print(family_table({"weight_norm": entry}, ["f"], ["weight_norm"]))
    | family | weight_norm |
    |---|---|
    | f | 2/3 · 0/3 |
    """
    names = [c for c in candidates if c in table]
    lines = ["| family | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    for group in groups:
        cells = []
        for c in names:
            s = table[c]["groups"][group]
            grok = f"{s['in_time']}/{s['n_grokking']}" if s["n_grokking"] else "–"
            ctl = f"{s['fired']}/{s['n_controls']}" if s["n_controls"] else "–"
            cells.append(f"{grok} · {ctl}")
        lines.append(f"| {group} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


# --- the commands -------------------------------------------------------------------------------

# the families of docs/early-warning.md, grouped for the tables
GROUPS = {
    "modarith (0.5)": ("modarith",),
    "modarith (0.4)": ("modarith-f04",),
    "mlp (0.5)": ("mlp",),
    "mlp (0.4)": ("mlp-f04",),
    "x² MLP": ("lockin",),
    "dyck (held out)": ("dyck",),
    "multitask (held out)": ("multitask",),
}


def tune_store(store, out, *, llc_dir=None, stream=None) -> dict:
    """Tune every candidate on the store's tuning runs; write the chosen rules to ``out``."""
    runs = [r for r in load_runs(store, llc_dir=llc_dir) if r.role == "tune"]
    if not runs:
        raise SpectralEdgeError(
            "no finished tuning runs (role 'tune', tagged EW) in the store: train the cpu suite "
            "first (spectral-edge reproduce --suite cpu)"
        )
    chosen = tune(runs, all_candidates())
    data = {"tuning_runs": sorted(r.name for r in runs)}
    llc_runs = with_llc(runs)
    if llc_runs:
        # the LLC exists on a subset of the runs (it costs ~3,000 snapshots an estimate): tuned
        # on that subset only, so that runs it was never measured on do not count as misses
        chosen["llc"] = tune(llc_runs, ["llc"])["llc"]
        data["llc_tuning_runs"] = sorted(r.name for r in llc_runs)
    data["rules"] = rules_to_json(chosen)
    write_json(out, data)
    if stream is not None:
        print(f"tuned {len(chosen)} candidates on {len(runs)} runs -> {out}", file=stream)
        for c, s in chosen.items():
            print(
                f"  {c:32} J {s['j']:+.2f}  in time {s['in_time']}/{s['n_grokking']}  "
                f"false alarms {s['fired']}/{s['n_controls']}  {s['describe']}",
                file=stream,
            )
    return data


def score_store(store, rules_path, out_dir, *, llc_dir=None, stream=None) -> dict:
    """Score the tuned rules on the scoring runs; write tables, JSON and figures to ``out_dir``."""
    data = json.loads(Path(rules_path).read_text())
    rules = rules_from_json(data["rules"])
    runs = [r for r in load_runs(store, llc_dir=llc_dir) if r.role == "score"]
    if not runs:
        raise SpectralEdgeError("no finished scoring runs (role 'score', tagged EW) in the store")
    table = evaluate(runs, rules, groups=GROUPS)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    slim = {
        c: {
            "overall": {k: v for k, v in e["overall"].items() if k != "outcomes"},
            "outcomes": e["overall"]["outcomes"],
            "groups": {
                g: {k: v for k, v in s.items() if k != "outcomes"} for g, s in (e["groups"].items())
            },
            "key_test": e["key_test"],
        }
        for c, e in table.items()
    }
    parts = ["## All scoring runs\n", markdown_table(table)]
    parts += [
        "\n## Per family: grokking runs warned in time · controls that fired\n",
        family_table(table, list(GROUPS)),
    ]
    for group in GROUPS:
        parts += [f"\n## {group}\n", markdown_table(table, group)]
    llc_runs = with_llc(runs)
    if llc_runs:
        # the peer comparison on equal footing: every rule on the runs that have an LLC series
        sub = evaluate(llc_runs, rules)
        slim["llc_subset"] = {
            "runs": sorted(r.name for r in llc_runs),
            **{c: e["overall"] for c, e in sub.items()},
        }
        parts += [
            f"\n## The {len(llc_runs)} scoring runs with an LLC series (all rules, same runs)\n",
            markdown_table(sub),
        ]
    write_json(out_dir / "scores.json", {"scoring_runs": sorted(r.name for r in runs), **slim})
    (out_dir / "scores.md").write_text("\n".join(parts) + "\n")
    curves = {c: curve(c, runs) for c in rules if c not in ("commutator onset (a priori)",)}
    write_json(out_dir / "curves.json", curves)
    _figures(table, curves, out_dir)
    if stream is not None:
        print(markdown_table(table), file=stream)
        print(f"wrote {out_dir}/scores.md, scores.json, curves.json and figures", file=stream)
    return table


def _frontier(points):
    """The upper-left envelope of (false-alarm rate, in-time rate) points, from (0, 0).

    >>> _frontier([(0.5, 0.2), (0.0, 0.4), (0.2, 0.1), (0.8, 0.9)])
    [(0.0, 0.4), (0.8, 0.9), (1.0, 0.9)]
    """
    out, best = [], 0.0
    for x, y in sorted(points):
        if y > best or not out:
            best = max(best, y)
            out.append((x, best))
    return out + [(1.0, best)]


def _figures(table, curves, out_dir: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 5), sharey=True)
    for ax, names, title in (
        (axes[0], SPECTRAL + ("g23 peak-decline",), "spectral candidates"),
        (axes[1], BASELINES + ("commutator_defect", "calendar", "llc"), "baselines, null, peers"),
    ):
        for name in names:
            if name not in curves:
                continue
            pts = [(c["false_alarm_rate"], c["in_time_rate"]) for c in curves[name]]
            pts = sorted((x, y) for x, y in pts if x is not None and y is not None)
            if pts:
                # every rule of the grid as a point; the line is the best in-time rate reachable
                # at each false-alarm rate (rise and fall rules mixed, so no single sweep order)
                (line,) = ax.step(*zip(*_frontier(pts), strict=True), where="post", label=name)
                ax.plot(*zip(*pts, strict=True), "o", ms=3, color=line.get_color(), alpha=0.5)
        ax.plot([0, 1], [0, 1], color="0.7", lw=0.8, ls="--")
        ax.axvline(0.1, color="0.85", lw=0.8)
        ax.axhline(0.9, color="0.85", lw=0.8)
        ax.set(xlabel="controls that fired", title=title, xlim=(-0.02, 1.02), ylim=(-0.02, 1.02))
        ax.legend(fontsize=7, loc="lower right")
    axes[0].set_ylabel("grokking runs warned in time")
    fig.suptitle("Every rule of each candidate's grid on the scoring runs (goal: upper left box)")
    fig.tight_layout()
    fig.savefig(out_dir / "curves.png", dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6, 5))
    for name, entry in table.items():
        outs = [o for o in entry["overall"]["outcomes"] if o.get("in_time") and o["t_mem"]]
        if len(outs) < 3 or name in ("calendar",):
            continue
        x = [o["t_grok"] - o["t_mem"] for o in outs]
        y = [o["t_warn"] - o["t_mem"] for o in outs]
        ax.scatter(x, y, s=12, label=name)
    lim = ax.get_xlim()
    ax.plot(lim, lim, color="0.6", lw=0.8, ls="--", label="t_warn = t_grok")
    ax.set(xlabel="t_grok − t_mem (steps)", ylabel="t_warn − t_mem (steps)")
    ax.set_title("Does the warning move with grokking? (runs warned in time)")
    ax.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(out_dir / "lead.png", dpi=110)
    plt.close(fig)


def write_json(path, data) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(data, indent=1, default=_json_default) + "\n")


def _json_default(x):
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (np.floating,)):
        return float(x)
    raise TypeError(type(x))


__all__ = [
    "GROUPS",
    "HEADLINE",
    "RunSeries",
    "score_store",
    "tune_store",
    "all_candidates",
    "candidate_rules",
    "family_table",
    "curve",
    "evaluate",
    "key_test",
    "load_runs",
    "markdown_table",
    "outcome",
    "rules_from_json",
    "rules_to_json",
    "score",
    "series_from_frames",
    "tune",
    "wilson",
    "with_llc",
]
