"""The thesis' predictions about the dynamics, T5–T8, as data (see :mod:`.theory_spectrum`).

T5 (the stability hierarchy, three α estimators), T6 (gap damping against a random walk), T7
(gap–loss coupling against phase-randomised surrogates) and T8 (the spectral loss decomposition,
the author's ablation made afterwards from saved files). The coupling measure and rules are shared
with C4 and C6.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from spectral_edge.core.stability import stability_alpha
from spectral_edge.dynamics.stability_analysis import alpha_hierarchy
from spectral_edge.errors import SpectralEdgeError
from spectral_edge.reproduce import measures as ms
from spectral_edge.reproduce import offline
from spectral_edge.reproduce.engine import Judgement, NotRun, Prediction, Rule, RunView, Select
from spectral_edge.reproduce.measures import count, fmt, span
from spectral_edge.reproduce.nulls import random_walk_damping_null, spearman, spearman_null_p

T8_BAR = 0.5  # Spearman over modes (ours; the author gives no threshold)
P_BAR = 0.05


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


def _t5_one(v: RunView) -> dict:
    w = v.full_windows()
    kstar = w[["step", "k_star"]]
    sigmas = [c for c in w.columns if c.startswith("sigma_")]
    split = w[["step", *[c for c in w.columns if c.startswith("alpha_split_")]]]
    split = split.rename(columns=lambda c: c.replace("alpha_split_", "alpha_"))
    return {  # alpha_hierarchy recomputes the DK α from σ_j and ‖ΔC‖_F
        "dk": _hierarchy(w[["step", "k_star", "delta_c", *sigmas]]),
        "lambda": _hierarchy(_alpha_lambda(w, v.window).merge(kstar, on="step")),
        "split": _hierarchy(split.merge(kstar, on="step")),
    }


def _t5_measure(views):
    return ms.per_run(views, _t5_one, "no run has α for three modes in full windows")


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
    Select("weight-decay run", ms.weight_decay_run),
    _t5_measure,
    paper=Rule(
        "split-half α_j = |⟨v_j⁽¹⁾, v_j⁽²⁾⟩| (the author's estimator): per-run medians ordered "
        "α_1 > α_m > median α_{j>m}, m = max(k*, 2), in every run",
        lambda m: Judgement(all(x["split"]["holds"] for x in m["per"].values()), _t5_all(m["per"])),
    ),
    strict=Rule(
        "the Davis–Kahan α_j = max(0, 1 − ‖ΔC‖_F²/gap_j²) with the exact ‖ΔC‖_F, ordered in every "
        "run: of the three only this one rests on a bound (the λ-change variant puts a lower "
        "bound on ‖ΔC‖_F in its place; the split-half α is a measurement, not a bound)",
        lambda m: Judgement(all(x["dk"]["holds"] for x in m["per"].values()), _t5_all(m["per"])),
    ),
    source="dyck_scan/spectral/loss_decomposition.py::compute_stability_coefficient "
    "(split-half); the ‖λ(t) − λ(t−1)‖ variant of docs/thesis.md §3 is not in the stored scripts",
)


# --- T6 ----------------------------------------------------------------------------------------


def _t6_one(v: RunView) -> dict:
    _, g = ms.series(v, "gap")
    try:
        return {"wd": ms.weight_decay_run(v.tags), **random_walk_damping_null(g)}
    except SpectralEdgeError as exc:
        raise NotRun(f"{v.name}: {exc}") from None


def _t6_measure(views):
    m = ms.per_run(views, _t6_one, "no run has enough full windows for the damping test")
    if not any(x["wd"] for x in m["per"].values()):
        raise NotRun("no weight-decay run has enough full windows for the damping test")
    return m


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


def _coupling_one(v: RunView) -> dict:
    return {
        "family": ms.family_of(v).split("/")[0],
        "params": v.tags.get("params"),
        "window": v.window,
        "author": ms.coupling(v, "r23", "test_loss", ms.AUTHOR_LAGS),
        "ours": ms.coupling(v, "gap", "train_loss", ms.OUR_LAGS),
    }


def coupling_measure(views):
    """Both readings of the gap–loss coupling on each run: the author's (r23 vs validation loss,
    lags −3..5) and ours (σ-gap vs training loss, lags ±5), each with its null."""
    return ms.per_run(views, _coupling_one, "no run has enough aligned (series, loss) points")


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
    """Weight-decay runs, and of the language models only the W = 10 all-parameter one."""
    if tags.get("family") == "lm":
        return tags.get("window") == 10 and tags.get("params") == "all"
    return ms.weight_decay_run(tags)


T7 = Prediction(
    "T7",
    "gap–loss coupling |r| > 0.3 (detrended)",
    "0.67; GPT-2 σ3/σ4 0.870",
    Select("weight-decay or language-model run", _t7_keep),
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


PREDICTIONS = (T5, T6, T7, T8)

__all__ = ["P_BAR", "PREDICTIONS", "coupling_measure", "coupling_rule", "coupling_text"]
