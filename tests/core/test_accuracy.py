"""The sketch against the exact spectrum on a real training trajectory (prediction C3's bar)."""

import numpy as np
import pytest
import torch
from _numerics import sum_tol

from spectral_edge.core.accuracy import compare_sketch, summarize
from spectral_edge.errors import SpectralEdgeError
from spectral_edge.lab.trajectory import record_updates

WINDOW = 10


@pytest.fixture(scope="module")
def trajectory():
    """Updates of an MLP learning modular addition with AdamW and weight decay, every 10 steps."""
    torch.manual_seed(0)
    p = 31
    a, b = torch.meshgrid(torch.arange(p), torch.arange(p), indexing="ij")
    a, b = a.flatten(), b.flatten()
    y = (a + b) % p
    train = torch.randperm(p * p)[: p * p // 2]
    embed = torch.nn.Embedding(p, 64)
    mlp = torch.nn.Sequential(torch.nn.Linear(128, 256), torch.nn.ReLU(), torch.nn.Linear(256, p))
    params = [*embed.parameters(), *mlp.parameters()]
    opt = torch.optim.AdamW(params, 3e-3, betas=(0.9, 0.98), weight_decay=1.0)

    def train_step():
        logits = mlp(torch.cat([embed(a[train]), embed(b[train])], -1))
        loss = torch.nn.functional.cross_entropy(logits, y[train])
        opt.zero_grad()
        loss.backward()
        opt.step()

    return [u.numpy() for u in record_updates(params, train_step, steps=300, every=10)]


def test_exact_windows_count_and_columns(trajectory):
    table = compare_sketch(trajectory, window=WINDOW, sketch_dim=50, seeds=(0, 1))
    assert len(table) == 2 * (len(trajectory) - WINDOW + 1)
    assert {"err_gap_ratio", "err_r23", "err_g23", "err_sigma_1", "k_star_match"} <= set(table)


def test_fold_no_worse_than_dense_gaussian_at_10w(trajectory):
    fold = summarize(compare_sketch(trajectory, window=WINDOW, sketch_dim=10 * WINDOW))
    gauss = summarize(
        compare_sketch(trajectory, window=WINDOW, sketch_dim=10 * WINDOW, family="gaussian")
    )
    # Three seeds and 21 windows leave sampling noise; 1.25x is "no worse" within it.
    for key in ("err_gap_ratio", "err_r23"):
        assert fold[key] <= 1.25 * gauss[key], (key, fold[key], gauss[key])


def test_error_shrinks_with_dimension_and_meets_the_paper_bar_at_1000(trajectory):
    errors = [
        summarize(compare_sketch(trajectory, window=WINDOW, sketch_dim=d))["err_gap_ratio"]
        for d in (25, 100, 1000)
    ]
    assert errors[0] > errors[1] > errors[2]
    big = summarize(compare_sketch(trajectory, window=WINDOW, sketch_dim=1000))
    assert big["err_gap_ratio"] <= 0.057 and big["err_r23"] <= 0.057


def test_sketch_as_large_as_the_space_is_nearly_exact():
    x = np.random.default_rng(3).standard_normal((12, 300))
    table = compare_sketch(x, window=WINDOW, sketch_dim=30_000, seeds=(0,))
    assert table["err_gap_ratio"].median() < 0.02
    assert table["k_star_match"].all()


def test_too_few_updates_is_a_clear_error():
    with pytest.raises(SpectralEdgeError, match="at least window=10"):
        compare_sketch(np.ones((3, 5)), window=WINDOW)


def test_torch_updates_match_numpy_updates(trajectory):
    as_numpy = compare_sketch(trajectory[:12], window=WINDOW, sketch_dim=64, seeds=(4,))
    as_torch = compare_sketch(
        [torch.from_numpy(u) for u in trajectory[:12]], window=WINDOW, sketch_dim=64, seeds=(4,)
    )
    # The same sketch summed along two paths: each entry within γ_P·Σ|x| ≤ γ_P·√P·‖x‖, so each
    # Gram entry within 2·γ_P·√P·‖a‖‖b‖, each λ within W times that of λ_1, and r23 = σ2/σ3
    # (hence err_r23) within half of λ_1·(1/λ2 + 1/λ3) times it, relatively.
    x = np.stack(trajectory[:12])
    p = x.shape[1]
    cond = max(
        (lambda lam: lam[0] * (1 / lam[1] + 1 / lam[2]))(
            np.linalg.svd(x[i : i + WINDOW], compute_uv=False) ** 2
        )
        for i in range(12 - WINDOW + 1)
    )
    rel = WINDOW * sum_tol(p) * np.sqrt(p) * cond
    atol = rel * (1 + np.max(as_numpy["err_r23"]))
    np.testing.assert_allclose(as_numpy["err_r23"], as_torch["err_r23"], rtol=0, atol=atol)
