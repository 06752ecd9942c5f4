"""SpectralMonitor on a tiny MLP trained with AdamW, checked against θ_t collected by hand.

Every reference here is rebuilt from explicit parameter vectors: differences, windows, SVDs and
P×P matrices in float64 numpy, never from the monitor's own state.
"""

from __future__ import annotations

import io
import math
import warnings
from dataclasses import asdict

import numpy as np
import pandas as pd
import pytest
import torch
from _numerics import (
    EPS,
    U32,
    argmax_candidates,
    gram_eig_err,
    gram_tol,
    ratio_rel_err,
    sigma_err,
    sum_tol,
    svd_err,
)
from torch import nn

from spectral_edge import SpectralEdgeError, SpectralMonitor, __version__, make_sketch, spectrum
from spectral_edge.core.gram import batch_gram
from spectral_edge.dynamics import GapWarning, GapWarningConfig, PhaseTracker
from spectral_edge.dynamics.early_warning import DEFAULT_RULE, EarlyWarning, WarningRule, replay
from spectral_edge.monitor import Event, WindowRecord, learning_rate, resolution_floor
from spectral_edge.store import RunStore, open_store

LR = 1e-2


# --------------------------------------------------------------------------------------------
# Training helpers


def make_model(seed: int = 0, dtype=torch.float32, hidden: int = 16, width: int = 6) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(width, hidden), nn.Tanh(), nn.Linear(hidden, 3)).to(dtype)


def make_opt(model, lr=LR, **kw):
    return torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.1, **kw)


def train_step(model, opt, step: int) -> float:
    p0 = next(model.parameters())
    g = torch.Generator().manual_seed(1000 + step)
    x = torch.randn(32, model[0].in_features, generator=g).to(p0.dtype)
    y = torch.randn(32, 3, generator=g).to(p0.dtype)
    opt.zero_grad()
    loss = ((model(x) - y) ** 2).mean()
    loss.backward()
    opt.step()
    return loss.item()


def theta(model) -> np.ndarray:
    """θ in the monitor's layout (name-sorted), widened exactly to float64."""
    named = sorted(model.named_parameters(), key=lambda item: item[0])
    return np.concatenate([p.detach().double().reshape(-1).numpy() for _, p in named])


def problems(mon) -> list[tuple[int, str]]:
    """The monitor's events other than the online phase and warning ones."""
    return [(e.step, e.kind) for e in mon.events if e.kind not in ("phase", "warning")]


def train(model, opt, steps, monitor=None, start=1, observe=True, lr_arg=True):
    """Train; returns {step: θ_step}. Calls monitor.observe(step, lr) after each step."""
    thetas = {}
    for t in range(start, start + steps):
        train_step(model, opt, t)
        thetas[t] = theta(model)
        if monitor is not None and observe:
            monitor.observe(t, lr=opt.param_groups[0]["lr"] if lr_arg else None)
    return thetas


def diffs_at(thetas: dict, snaps: list[int]) -> dict:
    """{step: δ_step} for consecutive snapshot steps."""
    return {b: thetas[b] - thetas[a] for a, b in zip(snaps[:-1], snaps[1:], strict=True)}


def windows_of(deltas: dict, w: int) -> dict:
    """{step: (X_t, X_{t-1})} for every step with at least two updates in the window."""
    steps = sorted(deltas)
    out = {}
    for i, s in enumerate(steps):
        cur = [deltas[t] for t in steps[max(0, i + 1 - w) : i + 1]]
        prev = [deltas[t] for t in steps[max(0, i - w) : i]]
        if len(cur) >= 2:
            out[s] = (np.stack(cur), np.stack(prev) if prev else np.zeros((0, cur[0].size)))
    return out


def sigma_cols(df: pd.DataFrame, w: int) -> np.ndarray:
    return df[[f"sigma_{j}" for j in range(1, w + 1)]].to_numpy()


GRAM_RTOL = 2 * U32 + gram_tol(10**4)


def monitor_lam_err(x: np.ndarray) -> float:
    """How far the monitor's eigenvalues may be from those of the float64 differences x: it
    stores each δ in float32 (within U32 of x, entry by entry), so its Gram is off by at most
    2·U32·‖a‖‖b‖ per entry, 2·U32·Σ‖δ_i‖² in norm, then float64 round-off (tests/_numerics.py)."""
    lam1 = float(np.linalg.svd(x, compute_uv=False)[0]) ** 2
    return 2 * U32 * float(np.sum(x * x)) + gram_eig_err(x.shape[0], x.shape[1], lam1)


def monitor_sigma_err(x: np.ndarray, sigma: np.ndarray | None = None) -> np.ndarray:
    """Per-mode bound on the monitor's σ against the SVD of x (or of σ given, e.g. centred)."""
    s = np.linalg.svd(x, compute_uv=False) if sigma is None else sigma
    return sigma_err(monitor_lam_err(x), s) + svd_err(x.shape[0], x.shape[1], float(s[0]))


def close_gram(got, ref, rtol=GRAM_RTOL):
    """The monitor's Gram against float64 differences of θ snapshots: the monitor stores δ in
    float32 (for float32 parameters), within U32 of the exact difference, so an entry is within
    2·U32·‖a‖‖b‖, plus float64 dots of at most ~10^4 terms here (tests/_numerics.py)."""
    scale = float(np.max(np.abs(np.diag(ref))))
    np.testing.assert_allclose(got, ref, rtol=0, atol=rtol * scale)


@pytest.fixture(scope="module")
def basic_run():
    """W=5, every step observed with the optimizer's lr, 30 AdamW steps."""
    model = make_model()
    opt = make_opt(model)
    mon = SpectralMonitor(model, window=5)
    thetas = train(model, opt, 30, mon)
    return mon, thetas


# --------------------------------------------------------------------------------------------
# The Gram and the spectrum against explicit parameter differences


def test_gram_equals_batch_gram_of_explicit_differences():
    w = 5
    model = make_model()
    opt = make_opt(model)
    mon = SpectralMonitor(model, window=w)
    assert mon.layout.numel == theta(model).size == 6 * 16 + 16 + 16 * 3 + 3
    thetas = {}
    for t in range(1, 31):
        train_step(model, opt, t)
        thetas[t] = theta(model)
        mon.observe(t)
        deltas = list(diffs_at(thetas, sorted(thetas)).values())
        if deltas:
            close_gram(mon.gram.gram(), batch_gram(deltas[-w:]))
        else:
            assert mon.gram.size == 0
    # the float32 differences the monitor takes agree with float64 ones to single precision
    assert mon.gram.gram().shape == (w, w)


def test_history_sigma_and_steps_match_svd_of_the_window(basic_run):
    mon, thetas = basic_run
    w = 5
    wins = windows_of(diffs_at(thetas, sorted(thetas)), w)
    df = mon.to_dataframe()
    assert df["step"].tolist() == sorted(wins) == list(range(3, 31))
    for _, row in df.iterrows():
        x, _ = wins[int(row["step"])]
        sv = np.linalg.svd(x, compute_uv=False)
        got = np.array([row[f"sigma_{j}"] for j in range(1, len(sv) + 1)])
        assert np.all(np.abs(got - sv) <= monitor_sigma_err(x))
        assert row["w"] == len(sv)
        # a filling window has NaN for the σ it does not have yet
        for j in range(len(sv) + 1, w + 1):
            assert math.isnan(row[f"sigma_{j}"])


@pytest.mark.parametrize("every", [1, 3, 4])
def test_every_n_snapshots_only_at_multiples_of_n(every):
    w = 4
    model = make_model()
    opt = make_opt(model)
    mon = SpectralMonitor(model, window=w, every=every)
    thetas = {}
    for t in range(1, 31):
        train_step(model, opt, t)
        thetas[t] = theta(model)
        rec = mon.observe(t, lr=LR)
        if t % every:
            assert rec is None
    snaps = [t for t in thetas if t % every == 0]
    deltas = diffs_at(thetas, snaps)
    df = mon.to_dataframe()
    assert df["step"].tolist() == snaps[2:]
    assert all(s % every == 0 for s in df["step"])
    close_gram(mon.gram.gram(), batch_gram(list(deltas.values())[-w:]))


def test_every_n_with_attach_counts_optimizer_steps():
    model = make_model()
    opt = make_opt(model)
    mon = SpectralMonitor(model, window=3, every=5).attach(opt)
    thetas = train(model, opt, 40, observe=False)
    snaps = [t for t in thetas if t % 5 == 0]
    assert mon.to_dataframe()["step"].tolist() == snaps[2:]
    assert mon.steps_observed == 40
    close_gram(mon.gram.gram(), batch_gram(list(diffs_at(thetas, snaps).values())[-3:]))


def test_attach_equals_explicit_observe_calls():
    a_model, b_model = make_model(), make_model()
    a_opt, b_opt = make_opt(a_model), make_opt(b_model)
    a = SpectralMonitor(a_model, window=4).attach(a_opt)
    b = SpectralMonitor(b_model, window=4)
    train(a_model, a_opt, 25, observe=False)
    train(b_model, b_opt, 25, b)
    pd.testing.assert_frame_equal(a.to_dataframe(), b.to_dataframe(), check_exact=True)
    assert a.latest.step == b.latest.step == 25


def test_detach_stops_observing():
    model = make_model()
    opt = make_opt(model)
    mon = SpectralMonitor(model, window=3).attach(opt)
    train(model, opt, 6, observe=False)
    mon.detach()
    mon.detach()  # idempotent
    train(model, opt, 6, start=7, observe=False)
    assert mon.steps_observed == 6
    assert mon.to_dataframe()["step"].max() == 6


def test_bfloat16_and_float16_models():
    for dtype in (torch.bfloat16, torch.float16):
        model = make_model(dtype=dtype)
        opt = torch.optim.SGD(model.parameters(), lr=0.1)  # AdamW eps underflows in fp16
        mon = SpectralMonitor(model, window=4)
        thetas = train(model, opt, 10, mon)
        deltas = list(diffs_at(thetas, sorted(thetas)).values())
        close_gram(mon.gram.gram(), batch_gram(deltas[-4:]))
        assert np.all(np.isfinite(sigma_cols(mon.to_dataframe(), 4)[-1]))


# --------------------------------------------------------------------------------------------
# Sketch path


def big_run(mon_kwargs: dict, steps=14, w=5):
    model = make_model(hidden=64, width=32)  # P = 2048 + 64 + 192 + 3 = 2307
    opt = make_opt(model)
    mon = SpectralMonitor(model, window=w, **mon_kwargs)
    thetas = train(model, opt, steps, mon)
    return model, mon, thetas


def test_sketch_path_is_the_exact_gram_of_sketched_differences():
    d, seed = 256, 7
    model, mon, thetas = big_run({"sketch_dim": d, "seed": seed})
    sk = make_sketch("fold", d, seed)
    sketches = [sk.apply(torch.from_numpy(thetas[t]).float()) for t in sorted(thetas)]
    deltas = [b - a for a, b in zip(sketches[:-1], sketches[1:], strict=True)]
    # S(θ) is summed along another path by the monitor (its pieces) than here: each entry
    # within γ_P·Σ|θ| (P = 2307), and S(θ_t) − S(θ_{t−1}) keeps that absolute error although
    # it is far smaller than S(θ): relative to ‖δ‖, an entry of the Gram moves by
    # 2·√d·(2·γ_P·Σ|θ|)·max‖δ‖ (tests/_numerics.py).
    e = 2 * sum_tol(2307) * max(np.abs(t).sum() for t in thetas.values())
    scale = max(float(d @ d) for d in deltas[-5:])
    rtol = 2 * np.sqrt(d) * e / np.sqrt(scale) + gram_tol(d)
    close_gram(mon.gram.gram(), batch_gram(deltas[-5:]), rtol=rtol)
    assert mon.gram.dim == d


@pytest.mark.parametrize("sketch", ["fold", "gaussian"])
def test_sketch_path_is_close_to_exact_at_large_d(sketch):
    d = 2048 if sketch == "fold" else 512
    steps = 14 if sketch == "fold" else 9
    _, exact, thetas = big_run({}, steps=steps)
    ref = exact.to_dataframe()
    for seed in (0, 1) if sketch == "fold" else (0,):
        _, sk, _ = big_run({"sketch_dim": d, "seed": seed, "sketch": sketch}, steps=steps)
        got = sk.to_dataframe()
        assert got["step"].tolist() == ref["step"].tolist()
        # entries of the final Gram, relative to the norms: JL error ~ 1/√d
        g, gs = exact.gram.gram(), sk.gram.gram()
        norms = np.sqrt(np.outer(np.diag(g), np.diag(g)))
        assert np.max(np.abs(gs - g) / norms) < 5 / np.sqrt(d)
        # the leading singular values of every window (statistical: JL, ~1/√d = 2-4 %)
        s_ref, s_got = sigma_cols(ref, 5)[2:, :2], sigma_cols(got, 5)[2:, :2]
        np.testing.assert_allclose(s_got, s_ref, rtol=0.1)


def test_sketch_seed_is_recorded_and_deterministic():
    _, a, _ = big_run({"sketch_dim": 128, "seed": 3}, steps=8)
    _, b, _ = big_run({"sketch_dim": 128, "seed": 3}, steps=8)
    _, c, _ = big_run({"sketch_dim": 128, "seed": 4}, steps=8)
    pd.testing.assert_frame_equal(a.to_dataframe(), b.to_dataframe(), check_exact=True)
    assert not np.allclose(a.gram.gram(), c.gram.gram(), rtol=1e-9, atol=0)
    for mon, seed in ((a, 3), (c, 4)):
        desc = mon.describe()
        assert (desc["sketch_dim"], desc["sketch"], desc["seed"]) == (128, "fold", seed)
        assert mon.sketcher.config() == {"family": "fold", "dim": 128, "seed": seed}
    with pytest.raises(SpectralEdgeError, match="different configuration"):
        c.load_state_dict(a.state_dict())


# --------------------------------------------------------------------------------------------
# latest, to_dataframe


def test_latest_has_step_and_k_star(basic_run):
    mon, _ = basic_run
    rec = mon.latest
    assert isinstance(rec, WindowRecord)
    last = mon.to_dataframe().iloc[-1]
    assert rec.step == 30 == last["step"]
    ref = spectrum(mon.gram.gram(), n_params=mon.layout.numel)
    assert rec.k_star == ref.k_star == last["k_star"]
    assert 1 <= rec.k_star <= 4
    # the same Gram through the same code
    np.testing.assert_allclose(rec.sigma, ref.sigma, rtol=4 * EPS)
    assert rec.gap_ratio == pytest.approx(ref.gap_ratio, rel=8 * EPS)
    assert rec.adiabatic == last["adiabatic"]  # read through to the features
    assert rec.regime == last["regime"]
    with pytest.raises(AttributeError):
        _ = rec.no_such_feature


def test_latest_is_none_until_two_updates():
    model = make_model()
    opt = make_opt(model)
    mon = SpectralMonitor(model, window=3)
    assert mon.latest is None and mon.to_dataframe().empty
    for t in (1, 2):
        train_step(model, opt, t)
        assert mon.observe(t) is None
    assert mon.latest is None
    train_step(model, opt, 3)
    rec = mon.observe(3)
    assert rec is mon.latest and rec.step == 3 and rec.spectrum.w == 2


def test_to_dataframe_columns(basic_run):
    mon, _ = basic_run
    df = mon.to_dataframe()
    w = 5
    required = {
        "step",
        "w",
        "k_star",
        "k_star_plain",
        "k_star_weighted",
        "k_star_weighted_cut",
        "gap_ratio",
        "gap",
        "eigen_gap",
        "r12",
        "r23",
        "r34",
        "g23",
        "pc1_share",
        "k95",
        "drift_speed",
        "bbp_ratio",
        "delta_c",
        "lr",
        "adiabatic",
        "adiabatic_dk",
        "regime",
        "rotation_1",
        "max_angle_top3",
        *(f"sigma_{j}" for j in range(1, w + 1)),
        *(f"ratio_{j}" for j in range(1, w)),
        *(f"alpha_{j}" for j in range(1, 5)),
        *(f"dk_bound_{j}" for j in range(1, 5)),
        *(f"alpha_split_{j}" for j in range(1, w // 2 + 1)),  # split halves of w // 2
    }
    assert required <= set(df.columns)
    assert "sigma_6" not in df.columns
    assert df.columns[0] == "step" and df["step"].is_monotonic_increasing
    assert set(df["regime"]) <= {"plateau", "transition", "forgetting", "undefined"}
    full = df[df["w"] == w]
    assert np.all(np.isfinite(full[sorted(required - {"regime"})].iloc[1:].to_numpy(dtype=float)))
    # the rotation needs the union with a full previous window: NaN on the first full window
    assert np.isnan(full["rotation_1"].iloc[0]) and np.isfinite(full["rotation_1"].iloc[1])
    assert ((full["rotation_1"].iloc[1:] >= 0) & (full["rotation_1"].iloc[1:] <= 1)).all()


# --------------------------------------------------------------------------------------------
# Learning rate


def test_lr_from_the_attached_optimizer_follows_a_schedule():
    model = make_model()
    opt = make_opt(model)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=4, gamma=0.5)
    mon = SpectralMonitor(model, window=3).attach(opt)
    used = {}
    for t in range(1, 16):
        used[t] = opt.param_groups[0]["lr"]
        train_step(model, opt, t)
        sched.step()
    df = mon.to_dataframe()
    assert df["lr"].tolist() == [used[int(s)] for s in df["step"]]


def two_group_model():
    model = make_model()
    opt = torch.optim.AdamW(
        [
            {"params": model[0].parameters(), "lr": 1e-2},
            {"params": model[2].parameters(), "lr": 4e-2},
        ]
    )
    return model, opt


@pytest.mark.parametrize("policy, expect", [("first", 1e-2), ("max", 4e-2), ("mean", 2.5e-2)])
def test_lr_policy_with_two_param_groups(policy, expect):
    model, opt = two_group_model()
    mon = SpectralMonitor(model, window=3, lr_policy=policy).attach(opt)
    train(model, opt, 6, observe=False)
    df = mon.to_dataframe()
    assert np.allclose(df["lr"], expect, rtol=1e-15)
    assert learning_rate(opt, policy) == pytest.approx(expect)
    assert mon.describe()["lr_policy"] == policy


def test_lr_policy_across_two_optimizers():
    model = make_model()
    opt_a = torch.optim.AdamW(model[0].parameters(), lr=1e-3)
    opt_b = torch.optim.SGD(model[2].parameters(), lr=5e-2)
    mon = SpectralMonitor(model, window=3, lr_policy="max").attach(opt_a, opt_b)
    for t in range(1, 7):
        g = torch.Generator().manual_seed(t)
        x, y = torch.randn(8, 6, generator=g), torch.randn(8, 3, generator=g)
        opt_a.zero_grad()
        opt_b.zero_grad()
        ((model(x) - y) ** 2).mean().backward()
        opt_b.step()
        opt_a.step()  # the hook sits on the first optimizer
    assert mon.to_dataframe()["lr"].tolist() == [5e-2] * 4
    assert learning_rate([opt_a, opt_b], "mean") == pytest.approx((1e-3 + 5e-2) / 2)
    assert learning_rate([opt_a, opt_b], "first") == 1e-3


def test_explicit_lr_argument_and_missing_lr():
    model = make_model()
    opt = make_opt(model)
    mon = SpectralMonitor(model, window=3)
    for t in range(1, 7):
        train_step(model, opt, t)
        mon.observe(t, lr=0.125 if t % 2 else None)
    df = mon.to_dataframe().set_index("step")
    assert df.loc[3, "lr"] == 0.125 and df.loc[5, "lr"] == 0.125
    assert math.isnan(df.loc[4, "lr"]) and math.isnan(df.loc[6, "lr"])
    assert math.isnan(df.loc[4, "adiabatic"]) and np.isfinite(df.loc[4, "adiabatic_dk"])
    assert np.isfinite(df.loc[5, "adiabatic"])


# --------------------------------------------------------------------------------------------
# Adiabatic parameter, centring, k* variants, against hand-made references


@pytest.mark.parametrize("regime", [(0.1, 10.0), (0.5, 2.0)])
def test_adiabatic_paper_form_by_hand(regime):
    w, lr = 4, 2e-2
    model = make_model(seed=1)
    opt = make_opt(model, lr=lr)
    mon = SpectralMonitor(model, window=w, regime=regime)
    thetas = train(model, opt, 16, mon)
    wins = windows_of(diffs_at(thetas, sorted(thetas)), w)
    df = mon.to_dataframe().set_index("step")
    for step, (x, prev) in wins.items():
        dc = np.linalg.norm(x.T @ x - prev.T @ prev)  # explicit P×P ΔC
        s = np.linalg.svd(x, compute_uv=False)
        row = df.loc[step]
        err = monitor_sigma_err(x)
        assert row["k_star"] - 1 in argmax_candidates(
            [max(s[j], 1e-12 * s[0]) / max(s[j + 1], 1e-12 * s[0]) for j in range(len(s) - 1)],
            ratio_rel_err(s, err),
        )
        k = int(row["k_star"])
        g = s[k - 1] - s[k]
        # ‖ΔC‖² = ‖a‖⁴ + ‖b‖⁴ − 2⟨a,b⟩² of float32-rounded a, b: moved by ≤ 8·U32·m², so ‖ΔC‖
        # by the root's share; the explicit reference rounds its P×P matrices (p·ε·m)
        m = max(float(np.sum(x[-1] ** 2)), float(np.sum(prev[0] ** 2)))
        dc_err = float(sigma_err(8 * U32 * m * m, [dc])[0]) + x.shape[1] * EPS * m
        assert abs(row["delta_c"] - dc) <= dc_err
        rel_dc = dc_err / dc
        rel_g = (err[k - 1] + err[k]) / g
        assert abs(row["adiabatic"] / (dc / (lr * g**2)) - 1) <= rel_dc + 2 * rel_g + 4 * EPS
        eigen_gap = s[k - 1] ** 2 - s[k] ** 2
        a_dk = dc / eigen_gap
        rel_a = rel_dc + 2 * monitor_lam_err(x) / eigen_gap + 4 * EPS
        assert abs(row["adiabatic_dk"] / a_dk - 1) <= rel_a
        label = (
            "plateau" if a_dk < regime[0] else "forgetting" if a_dk > regime[1] else "transition"
        )
        if not (np.isclose(a_dk, regime[0], rtol=rel_a) or np.isclose(a_dk, regime[1], rtol=rel_a)):
            assert row["regime"] == label
    assert mon.describe()["regime_low"] == regime[0]


def test_center_true_equals_the_spectrum_of_the_centred_window():
    w = 5
    model = make_model()
    opt = make_opt(model)
    mon = SpectralMonitor(model, window=w, center=True)
    thetas = train(model, opt, 14, mon)
    wins = windows_of(diffs_at(thetas, sorted(thetas)), w)
    df = mon.to_dataframe().set_index("step")
    for step, (x, _) in wins.items():
        xc = x - x.mean(axis=0)
        s = np.linalg.svd(xc, compute_uv=False)
        got = np.array([df.loc[step, f"sigma_{j}"] for j in range(1, len(s) + 1)])
        # centring the Gram (P G P, P the centring projector) does not enlarge its error
        err = monitor_sigma_err(x, s)
        assert np.all(np.abs(got - s) <= err)
        if len(s) >= 3:  # the leading ratios are well resolved
            r12_err = ratio_rel_err(s, err)[0]
            assert abs(df.loc[step, "r12"] / (s[0] / s[1]) - 1) <= r12_err
    # and it differs from the uncentred analysis of the same updates
    x = wins[14][0]
    assert not np.isclose(df.loc[14, "sigma_1"], np.linalg.svd(x, compute_uv=False)[0])
    assert mon.run is None and mon.definitions()["centering"] == "centred"


@pytest.mark.parametrize("variant", ["plain", "weighted", "weighted_cut"])
def test_k_star_variants_drive_the_edge(variant):
    w = 6
    model = make_model(seed=2)
    opt = make_opt(model)
    mon = SpectralMonitor(model, window=w, k_star=variant)
    thetas = train(model, opt, 20, mon)
    wins = windows_of(diffs_at(thetas, sorted(thetas)), w)
    df = mon.to_dataframe().set_index("step")
    assert (df["k_star"] == df[f"k_star_{variant}"]).all()
    for step, (x, _) in wins.items():
        s = np.linalg.svd(x, compute_uv=False)
        f = 1e-12 * s[0]
        r = np.array([max(s[j], f) / max(s[j + 1], f) for j in range(len(s) - 1)])
        score = r if variant == "plain" else s[:-1] / s.sum() * r
        if variant == "weighted_cut":
            score = np.where(s[:-1] >= 0.05 * s[0], score, -np.inf)
        err = monitor_sigma_err(x)
        rel = ratio_rel_err(s, err)
        if variant != "plain":  # σ_j/Σσ adds the errors of σ_j and of Σσ
            rel = rel + err[:-1] / s[:-1] + err.sum() / s.sum()
        k = int(df.loc[step, "k_star"])
        assert k - 1 in argmax_candidates(score, rel)
        assert abs(df.loc[step, "gap_ratio"] / r[k - 1] - 1) <= ratio_rel_err(s, err)[k - 1]
        assert abs(df.loc[step, "gap"] - (s[k - 1] - s[k])) <= err[k - 1] + err[k]
    assert mon.describe()["k_star"] == variant


def test_unknown_k_star_variant_is_an_error_at_construction():
    with pytest.raises(SpectralEdgeError, match="k"):
        SpectralMonitor(make_model(), window=3, k_star="bogus")


# --------------------------------------------------------------------------------------------
# Resume


def _roundtrip(obj, weights_only: bool = False):
    buf = io.BytesIO()
    torch.save(obj, buf)
    buf.seek(0)
    return torch.load(buf, weights_only=weights_only)


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"sketch_dim": 64, "seed": 5}, {"every": 3, "center": True, "k_star": "weighted"}],
    ids=["exact", "sketch", "every3-centred-weighted"],
)
def test_resume_is_bit_identical(kwargs):
    w = 4
    a_model = make_model()
    a_opt = make_opt(a_model)
    a = SpectralMonitor(a_model, window=w, **kwargs).attach(a_opt)
    train(a_model, a_opt, 17, observe=False)
    checkpoint = _roundtrip(
        {"model": a_model.state_dict(), "opt": a_opt.state_dict(), "monitor": a.state_dict()}
    )
    b_model = make_model(seed=99)  # different initial weights, overwritten by the checkpoint
    b_model.load_state_dict(checkpoint["model"])
    b_opt = make_opt(b_model)
    b_opt.load_state_dict(checkpoint["opt"])
    b = SpectralMonitor(b_model, window=w, **kwargs)
    b.load_state_dict(checkpoint["monitor"])
    b.attach(b_opt)
    assert b.latest.step == a.latest.step and b.latest.k_star == a.latest.k_star
    train(a_model, a_opt, 16, start=18, observe=False)
    train(b_model, b_opt, 16, start=18, observe=False)
    pd.testing.assert_frame_equal(a.to_dataframe(), b.to_dataframe(), check_exact=True)
    assert np.array_equal(a.gram.gram(), b.gram.gram())
    assert a.steps_observed == b.steps_observed == 33
    assert a.latest.step == b.latest.step
    assert [(e.step, e.kind) for e in a.events] == [(e.step, e.kind) for e in b.events]


def test_resume_carries_events_and_a_pending_baseline():
    model = make_model()
    opt = make_opt(model)
    mon = SpectralMonitor(model, window=3)
    train(model, opt, 5, mon)
    with torch.no_grad():
        model[0].weight[0, 0] = float("nan")
    mon.observe(6)
    with torch.no_grad():
        model[0].weight[0, 0] = 0.0
    state = _roundtrip(mon.state_dict())
    assert state["previous"] is None  # the next snapshot is a fresh baseline
    other = SpectralMonitor(model, window=3)
    other.load_state_dict(state)
    assert [e.kind for e in other.events] == ["nonfinite"]
    assert isinstance(other.events[0], Event)
    for t in range(7, 12):
        train_step(model, opt, t)
        mon.observe(t)
        other.observe(t)
    pd.testing.assert_frame_equal(mon.to_dataframe(), other.to_dataframe(), check_exact=True)


def test_resume_inside_a_nonfinite_episode_keeps_it_one_episode():
    model = make_model()
    opt = make_opt(model)
    mon = SpectralMonitor(model, window=3, phases=False, warning=False)
    train(model, opt, 4, mon)
    with torch.no_grad():
        model[0].bias.fill_(float("nan"))
    mon.observe(5)
    state = _roundtrip(mon.state_dict(), weights_only=True)
    other = SpectralMonitor(model, window=3, phases=False, warning=False)
    other.load_state_dict(state)
    for t in range(6, 9):  # still diverged after the resume: no new event
        other.observe(t)
    assert problems(other) == [(5, "nonfinite")]


def test_state_dict_loads_with_default_torch_load():
    model = make_model()
    opt = make_opt(model)
    mon = SpectralMonitor(model, window=3)
    train(model, opt, 6, mon)
    state = _roundtrip({"monitor": mon.state_dict()}, weights_only=True)["monitor"]
    SpectralMonitor(model, window=3).load_state_dict(state)


def test_load_state_dict_rejects_other_config_or_layout():
    model = make_model()
    mon = SpectralMonitor(model, window=3)
    with pytest.raises(SpectralEdgeError, match="different configuration"):
        SpectralMonitor(model, window=4).load_state_dict(mon.state_dict())
    other = make_model()
    other.add_module("3", nn.Linear(3, 3))
    with pytest.raises(SpectralEdgeError, match="different parameters"):
        SpectralMonitor(other, window=3).load_state_dict(mon.state_dict())


def test_load_state_dict_rejects_same_names_with_other_shapes():
    model = make_model()
    opt = make_opt(model)
    mon = SpectralMonitor(model, window=3)
    train(model, opt, 4, mon)
    with pytest.raises(SpectralEdgeError, match="different parameters"):
        SpectralMonitor(make_model(hidden=8), window=3).load_state_dict(mon.state_dict())


# --------------------------------------------------------------------------------------------
# Store


def test_store_records_windows_config_and_version(tmp_path):
    model = make_model()
    opt = make_opt(model)
    mon = SpectralMonitor(
        model,
        window=4,
        every=2,
        store=tmp_path,
        run_name="mlp-run",
        run_config={"seeds": {"torch": 0}, "model": "mlp"},
    ).attach(opt)
    for t in range(1, 21):
        loss = train_step(model, opt, t)
        mon.log_metrics(t, loss=loss)
    store = open_store(tmp_path, read_only=True)
    run = store.run("mlp-run")
    assert run.id == mon.run.id
    df = mon.to_dataframe()
    win = run.windows()
    assert win["step"].tolist() == df["step"].tolist()
    assert set(win.columns) == set(df.columns)  # the stored row is the monitor's row
    assert win["regime"].tolist() == df["regime"].tolist()
    for col in win.columns.drop("regime"):
        np.testing.assert_array_equal(win[col].to_numpy(float), df[col].to_numpy(float))
    cfg = run.config
    assert cfg["model"] == "mlp"
    monitor_cfg = cfg["monitor"]
    assert monitor_cfg["window"] == 4 and monitor_cfg["every"] == 2
    assert monitor_cfg["params"] == "all" and monitor_cfg["sketch_dim"] is None
    assert monitor_cfg["spectral_edge_version"] == __version__
    assert monitor_cfg["n_params"] == mon.layout.numel
    assert run.info["version"] == __version__
    assert run.seeds == {"sketch_seed": 0, "torch": 0}
    assert run.definitions["k_star"] == "plain"
    assert run.definitions["centering"] == "uncentred"
    assert run.metrics()["step"].tolist() == list(range(1, 21))
    store.close()


def test_store_receives_events_and_accepts_a_store_or_a_run(tmp_path):
    store = RunStore(tmp_path / "s.sqlite")
    model = make_model()
    opt = make_opt(model, lr=0.0)
    mon = SpectralMonitor(model, window=3, store=store, run_name="zero")
    train(model, opt, 4, mon)
    events = mon.run.events()
    assert events["kind"].tolist() == ["zero_update"] * 3
    assert events["step"].tolist() == [2, 3, 4]
    run = store.create_run("given", config={})
    mon2 = SpectralMonitor(model, window=3, store=run)
    assert mon2.run is run
    train(model, opt, 4, mon2)
    assert len(run.windows()) == 2
    store.close()


# --------------------------------------------------------------------------------------------
# Bad input: the monitor never breaks training


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
@pytest.mark.parametrize("sketch_dim", [None, 32])
def test_nonfinite_parameter_mid_run(bad, sketch_dim):
    w = 4
    model = make_model()
    opt = make_opt(model)
    mon = SpectralMonitor(model, window=w, sketch_dim=sketch_dim)
    thetas = train(model, opt, 10, mon)
    train_step(model, opt, 11)
    with torch.no_grad():
        saved = float(model[2].weight[1, 2])
        model[2].weight[1, 2] = bad
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert mon.observe(11) is None  # no exception, no warning
    with torch.no_grad():
        model[2].weight[1, 2] = saved
    more = train(model, opt, 14, mon, start=12)
    kinds = problems(mon)
    assert kinds == [(11, "nonfinite")]
    assert "NaN" in mon.events[0].message
    df = mon.to_dataframe()
    assert 11 not in df["step"].tolist() and 12 not in df["step"].tolist()  # 12: new baseline
    assert np.all(np.isfinite(sigma_cols(df, w)[df["w"].to_numpy() == w]))
    assert np.all(np.isfinite(mon.gram.gram()))
    if sketch_dim is None:
        # window: updates up to step 10, then from 13 on; θ_12 − θ_10 is never formed
        deltas = list(diffs_at(thetas, sorted(thetas)).values())
        deltas += list(diffs_at(more, sorted(more)).values())
        close_gram(mon.gram.gram(), batch_gram(deltas[-w:]))
        # the window right after the gap mixes old and new updates correctly
        close_gram(np.asarray(mon.gram.union_gram()), batch_gram(deltas[-(w + 1) :]))


def test_all_zero_update_gives_a_zero_update_event():
    model = make_model()
    opt = make_opt(model)
    mon = SpectralMonitor(model, window=4)
    for t in range(1, 16):
        opt.param_groups[0]["lr"] = 0.0 if t in (7, 8) else LR
        train_step(model, opt, t)
        mon.observe(t, lr=opt.param_groups[0]["lr"])
    assert problems(mon) == [(7, "zero_update"), (8, "zero_update")]
    assert "did not change" in mon.events[0].message
    df = mon.to_dataframe().set_index("step")
    assert list(df.index) == list(range(3, 16))
    assert df.loc[8, "sigma_4"] == 0.0  # two zero rows in the window
    assert math.isnan(df.loc[8, "adiabatic"])  # lr 0: the paper form is undefined
    assert np.all(np.isfinite(df.loc[15, [f"sigma_{j}" for j in range(1, 5)]].to_numpy(float)))


def test_parameter_replaced_by_a_different_shape_restarts_the_window():
    model = make_model()
    opt = make_opt(model)
    mon = SpectralMonitor(model, window=3)
    train(model, opt, 8, mon)
    model[0] = nn.Linear(6, 20)
    model[2] = nn.Linear(20, 3)
    opt = make_opt(model)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert mon.observe(9) is None
    assert problems(mon) == [(9, "layout_changed")]
    assert "0.bias" in mon.events[0].message and "changed shape" in mon.events[0].message
    assert mon.layout.numel == 6 * 20 + 20 + 20 * 3 + 3
    thetas = {9: theta(model)}
    thetas.update(train(model, opt, 6, mon, start=10))
    df = mon.to_dataframe()
    assert df["step"].tolist() == [3, 4, 5, 6, 7, 8, 11, 12, 13, 14, 15]
    deltas = list(diffs_at(thetas, sorted(thetas)).values())
    close_gram(mon.gram.gram(), batch_gram(deltas[-3:]))
    assert mon.gram.dim == mon.layout.numel


def test_parameter_that_disappears_is_reported_and_monitoring_continues():
    model = make_model()
    model.extra = nn.Parameter(torch.ones(4))
    opt = make_opt(model)
    mon = SpectralMonitor(model, window=3)
    train(model, opt, 5, mon)
    del model.extra
    mon.observe(6)
    assert mon.events[-1].kind == "layout_changed" and "'extra'" in mon.events[-1].message
    train(model, opt, 4, mon, start=7)
    assert mon.to_dataframe()["step"].tolist()[-2:] == [9, 10]


def test_strict_mode_raises_on_a_layout_change():
    model = make_model()
    opt = make_opt(model)
    mon = SpectralMonitor(model, window=3, strict=True)
    train(model, opt, 4, mon)
    model[2] = nn.Linear(16, 5)
    with pytest.raises(SpectralEdgeError, match="changed shape"):
        mon.observe(5)


def test_callbacks_receive_events_and_a_failing_callback_does_not_stop_training():
    seen = []

    def good(event, monitor):
        seen.append((event.step, event.kind, monitor))

    def bad(event, monitor):
        raise RuntimeError("callback exploded")

    model = make_model()
    opt = make_opt(model, lr=0.0)
    mon = SpectralMonitor(model, window=3, callbacks=[bad, good])
    with pytest.warns(RuntimeWarning, match="callback exploded"):
        train(model, opt, 4, mon)
    assert [(s, k) for s, k, _ in seen] == [
        (2, "zero_update"),
        (3, "zero_update"),
        (4, "zero_update"),
    ]
    assert all(m is mon for _, _, m in seen)
    assert len(mon.to_dataframe()) == 2

    strict = SpectralMonitor(make_model(), window=3, callbacks=[bad], strict=True)
    train_step(strict.model, make_opt(strict.model, lr=0.0), 1)
    strict.observe(1)
    with pytest.raises(RuntimeError, match="callback exploded"):
        strict.observe(2)


class FlakyRun:
    """A run whose writes fail while ``down`` (like a full disk or a read-only store)."""

    def __init__(self, error: Exception | None = None):
        self.down, self.error = True, error or OSError("disk full")
        self.room = 0  # writes that still fit while down (a disk with a little space freed)
        self.calls = 0
        self.written: list[tuple] = []

    def _write(self, *row):
        self.calls += 1
        if self.down and self.room == 0:
            raise self.error
        self.room = max(self.room - 1, 0)
        self.written.append(row)

    def log_window(self, step, features):
        self._write("window", step)

    def log_event(self, step, kind, message, evidence):
        self._write("event", step, kind)

    def log_metrics(self, step, metrics):
        self._write("metrics", step)


def train_logging(model, opt, mon, steps, start=1):
    for t in range(start, start + steps):
        loss = train_step(model, opt, t)
        mon.log_metrics(t, loss=loss)


def test_a_store_outage_is_reported_once_and_written_when_the_store_returns():
    model = make_model()
    opt = make_opt(model)
    run = FlakyRun()
    mon = SpectralMonitor(model, window=3, store=run, phases=False, warning=False).attach(opt)
    assert mon.run is run
    with pytest.warns(RuntimeWarning, match="disk full"):
        train_logging(model, opt, mon, 6)
    assert len(mon.to_dataframe()) == 4  # the history is kept in memory regardless
    assert [(e.step, e.kind) for e in mon.events] == [(1, "store_error")]  # one per outage
    assert "retried" in mon.events[0].message
    assert run.calls == 10  # the first refused write, then one retry before each of the 9 others
    assert run.written == []

    run.down = False
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        train_logging(model, opt, mon, 2, start=7)
    recovered = mon.events[-1]
    assert (recovered.step, recovered.kind) == (7, "store_recovered")
    assert recovered.evidence == {"since_step": 1, "written": 10, "dropped": 0}
    windows = [row[1] for row in run.written if row[0] == "window"]
    metrics = [row[1] for row in run.written if row[0] == "metrics"]
    assert windows == [3, 4, 5, 6, 7, 8] and metrics == [1, 2, 3, 4, 5, 6, 7, 8]
    assert ("event", 7, "store_recovered") in run.written


def test_a_long_outage_keeps_the_newest_writes_and_counts_the_dropped(monkeypatch):
    from collections import deque

    model = make_model()
    opt = make_opt(model)
    run = FlakyRun()
    mon = SpectralMonitor(model, window=3, store=run, phases=False, warning=False).attach(opt)
    mon.writer.unwritten = deque(maxlen=3)
    with pytest.warns(RuntimeWarning):
        train_logging(model, opt, mon, 5)  # windows 3..5 and metrics 1..5: 8 refused writes
    run.down = False
    train_logging(model, opt, mon, 1, start=6)
    # refused in order: m1 m2 w3 m3 w4 m4 w5 m5; the newest three are kept
    assert mon.events[-1].evidence == {"since_step": 1, "written": 3, "dropped": 5}
    assert "5 older ones dropped" in mon.events[-1].message
    kept = [("metrics", 4), ("window", 5), ("metrics", 5), ("event", 6), ("window", 6)]
    assert [row[:2] for row in run.written[:5]] == kept


def test_a_backlog_written_in_parts_is_counted_once_when_the_store_recovers():
    model = make_model()
    opt = make_opt(model)
    run = FlakyRun()
    mon = SpectralMonitor(model, window=3, store=run, phases=False, warning=False).attach(opt)
    with pytest.warns(RuntimeWarning):
        train_logging(model, opt, mon, 4)  # m1 m2 w3 m3 w4 m4 refused
    run.room = 2  # the next retry writes m1 and m2, then the disk is full again
    train_logging(model, opt, mon, 1, start=5)
    assert [row[:2] for row in run.written] == [("metrics", 1), ("metrics", 2)]
    assert [e.kind for e in mon.events] == ["store_error"]
    run.down = False
    train_logging(model, opt, mon, 1, start=6)
    # held in all: m1 m2 w3 m3 w4 m4 (steps 1-4) and w5 m5; two went in early, six now
    assert mon.events[-1].evidence == {"since_step": 1, "written": 8, "dropped": 0}
    assert [row[1] for row in run.written if row[0] == "metrics"] == [1, 2, 3, 4, 5, 6]


def test_a_store_refusing_the_data_is_reported_each_time_and_not_retried():
    model = make_model()
    opt = make_opt(model)
    run = FlakyRun(error=SpectralEdgeError("metrics must be numbers"))
    mon = SpectralMonitor(model, window=3, store=run, phases=False, warning=False).attach(opt)
    with pytest.warns(RuntimeWarning, match="must be numbers"):
        train_logging(model, opt, mon, 4)
    assert [e.kind for e in mon.events] == ["store_error"] * 6  # 2 windows + 4 metric rows
    assert run.calls == 6 and len(mon.writer.unwritten) == 0


def test_strict_mode_raises_store_failures():
    strict = SpectralMonitor(make_model(), window=3, store=FlakyRun(), strict=True)
    with pytest.raises(OSError, match="disk full"):
        strict.log_metrics(1, loss=1.0)


def test_an_unexpected_failure_inside_observe_is_reported_not_raised(monkeypatch):
    model = make_model()
    opt = make_opt(model)
    mon = SpectralMonitor(model, window=3)
    train(model, opt, 4, mon)

    def boom():
        raise RuntimeError("internal failure")

    monkeypatch.setattr(mon.gram, "commit", boom)
    train_step(model, opt, 5)
    with pytest.warns(RuntimeWarning, match="internal failure"):
        assert mon.observe(5) is None
    assert mon.events[-1].kind == "monitor_error" and "RuntimeError" in mon.events[-1].message
    monkeypatch.undo()
    train(model, opt, 4, mon, start=6)  # step 6 is a fresh baseline
    assert mon.to_dataframe()["step"].tolist()[-3:] == [7, 8, 9]

    strict = SpectralMonitor(model, window=3, strict=True)
    strict.observe(1)
    monkeypatch.setattr(strict.gram, "commit", boom)
    train_step(model, opt, 10)
    with pytest.raises(RuntimeError, match="internal failure"):
        strict.observe(2)


# --------------------------------------------------------------------------------------------
# Construction errors


def test_model_with_no_selected_parameters():
    with pytest.raises(SpectralEdgeError, match="matched none"):
        SpectralMonitor(make_model(), params="attention")
    with pytest.raises(SpectralEdgeError, match="no trainable parameters"):
        SpectralMonitor(make_model().requires_grad_(False))
    mon = SpectralMonitor(make_model().requires_grad_(False), trainable_only=False)
    assert mon.layout.numel == 163


def test_params_selection_is_recorded():
    mon = SpectralMonitor(make_model(), window=3, params=["2.weight", "0.bias"])
    assert mon.layout.names == ["0.bias", "2.weight"]
    assert mon.describe()["params"] == "names:2.weight,0.bias"
    assert mon.describe()["n_tensors"] == 2


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"every": 0}, "every"),
        ({"every": -2}, "every"),
        ({"every": 1.5}, "every"),
        ({"lr_policy": "median"}, "lr_policy"),
        ({"regime": (10.0, 0.1)}, "regime"),
        ({"regime": (0.0, 1.0)}, "regime"),
        ({"regime": (-1.0, 1.0)}, "regime"),
        ({"regime": (1.0, 1.0)}, "regime"),
        ({"window": 1}, "window"),
        ({"sketch_dim": 0}, "sketch_dim"),
        ({"sketch_dim": 8, "sketch": "srht"}, "family"),
        ({"sketch_dim": 8, "seed": -1}, "seed"),
    ],
)
def test_bad_configuration_raises(kwargs, match):
    with pytest.raises(SpectralEdgeError, match=match):
        SpectralMonitor(make_model(), **kwargs)


def test_learning_rate_helper_errors_and_empty():
    opt = make_opt(make_model())
    with pytest.raises(SpectralEdgeError, match="lr_policy"):
        learning_rate(opt, "median")
    assert math.isnan(learning_rate([], "first"))


# --------------------------------------------------------------------------------------------
# Online dynamics, the ratio floor and the Gaussian sketch inside the monitor


class RecordingRule:
    """A stand-in warning rule: records what it is fed and fires once at a chosen step."""

    def __init__(self, fire_at: int):
        self.fire_at, self.fed = fire_at, []
        self.config = GapWarningConfig()

    def update(self, step, row):
        self.fed.append((step, row["w"]))
        if step == self.fire_at:
            return {"message": "planted", "evidence": {"g23": row["g23"]}}
        return None

    def state_dict(self):
        return {"fed": list(self.fed)}

    def load_state_dict(self, state):
        self.fed = [tuple(x) for x in state["fed"]]


def test_dynamics_see_full_windows_only_and_their_events_are_emitted():
    model = make_model()
    rule = RecordingRule(fire_at=15)
    tracker = PhaseTracker(smooth=1)
    mon = SpectralMonitor(model, window=4, phases=tracker, warning=rule)
    train(model, make_opt(model), 16, mon)
    # baseline at 1, w = 1..3 at steps 2..4, full from step 5 on
    assert [step for step, _ in rule.fed] == list(range(5, 17))
    assert {w for _, w in rule.fed} == {4.0}
    warnings_ = [e for e in mon.events if e.kind == "warning"]
    assert [(e.step, e.message) for e in warnings_] == [(15, "planted")]
    at_15 = next(h for h in mon.history if h["step"] == 15)
    assert warnings_[0].evidence["g23"] == at_15["g23"]
    assert tracker.state_dict()["steps"] == list(range(5, 17))
    assert mon.phase == tracker.phase
    assert all(e.kind == "phase" for e in mon.events if e.kind not in ("warning",))


def test_dynamics_can_be_switched_off():
    model = make_model()
    mon = SpectralMonitor(model, window=4, phases=False, warning=False)
    train(model, make_opt(model), 30, mon)
    assert mon.tracker is None and mon.warning is None and mon.events == []
    assert mon.describe()["phases"] is False and mon.describe()["warning"] is False


def test_default_dynamics_are_the_library_rules_and_are_recorded():
    mon = SpectralMonitor(make_model(), window=4)
    assert isinstance(mon.tracker, PhaseTracker) and isinstance(mon.warning, EarlyWarning)
    assert mon.warning.rule == DEFAULT_RULE
    described = mon.describe()
    assert described["phase_tracker"]["quantity"] == "gap_ratio"
    assert described["warning_rule"] == asdict(DEFAULT_RULE)
    legacy = SpectralMonitor(make_model(), window=4, warning=GapWarning())
    assert legacy.describe()["warning_rule"]["legacy"] == "GapWarning"


@pytest.mark.parametrize(
    "rule",
    [
        WarningRule("r23", "rise", math.log(1.1), smooth=1, baseline=2, sustain=1),
        WarningRule("effective_rank", "fall", math.log(1.05), baseline=2),
        WarningRule("test_loss", "fall", math.log(1.2)),
    ],
)
def test_the_online_warning_equals_the_replay_of_what_the_monitor_saw(rule):
    """Live, the monitor feeds full windows and logged metrics (under any known spelling) to
    the rule; replaying the stored windows and canonical metrics gives the same warning."""
    model = make_model()
    opt = make_opt(model)
    mon = SpectralMonitor(model, window=4, every=2, warning=rule)
    logged = []
    for t in range(1, 81):
        loss = train_step(model, opt, t)
        mon.observe(t, lr=1e-2)
        if t % 2 == 0:
            acc = min(1.0, t / 20)  # memorised at step 20
            mon.log_metrics(t, accuracy=acc, val_loss=loss)  # HF/Lightning-style spellings
            logged.append((t, {"train_acc": acc, "test_loss": loss}))
    fired = [e for e in mon.events if e.kind == "warning"]
    windows = [(h["step"], h) for h in mon.history if h["w"] == 4]
    want = replay(rule, windows, logged, window=4, every=2)
    assert want is not None, "the planted rule should fire on this run"
    assert [(e.step, e.evidence) for e in fired] == [(want["step"], want["evidence"])]
    assert fired[0].evidence["t_mem"] == 20


def test_dynamics_state_resumes_with_the_monitor():
    model = make_model()
    opt = make_opt(model)
    mon = SpectralMonitor(model, window=4, warning=RecordingRule(fire_at=-1))
    train(model, opt, 10, mon)
    state = mon.state_dict()
    other = SpectralMonitor(model, window=4, warning=RecordingRule(fire_at=-1))
    other.load_state_dict(state)
    assert other.warning.fed == mon.warning.fed
    assert other.tracker.state_dict() == mon.tracker.state_dict() and other.phase == mon.phase


@pytest.mark.parametrize(
    ("dtype", "expected"), [(torch.float32, 1e-3), (torch.bfloat16, 1e-3), (torch.float64, 1e-6)]
)
def test_default_ratio_floor_is_the_gram_resolution(dtype, expected):
    assert resolution_floor(dtype) == expected
    mon = SpectralMonitor(make_model(dtype=dtype), window=4)
    assert mon.ratio_floor == expected and mon.describe()["ratio_floor_used"] == expected


def test_ratio_floor_clamps_unresolvable_tail_ratios():
    # Updates confined to two directions: σ_3.. are rounding noise, which the floor neutralises.
    model = nn.Linear(50, 1, bias=False)
    direction = torch.randn(2, 50)
    mon = SpectralMonitor(model, window=5, phases=False, warning=False)
    floored = []
    for t in range(1, 9):
        with torch.no_grad():
            model.weight += (torch.randn(2) @ direction) * 1e-2
        record = mon.observe(t)
        if record is not None:
            floored.append(record)
    last = floored[-1]
    assert last.k_star == 2 and np.all(last.ratios[2:] == 1.0)  # both floored: f/f
    raw = SpectralMonitor(model, window=5, ratio_floor=1e-15, phases=False, warning=False)
    assert raw.ratio_floor == 1e-15


def test_bad_ratio_floor_is_a_clear_error():
    with pytest.raises(SpectralEdgeError, match="ratio_floor"):
        SpectralMonitor(make_model(), ratio_floor=2.0)


def test_gaussian_sketch_in_the_monitor_tracks_the_exact_spectrum():
    model = make_model(hidden=32)
    exact = SpectralMonitor(model, window=4, phases=False, warning=False)
    gauss = SpectralMonitor(
        model, window=4, sketch_dim=2000, sketch="gaussian", seed=3, phases=False, warning=False
    )
    opt = make_opt(model)
    for t in range(1, 9):
        train_step(model, opt, t)
        exact.observe(t)
        gauss.observe(t)
    # statistical: a Gaussian sketch of d = 2000 keeps norms to ~√(2/d) = 3 %
    np.testing.assert_allclose(gauss.latest.sigma, exact.latest.sigma, rtol=0.1)
    assert gauss.describe()["sketch"] == "gaussian"


def test_window_callbacks_see_every_window_and_cannot_break_training():
    model = make_model()
    seen = []

    def broken(record, monitor):
        raise RuntimeError("tracker down")

    mon = SpectralMonitor(
        model, window=4, window_callbacks=[lambda r, m: seen.append((r.step, m is mon)), broken]
    )
    with pytest.warns(RuntimeWarning, match="tracker down"):
        train(model, make_opt(model), 8, mon)
    assert seen == [(h["step"], True) for h in mon.history]
    strict = SpectralMonitor(model, window=4, window_callbacks=[broken], strict=True)
    with pytest.raises(RuntimeError, match="tracker down"):
        train(model, make_opt(model), 4, strict)


def test_to_dataframe_before_any_window_has_the_step_column():
    mon = SpectralMonitor(make_model(), window=3)
    df = mon.to_dataframe()
    assert list(df.columns) == ["step"] and len(df) == 0 and df["step"].dtype == np.int64
