"""Fuzz SpectralMonitor on tiny models: random dtypes, windows, every, sketches and NaN/Inf
injected into parameters at random steps. observe() never raises (strict=False), no internal
error is reported, a non-finite update never enters the Gram, and the exact-path Gram equals the
float64 brute-force Gram of the accepted updates."""

from __future__ import annotations

import warnings

import numpy as np
import torch
from _numerics import U32, gram_tol
from _profile import fuzz
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from spectral_edge.monitor import SpectralMonitor

DTYPES = [torch.float16, torch.bfloat16, torch.float32, torch.float64]


def flat64(model, names):
    params = dict(model.named_parameters())
    return np.concatenate([params[n].detach().double().reshape(-1).numpy() for n in names])


@fuzz(15, campaign=400)
@given(
    dtype=st.sampled_from(DTYPES),
    window=st.integers(2, 20),
    every=st.integers(1, 3),
    sketch_dim=st.one_of(st.none(), st.integers(1, 16)),
    k_star=st.sampled_from(["plain", "weighted", "weighted_cut"]),
    center=st.booleans(),
    params=st.sampled_from(["all", "0", "weight"]),
    seed=st.integers(0, 2**32 - 1),
    n_steps=st.integers(1, 40),
)
def test_monitor_never_raises_and_keeps_the_gram_clean(
    dtype, window, every, sketch_dim, k_star, center, params, seed, n_steps
):
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed % 2**31)
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)).to(dtype)
    monitor = SpectralMonitor(
        model,
        window=window,
        every=every,
        params=params,
        sketch_dim=sketch_dim,
        k_star=k_star,
        center=center,
        seed=seed % 1000,
    )
    names = monitor.layout.names
    big = np.finfo(np.float64).max  # products and sums are float64 whatever the dtype
    previous, accepted, rejected, zero, episodes, in_episode = None, [], 0, 0, 0, False
    for step in range(1, n_steps + 1):
        kind = rng.choice(["normal"] * 6 + ["nan", "inf", "-inf", "zero", "heal"])
        with torch.no_grad():
            for p in model.parameters():
                if kind == "heal":
                    p.copy_(torch.randn_like(p, dtype=torch.float32).to(dtype))
                elif kind != "zero":
                    p.add_((torch.randn(p.shape) * 10.0 ** rng.uniform(-3, 1)).to(dtype))
            target = list(model.parameters())[rng.integers(4)]
            if kind in ("nan", "inf", "-inf"):
                target.view(-1)[rng.integers(target.numel())] = float(kind)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            monitor.observe(step, lr=float(rng.choice([1e-3, 0.0, np.nan])))
        if step % every:
            continue
        theta = flat64(model, names)
        if previous is None:
            # a non-finite θ is no baseline; the first one of an episode is reported
            if np.all(np.isfinite(theta)):
                previous = theta
            else:
                episodes += not in_episode
                in_episode = True
            continue
        with np.errstate(invalid="ignore", over="ignore"):
            delta = theta - previous
            ok = bool(np.all(np.isfinite(delta)) and float(delta @ delta) <= big)
        if ok:
            accepted.append(delta)
            zero += not np.any(delta)
            previous = theta
            in_episode = False
        else:
            rejected += 1
            previous = None
            episodes += not in_episode
            in_episode = True
    kinds = [e.kind for e in monitor.events]
    assert "monitor_error" not in kinds, [e.message for e in monitor.events]
    assert kinds.count("nonfinite") == episodes  # one event per non-finite episode
    assert monitor.gram.pushes == len(accepted) and monitor.gram.rejected == rejected
    g = monitor.gram.gram()
    assert np.all(np.isfinite(g))
    assert len(monitor.history) == sum(1 for i in range(len(accepted)) if min(i + 1, window) >= 2)
    if sketch_dim is None and accepted:
        assert kinds.count("zero_update") == zero
        x = np.stack(accepted[-window:])
        ref = x @ x.T
        # The monitor stores δ in float32 for narrower dtypes: fl(θ_t − θ_{t−1}) is within U32
        # of the exact difference the reference takes, so each entry within 2·U32·‖a‖‖b‖; then
        # float64 dots on both sides (tests/_numerics.py).
        rounding = 0.0 if dtype == torch.float64 else 2 * U32
        scale = float(np.max(np.diag(ref)))
        atol = (rounding + gram_tol(x.shape[1])) * scale + 1e-300
        np.testing.assert_allclose(g, ref, rtol=0, atol=atol)
    for row in monitor.history:
        sig = [v for k, v in row.items() if k.startswith("sigma_")]
        assert np.all(np.isfinite(sig))


def _train(model, monitor, steps, start, seed, poison=()):
    """Deterministic random updates (a function of seed and step), observed after each; at the
    steps in ``poison`` one parameter entry is NaN while observed, then reset to 0."""
    for step in range(start, start + steps):
        gen = torch.Generator().manual_seed(seed * 7919 + step)
        first = next(model.parameters())
        with torch.no_grad():
            for p in model.parameters():
                p.add_((torch.randn(p.shape, generator=gen) * 0.1).to(p.dtype))
            if step in poison:
                first.view(-1)[0] = float("nan")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            monitor.observe(step, lr=1e-3)
        if step in poison:
            with torch.no_grad():
                first.view(-1)[0] = 0.0


@fuzz(10, campaign=300)
@given(
    dtype=st.sampled_from(DTYPES),
    window=st.integers(2, 12),
    every=st.integers(1, 3),
    sketch_dim=st.one_of(st.none(), st.integers(1, 16)),
    k_star=st.sampled_from(["plain", "weighted", "weighted_cut"]),
    center=st.booleans(),
    seed=st.integers(0, 2**16),
    before=st.integers(0, 30),
    after=st.integers(1, 20),
)
def test_a_resumed_monitor_continues_exactly(
    tmp_path_factory, dtype, window, every, sketch_dim, k_star, center, seed, before, after
):
    """state_dict → torch.save → torch.load(weights_only=True) → load_state_dict, at any point of
    any configuration, then both monitors see the same updates: identical histories, events and
    Grams (bit for bit)."""
    kwargs = dict(
        window=window, every=every, sketch_dim=sketch_dim, k_star=k_star, center=center, seed=3
    )
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)).to(dtype)
    original = SpectralMonitor(model, **kwargs)
    _train(model, original, before, 1, seed)
    path = tmp_path_factory.mktemp("state") / "monitor.pt"
    torch.save(original.state_dict(), path)
    twin_model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)).to(dtype)
    twin_model.load_state_dict(model.state_dict())
    resumed = SpectralMonitor(twin_model, **kwargs)
    resumed.load_state_dict(torch.load(path, weights_only=True))
    _train(model, original, after, before + 1, seed)
    _train(twin_model, resumed, after, before + 1, seed)
    assert resumed.history == original.history or _same_with_nan(resumed.history, original.history)
    assert [(e.step, e.kind) for e in resumed.events] == [(e.step, e.kind) for e in original.events]
    assert np.array_equal(resumed.gram.gram(), original.gram.gram())


def _same_with_nan(a: list[dict], b: list[dict]) -> bool:
    """Histories equal, NaN equal to NaN."""
    if len(a) != len(b) or any(x.keys() != y.keys() for x, y in zip(a, b, strict=True)):
        return False
    return all(
        x[k] == y[k] or (isinstance(x[k], float) and np.isnan(x[k]) and np.isnan(y[k]))
        for x, y in zip(a, b, strict=True)
        for k in x
    )


@fuzz(8, campaign=200)
@given(
    dtype=st.sampled_from(DTYPES),
    window=st.integers(2, 8),
    sketch_dim=st.one_of(st.none(), st.integers(1, 8)),
    seed=st.integers(0, 2**16),
    steps=st.integers(1, 25),
    poison=st.sets(st.integers(1, 25), max_size=4),
)
def test_the_store_holds_what_the_monitor_saw(
    tmp_path_factory, dtype, window, sketch_dim, seed, steps, poison
):
    """Monitor and store together: every window and event the monitor records is in the store,
    value for value (NaN for NaN), also when updates are non-finite at random steps."""
    from spectral_edge.store import open_store

    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)).to(dtype)
    directory = tmp_path_factory.mktemp("store")
    monitor = SpectralMonitor(model, window=window, sketch_dim=sketch_dim, store=directory)
    _train(model, monitor, steps, 1, seed, poison)
    with open_store(directory, read_only=True) as store:
        run = store.run(monitor.run.name)
        stored = run.windows()
        events = run.events()
    mine = monitor.to_dataframe()
    assert stored["step"].tolist() == mine["step"].tolist()
    assert set(stored.columns) == set(mine.columns)  # the stored row is the monitor's row
    for column in stored.columns:
        if column == "regime":  # the one text feature
            assert stored[column].tolist() == mine[column].tolist()
        else:
            np.testing.assert_array_equal(
                stored[column].to_numpy(float), mine[column].to_numpy(float)
            )
    expected = [(e.step, e.kind) for e in monitor.events if e.kind != "store_error"]
    assert list(zip(events["step"], events["kind"], strict=True)) == expected
