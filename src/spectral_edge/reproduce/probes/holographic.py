"""Holographic encoding and the execution manifold (docs/thesis.md §5, C10–C11).

An edge event is rank-1 in function space but dense in parameters: its direction v (a mode
direction v_j = Xᵀu_j/σ_j, or any P-vector) spreads over many coordinates. Two measures of
spread, both in (0, 1]:

- participation ratio PR = (Σ v_i²)² / (P·Σ v_i⁴): 1 for a perfectly flat vector, 1/P for one
  coordinate;
- mass fraction: the smallest fraction of coordinates whose squared entries hold ``mass`` (90 %)
  of ‖v‖².

Trajectory compression. The training trajectory θ_0, …, θ_T (rows) lies close to a
low-dimensional subspace. With its principal components (PCs of the rows centred on their mean),
θ_k = θ_0 + V_k V_kᵀ(θ_T − θ_0) keeps the part of the total displacement inside the top-k PCs.
The claim (C11) is that 3–5 PCs recover > 95 % of the final accuracy, whereas truncating each
weight matrix's own displacement to rank k (per-matrix SVD, θ_0 + rank_k(W_T − W_0)) does not.
Parameters that are not matrices (biases, norms) keep their final values under truncation, and
the model is restored afterwards.

Execution manifold (C10): the share of the trajectory's variance along its first PC,
λ_1/Σλ of the centred rows' Gram (T×T, so P can be large). The papers report 68–94 % for
attention weights.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from spectral_edge.errors import SpectralEdgeError
from spectral_edge.reproduce.probes.model import as_matrix, assign, numel, parameters, preserved

__all__ = [
    "direction_spread",
    "execution_manifold",
    "holographic_report",
    "low_rank_truncation_accuracy",
    "trajectory_pca_accuracy",
]


def direction_spread(vector, mass: float = 0.9) -> dict:
    """Participation ratio and the fraction of coordinates carrying ``mass`` of ‖v‖²."""
    v = np.asarray(vector, dtype=np.float64).reshape(-1)
    if v.size == 0 or not np.all(np.isfinite(v)):
        raise SpectralEdgeError("the direction must be a non-empty finite vector")
    if not 0.0 < mass <= 1.0:
        raise SpectralEdgeError(f"mass must lie in (0, 1], got {mass!r}")
    sq = v * v
    total = float(sq.sum())
    if total == 0:
        raise SpectralEdgeError("the direction is the zero vector")
    pr = total * total / (v.size * float(np.sum(sq * sq)))
    cum = np.cumsum(np.sort(sq)[::-1]) / total
    count = int(np.searchsorted(cum, mass - 1e-12) + 1)
    return {
        "participation_ratio": float(pr),
        "mass": float(mass),
        "mass_fraction": count / v.size,
        "mass_count": count,
        "n": int(v.size),
    }


def _pcs(traj: np.ndarray, center: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(variances λ descending, PCs as rows) of the trajectory, via its T×T Gram.

    ``center=True``: rows centred on their mean (the usual PCA). ``center=False``: the
    displacements θ_t − θ_0 (t ≥ 1) uncentred, as in the author's multi-task reconstruction
    script, which keeps the direction θ_T − θ_0 itself among the top components.
    """
    centred = traj - traj.mean(axis=0) if center else traj[1:] - traj[0]
    gram = centred @ centred.T
    lam, u = np.linalg.eigh(gram)
    lam, u = np.clip(lam[::-1], 0.0, None), u[:, ::-1]
    keep = lam > 1e-12 * max(float(lam[0]), 1e-300)
    lam, u = lam[keep], u[:, keep]
    pcs = (centred.T @ u / np.sqrt(lam)).T
    return lam, pcs


def execution_manifold(trajectory) -> dict:
    """PC1 share (and the cumulative shares) of a trajectory's variance; rows are snapshots."""
    traj = as_matrix(trajectory, "trajectory (T×P)")
    if traj.shape[0] < 3:
        raise SpectralEdgeError("the execution manifold needs at least 3 snapshots")
    lam, _ = _pcs(traj)
    if lam.size == 0:
        raise SpectralEdgeError("the trajectory does not move: no variance")
    shares = lam / lam.sum()
    return {
        "pc1_share": float(shares[0]),
        "cumulative_shares": np.cumsum(shares)[:10].tolist(),
        "n_snapshots": int(traj.shape[0]),
        "n_params": int(traj.shape[1]),
    }


def _check_eval(eval_fn):
    if not callable(eval_fn):
        raise SpectralEdgeError("eval_fn must be callable: eval_fn(model) -> accuracy")


def _evaluate(eval_fn, model) -> float:
    with torch.no_grad():
        value = float(eval_fn(model))
    if not np.isfinite(value):
        raise SpectralEdgeError("eval_fn returned a non-finite value")
    return value


def trajectory_pca_accuracy(
    model: torch.nn.Module,
    eval_fn: Callable[[torch.nn.Module], float],
    trajectory,
    ks: Sequence[int] = (1, 2, 3, 4, 5, 6),
    *,
    params: Sequence[torch.Tensor] | None = None,
    center: bool = True,
) -> dict:
    """eval_fn at θ_0 + V_kV_kᵀ(θ_T − θ_0) for each k (top-k trajectory PCs); model restored.

    ``center=False`` takes the PCs of the uncentred displacements θ_t − θ_0 (see :func:`_pcs`).
    """
    _check_eval(eval_fn)
    ps = parameters(model, params)
    traj = as_matrix(trajectory, "trajectory (T×P)")
    if traj.shape[1] != numel(ps):
        raise SpectralEdgeError(
            f"the trajectory has {traj.shape[1]} columns but the parameters hold {numel(ps)}"
        )
    if traj.shape[0] < 2:
        raise SpectralEdgeError("the trajectory needs at least 2 snapshots")
    _, pcs = _pcs(traj, center)
    disp = traj[-1] - traj[0]
    out = {}
    with preserved(ps):
        for k in ks:
            k = int(k)
            if k < 1:
                raise SpectralEdgeError("every k must be ≥ 1")
            vk = pcs[:k]
            assign(ps, traj[0] + vk.T @ (vk @ disp))
            out[k] = _evaluate(eval_fn, model)
        assign(ps, traj[-1])
        final = _evaluate(eval_fn, model)
    return {"accuracy": out, "final": final, "n_pcs": int(pcs.shape[0]), "centered": center}


def low_rank_truncation_accuracy(
    model: torch.nn.Module,
    eval_fn: Callable[[torch.nn.Module], float],
    initial: Sequence[torch.Tensor] | np.ndarray,
    ks: Sequence[int] = (1, 2, 3, 4, 5, 6),
    *,
    params: Sequence[torch.Tensor] | None = None,
) -> dict:
    """eval_fn with each weight matrix W set to W_0 + rank_k(W − W_0); model restored.

    ``initial`` holds θ_0: a flat vector in parameter order or one tensor per parameter. Tensors
    with more than two dimensions are reshaped to (shape[0], −1) for the SVD.
    """
    _check_eval(eval_fn)
    ps = parameters(model, params)
    if isinstance(initial, (list, tuple)):
        if len(initial) != len(ps):
            raise SpectralEdgeError("initial must hold one tensor per parameter")
        init = [torch.as_tensor(t).detach().double().cpu().numpy().reshape(-1) for t in initial]
        init = np.concatenate(init)
    else:
        init = np.asarray(initial, dtype=np.float64).reshape(-1)
    if init.size != numel(ps):
        raise SpectralEdgeError(f"initial has {init.size} entries, the parameters {numel(ps)}")
    out = {}
    with preserved(ps):
        finals = [p.detach().double().cpu().numpy().copy() for p in ps]
        for k in ks:
            k = int(k)
            if k < 1:
                raise SpectralEdgeError("every k must be ≥ 1")
            offset = 0
            with torch.no_grad():
                for p, final in zip(ps, finals, strict=True):
                    n = p.numel()
                    if p.dim() >= 2:
                        w0 = init[offset : offset + n].reshape(p.shape[0], -1)
                        d = final.reshape(p.shape[0], -1) - w0
                        u, s, vt = np.linalg.svd(d, full_matrices=False)
                        approx = w0 + (u[:, :k] * s[:k]) @ vt[:k]
                        p.copy_(torch.as_tensor(approx.reshape(p.shape), dtype=p.dtype))
                    offset += n
            out[k] = _evaluate(eval_fn, model)
            with torch.no_grad():
                for p, final in zip(ps, finals, strict=True):
                    p.copy_(torch.as_tensor(final, dtype=p.dtype))
    return {"accuracy": out}


def holographic_report(
    model,
    eval_fn,
    trajectory,
    ks: Sequence[int] = (1, 2, 3, 4, 5, 6),
    *,
    directions=None,
    target: float = 0.95,
    params=None,
) -> dict:
    """Trajectory-PC accuracy vs per-matrix truncation, the smallest k reaching ``target``×final
    for each, and the spread of the given edge ``directions`` (rows)."""
    traj = as_matrix(trajectory, "trajectory (T×P)")
    pca = trajectory_pca_accuracy(model, eval_fn, traj, ks, params=params)
    trunc = low_rank_truncation_accuracy(model, eval_fn, traj[0], ks, params=params)
    goal = target * pca["final"]

    def first_k(acc: dict):
        hits = [k for k in sorted(acc) if acc[k] >= goal]
        return hits[0] if hits else None

    report = {
        "pca_accuracy": pca["accuracy"],
        "truncation_accuracy": trunc["accuracy"],
        "final_accuracy": pca["final"],
        "target": float(target),
        "pca_k_needed": first_k(pca["accuracy"]),
        "truncation_k_needed": first_k(trunc["accuracy"]),
        "execution_manifold": execution_manifold(traj) if traj.shape[0] >= 3 else None,
    }
    if directions is not None:
        d = as_matrix(directions, "directions")
        report["spread"] = [direction_spread(row) for row in d]
    return report
