"""The thesis' predictions about the spectrum, T1–T4, as data (the entries of :mod:`.predictions`).

T1 (BBP is vacuous), T2 (k* is small), T3 (the Krylov bound) and T4 (rise, plateau, collapse).
Each entry reads the runs its :class:`~spectral_edge.reproduce.engine.Select` picks, measures once
(a plain dict) and is judged twice: the paper's reading follows the author's scripts as audited
in docs/reproduction.md ("Rules"), and where those scripts are silent, the thesis text, saying so
in ``source``; the strict reading is what a skeptic would require. Every threshold is fixed here,
before any run was scored.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from spectral_edge.dynamics.hessian import krylov_bound
from spectral_edge.reproduce import measures as ms
from spectral_edge.reproduce.engine import Judgement, NotRun, Prediction, Rule, RunView, Select
from spectral_edge.reproduce.measures import count, fmt, span

BBP_BAR = 5.0
KSTAR_BAR = 3
KSTAR_SHARE = 0.9  # strict T2: k* ≤ 3 in at least 90 % of full windows


def _unresolved(v: RunView, w: pd.DataFrame) -> pd.Series:
    """Windows whose σ_W lies below the Gram's resolution (the monitor's ratio floor × σ_1):
    there σ_W, and so σ_W/d_crit, is not measured, only bounded."""
    floor = float(v.config.get("monitor", {}).get("ratio_floor_used") or 1e-12)
    sig_w = w.get(f"sigma_{v.window}")
    if sig_w is None:
        return pd.Series(False, index=w.index)
    return ~(sig_w > floor * w["sigma_1"])


# --- T1 ----------------------------------------------------------------------------------------


def _t1_one(v: RunView) -> dict:
    w = v.full_windows()
    if "bbp_ratio" not in w.columns or not len(w):
        raise NotRun(f"run {v.name} has no full window with a BBP ratio")
    bad = _unresolved(v, w)
    b = w.loc[~bad, "bbp_ratio"].replace([np.inf], np.nan).dropna()
    p = v.config.get("monitor", {}).get("n_params")
    return {
        "family": ms.family_of(v),
        "n": len(w),
        "unresolved": int(bad.sum()),
        "min": float(b.min()) if len(b) else math.nan,
        "median": float(b.median()) if len(b) else math.nan,
        "above": int((b > BBP_BAR).sum()),
        "ceiling": (p / (v.window - 1)) ** 0.25 if p else math.nan,
    }


def _t1_measure(views):
    return ms.per_run(views, _t1_one, "no full window with a BBP ratio")


def _t1_text(per: dict) -> str:
    r = per.values()
    low = np.nanmin([x["min"] for x in r]) if any(math.isfinite(x["min"]) for x in r) else None
    return (
        f"{len(per)} runs: min σ_W/d_crit over resolved full windows {fmt(low)}"
        f" (run medians {span([x['median'] for x in r])}); {sum(x['above'] for x in r)}/"
        f"{sum(x['n'] for x in r)} full windows > 5, {sum(x['unresolved'] for x in r)} with σ_W "
        f"below the Gram's resolution; ceiling (P/(W−1))^(1/4) {span([x['ceiling'] for x in r])}"
    )


def _t1_paper(m):
    per = m["per"]
    ok = all(x["min"] > BBP_BAR for x in per.values() if math.isfinite(x["min"]))
    return Judgement(ok, _t1_text(per), reason="unresolved windows are undefined, not counted")


def _t1_strict(m):
    per = m["per"]
    ok = all(x["above"] == x["n"] for x in per.values())
    return Judgement(
        ok,
        _t1_text(per),
        null="isotropic noise reaches the ceiling (all σ_j ≈ ν√P), so the ratio cannot tell signal "
        "from noise: a pass is necessary, not sufficient. At W = 10 the paper's 20× needs "
        "P ≥ 9·20⁴ ≈ 1.4·10⁶ and its 300× P ≥ 7.3·10¹⁰ (GPT-2 124M: ceiling 61)",
    )


T1 = Prediction(
    "T1",
    "BBP is vacuous: σ_W/d_crit > 5 in every window",
    "20–300×",
    Select("run with BBP ratios"),
    _t1_measure,
    paper=Rule(
        "σ_W/d_crit > 5 in every full window whose σ_W is resolved, in every run (a σ_W below "
        "the Gram's resolution is undefined, not 0)",
        _t1_paper,
    ),
    strict=Rule(
        "> 5 in every full window of every run, an unresolved σ_W counting as a failure",
        _t1_strict,
    ),
    source="not in the author's scripts (the SED paper compares with a Marchenko–Pastur edge, "
    "computation not stored); thesis text, d_crit = ν(P(W−1))^(1/4)",
)


# --- T2 ----------------------------------------------------------------------------------------


def author_kstar(v: RunView) -> float:
    """The author's k*: weighted; the last full window (``kstar_term``, the modular scripts) or
    the mode over windows (``kstar_mode``, Dyck/SCAN, and our language model)."""
    w = v.full_windows()["k_star_weighted"].dropna()
    if not len(w):
        raise NotRun(f"run {v.name} has no full window with a weighted k*")
    if str(v.tags.get("family", "")).startswith(("modarith", "mlp", "multitask")):
        return float(w.iloc[-1])
    return float(w.mode().iloc[0])


def _t2_one(v: RunView) -> dict:
    k = v.full_windows()["k_star"].dropna()
    if not len(k):
        raise NotRun(f"run {v.name} has no full window with k*")
    return {
        "family": ms.family_of(v).split("/")[0],
        "author": author_kstar(v),
        "median": float(k.median()),
        "share": float((k <= KSTAR_BAR).mean()),
    }


def _t2_measure(views):
    return ms.per_run(views, _t2_one, "no full windows with k*")


def _by_family(per: dict, key: str, spec=".3g") -> str:
    fam: dict = {}
    for x in per.values():
        fam.setdefault(x["family"], []).append(x[key])
    return "; ".join(f"{f} {span(v, spec)}" for f, v in sorted(fam.items()))


def _t2_paper(m):
    per = m["per"]
    return Judgement(
        all(x["author"] <= KSTAR_BAR for x in per.values()),
        f"weighted k* (last full window; mode for Dyck/SCAN/LM) by family: "
        f"{_by_family(per, 'author')}",
    )


def _t2_strict(m):
    per = m["per"]
    return Judgement(
        all(x["share"] >= KSTAR_SHARE for x in per.values()),
        f"plain k* median by family: {_by_family(per, 'median')}; share of full windows with "
        f"k* ≤ 3 by family: {_by_family(per, 'share', '.2f')}",
    )


T2 = Prediction(
    "T2",
    "k* is small (≤ 3)",
    "TinyStories 2, GPT-2 3, grokking 1",
    Select("run with k*"),
    _t2_measure,
    paper=Rule("the author's weighted k* ≤ 3 in every run (controls included)", _t2_paper),
    strict=Rule("plain k* ≤ 3 in ≥ 90 % of the full windows of every run", _t2_strict),
    source="dyck_scan/spectral/thesis_table7_replication.py (weighted score, kstar_mode); "
    "multitask gram_stats (kstar_term); the SED figure's MP-restricted k* is not reproducible",
)


# --- T3 ----------------------------------------------------------------------------------------


def _t3_measure(views):
    out = {}
    for v in views:
        if "hessian" not in v.probes:
            continue
        span_steps = v.window * v.every
        for h in v.probe_events("hessian"):
            step = int(h["step"])
            k = ms.value_at(v, "k_star", step)
            if not math.isfinite(k):
                continue
            q = h.get("adam_step_quantiles") or {}
            eta = {"base": float(h["lr"])}
            eta.update({f"adam_{key}": float(val) for key, val in q.items()})
            bounds = {
                name: krylov_bound(h["eigenvalues"], lr=e, window=span_steps, k_star=int(k))
                for name, e in eta.items()
            }
            bounds["literal"] = krylov_bound(  # 1/(ηW) with W in snapshots, the old reading
                h["eigenvalues"], lr=float(h["lr"]), window=v.window, k_star=int(k)
            )
            out[(v.name, h.get("at", "end"))] = {
                "step": step,
                "k": int(k),
                "h1": float(max(h["eigenvalues"])),
                "bounds": bounds,
                "window": v.window,
            }
    if not out:
        raise NotRun("no run carries the Hessian probe")
    return {"runs": sorted({name for name, _ in out}), "points": out}


def _t3_at_grok(m) -> dict:
    grok = {k: x for k, x in m["points"].items() if k[1] == "grok"}
    if not grok:
        raise NotRun("no Hessian at grokking (the run did not grok, or the probe failed)")
    return grok


def _t3_line(x, eta: str) -> str:
    b = x["bounds"].get(eta)
    if b is None:
        return f"step {x['step']}: no {eta} step recorded"
    plus = "+" if b["count_is_lower_bound"] else ""
    step_size = "η" if eta in ("base", "literal") else "η_eff"
    span_ = f"{x['window']}" if eta == "literal" else f"{x['window']}·every"
    return (
        f"step {x['step']}: k* {x['k']} vs n_K {b['count']}{plus} (h_1 {fmt(x['h1'])}, "
        f"1/({step_size}·{span_}) {fmt(b['threshold'])})"
    )


def _t3_end(m) -> str:
    ends = [x for k, x in m["points"].items() if k[1] == "end"]
    lines = "; ".join(_t3_line(x, "literal") for x in ends)
    return f"; the old reading (the end, W in snapshots): {lines}" if ends else ""


def _t3_paper(m):
    pts = _t3_at_grok(m)
    holds = [x["bounds"]["base"]["holds"] for x in pts.values()]
    return Judgement(
        None if None in holds else all(holds),
        "at grokking, η = base lr: "
        + "; ".join(_t3_line(x, "base") for x in pts.values())
        + _t3_end(m),
    )


def _t3_strict(m):
    pts = _t3_at_grok(m)
    oks, lines = [], []
    for x in pts.values():
        b = x["bounds"].get("adam_q50")
        if b is None:
            raise NotRun("the Hessian probe recorded no Adam effective step")
        vacuous = b["count_is_lower_bound"] or b["count"] >= x["window"] - 1
        oks.append(bool(b["holds"]) and not vacuous)
        lines.append(
            _t3_line(x, "adam_q50")
            + f"; with the q05/q95 step n_K {x['bounds']['adam_q05']['count']}/"
            f"{x['bounds']['adam_q95']['count']}"
            + ("; vacuous (n_K ≥ W − 1 ≥ every k*)" if vacuous else "")
        )
    return Judgement(all(oks), "at grokking, Adam's median effective step: " + "; ".join(lines))


T3 = Prediction(
    "T3",
    "Krylov bound k* ≤ #{h_j ≥ 1/(ηW)}",
    "consistent",
    Select("run with a Hessian probe"),
    _t3_measure,
    paper=Rule(
        "at grokking, k* ≤ n_K with threshold 1/(η·W·every): η the base learning rate, the window "
        "spanning W snapshots of `every` optimizer steps",
        _t3_paper,
    ),
    strict=Rule(
        "the same with Adam's effective step η/(√v̂+ε) (median over parameters), and the bound "
        "must be able to fail (n_K < W − 1 and not every computed eigenvalue above it)",
        _t3_strict,
    ),
    source="not in the author's scripts (closest: dyck_scan/spectral/edge_ablation.py "
    "directional curvatures); thesis text",
)


# --- T4 ----------------------------------------------------------------------------------------


def _t4_keep(tags: dict) -> bool:
    if tags.get("family") == "lm":
        return tags.get("optimizer") == "adamw" and tags.get("params") == "all"
    return "T4" in tags.get("for", ()) and ms.weight_decay_run(tags)


def _phases_one(v: RunView) -> dict:
    s, r = ms.series(v, "r23")
    return {
        "family": ms.family_of(v),
        "seed": v.tags.get("seed"),
        "author": ms.phases_author(s, r),
        "ours": ms.phases_ours(v, "r23"),
    }


def phase_measure(views):
    """Both phase detectors on r23 over the full windows of each run (T4, C7)."""
    return ms.per_run(views, _phases_one, "no run has enough full windows with r23 for phases")


def _pattern_text(per: dict, which: str) -> str:
    fam: dict = {}
    for x in per.values():
        fam.setdefault(x["family"], []).append(x[which])
    parts = []
    for f, rs in sorted(fam.items()):
        cs = [r["collapse_step"] for r in rs if r["pattern"]]
        parts.append(f"{f} {count(r['pattern'] for r in rs)} (collapse {span(cs, '.0f')})")
    return "; ".join(parts)


def _t4_paper(m):
    lm = {n: x for n, x in m["per"].items() if x["family"] == "lm"}
    if not lm:
        raise NotRun("no finished language-model run: the author claims T4 only there")
    return Judgement(
        all(x["author"]["pattern"] for x in lm.values()),
        "author's detector on r23: " + _pattern_text(m["per"], "author"),
        reason="scored on the language model only; the author reports no spike-and-collapse on "
        "grokking tasks (shown for comparison)",
    )


def _t4_strict(m):
    fam: dict = {}
    for x in m["per"].values():
        fam.setdefault(x["family"], []).append(x["ours"]["pattern"])
    return Judgement(
        all(2 * sum(f) > len(f) for f in fam.values()),
        "our detector on r23: " + _pattern_text(m["per"], "ours"),
    )


T4 = Prediction(
    "T4",
    "R(t) rises, plateaus, collapses",
    "collapse at 7,500 ± 300 (4 seeds)",
    Select("weight-decay or language-model run", _t4_keep, also=("T7",)),
    phase_measure,
    paper=Rule(
        "the author's detector on r23 = σ2/σ3 over full windows (peak = argmax, no smoothing, "
        "collapse = first window after the peak below τ = 1.2, peak not at an end) in every "
        "language-model run",
        _t4_paper,
    ),
    strict=Rule(
        "our detector on r23 (rolling median of 5; the peak must clear τ = 1.2; plateau band "
        "0.85·peak; collapse below τ) in a majority of runs of every family",
        _t4_strict,
    ),
    source="gpt2_124m/sliding_correlation.py::detect_phases (method peak) and "
    "distribution_shift.py::event_study (collapse below τ), on TinyStories",
)


PREDICTIONS = (T1, T2, T3, T4)

__all__ = ["PREDICTIONS", "author_kstar", "phase_measure"]
