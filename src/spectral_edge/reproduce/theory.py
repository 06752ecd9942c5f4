"""The thesis' own predictions T1–T8 as data: runs, measure, the paper's rule and the strict one.

Each entry reads the runs its :class:`~spectral_edge.reproduce.engine.Select` picks, measures
once (a plain dict), and is judged twice. The paper's reading follows the author's scripts as
audited in docs/reproduction.md ("Rules"); where those scripts are silent it follows the thesis
text and says so in ``source``. Every threshold is fixed here, before any run was scored.

This file is long (about 560 lines) because it holds eight entries, each with its measure and
its two rules side by side; splitting one entry across files would hide the rule from its measure.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from spectral_edge.core.stability import stability_alpha
from spectral_edge.dynamics.hessian import krylov_bound
from spectral_edge.dynamics.stability_analysis import alpha_hierarchy
from spectral_edge.errors import SpectralEdgeError
from spectral_edge.reproduce import measures as ms
from spectral_edge.reproduce import offline
from spectral_edge.reproduce.engine import Judgement, NotRun, Prediction, Rule, RunView, Select
from spectral_edge.reproduce.measures import count, fmt, span
from spectral_edge.reproduce.nulls import random_walk_damping_null, spearman, spearman_null_p

BBP_BAR = 5.0
KSTAR_BAR = 3
KSTAR_SHARE = 0.9  # strict T2: k* ≤ 3 in at least 90 % of full windows
T8_BAR = 0.5  # Spearman over modes (ours; the author gives no threshold)
P_BAR = 0.05


def _wd(tags: dict) -> bool:
    return bool(tags.get("wd", True))


def _unresolved(v: RunView, w: pd.DataFrame) -> pd.Series:
    """Windows whose σ_W lies below the Gram's resolution (the monitor's ratio floor × σ_1):
    there σ_W, and so σ_W/d_crit, is not measured, only bounded."""
    floor = float(v.config.get("monitor", {}).get("ratio_floor_used") or 1e-12)
    sig_w = w.get(f"sigma_{v.window}")
    if sig_w is None:
        return pd.Series(False, index=w.index)
    return ~(sig_w > floor * w["sigma_1"])


# --- T1 ----------------------------------------------------------------------------------------


def _t1_measure(views):
    per = {}
    for v in views:
        w = v.full_windows()
        if "bbp_ratio" not in w.columns or not len(w):
            continue
        bad = _unresolved(v, w)
        b = w.loc[~bad, "bbp_ratio"].replace([np.inf], np.nan).dropna()
        p = v.config.get("monitor", {}).get("n_params")
        per[v.name] = {
            "family": ms.family_of(v),
            "n": len(w),
            "unresolved": int(bad.sum()),
            "min": float(b.min()) if len(b) else math.nan,
            "median": float(b.median()) if len(b) else math.nan,
            "above": int((b > BBP_BAR).sum()),
            "ceiling": (p / (v.window - 1)) ** 0.25 if p else math.nan,
        }
    if not per:
        raise NotRun("no full window with a BBP ratio")
    return {"runs": list(per), "per": per}


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
        "from noise: a pass is necessary, not sufficient",
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


def _t2_measure(views):
    per = {}
    for v in views:
        k = v.full_windows()["k_star"].dropna()
        if len(k):
            per[v.name] = {
                "family": ms.family_of(v).split("/")[0],
                "author": author_kstar(v),
                "median": float(k.median()),
                "share": float((k <= KSTAR_BAR).mean()),
            }
    if not per:
        raise NotRun("no full windows with k*")
    return {"runs": list(per), "per": per}


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
    return (
        f"step {x['step']}: k* {x['k']} vs n_K {b['count']}{plus} (h_1 {fmt(x['h1'])}, "
        f"1/(η·{x['window']}·every) {fmt(b['threshold'])})"
    )


def _t3_end(m) -> str:
    ends = [x for k, x in m["points"].items() if k[1] == "end"]
    return "; at the end " + "; ".join(_t3_line(x, "literal") for x in ends) if ends else ""


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
    return "T4" in tags.get("for", ()) and _wd(tags)


def phase_measure(views):
    per = {}
    for v in views:
        try:
            s, r = ms.series(v, "r23")
            author = ms.phases_author(s, r)
            ours = ms.phases_ours(v, "r23")
        except NotRun:
            continue
        per[v.name] = {
            "family": ms.family_of(v),
            "seed": v.tags.get("seed"),
            "author": author,
            "ours": ours,
        }
    if not per:
        raise NotRun("no run has enough full windows with r23 for a phase detector")
    return {"runs": list(per), "per": per}


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


# --- T5 ----------------------------------------------------------------------------------------


def _alpha_lambda(w: pd.DataFrame, window: int) -> pd.DataFrame:
    """α_j with ‖λ(t) − λ(t−1)‖₂ of consecutive full windows in place of ‖ΔC‖_F: a lower bound
    on ‖ΔC‖_F (Hoffman–Wielandt), so α comes out larger and is no Davis–Kahan bound."""
    cols = [f"sigma_{j}" for j in range(1, window + 1)]
    lam = w[cols].to_numpy(dtype=np.float64) ** 2
    rows = []
    for i in range(1, len(lam)):
        if np.all(np.isfinite(lam[i])) and np.all(np.isfinite(lam[i - 1])):
            a = stability_alpha(lam[i], float(np.linalg.norm(lam[i] - lam[i - 1])))
            rows.append(
                {"step": int(w["step"].iloc[i]), **{f"alpha_{j + 1}": x for j, x in enumerate(a)}}
            )
    return pd.DataFrame(rows)


def _hierarchy(frame: pd.DataFrame) -> dict:
    try:
        return alpha_hierarchy(frame)
    except SpectralEdgeError as exc:
        raise NotRun(str(exc)) from None


def _t5_measure(views):
    per = {}
    for v in views:
        w = v.full_windows()
        kstar = w[["step", "k_star"]]
        sigmas = [c for c in w.columns if c.startswith("sigma_")]
        split = w[["step", *[c for c in w.columns if c.startswith("alpha_split_")]]]
        split = split.rename(columns=lambda c: c.replace("alpha_split_", "alpha_"))
        try:
            per[v.name] = {  # alpha_hierarchy recomputes the DK α from σ_j and ‖ΔC‖_F
                "dk": _hierarchy(w[["step", "k_star", "delta_c", *sigmas]]),
                "lambda": _hierarchy(_alpha_lambda(w, v.window).merge(kstar, on="step")),
                "split": _hierarchy(split.merge(kstar, on="step")),
            }
        except NotRun:
            continue
    if not per:
        raise NotRun("no run has α for three modes in full windows")
    return {"runs": list(per), "per": per}


def _t5_text(per: dict, key: str) -> str:
    return (
        "; ".join(
            f"{fmt(h['alpha_dominant'])} > {fmt(h['alpha_gap'])} > {fmt(h['alpha_sub'])}"
            for h in (x[key] for x in per.values())
        )
        + f" ({count(x[key]['holds'] for x in per.values())} ordered)"
    )


def _t5_all(per: dict) -> str:
    return (
        f"medians α_dom > α_gap > α_sub per run — split-half (a measurement, no bound): "
        f"{_t5_text(per, 'split')}; DK with exact ‖ΔC‖_F (the bound): {_t5_text(per, 'dk')}; "
        f"with ‖λ(t) − λ(t−1)‖ (not a bound): {_t5_text(per, 'lambda')}"
    )


T5 = Prediction(
    "T5",
    "stability hierarchy α_dom > α_gap > α_sub",
    "0.818 > 0.234 > ~0",
    Select("weight-decay run", _wd),
    _t5_measure,
    paper=Rule(
        "split-half α_j = |⟨v_j⁽¹⁾, v_j⁽²⁾⟩| (the author's estimator): per-run medians ordered "
        "α_1 > α_m > median α_{j>m}, m = max(k*, 2), in every run",
        lambda m: Judgement(all(x["split"]["holds"] for x in m["per"].values()), _t5_all(m["per"])),
    ),
    strict=Rule(
        "the Davis–Kahan α_j = max(0, 1 − ‖ΔC‖_F²/gap_j²) with the exact ‖ΔC‖_F (the only one of "
        "the three that is a bound), ordered in every run",
        lambda m: Judgement(all(x["dk"]["holds"] for x in m["per"].values()), _t5_all(m["per"])),
    ),
    source="dyck_scan/spectral/loss_decomposition.py::compute_stability_coefficient "
    "(split-half); the ‖λ(t) − λ(t−1)‖ variant of THESIS §3 is not in the stored scripts",
)


# --- T6 ----------------------------------------------------------------------------------------


def _t6_measure(views):
    per = {}
    for v in views:
        s, g = ms.series(v, "gap")
        try:
            per[v.name] = {"wd": _wd(v.tags), **random_walk_damping_null(g)}
        except SpectralEdgeError:
            continue
    if not any(x["wd"] for x in per.values()):
        raise NotRun("no weight-decay run has enough full windows for the damping test")
    return {"runs": list(per), "per": per}


def _t6_text(per: dict, scheme: str) -> str:
    out = []
    for label, wd in (("with wd", True), ("controls", False)):
        xs = [x[scheme] for x in per.values() if x["wd"] == wd]
        if xs:
            out.append(
                f"{label}: corr {span([x['corr'] for x in xs])} (median "
                f"{fmt(float(np.median([x['corr'] for x in xs])))}), beats the random-walk null "
                f"(p < 0.05) in {count(x['p'] < P_BAR for x in xs)}"
            )
    return "; ".join(out)


def _t6_paper(m):
    c = [x["central"]["corr"] for x in m["per"].values() if x["wd"]]
    ok = float(np.median(c)) < 0 and 2 * sum(x < 0 for x in c) > len(c)
    return Judgement(ok, "central differences: " + _t6_text(m["per"], "central"))


def _t6_strict(m):
    ps = [x["forward"]["p"] for x in m["per"].values() if x["wd"]]
    return Judgement(
        2 * sum(p < P_BAR for p in ps) > len(ps),
        "forward differences (Dickey–Fuller form): " + _t6_text(m["per"], "forward"),
        null="Gaussian random walks of the same length: a walk's corr with its own increments "
        "is negative by chance",
    )


T6 = Prediction(
    "T6",
    "gap damping corr(g, dg/dt) < 0",
    "weak",
    Select("modular run"),
    _t6_measure,
    paper=Rule(
        "corr(g, dg/dt), central differences, g the σ-gap at k* over full windows: median over "
        "weight-decay runs < 0 and a majority negative",
        _t6_paper,
    ),
    strict=Rule(
        "the damping beats a random walk: corr(g_t, g_{t+1} − g_t) below the random-walk null "
        "(p < 0.05) in a majority of weight-decay runs; controls reported beside",
        _t6_strict,
    ),
    source="not in the author's scripts (narrative only, SPECTRAL_EDGE_THESIS_CONNECTION.md §6); "
    "thesis text",
)


# --- T7 ----------------------------------------------------------------------------------------


def coupling_measure(views):
    """Both readings of the gap–loss coupling on each run: the author's (r23 vs validation loss,
    lags −3..5) and ours (σ-gap vs training loss, lags ±5), each with its null."""
    per = {}
    for v in views:
        try:
            per[v.name] = {
                "family": ms.family_of(v).split("/")[0],
                "params": v.tags.get("params"),
                "window": v.window,
                "author": ms.coupling(v, "r23", "test_loss", ms.AUTHOR_LAGS),
                "ours": ms.coupling(v, "gap", "train_loss", ms.OUR_LAGS),
            }
        except NotRun:
            continue
    if not per:
        raise NotRun("no run has enough aligned (spectral series, loss) points")
    return {"runs": list(per), "per": per}


def coupling_text(per: dict, which: str) -> str:
    return "; ".join(
        f"{name.split('/')[-1]}: r {fmt(x[which]['peak_r'])} at lag {x[which]['peak_lag']} "
        f"(p {fmt(x[which]['p'], '.2g')})"
        for name, x in per.items()
    )


def coupling_rule(which: str, bar: float, with_null: bool):
    def judge(m):
        xs = [x[which] for x in m["per"].values()]
        ok = all(abs(x["peak_r"]) > bar and (not with_null or x["p"] < P_BAR) for x in xs)
        beats = count(x["p"] < P_BAR for x in xs)
        return Judgement(
            ok,
            coupling_text(m["per"], which),
            null=f"phase-randomised surrogates: beats the null in {beats} runs",
        )

    return judge


def _t7_keep(tags: dict) -> bool:
    return tags.get("family") != "lm" or (tags.get("window") == 10 and tags.get("params") == "all")


T7 = Prediction(
    "T7",
    "gap–loss coupling |r| > 0.3 (detrended)",
    "0.67; GPT-2 σ3/σ4 0.870",
    Select("weight-decay or language-model run", lambda t: _wd(t) and _t7_keep(t)),
    coupling_measure,
    paper=Rule(
        "r23 vs validation loss, cubic detrend in steps, lags −3..5 snapshots: |r| at the most "
        "negative lag > 0.3 in every run",
        coupling_rule("author", 0.3, False),
    ),
    strict=Rule(
        "σ-gap at k* vs training loss, lags ±5: |r| > 0.3 and below the phase-randomised null "
        "(p < 0.05) in every run",
        coupling_rule("ours", 0.3, True),
    ),
    source="mini_gpt/reproduce/paper2_sed tinystories/jl_projection.py and "
    "gpt2_124m/spectral_edge.py::cross_correlate_detrended",
)


# --- T8 ----------------------------------------------------------------------------------------


def _author_t8(v: RunView) -> list[dict] | str:
    """The author's T8 at every step where the window's updates and the weights were both
    saved, or why it cannot be made (the strict reading needs neither file)."""
    try:
        steps = set(offline.update_files(v)) & {s for s, _ in offline.weight_files(v)}
        if not steps:
            return f"run {v.name} saved no weights at a step where it saved the window's updates"
        return [offline.author_decomposition(v, s) for s in sorted(steps)]
    except NotRun as exc:
        return str(exc)


def _t8_measure(views):
    views = [v for v in views if "decomposition" in v.probes]
    if not views:
        raise NotRun("no run carries the decomposition probe")
    per = {}
    for v in views:
        ours = [
            {
                "step": e["step"],
                "spearman": spearman(e["predicted"], e["actual"]),
                "p": spearman_null_p(e["predicted"], e["actual"]),
            }
            for e in v.probe_events("decomposition")
        ]
        per[v.name] = {"grok": ms.grok_step(v), "ours": ours, "author": _author_t8(v)}
    return {"runs": list(per), "per": per}


def _phases_of(steps: list[int], grok) -> dict[int, str]:
    """Label points before grokking, at it (the first point at or after it) and after."""
    if grok is None:
        return {s: "no grokking" for s in steps}
    first = min((s for s in steps if s >= grok), default=None)
    return {s: "before" if s < grok else ("at" if s == first else "after") for s in steps}


def _t8_paper(m):
    lines, oks = [], []
    for x in m["per"].values():
        if isinstance(x["author"], str):
            raise NotRun(x["author"])
        label = _phases_of([a["step"] for a in x["author"]], x["grok"])
        for a in x["author"]:
            oks.append(a["spearman_abs"] is not None and a["spearman_abs"] >= T8_BAR)
            lines.append(
                f"step {a['step']} ({label[a['step']]}): Spearman |pred| vs |Δloss| "
                f"{fmt(a['spearman_abs'])}, Pearson {fmt(a['pearson_abs'])} ({a['modes']} modes)"
            )
    return Judgement(2 * sum(oks) > len(oks), "; ".join(lines))


def _t8_strict(m):
    lines, oks = [], []
    for x in m["per"].values():
        for o in x["ours"]:
            oks.append(o["spearman"] >= T8_BAR and o["p"] < P_BAR)
            lines.append(f"step {o['step']}: {fmt(o['spearman'])} (p {fmt(o['p'], '.2g')})")
    return Judgement(
        bool(oks) and all(oks),
        "signed Spearman(predicted, ablated Δ val loss): " + "; ".join(lines),
        null="permutation of the modes",
    )


T8 = Prediction(
    "T8",
    "spectral loss decomposition predicts mode ablation",
    "unknown (candidate failure)",
    Select("run with the decomposition probe"),
    _t8_measure,
    paper=Rule(
        "the author's test: attention-parameter modes of the window (≤ 6), split-half α, "
        "predicted α_j·G_j^train·G_j^val against the test-loss change when ⟨θ, v_j⟩v_j is removed "
        "from the weights; Spearman of the absolute values ≥ 0.5 (our bar; the author gives "
        "none) at a majority of the points before, at and after grokking",
        _t8_paper,
    ),
    strict=Rule(
        "signed: Spearman(α_j·G_j^train·G_j^val, loss change when the mode's share of the window's "
        "displacement is undone) ≥ 0.5 and beating a permutation null (p < 0.05) at every probed "
        "point, all W modes, α_j = 1",
        _t8_strict,
    ),
    source="dyck_scan/spectral/loss_decomposition.py::main (Thesis Test 8)",
)

PREDICTIONS = (T1, T2, T3, T4, T5, T6, T7, T8)

__all__ = [
    "PREDICTIONS",
    "author_kstar",
    "coupling_measure",
    "coupling_rule",
    "coupling_text",
    "phase_measure",
]
