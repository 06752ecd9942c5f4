"""Readings that need the model or the raw updates, made afterwards from files the runs saved.

The transformer runs save their weights every 200 steps (and at grokking) under
``<store dir>/weights/<run>/step-NNNNNNN.pt``; the heavy run saves the window's updates X (W×P,
all parameters in the probes' order: trainable parameters sorted by name) at every
decomposition point under ``<store dir>/probes/<run>/updates-step-NNNNNNN.npy``. From these:

- :func:`matrix_pc1_shares` (C10, the author's ``pca_on_trajectory``): for each attention weight
  matrix (W_Q, W_K, W_V, W_O of every layer) the rows vec(W_t − W_0) over the snapshots,
  column-centred, and PC1 = σ_1²/Σσ²;
- :func:`reconstruction_accuracy` (C11): the test accuracy of θ_0 + B_kB_kᵀ(θ_T − θ_0) for the
  top-k trajectory PCs of all parameters, uncentred (the author's multi-task script) or centred;
- :func:`author_decomposition` (T8, the author's ``loss_decomposition.py``): modes of the
  attention-parameter Gram of X, split-half α, G_j = ⟨v_j, ∇L⟩ on the training and test sets,
  predicted importance α_j·G_j^train·G_j^val against the test-loss change when the weights' own
  projection ⟨θ, v_j⟩v_j is removed;
- :func:`sketch_errors` (C3): the dense Gaussian sketch at d = 10W of each saved window against
  the exact Gram.

Everything is rebuilt from the run's recorded config (:func:`spectral_edge.lab.trainer.make_task`)
and the model's parameters are restored after every measurement.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import torch

from spectral_edge.core.accuracy import compare_sketch
from spectral_edge.core.stability import stability_alpha_split
from spectral_edge.lab.presets import config_from_dict
from spectral_edge.lab.trainer import make_task
from spectral_edge.reproduce.engine import NotRun, RunView
from spectral_edge.reproduce.nulls import spearman
from spectral_edge.reproduce.probes.holographic import trajectory_pca_accuracy
from spectral_edge.reproduce.probes.model import add, gradient, loss_value, parameters, preserved
from spectral_edge.snapshot import select_parameters

STEP_FILE = re.compile(r"step-(\d+)")
AUTHOR_MODES = 6  # the author's loss_decomposition.py analyses j < 6


def _step(path: Path) -> int:
    return int(STEP_FILE.search(path.name).group(1))


def weight_files(v: RunView, until: int | None = None) -> list[tuple[int, Path]]:
    """(step, path) of the run's saved weights, in step order, up to ``until``."""
    out = [(_step(p), p) for p in v.files("weights", "step-*.pt")]
    out = [(s, p) for s, p in sorted(out) if until is None or s <= until]
    if len(out) < 3:
        raise NotRun(f"run {v.name} saved {len(out)} weight snapshots up to {until}; need 3")
    return out


def _state(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)["model"]


def _model_and_task(v: RunView):
    task = make_task(config_from_dict(v.train))
    model = task.build_model()
    model.train()  # the author measures in train mode; our models have no dropout
    return model, task


def _attention(model) -> tuple[list[str], list[torch.Tensor], np.ndarray]:
    """The attention weight matrices (the monitor's ``attention`` selection: W_Q, W_K, W_V,
    W_O, no biases): names, parameters, and their columns in the flat vector of all
    parameters, all in that vector's order."""
    chosen = {id(p): n for n, p in select_parameters(model, "attention")}
    names, params, cols, offset = [], [], [], 0
    for p in parameters(model):
        if id(p) in chosen:
            names.append(chosen[id(p)])
            params.append(p)
            cols.append(np.arange(offset, offset + p.numel()))
        offset += p.numel()
    return names, params, np.concatenate(cols)


# --- C10 -------------------------------------------------------------------------------------


def matrix_pc1_shares(v: RunView, until: int) -> dict:
    """Per attention matrix, the centred PC1 share of vec(W_t − W_0) over the saved snapshots
    up to ``until`` (see the module docstring). Returns ``{"shares": {name: share},
    "snapshots": T, "dim": entries per matrix}``."""
    files = weight_files(v, until)
    states = [_state(p) for _, p in files]
    names, _, _ = _attention(_model_and_task(v)[0])
    shares = {}
    for name in names:
        rows = np.stack([s[name].double().reshape(-1).numpy() for s in states])
        x = rows - rows[0]
        x -= x.mean(axis=0)
        lam = np.clip(np.linalg.eigvalsh(x @ x.T), 0.0, None)
        shares[name] = float(lam[-1] / lam.sum())
    return {"shares": shares, "snapshots": len(files), "dim": int(states[0][names[0]].numel())}


# --- C11 -------------------------------------------------------------------------------------


def reconstruction_accuracy(v: RunView, until: int, ks, *, center: bool, bar: float) -> dict:
    """Test accuracy of θ_0 + B_kB_kᵀ(θ_T − θ_0) for k in ``ks`` (ascending), with θ_T the last
    saved weights up to ``until`` and B_k the top-k PCs of all trainable parameters' trajectory.

    The scan stops at the first k whose accuracy reaches ``bar`` (each k costs a pass over the
    test set, and only the first k that reaches the bar is reported)."""
    files = weight_files(v, until)
    model, task = _model_and_task(v)
    ps = parameters(model)
    traj = []
    with preserved(ps):
        for _, path in files:
            model.load_state_dict(_state(path))
            traj.append(np.concatenate([p.detach().double().reshape(-1).numpy() for p in ps]))
    traj = np.stack(traj)
    accuracy, final = {}, None
    for chunk in (list(ks)[i : i + 6] for i in range(0, len(ks), 6)):
        res = trajectory_pca_accuracy(
            model, lambda m: task.evaluate(m, ("test",))["test_acc"], traj, chunk, center=center
        )
        accuracy.update(res["accuracy"])
        final = res["final"]
        if max(res["accuracy"].values()) >= bar:
            break
    return {
        "accuracy": accuracy,
        "final": final,
        "final_step": files[-1][0],
        "snapshots": len(files),
    }


# --- T8 --------------------------------------------------------------------------------------


def update_files(v: RunView) -> dict[int, Path]:
    """step → the window's saved updates X (``probes/<run>/updates-step-*.npy``)."""
    return {_step(p): p for p in v.files("probes", "updates-step-*.npy")}


def author_decomposition(v: RunView, step: int) -> dict:
    """The author's T8 at one step where both X and the weights were saved (module docstring).

    Returns per-mode ``predicted``, ``actual``, ``alpha`` and the author's scores: Pearson and
    Spearman of |predicted| against |actual|.
    """
    weights = dict(weight_files(v))
    if step not in weights or step not in update_files(v):
        raise NotRun(f"run {v.name}: no weights and updates both saved at step {step}")
    model, task = _model_and_task(v)
    ps = parameters(model)
    _, attn, cols = _attention(model)
    x = np.load(update_files(v)[step]).astype(np.float64)[:, cols]
    gram = x @ x.T
    lam, u = np.linalg.eigh(gram)
    lam, u = np.clip(lam[::-1], 0.0, None), u[:, ::-1]
    alpha = stability_alpha_split(gram)
    defined = int(np.argmin(np.isfinite(alpha))) if not np.all(np.isfinite(alpha)) else alpha.size
    n = int(min(AUTHOR_MODES, defined, np.sum(lam > 1e-12 * lam[0])))
    if n < 1:
        raise NotRun(f"run {v.name}, step {step}: no mode with a split-half α")
    dirs = (x.T @ u[:, :n] / np.sqrt(lam[:n])).T  # unit rows v_j

    def loss_fn(m, batch):
        return task.forward(m, batch)[0]

    with preserved(ps):
        model.load_state_dict(_state(weights[step]))
        g_train = gradient(model, loss_fn, task.train, attn) @ dirs.T
        g_val = gradient(model, loss_fn, task.test, attn) @ dirs.T
        theta = np.concatenate([p.detach().double().reshape(-1).numpy() for p in attn])
        with torch.no_grad():
            base = float(loss_value(model, loss_fn, task.test))
            actual = np.empty(n)
            for j in range(n):
                with preserved(attn):
                    add(attn, dirs[j], -float(theta @ dirs[j]))
                    actual[j] = float(loss_value(model, loss_fn, task.test)) - base
    predicted = alpha[:n] * g_train * g_val
    a, b = np.abs(predicted), np.abs(actual)
    pearson = float(np.corrcoef(a, b)[0, 1]) if n >= 3 and a.std() > 0 and b.std() > 0 else None
    return {
        "step": step,
        "modes": n,
        "alpha": alpha[:n].tolist(),
        "predicted": predicted.tolist(),
        "actual": actual.tolist(),
        "pearson_abs": pearson,
        "spearman_abs": spearman(a, b),
    }


# --- C3 --------------------------------------------------------------------------------------


def sketch_errors(v: RunView, seeds=(0, 1, 2)) -> list[dict]:
    """Per saved window and sketch seed, the relative errors of the dense Gaussian sketch at
    d = 10W: R at the exact k*, r12 and r23 (:func:`spectral_edge.core.accuracy.compare_sketch`).
    """
    files = update_files(v)
    if not files:
        raise NotRun(f"run {v.name} saved no window updates")
    rows = []
    for step, path in sorted(files.items()):
        x = np.load(path)
        w = x.shape[0]
        table = compare_sketch(list(x), window=w, sketch_dim=10 * w, seeds=seeds, family="gaussian")
        for r in table.to_dict("records"):
            rows.append({"step": step, **r})
    return rows


__all__ = [
    "author_decomposition",
    "matrix_pc1_shares",
    "reconstruction_accuracy",
    "sketch_errors",
    "update_files",
    "weight_files",
]
