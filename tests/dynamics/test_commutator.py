"""Commutator defect: restores parameters, zero for commuting steps, the onset rule."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from spectral_edge.dynamics.commutator import commutator_onset
from spectral_edge.errors import SpectralEdgeError
from spectral_edge.reproduce.probes.commutator import commutator_defect, commutator_probe


def mse(model, batch):
    x, y = batch
    return 0.5 * ((model(x).squeeze(-1) - y) ** 2).mean()


def linear(p=6, seed=0):
    torch.manual_seed(seed)
    return torch.nn.Linear(p, 1, bias=False).double()


def test_identical_batches_commute_and_parameters_are_restored():
    model = linear()
    before = [p.detach().clone() for p in model.parameters()]
    x = torch.randn(8, 6, dtype=torch.float64)
    y = torch.randn(8, dtype=torch.float64)
    d = commutator_defect(model, mse, (x, y), (x, y))
    assert d == pytest.approx(0.0, abs=1e-9)
    for p, b in zip(model.parameters(), before, strict=True):
        assert torch.equal(p, b)
        assert p.grad is None


def test_orthogonal_batches_in_linear_regression_commute():
    model = linear()
    xa = torch.zeros(4, 6, dtype=torch.float64)
    xb = torch.zeros(4, 6, dtype=torch.float64)
    xa[:, :3] = torch.randn(4, 3, dtype=torch.float64)
    xb[:, 3:] = torch.randn(4, 3, dtype=torch.float64)
    ya, yb = torch.randn(4, dtype=torch.float64), torch.randn(4, dtype=torch.float64)
    assert commutator_defect(model, mse, (xa, ya), (xb, yb)) == pytest.approx(0.0, abs=1e-9)
    # Overlapping inputs do not commute, and the second-order formula predicts D.
    xc = torch.randn(4, 6, dtype=torch.float64)
    d = commutator_defect(model, mse, (xa, ya), (xc, yb))
    assert d > 1e-3
    w = model.weight.detach().reshape(-1)
    ha, hc = xa.T @ xa / 4, xc.T @ xc / 4
    ga, gc = ha @ w - xa.T @ ya / 4, hc @ w - xc.T @ yb / 4
    expected = torch.linalg.norm(ha @ gc - hc @ ga) / (ga.norm() * gc.norm())
    assert d == pytest.approx(float(expected), rel=1e-6)


def test_probe_median_and_restoration_on_a_nonlinear_model():
    torch.manual_seed(1)
    model = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    batches = [(torch.randn(6, 5), torch.randn(6)) for _ in range(10)]
    out = commutator_probe(model, mse, zip(batches[::2], batches[1::2], strict=True))
    assert out["pairs"] == 5 and out["defect"] == pytest.approx(np.median(out["values"]))
    assert out["defect"] > 0
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k])


def test_restores_parameters_when_the_loss_fails():
    model = linear()
    before = model.weight.detach().clone()
    calls = {"n": 0}

    def flaky(m, batch):
        calls["n"] += 1
        if calls["n"] == 3:  # the gradient after the first step
            return torch.tensor(float("nan"))
        return mse(m, batch)

    batch = (torch.randn(4, 6, dtype=torch.float64), torch.randn(4, dtype=torch.float64))
    with pytest.raises(SpectralEdgeError, match="not finite"):
        commutator_defect(model, flaky, batch, batch)
    assert torch.equal(model.weight, before)


def test_bad_inputs():
    model = linear()
    batch = (torch.zeros(4, 6, dtype=torch.float64), torch.zeros(4, dtype=torch.float64))
    with pytest.raises(SpectralEdgeError, match="zero"):
        commutator_defect(model, mse, batch, batch)
    with pytest.raises(SpectralEdgeError, match="η_c"):
        commutator_defect(model, mse, batch, batch, lr=0.0)
    with pytest.raises(SpectralEdgeError, match="at least one"):
        commutator_probe(model, mse, [])


def test_onset_rule():
    steps = np.arange(10) * 100
    # Baseline median 2 → threshold max(10·2, 20) = 20; index 1 is excluded by min_index.
    v = [1.0, 50.0, 2.0, 3.0, 19.0, 25.0, 40.0, 60.0, 80.0, 90.0]
    out = commutator_onset(steps, v)
    assert out["onset_step"] == 500 and out["threshold"] == 20.0
    # A high baseline raises the bar: 10·max(5, 0.1) = 50.
    out = commutator_onset(steps, [5.0, 5.0, 5.0, 30.0, 45.0, 51.0, 1, 1, 1, 1])
    assert out["onset_step"] == 500
    # The floor: a near-zero baseline still needs > 20 (absolute).
    out = commutator_onset(steps, [0.0, 0.0, 0.0, 1.5, 15.0, 0, 0, 0, 0, 0])
    assert out["onset_step"] is None
    with pytest.raises(SpectralEdgeError, match="measurements"):
        commutator_onset([0, 100, 200], [1.0, 2.0, 3.0])
