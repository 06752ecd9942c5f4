"""Every prediction on synthetic stored runs whose verdict is known under both readings.

Each case writes runs with the real store API (and, where a reading needs them, the weight and
update files a real run saves beside the store), evaluates one prediction, and checks the pair
(paper's verdict, strict verdict). Most cases are built on one divergence between the author's
definition and the strict one, so that the two verdicts differ for a known reason.
"""

import numpy as np
import pytest
import torch

from spectral_edge.reproduce.predictions import BY_ID, ORDER, Runs, evaluate
from spectral_edge.store import open_store

C, NC, NR = "confirmed", "not confirmed", "not run"
STEPS = np.arange(10, 1010, 10)
W = 10


def add(
    store, name, tags, windows=None, metrics=None, events=(), train=None, monitor=None, steps=STEPS
):
    """One finished scoring run: full windows (w = W unless given) and metrics at ``steps``."""
    tags = dict(tags)
    probes = tags.pop("_probes", {})
    cfg = {
        "train": {
            "monitor_window": W,
            "monitor_every": 10,
            "eval_every": 10,
            "lr": 1e-3,
            "warmup": 0,
            "scaled_down": True,
            **(train or {}),
        },
        "monitor": {"ratio_floor_used": 1e-3, "n_params": 90_000, **(monitor or {})},
        "reproduce": {"tags": {"role": "score", **tags}, "probes": probes},
        "suite": "t",
    }
    run = store.create_run(name, config=cfg)

    def rows(cols):
        cols = {k: np.broadcast_to(np.asarray(v, float), steps.shape) for k, v in cols.items()}
        return [(int(s), {k: float(c[i]) for k, c in cols.items()}) for i, s in enumerate(steps)]

    if windows is not None:
        run.log_windows(rows({"w": cfg["train"]["monitor_window"], **windows}))
    for step, values in rows(metrics or {}):
        if values:
            run.log_metrics(step, values)
    for step, kind, evidence in events:
        run.log_event(step, kind, kind, evidence)
    run.finish()


def verdicts(tmp_path, pid, build):
    with open_store(tmp_path / "s") as store:
        build(store)
        rec = evaluate(Runs.from_store(store, "t"), {pid})[0]
    assert rec.id == pid
    return rec.paper.verdict, rec.strict.verdict, rec


def walk(seed):
    return np.cumsum(np.random.default_rng(seed).standard_normal(len(STEPS)))


NOISE = np.random.default_rng(0).standard_normal(len(STEPS))
GROK = np.where(STEPS >= 500, 1.0, 0.1)
NO_GROK = np.full(len(STEPS), 0.1)


def hump(peak, rise_at=100, fall_at=600, floor=1.0):
    """A ratio series: floor, a linear rise to ``peak`` by rise_at + 100, then a fall at fall_at."""
    t = STEPS.astype(float)
    up = floor + (peak - floor) * np.clip((t - rise_at) / 100, 0, 1)
    return np.where(t < fall_at, up, floor)


# --- T1–T8 ------------------------------------------------------------------------------------


def test_t1_an_unresolved_sigma_w_is_undefined_for_the_paper_and_a_failure_for_the_skeptic(
    tmp_path,
):
    lost = (STEPS % 200) == 0  # 5 windows whose σ_W sits below the Gram's resolution
    paper, strict, rec = verdicts(
        tmp_path,
        "T1",
        lambda s: add(
            s,
            "a",
            {"for": ["T1"]},
            {
                "bbp_ratio": np.where(lost, 0.0, 8.0),
                "sigma_1": 1.0,
                "sigma_10": np.where(lost, 1e-6, 0.5),
            },
        ),
    )
    assert (paper, strict) == (C, NC)
    assert "5 with σ_W below the Gram's resolution" in rec.paper.measured
    assert "ceiling (P/(W−1))^(1/4) 10" in rec.paper.measured  # (90000/9)^(1/4)


def test_t1_both_fail_below_five(tmp_path):
    def build(s):
        return add(s, "a", {"for": ["T1"]}, {"bbp_ratio": 3.0, "sigma_1": 1, "sigma_10": 1})

    assert verdicts(tmp_path, "T1", build)[:2] == (NC, NC)


@pytest.mark.parametrize(
    "weighted, plain, expect", [(1, 6, (C, NC)), (1, 2, (C, C)), (5, 2, (NC, C))]
)
def test_t2_weighted_last_window_against_plain_in_every_window(tmp_path, weighted, plain, expect):
    tags = {"for": ["T2"], "family": "modarith"}

    def build(s):
        return add(s, "a", tags, {"k_star_weighted": weighted, "k_star": plain})

    assert verdicts(tmp_path, "T2", build)[:2] == expect


def _hessian(eigenvalues, q50, at="grok"):
    q = {"q05": q50 / 10, "q25": q50 / 2, "q50": q50, "q75": 2 * q50, "q95": 10 * q50}
    return (
        500,
        "probe:hessian",
        {"eigenvalues": eigenvalues, "lr": 1e-3, "at": at, "adam_step_quantiles": q},
    )


def test_t3_base_lr_holds_while_adams_step_makes_the_bound_vacuous(tmp_path):
    # 1/(η·W·every) = 1/(1e-3·10·10) = 10: two eigenvalues clear it, k* = 2 holds. Adam's median
    # step 0.1 lowers the threshold to 0.1: every eigenvalue clears it, so the bound cannot fail.
    tags = {"for": ["T3"], "_probes": {"hessian": {}}}

    def build(s):
        return add(s, "a", tags, {"k_star": 2}, events=[_hessian([50, 20, 5, 1], 0.1)])

    paper, strict, rec = verdicts(tmp_path, "T3", build)
    assert (paper, strict) == (C, NC)
    assert "vacuous" in rec.strict.measured


def test_t3_a_bound_that_could_fail_and_holds(tmp_path):
    eig = [50, 20, 5, 1.5] + [0.01] * 6  # Adam step 0.01: threshold 1 → n_K = 4 < W − 1
    tags = {"for": ["T3"], "_probes": {"hessian": {}}}

    def build(s):
        return add(s, "a", tags, {"k_star": 2}, events=[_hessian(eig, 0.01)])

    assert verdicts(tmp_path, "T3", build)[:2] == (C, C)


def test_t3_is_read_at_grokking_not_at_the_end(tmp_path):
    tags = {"for": ["T3"], "_probes": {"hessian": {}}}

    def build(s):
        return add(s, "a", tags, {"k_star": 1}, events=[_hessian([1e-5], 1e-3, "end")])

    paper, strict, rec = verdicts(tmp_path, "T3", build)
    assert (paper, strict) == (NR, NR) and "grokking" in rec.paper.reason


LM = {"family": "lm", "optimizer": "adamw", "params": "all", "window": 10}


def test_t4_author_needs_no_peak_above_tau_ours_does(tmp_path):
    # r23 rises to 1.15 and falls back: the author's detector calls the first window after the
    # peak below τ = 1.2 a collapse; ours says no edge ever formed
    def build(s):
        return add(s, "lm", {"for": ["T7"], **LM}, {"r23": hump(1.15)})

    assert verdicts(tmp_path, "T4", build)[:2] == (C, NC)


def test_t4_reads_r23_not_the_max_ratio(tmp_path):
    # R stays at 3 (a max ratio rarely falls below 1.2) while r23 rises and collapses
    tags = {"for": ["T4"], "wd": True, "family": "modarith", "op": "add"}
    paper, strict, rec = verdicts(
        tmp_path, "T4", lambda s: add(s, "a", tags, {"r23": hump(2.5), "gap_ratio": 3.0})
    )
    assert strict == C and paper == NR  # the author claims T4 only on language models
    assert "modarith/add 1/1" in rec.strict.measured


def test_t4_reads_full_windows_only(tmp_path):
    # the filling windows (w < W) carry the largest r23; on full windows the hump is clean
    w = np.where(STEPS < 100, 5, W)

    def build(s):
        return add(
            s, "lm", {"for": ["T7"], **LM}, {"r23": np.where(STEPS < 100, 9.0, hump(2.5)), "w": w}
        )

    assert verdicts(tmp_path, "T4", build)[:2] == (C, C)


def test_t5_split_half_is_ordered_while_davis_kahan_ties_at_zero(tmp_path):
    sig = {
        f"sigma_{j}": v for j, v in enumerate([10, 5, 4.9, 4.8, 4.7, 4.6, 4.5, 4.4, 4.3, 4.2], 1)
    }
    split = {
        "alpha_split_1": 0.9,
        "alpha_split_2": 0.5,
        "alpha_split_3": 0.1,
        "alpha_split_4": 0.05,
    }
    windows = {**sig, **split, "delta_c": 5.0, "k_star": 1}
    paper, strict, rec = verdicts(tmp_path, "T5", lambda s: add(s, "a", {"for": ["T5"]}, windows))
    assert (paper, strict) == (C, NC)
    assert "the bound" in rec.strict.measured and "not a bound" in rec.strict.measured


def test_t6_a_random_walk_is_negative_but_not_damped(tmp_path):
    def build(s):
        add(s, "wd", {"for": ["T6"], "wd": True}, {"gap": 5 + walk(7)})
        add(s, "ctl", {"for": ["T6"], "wd": False}, {"gap": 5 + walk(8)})

    assert verdicts(tmp_path, "T6", build)[:2] == (C, NC)


def test_t6_a_damped_gap_beats_the_random_walk(tmp_path):
    def build(s):
        return add(
            s,
            "wd",
            {"for": ["T6"], "wd": True},
            {"gap": 2 + 3 * np.exp(-STEPS / 200) + 0.01 * NOISE},
        )

    assert verdicts(tmp_path, "T6", build)[:2] == (C, C)


def test_t7_smooth_unrelated_series_pass_the_threshold_but_not_the_null(tmp_path):
    # two independent random walks: |r| > 0.3 after the detrend, p > 0.05 against surrogates
    x, y = (np.cumsum(r) for r in np.random.default_rng(1014).standard_normal((2, 100)))
    win = {"r23": 3 + x, "gap": 3 + x}

    def build(s):
        return add(s, "a", {"for": ["T7"]}, win, {"test_loss": 9 + y, "train_loss": 9 + y})

    assert verdicts(tmp_path, "T7", build)[:2] == (C, NC)


def test_t7_coupled_noise_passes_both(tmp_path):
    win = {"r23": 3 + NOISE, "gap": 3 + NOISE}
    met = {"test_loss": 5 - NOISE, "train_loss": 5 - NOISE}
    assert verdicts(tmp_path, "T7", lambda s: add(s, "a", {"for": ["T7"]}, win, met))[:2] == (C, C)


def test_t8_rules_absolute_against_signed():
    # predicted (1, −2, 3, −4, 5) against actual (−1, 2, −3, 4, −5): the absolute values the
    # author ranks agree perfectly, the signs we rank are all wrong
    author = [{"step": s, "modes": 5, "spearman_abs": 1.0, "pearson_abs": 1.0} for s in (400, 600)]
    ours = [{"step": 600, "spearman": -1.0, "p": 1.0}]
    m = {"per": {"a": {"grok": 500, "author": author, "ours": ours}}}
    p = BY_ID["T8"]
    assert p.paper.judge(m).holds and not p.strict.judge(m).holds
    assert "step 400 (before)" in p.paper.judge(m).measured
    assert "step 600 (at)" in p.paper.judge(m).measured


# --- C1–C12 -----------------------------------------------------------------------------------

DECLINE = np.where(STEPS < 200, STEPS / 10.0, np.maximum(20.0 - (STEPS - 200) / 10.0, 0.5))


def pair(store, pid, family, wd_win, ctl_win, wd_met, ctl_met, seed=1, op="add"):
    t = {"for": [pid], "family": family, "op": op, "seed": seed}
    add(store, f"{family}-{op}-wd-{seed}", {**t, "wd": True}, wd_win, wd_met)
    add(store, f"{family}-{op}-wd0-{seed}", {**t, "wd": False}, ctl_win, ctl_met)


def test_c1_the_authors_controls_cannot_fail_the_paired_ones_can(tmp_path):
    def build(s):
        # both runs' g23 collapse; the control never groks, so the author never measures it
        pair(
            s,
            "C1",
            "modarith",
            {"g23": DECLINE},
            {"g23": DECLINE},
            {"test_acc": GROK},
            {"test_acc": NO_GROK},
        )
        # a family that never grokked is reported apart, not counted
        pair(
            s,
            "C1",
            "dyck",
            {"g23": 1.0},
            {"g23": 1.0},
            {"test_acc": NO_GROK},
            {"test_acc": NO_GROK},
        )

    paper, strict, rec = verdicts(tmp_path, "C1", build)
    assert (paper, strict) == (C, NC)
    assert [a[0] for a in rec.apart] == ["dyck"] and not any("dyck" in r for r in rec.runs)
    assert "online warning" in rec.strict.measured


def test_c1_a_flat_control_passes_both(tmp_path):
    def build(s):
        return pair(
            s,
            "C1",
            "modarith",
            {"g23": DECLINE},
            {"g23": 1.0},
            {"test_acc": GROK},
            {"test_acc": NO_GROK},
        )

    assert verdicts(tmp_path, "C1", build)[:2] == (C, C)


def test_c2_is_read_at_matched_validation_loss(tmp_path):
    def build(s):
        ad = {"k_star_weighted": 2, "k_star": 1}
        # Muon reaches the AdamW run's best loss at step 500 with k* 1, then moves to k* 3
        mu = {"k_star_weighted": np.where(STEPS <= 500, 1, 3), "k_star": 1}
        base = {"for": ["C2"], "family": "lm", "window": 10, "params": "all"}
        add(s, "adamw", {**base, "optimizer": "adamw"}, ad, {"test_loss": 3 - STEPS / 500})
        add(s, "muon", {**base, "optimizer": "muon"}, mu, {"test_loss": 3 - STEPS / 250})

    paper, strict, rec = verdicts(tmp_path, "C2", build)
    assert (paper, strict) == (C, NC)  # weighted k* 2 vs 1 at the match; plain k* is 1 for both
    assert "Muon 500)" in rec.paper.measured


def test_c3_rules_mean_r23_against_the_median_gap_interval():
    rows = [
        {"run": "a", "step": s, "err_r23": 0.08, "err_r12": 0.05, "err_gap_ratio": 0.06}
        for s in range(10)
        for _ in range(3)
    ]
    probe = {
        "a": {"n_updates": 30, "gaussian": {"err_gap_ratio": 0.06}, "fold": {"err_gap_ratio": 0.04}}
    }
    m = {"rows": rows, "probe": probe}
    p = BY_ID["C3"]
    assert p.paper.judge(m).holds and not p.strict.judge(m).holds


def test_c3_reads_the_saved_windows(tmp_path):
    rng = np.random.default_rng(0)
    root = tmp_path / "s"
    (root / "probes" / "a").mkdir(parents=True)
    for step in (500, 1000):
        x = rng.standard_normal((W, 3000)) * np.geomspace(5, 0.5, W)[:, None]
        np.save(root / "probes" / "a" / f"updates-step-{step:07d}.npy", x.astype(np.float32))
    event = (
        1000,
        "probe:updates",
        {"n_updates": 30, "gaussian": {"err_gap_ratio": 0.03}, "fold": {"err_gap_ratio": 0.02}},
    )

    def build(s):
        return add(s, "a", {"for": ["C3"], "_probes": {"updates": {}}}, events=[event])

    paper, strict, rec = verdicts(tmp_path, "C3", build)
    assert paper in (C, NC)
    assert "6 (window, seed) pairs" in rec.paper.measured  # 2 windows × 3 sketch seeds
    assert strict == NR and "an interval needs 5" in rec.strict.reason


def test_c4_author_flips_ours_does_not(tmp_path):
    def build(s):
        for w, shift in ((10, -1), (20, 1)):
            win = {"r23": 3 + NOISE, "gap": 3 + NOISE}
            met = {"test_loss": 5 - np.roll(NOISE, shift), "train_loss": 5 - np.roll(NOISE, 2)}
            add(
                s,
                f"w{w}",
                {"for": ["C4"], **LM, "window": w},
                win,
                met,
                train={"monitor_window": w},
            )

    paper, strict, rec = verdicts(tmp_path, "C4", build)
    assert (paper, strict) == (C, NC)


def test_c5_a_jump_the_twin_also_shows_is_no_detection(tmp_path):
    def build(s):
        jump = np.where(STEPS < 500, 1.0, 5.0)
        win = {"r23": 2 * jump * (1 + 0.01 * NOISE), "sigma_1": jump * (1 + 0.01 * NOISE)}
        add(s, "shift", {"for": ["C5"], "family": "lm-shift"}, win, train={"shift_step": 500})
        twin = {"r23": 2 + 0.01 * NOISE, "sigma_1": np.where(STEPS < 800, 1.0, 50.0)}
        add(s, "twin", {"for": ["T7"], **LM}, twin)

    paper, strict, rec = verdicts(tmp_path, "C5", build)
    assert (paper, strict) == (C, NC)
    assert "unshifted twin" in rec.strict.null


def test_c6_layer_coupling_under_both_readings(tmp_path):
    def build(s):
        for layer in (0, 1):
            loose = 5 - NOISE + 2 * np.random.default_rng(layer).standard_normal(len(STEPS))
            win = {"r23": 3 + NOISE, "gap": 3 + NOISE}
            add(
                s,
                f"l{layer}",
                {"for": ["C6"], "params": f"layer:{layer}"},
                win,
                {"test_loss": 5 - NOISE, "train_loss": loose},
            )

    assert verdicts(tmp_path, "C6", build)[:2] == (C, NC)


def test_c7_author_collapses_in_every_seed_ours_never_forms(tmp_path):
    def build(s):
        for seed, fall in ((1, 500), (2, 700), (3, 900)):
            tags = {"for": ["C7"], "family": "modarith", "op": "add", "seed": seed, "wd": True}
            add(s, f"s{seed}", tags, {"r23": hump(1.15, fall_at=fall)})

    paper, strict, rec = verdicts(tmp_path, "C7", build)
    assert (paper, strict) == (C, NC)
    assert "3/3 seeds" in rec.paper.measured


def _defect(onset):
    return np.where(STEPS >= onset, 100.0, 1.0) if onset else np.ones(len(STEPS))


def _c8(wd_metrics, ctl_metrics):
    def build(s):
        pair(s, "C8", "modarith", None, None, wd_metrics, ctl_metrics)

    return build


def test_c8_controls_that_fire_fail_only_the_strict_reading(tmp_path):
    build = _c8(
        {"test_acc": GROK, "commutator_defect": _defect(300)},
        {"test_acc": NO_GROK, "commutator_defect": _defect(300)},
    )
    paper, strict, rec = verdicts(tmp_path, "C8", build)
    assert (paper, strict) == (C, NC)
    assert "false-alarm rate on controls 1/1" in rec.strict.null


def test_c8_an_onset_between_90_and_95_percent(tmp_path):
    acc = np.where(STEPS >= 700, 0.99, np.where(STEPS >= 400, 0.92, 0.1))
    build = _c8(
        {"test_acc": acc, "commutator_defect": _defect(500)},
        {"test_acc": NO_GROK, "commutator_defect": _defect(None)},
    )
    assert verdicts(tmp_path, "C8", build)[:2] == (NC, C)


def test_c9_a_fixed_onset_gives_alpha_above_one_but_no_tracking(tmp_path):
    def build(s):
        for i, grok in enumerate((200, 300, 450, 650, 900)):
            metrics = {
                "test_acc": np.where(STEPS >= grok, 1.0, 0.1),
                "commutator_defect": _defect(100 + 10 * (i % 2)),
            }
            add(s, f"lr{i}", {"for": ["C9"], "family": "lrsweep"}, None, metrics)

    paper, strict, rec = verdicts(tmp_path, "C9", build)
    assert (paper, strict) == (C, NC)
    assert "onset slope β" in rec.strict.measured


TINY = {
    "task": "modular",
    "op": "add",
    "p": 7,
    "train_fraction": 0.5,
    "data_seed": 0,
    "model": "modular-transformer",
    "model_args": "d_model=8,n_heads=2,d_ff=16",
}


def _tiny_model():
    from spectral_edge.lab.presets import config_from_dict
    from spectral_edge.lab.trainer import make_task

    return make_task(config_from_dict(TINY)).build_model()


def _save_trajectory(root, name, thetas, steps):
    """Weight files of the tiny transformer with its parameters set to each θ in turn."""
    from spectral_edge.reproduce.probes.model import assign, parameters

    model = _tiny_model()
    ps = parameters(model)
    (root / "weights" / name).mkdir(parents=True)
    with torch.no_grad():
        for step, theta in zip(steps, thetas, strict=True):
            assign(ps, theta)
            torch.save(
                {"step": step, "model": model.state_dict()},
                root / "weights" / name / f"step-{step:07d}.pt",
            )


def _attention_mask():
    from spectral_edge.reproduce.probes.model import parameters
    from spectral_edge.snapshot import select_parameters

    model = _tiny_model()
    attn = {id(p) for _, p in select_parameters(model, "attention")}
    return np.concatenate([np.full(p.numel(), id(p) in attn) for p in parameters(model)])


def test_c10_one_jittering_matrix_passes_the_average_not_the_null(tmp_path):
    from spectral_edge.reproduce.probes.model import flat, parameters

    rng = np.random.default_rng(0)
    theta0 = flat(parameters(_tiny_model()))
    steps = list(range(0, 1200, 100))
    mask = _attention_mask()
    direction = rng.standard_normal(theta0.size) * mask
    jitter_cols = np.flatnonzero(mask)[:64]  # the first attention matrix jitters in place
    thetas = []
    for i, _ in enumerate(steps):
        th = theta0 + i * direction
        th[jitter_cols] = theta0[jitter_cols] + rng.standard_normal(64)
        thetas.append(th)
    _save_trajectory(tmp_path / "s", "m", thetas, steps)
    acc = np.where(STEPS >= 500, 0.99, 0.1)
    tags = {"for": ["C1"], "family": "modarith", "wd": True, "op": "add", "seed": 1}
    # the heavy run's own trajectory probe (all parameters, whole run) is reported beside
    probe = (1100, "probe:trajectory", {"manifold": {"pc1_share": 0.7}, "pca": {}})
    tags = {**tags, "_probes": {"trajectory": {}}}

    def build(s):
        add(s, "m", tags, None, {"test_acc": acc}, events=[probe], train=TINY)

    paper, strict, rec = verdicts(tmp_path, "C10", build)
    assert (paper, strict) == (C, NC)
    assert "7/8 matrices above it" in rec.strict.null
    assert "over the whole run 70.0 %" in rec.paper.measured


class _Oracle:
    """A stand-in task whose accuracy is a known function of the parameters (test double)."""

    def __init__(self, model, target, acc):
        from spectral_edge.reproduce.probes.model import flat, parameters

        self.ps, self.target, self.acc, self.flat = parameters(model), target, acc, flat

    def evaluate(self, model, splits=("train", "test")):
        close = np.linalg.norm(self.flat(self.ps) - self.target) < 1e-3
        return {"test_acc": self.acc if close else 0.1}


def test_c11_recovering_92_percent_passes_the_authors_bar_not_the_theses(tmp_path, monkeypatch):
    from spectral_edge.reproduce import offline
    from spectral_edge.reproduce.probes.model import flat, parameters

    theta0 = flat(parameters(_tiny_model()))
    final = theta0 + np.random.default_rng(1).standard_normal(theta0.size)
    steps = list(range(0, 700, 100))  # the author's stop: the first weights after 3 × ≥ 0.98
    thetas = [theta0 + (final - theta0) * i / (len(steps) - 1) for i in range(len(steps))]
    _save_trajectory(tmp_path / "s", "m", thetas, steps)

    def fake(view):
        model = _tiny_model()
        return model, _Oracle(model, final, 0.92)

    monkeypatch.setattr(offline, "_model_and_task", fake)
    acc = np.where(STEPS >= 500, 0.99, 0.1)
    tags = {"for": ["C1"], "family": "modarith", "wd": True, "op": "add", "seed": 1}
    paper, strict, rec = verdicts(
        tmp_path, "C11", lambda s: add(s, "m", tags, None, {"test_acc": acc}, train=TINY)
    )
    # the straight path is one uncentred and one centred PC; 0.92 clears 0.90, not 0.95
    assert (paper, strict) == (C, NC)
    assert "per run: 1 " in rec.paper.measured and "per run: >6" in rec.strict.measured


def test_c12_lockin_before_99_percent_after_our_plateau(tmp_path):
    t = np.arange(20, 301)
    r23 = np.where(t < 120, 1.05, np.minimum(1.05 * np.exp(0.05 * (t - 120)), 3.0))
    acc = np.where(t >= 150, 0.995, np.where(t >= 100, 0.96, 0.1))

    def build(s):
        for seed in (1, 2, 3):
            tg = {"for": ["C12"], "family": "lockin", "op": "add", "seed": seed}
            train = {"monitor_window": 20, "monitor_every": 1}
            add(
                s,
                f"wd{seed}",
                {**tg, "wd": True},
                {"r23": r23, "w": 20},
                {"test_acc": acc},
                train=train,
                steps=t,
            )
            add(
                s,
                f"ctl{seed}",
                {**tg, "wd": False},
                {"r23": 1.05, "w": 20},
                {"test_acc": 0.05},
                train=train,
                steps=t,
            )

    paper, strict, rec = verdicts(tmp_path, "C12", build)
    # the slope detector fires at epoch 130, before 99 % (150): a lag of −20 for the author;
    # our plateau starts after 95 % (100)
    assert (paper, strict) == (NC, C)
    assert "minus grokking -20 epochs" in rec.paper.measured


# --- the table as a whole -----------------------------------------------------------------------


def test_every_prediction_is_one_entry_in_order():
    assert list(BY_ID) == ORDER
    for p in BY_ID.values():
        assert p.paper.text and p.strict.text and p.source and p.figure


def test_empty_store_is_not_run_under_both_readings(tmp_path):
    with open_store(tmp_path) as store:
        recs = evaluate(
            Runs.from_store(store, "t", {"planned-run": {"for": ["C1"], "role": "score"}})
        )
    assert [r.id for r in recs] == ORDER
    assert all(r.paper.verdict == r.strict.verdict == NR and r.paper.reason for r in recs)
    assert "planned-run" in next(r for r in recs if r.id == "C1").paper.reason


def test_record_dict_is_flat(tmp_path):
    with open_store(tmp_path) as store:
        add(store, "a", {"for": ["T2"], "family": "modarith"}, {"k_star_weighted": 1, "k_star": 1})
        rec = evaluate(Runs.from_store(store, "t"), {"T2"})[0]
    d = rec.to_dict()
    assert {
        "id",
        "statement",
        "figure",
        "paper_verdict",
        "strict_verdict",
        "paper_measured",
        "strict_null",
        "runs",
        "apart",
        "scale",
        "source",
    } <= set(d)
    assert d["paper_verdict"] == C and d["runs"] == ["a"]
    assert all(not isinstance(v, dict) for v in d.values())
