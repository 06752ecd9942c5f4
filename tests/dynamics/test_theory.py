"""Theory checks: ODE simulators vs closed forms, fits, gap flow, Lanczos, loss decomposition."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from spectral_edge.dynamics.gapflow import gap_flow_regression
from spectral_edge.dynamics.hessian import krylov_bound
from spectral_edge.dynamics.ode import (
    fit_relaxation,
    relaxation,
    simulate_gap_flow,
    simulate_signal_strength,
    steady_state_strength,
)
from spectral_edge.errors import SpectralEdgeError
from spectral_edge.reproduce.probes.decomposition import (
    mode_directions,
    spectral_loss_decomposition,
)
from spectral_edge.reproduce.probes.hessian import hessian_top_eigenvalues

ETA, W, OMEGA = 0.05, 10, 0.1


def test_signal_ode_steady_state_is_G_over_sqrt_curvature():
    h = np.array([0.5, 1.0, 4.0, 9.0, 0.2])
    G = np.array([1.0, 2.0, 0.5, 3.0, 0.1])
    kappa = 0.3
    t = np.linspace(0, 2000, 50)
    d = simulate_signal_strength(t, 0.01, eta=ETA, window=W, h=h, omega=OMEGA, G=G, N=kappa * G)
    final = d[-1]
    assert np.allclose(
        final,
        steady_state_strength(eta=ETA, window=W, h=h, omega=OMEGA, G=G, N=kappa * G),
        rtol=1e-6,
    )
    ratio = final / (np.abs(G) / np.sqrt(h + OMEGA))
    assert np.allclose(ratio, ratio[0], rtol=1e-6)
    assert ratio[0] == pytest.approx(math.sqrt(ETA * W * kappa), rel=1e-6)


def test_integrators_match_the_closed_form():
    t = np.linspace(0, 60, 31)
    h, G, N = 2.0, 1.5, 0.4
    k, c = 2 * ETA * (h + OMEGA), ETA**2 * W * 2 * G * N
    exact = np.sqrt(relaxation(t, 0.25, k, c))
    rk4 = simulate_signal_strength(t, 0.5, eta=ETA, window=W, h=h, omega=OMEGA, G=G, N=N)[:, 0]
    assert np.allclose(rk4, exact, rtol=1e-8)
    ivp = simulate_signal_strength(
        t, 0.5, eta=ETA, window=W, h=h, omega=OMEGA, G=G, N=N, method="solve_ivp"
    )[:, 0]
    assert np.allclose(ivp, exact, rtol=1e-6)
    errs = [
        np.max(
            np.abs(
                simulate_signal_strength(
                    t,
                    0.5,
                    eta=ETA,
                    window=W,
                    h=h,
                    omega=OMEGA,
                    G=G,
                    N=N,
                    method="euler",
                    substeps=s,
                )[:, 0]
                - exact
            )
        )
        for s in (2, 20)
    ]
    assert errs[1] < errs[0] / 5  # first order: ten times the steps, about a tenth the error


def test_gap_flow_settles_at_g_star():
    t = np.linspace(0, 3000, 40)
    args = dict(
        eta=ETA, window=W, h_k=0.5, h_k1=0.9, omega=OMEGA, G_k=0.3, G_k1=0.1, d_k=2.0, d_k1=1.0
    )
    g = simulate_gap_flow(t, 0.0, **args)
    hbar, dbar = 0.7, 1.5
    c = -(0.5 - 0.9) * dbar + W * (0.3**2 / 2.0 - 0.1**2 / 1.0)
    assert g[-1] == pytest.approx(c / (hbar + OMEGA), rel=1e-6)
    # The regression on the simulated flow recovers the damping and the fixed point.
    reg = gap_flow_regression(t[:15], g[:15], difference="forward")
    assert reg["damped"] and reg["corr"] < -0.99
    assert reg["g_star"] == pytest.approx(g[-1], rel=0.05)


def test_fit_recovers_a_relaxation_and_beats_persistence():
    rng = np.random.default_rng(0)
    steps = np.arange(0, 4000, 100)
    y = relaxation(steps, 1.0, 1e-3, 1e-3 * 5.0) + 0.01 * rng.standard_normal(len(steps))
    out = fit_relaxation(steps, y, train_fraction=0.5)
    assert out["k"] == pytest.approx(1e-3, rel=0.1)
    assert out["y_star"] == pytest.approx(5.0, rel=0.05)
    assert out["beats_persistence"] and out["relative_prediction_error"] < 0.05


def test_fit_bad_input():
    with pytest.raises(SpectralEdgeError, match="at least"):
        fit_relaxation([1, 2, 3, 4], [1.0, 2.0, 3.0, 4.0])
    steps = np.arange(20) * 10
    with pytest.raises(SpectralEdgeError, match="did not converge"):
        fit_relaxation(steps, np.exp(-steps / 50.0) + np.sin(steps), max_nfev=1)
    with pytest.raises(SpectralEdgeError, match="at least"):
        gap_flow_regression([1, 2, 3], [1.0, 2.0, 3.0])


class Quadratic(torch.nn.Module):
    def __init__(self, p):
        super().__init__()
        self.theta = torch.nn.Parameter(torch.randn(p, dtype=torch.float64))


def test_lanczos_finds_the_top_eigenvalues_of_a_known_quadratic():
    torch.manual_seed(0)
    p = 40
    eigs = np.r_[[200.0, 90.0, 35.0, 12.0], np.linspace(0.1, 2.0, p - 4)]
    q, _ = np.linalg.qr(np.random.default_rng(0).standard_normal((p, p)))
    a = torch.as_tensor(q @ np.diag(eigs) @ q.T)
    model = Quadratic(p)
    before = model.theta.detach().clone()

    def loss(m, _batch):
        return 0.5 * m.theta @ a @ m.theta

    out = hessian_top_eigenvalues(model, loss, k=4, iters=20)
    assert np.allclose(out["eigenvalues"], eigs[:4], rtol=1e-8)
    assert torch.equal(model.theta, before)
    bound = krylov_bound(out["eigenvalues"], lr=0.01, window=10, k_star=2)
    assert bound["threshold"] == pytest.approx(10.0)
    assert bound["count"] == 4 and bound["holds"] is True
    # Every value passed clears the threshold: the count is a lower bound, k* = 6 undecided.
    assert krylov_bound(out["eigenvalues"], lr=0.01, window=10, k_star=6)["holds"] is None
    assert krylov_bound(eigs, lr=0.01, window=10, k_star=5)["holds"] is False
    assert krylov_bound(eigs, lr=0.01, window=10, k_star=3)["holds"] is True


def mlp_loss(model, batch):
    x, y = batch
    return ((model(x).squeeze(-1) - y) ** 2).mean()


def test_loss_decomposition_matches_brute_force_ablation():
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(3, 6), torch.nn.Tanh(), torch.nn.Linear(6, 1)
    ).double()
    train = (torch.randn(32, 3, dtype=torch.float64), torch.randn(32, dtype=torch.float64))
    val = (torch.randn(32, 3, dtype=torch.float64), torch.randn(32, dtype=torch.float64))
    params = sorted(model.named_parameters(), key=lambda kv: kv[0])
    ps = [p for _, p in params]
    lr, w = 1e-4, 6
    flat = lambda: torch.cat([p.detach().reshape(-1) for p in ps]).numpy().copy()  # noqa: E731
    rows, prev = [], flat()
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    for _ in range(w):
        opt.zero_grad()
        mlp_loss(model, train).backward()
        opt.step()
        cur = flat()
        rows.append(cur - prev)
        prev = cur
    x = np.array(rows)
    opt.zero_grad(set_to_none=True)
    out = spectral_loss_decomposition(model, mlp_loss, x, train, val)
    assert np.allclose(flat(), prev)  # parameters restored

    # Brute force: SVD of X, ablate each mode's share of the displacement, re-evaluate.
    _, s, vt = np.linalg.svd(x, full_matrices=False)
    with torch.no_grad():
        base = float(mlp_loss(model, val))
    brute = []
    for j in range(len(out["actual"])):
        v = vt[j]
        c = float(v @ x.sum(axis=0))
        theta = prev - c * v
        off = 0
        with torch.no_grad():
            for p in ps:
                p.copy_(torch.as_tensor(theta[off : off + p.numel()]).reshape(p.shape))
                off += p.numel()
            brute.append(float(mlp_loss(model, val)) - base)
            off = 0
            for p in ps:
                p.copy_(torch.as_tensor(prev[off : off + p.numel()]).reshape(p.shape))
                off += p.numel()
    assert np.allclose(out["actual"], brute, rtol=1e-6, atol=1e-12)
    # Linearised regime: first order is exact up to O(c²), and the α·G·G proxy is ηW·(…).
    top = abs(out["actual"][0])
    assert out["first_order_max_abs_error"] < 1e-2 * top
    assert out["actual"][0] == pytest.approx(out["predicted"][0] * lr * w, rel=0.02)
    assert out["scale"] == pytest.approx(lr * w, rel=0.02)
    sigma, v, share = mode_directions(x)
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0)
    assert np.allclose(share @ v, x.sum(axis=0), atol=1e-12)


def test_loss_decomposition_bad_input():
    model = torch.nn.Linear(2, 1).double()
    batch = (torch.randn(4, 2, dtype=torch.float64), torch.randn(4, dtype=torch.float64))
    with pytest.raises(SpectralEdgeError, match="validation data"):
        spectral_loss_decomposition(model, mlp_loss, np.ones((3, 3)), batch, None)
    with pytest.raises(SpectralEdgeError, match="columns"):
        spectral_loss_decomposition(model, mlp_loss, np.ones((3, 5)), batch, batch)


def test_hessian_of_a_transformer_with_fused_attention():
    """The fused CPU attention kernel has no double backward; H·v must still work on the
    modular-arithmetic transformer, and agree with a finite difference of gradients."""
    import numpy as np
    import torch

    from spectral_edge.lab.models import build_model
    from spectral_edge.reproduce.probes.hessian import hvp
    from spectral_edge.reproduce.probes.model import gradient, parameters

    torch.manual_seed(0)
    model = build_model("modular-transformer", p=7).double()
    x = torch.randint(0, 7, (16, 3))
    y = torch.randint(0, 7, (16,))

    def loss_fn(m, batch):
        return torch.nn.functional.cross_entropy(m(batch[0]), batch[1])

    ps = parameters(model)
    v = np.random.default_rng(0).standard_normal(sum(p.numel() for p in ps))
    hv = hvp(model, loss_fn, (x, y), ps, v)
    eps = 1e-6
    offset, flat = 0, torch.as_tensor(v)
    with torch.no_grad():
        for p in ps:
            p.add_(eps * flat[offset : offset + p.numel()].reshape(p.shape))
            offset += p.numel()
    g_plus = gradient(model, loss_fn, (x, y), ps)
    offset = 0
    with torch.no_grad():
        for p in ps:
            p.sub_(2 * eps * flat[offset : offset + p.numel()].reshape(p.shape))
            offset += p.numel()
    g_minus = gradient(model, loss_fn, (x, y), ps)
    fd = (g_plus - g_minus) / (2 * eps)
    # central differences in float64: error O(eps²·‖∇³L‖) + O(u/eps) ≈ 1e-10 relative to ‖Hv‖
    np.testing.assert_allclose(hv, fd, atol=1e-6 * np.linalg.norm(hv))
