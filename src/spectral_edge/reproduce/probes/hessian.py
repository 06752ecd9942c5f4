"""Top Hessian eigenvalues by Lanczos on Hessian-vector products (docs/thesis.md §5, T3).

The eigenvalues h_j feed the Krylov bound k* ≤ #{j : h_j ≳ 1/(ηW)}
(:func:`spectral_edge.dynamics.hessian.krylov_bound`).

Lanczos: the Hessian is never formed. Hv is the gradient of ⟨∇L(θ), v⟩ (double backward through
:func:`torch.autograd.grad`), costing about two gradient evaluations. ``iters`` Lanczos steps
build an orthonormal Krylov basis Q and the tridiagonal T = QᵀHQ whose extreme eigenvalues (Ritz
values) converge first to the extreme eigenvalues of H. Full re-orthogonalisation (float64)
keeps the basis orthogonal so no spurious copies of converged eigenvalues appear; it costs
O(iters·P) memory, fine for iters ≲ 100. With iters = P the result is exact (up to round-off).
The returned values are the top ``k`` Ritz values (largest algebraic, so the most positive
curvature); the residual norms |β_m·s_{m,i}| bound each Ritz value's error and are returned.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel

from spectral_edge.errors import SpectralEdgeError
from spectral_edge.reproduce.probes.model import LossFn, loss_value, numel, parameters, preserved

__all__ = ["hessian_top_eigenvalues", "hvp"]


def hvp(model, loss_fn: LossFn, batch, params, vector: np.ndarray) -> np.ndarray:
    """H·v at the current parameters, as a float64 vector (v in parameter order).

    Attention runs on the math backend of scaled-dot-product attention here: the fused CPU
    kernel has no second derivative, and H·v is a derivative of a derivative.
    """
    with sdpa_kernel(SDPBackend.MATH):
        loss = loss_value(model, loss_fn, batch)
        grads = torch.autograd.grad(loss, params, create_graph=True, allow_unused=True)
    pieces, offset = [], 0
    dot = None
    for p, g in zip(params, grads, strict=True):
        n = p.numel()
        if g is not None:
            v = torch.as_tensor(vector[offset : offset + n], dtype=p.dtype, device=p.device)
            term = torch.sum(g.reshape(-1) * v)
            dot = term if dot is None else dot + term
        offset += n
    if dot is None or not dot.requires_grad:
        return np.zeros(numel(params))
    hv = torch.autograd.grad(dot, params, allow_unused=True)
    for p, h in zip(params, hv, strict=True):
        pieces.append(
            np.zeros(p.numel()) if h is None else h.detach().reshape(-1).double().cpu().numpy()
        )
    return np.concatenate(pieces)


def hessian_top_eigenvalues(
    model: torch.nn.Module,
    loss_fn: LossFn,
    batch=None,
    *,
    k: int = 10,
    iters: int | None = None,
    seed: int = 0,
    params: Sequence[torch.Tensor] | None = None,
) -> dict:
    """The top-``k`` Hessian eigenvalues of ``loss_fn(model, batch)`` by Lanczos.

    ``iters`` defaults to min(P, max(3k, k + 20)). Returns ``{"eigenvalues": descending,
    "residuals": error bounds, "iters", "n_params"}``. Parameters are unchanged afterwards.
    """
    ps = parameters(model, params)
    p_dim = numel(ps)
    if isinstance(k, bool) or int(k) != k or not 1 <= k <= p_dim:
        raise SpectralEdgeError(f"k must be an integer in 1..{p_dim} (P); got {k!r}")
    m = min(p_dim, max(3 * k, k + 20)) if iters is None else int(iters)
    if not k <= m <= p_dim:
        raise SpectralEdgeError(f"iters must lie in k..P = {k}..{p_dim}; got {iters!r}")
    rng = np.random.default_rng(seed)
    q = rng.standard_normal(p_dim)
    q /= np.linalg.norm(q)
    basis = np.empty((m, p_dim))
    alphas, betas = [], []
    beta = 0.0
    with preserved(ps):
        for j in range(m):
            basis[j] = q
            w = hvp(model, loss_fn, batch, ps, q)
            if not np.all(np.isfinite(w)):
                raise SpectralEdgeError("a Hessian-vector product is not finite")
            a = float(w @ q)
            alphas.append(a)
            # Full re-orthogonalisation against every earlier basis vector (twice is enough).
            for _ in range(2):
                w -= basis[: j + 1].T @ (basis[: j + 1] @ w)
            beta = float(np.linalg.norm(w))
            if j == m - 1:
                break
            scale = max(abs(a), max((abs(x) for x in alphas), default=0.0), 1e-300)
            if beta <= 1e-10 * scale:
                # Invariant subspace found: the Ritz values are exact eigenvalues.
                basis = basis[: j + 1]
                break
            betas.append(beta)
            q = w / beta
    n = len(alphas)
    t = np.diag(alphas) + np.diag(betas[: n - 1], 1) + np.diag(betas[: n - 1], -1)
    ritz, vecs = np.linalg.eigh(t)
    order = np.argsort(ritz)[::-1]
    top = order[: min(k, n)]
    residuals = np.abs(beta * vecs[-1, top])
    return {
        "eigenvalues": ritz[top].tolist(),
        "residuals": residuals.tolist(),
        "iters": n,
        "n_params": p_dim,
    }
