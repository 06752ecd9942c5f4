"""Spectral loss decomposition against mode ablation (docs/thesis.md §5, prediction T8).

The window's updates X (W×P, rows δ_i, parameter order as in :mod:`.model`) have the Gram
G = XXᵀ = UΛUᵀ and mode directions v_j = Xᵀu_j/σ_j (unit vectors in R^P). Each mode carries a
share of the window's displacement Δ = Σ_i δ_i = Xᵀ1:

    c_j = ⟨Δ, v_j⟩ = σ_j·(u_jᵀ1),     Δ = Σ_j c_j v_j.

Ablating mode j means undoing that share, θ → θ − c_j v_j, and its actual importance is the
validation-loss change I_j = L_val(θ − c_j v_j) − L_val(θ) (positive: the mode helped).

Predictions:

- first order (exact in the linearised regime): I_j ≈ −c_j·G_j^val with G_j^val = ⟨v_j, ∇L_val⟩.
  It says whether the decomposition is self-consistent; its error is O(c_j²·curvature).
- the thesis' proxy: I_j ∝ α_j·G_j^train·G_j^val. Under SGD the displacement along v_j is
  c_j ≈ −ηW·α_j·G_j^train (W steps, coherent to the extent α_j), which turns the first-order
  form into ηW·α_j·G_j^train·G_j^val. The proxy uses the gradient now for the whole window, so
  it can only predict up to that scale; the agreement is scored by the Pearson and Spearman
  correlations across modes, the sign agreement and the least-squares scale s in I ≈ s·proxy
  (ideal s ≈ ηW).

α_j defaults to 1 for every mode (pure gradient alignment); pass the run's α_j (e.g. the
window's stored alpha_j, or :func:`spectral_edge.core.stability.stability_alpha`) to test the
full form. Parameters are restored after every ablation.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from spectral_edge.errors import SpectralEdgeError
from spectral_edge.reproduce.probes.model import (
    LossFn,
    add,
    as_matrix,
    gradient,
    loss_value,
    numel,
    parameters,
    preserved,
)

__all__ = ["mode_directions", "spectral_loss_decomposition"]

# Modes with σ_j ≤ NULL_RTOL·σ_1 have no direction (same convention as core.stability).
NULL_RTOL = 1e-6


def mode_directions(updates) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(σ, V, c): singular values, unit directions v_j = Xᵀu_j/σ_j as rows, displacement shares.

    Null modes (σ_j ≤ 1e-6·σ_1) are dropped. Signs: u_j is flipped so that c_j ≥ 0, which makes
    v_j point along the mode's net movement.
    """
    x = as_matrix(updates, "updates X (W×P)")
    gram = x @ x.T
    lam, u = np.linalg.eigh(gram)
    lam, u = np.clip(lam[::-1], 0.0, None), u[:, ::-1]
    sigma = np.sqrt(lam)
    if sigma[0] == 0:
        raise SpectralEdgeError("the updates X are all zero: no modes")
    keep = sigma > NULL_RTOL * sigma[0]
    sigma, u = sigma[keep], u[:, keep]
    share = sigma * u.sum(axis=0)
    flip = np.where(share < 0, -1.0, 1.0)
    u = u * flip
    v = (x.T @ u / sigma).T
    return sigma, v, np.abs(share)


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    ra = np.argsort(np.argsort(a)).astype(float)
    rb = np.argsort(np.argsort(b)).astype(float)
    return _pearson(ra, rb)


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    if len(a) < 3 or np.std(a) == 0 or np.std(b) == 0:
        return math.nan
    return float(np.corrcoef(a, b)[0, 1])


def spectral_loss_decomposition(
    model: torch.nn.Module,
    loss_fn: LossFn,
    updates,
    train_batch,
    val_batch,
    *,
    alphas=None,
    modes: int | None = None,
    params: Sequence[torch.Tensor] | None = None,
) -> dict:
    """Per-mode G^train, G^val, the predicted importances and the ablated validation-loss change.

    ``updates`` is the window X (W×P) in the parameter order of ``params`` (default: trainable
    parameters by name); ``model`` sits at the end of the window. ``loss_fn(model, batch)`` gives
    the loss of a batch; ``val_batch`` is required (the decomposition is about validation loss).
    ``modes`` limits the analysis to the top modes. Returns per-mode lists and the agreement
    scores described in the module docstring.
    """
    if val_batch is None:
        raise SpectralEdgeError(
            "the spectral loss decomposition needs validation data (val_batch): G_j^val and the "
            "ablated loss are measured on it"
        )
    if train_batch is None:
        raise SpectralEdgeError("the spectral loss decomposition needs training data (train_batch)")
    ps = parameters(model, params)
    p_dim = numel(ps)
    x = as_matrix(updates, "updates X (W×P)")
    if x.shape[1] != p_dim:
        raise SpectralEdgeError(
            f"the updates have {x.shape[1]} columns but the probed parameters hold {p_dim} "
            "entries; pass params in the order the updates were flattened"
        )
    sigma, v, share = mode_directions(x)
    n = len(sigma) if modes is None else min(int(modes), len(sigma))
    if n < 1:
        raise SpectralEdgeError("modes must be ≥ 1")
    sigma, v, share = sigma[:n], v[:n], share[:n]
    if alphas is None:
        a = np.ones(n)
    else:
        a = np.asarray(alphas, dtype=np.float64).reshape(-1)
        if a.size < n or not np.all(np.isfinite(a[:n])):
            raise SpectralEdgeError(f"alphas must give a finite α for each of the {n} modes")
        a = a[:n]
    with preserved(ps):
        g_train = gradient(model, loss_fn, train_batch, ps, what="training loss")
        g_val = gradient(model, loss_fn, val_batch, ps, what="validation loss")
        with torch.no_grad():
            base = float(loss_value(model, loss_fn, val_batch, "validation loss"))
        actual = np.empty(n)
        for j in range(n):
            with preserved(ps):
                add(ps, v[j], -share[j])
                with torch.no_grad():
                    actual[j] = float(loss_value(model, loss_fn, val_batch, "ablated loss")) - base
    gt, gv = v @ g_train, v @ g_val
    first_order = -share * gv
    proxy = a * gt * gv
    denom = float(proxy @ proxy)
    scale = float(proxy @ actual) / denom if denom > 0 else math.nan
    nz = (actual != 0) & (proxy != 0)
    return {
        "sigma": sigma.tolist(),
        "share": share.tolist(),
        "alpha": a.tolist(),
        "G_train": gt.tolist(),
        "G_val": gv.tolist(),
        "predicted": proxy.tolist(),
        "first_order": first_order.tolist(),
        "actual": actual.tolist(),
        "val_loss": base,
        "pearson": _pearson(proxy, actual),
        "spearman": _spearman(proxy, actual),
        "sign_agreement": float(np.mean(np.sign(proxy[nz]) == np.sign(actual[nz])))
        if nz.any()
        else math.nan,
        "scale": scale,
        "first_order_pearson": _pearson(first_order, actual),
        "first_order_max_abs_error": float(np.max(np.abs(first_order - actual))),
        "n_modes": n,
        "ablation": "theta - c_j v_j, c_j = <sum of window updates, v_j>",
    }
