"""Readings made afterwards from a real run's saved files, checked against direct computations."""

from dataclasses import replace

import numpy as np
import pytest
import torch

from spectral_edge.lab.presets import get_preset
from spectral_edge.reproduce import offline
from spectral_edge.reproduce.engine import RunView
from spectral_edge.reproduce.plan import Plan, RunSpec
from spectral_edge.reproduce.predictions import Runs, evaluate
from spectral_edge.reproduce.runner import execute
from spectral_edge.store import open_store


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A tiny modular transformer that saves its weights and window updates every 10 steps."""
    out = tmp_path_factory.mktemp("tiny")
    cfg = replace(
        get_preset("modarith-add"),
        p=7,
        model_args="d_model=8,n_heads=2,d_ff=16",
        steps=30,
        eval_every=10,
        monitor_every=1,
        monitor_window=8,
        weights_every=10,
        checkpoint_every=0,
        batch_size=0,
    ).validate()
    tags = {
        "family": "modarith",
        "op": "add",
        "wd": True,
        "seed": 1,
        "role": "score",
        "for": ["T8"],
    }
    spec = RunSpec("t/tiny", cfg, tags, {"updates": {}, "decomposition": {"every": 10}})
    execute(Plan("t", (spec,)), out, progress=False)
    with open_store(out) as store:
        run = store.run("t/tiny")
        yield RunView("t/tiny", run.config, run, out), out


def test_saved_files_line_up(tiny_run):
    v, _ = tiny_run
    assert [s for s, _ in offline.weight_files(v)] == [0, 10, 20, 30]
    assert sorted(offline.update_files(v)) == [10, 20, 30]


def test_author_decomposition_matches_a_direct_ablation(tiny_run):
    from spectral_edge.lab.presets import config_from_dict
    from spectral_edge.lab.trainer import make_task
    from spectral_edge.snapshot import select_parameters

    v, _ = tiny_run
    res = offline.author_decomposition(v, 20)
    assert res["modes"] == 4  # min(6, W // 2 split-half modes)
    assert all(0.0 <= a <= 1.0 for a in res["alpha"])
    # independent reference: rebuild, remove ⟨θ, v_j⟩v_j from the attention weights by hand
    task = make_task(config_from_dict(v.train))
    model = task.build_model()
    model.load_state_dict(offline._state(dict(offline.weight_files(v))[20]))
    named = dict(select_parameters(model, "attention"))
    order = [n for n, _ in sorted(model.named_parameters()) if n in named]
    x = np.load(offline.update_files(v)[20]).astype(np.float64)
    offsets = {}
    at = 0
    for n, p in sorted(model.named_parameters()):
        offsets[n] = (at, at + p.numel())
        at += p.numel()
    xa = np.concatenate([x[:, slice(*offsets[n])] for n in order], axis=1)
    lam, u = np.linalg.eigh(xa @ xa.T)
    lam, u = lam[::-1], u[:, ::-1]
    theta = np.concatenate([named[n].detach().double().reshape(-1).numpy() for n in order])
    with torch.no_grad():
        base = float(task.forward(model, task.test)[0])
        for j in range(res["modes"]):
            vj = xa.T @ u[:, j] / np.sqrt(lam[j])
            new = theta - (theta @ vj) * vj
            saved = [named[n].detach().clone() for n in order]
            at = 0
            for n in order:
                k = named[n].numel()
                named[n].copy_(torch.as_tensor(new[at : at + k]).reshape(named[n].shape))
                at += k
            change = float(task.forward(model, task.test)[0]) - base
            for n, s in zip(order, saved, strict=True):
                named[n].copy_(s)
            assert res["actual"][j] == pytest.approx(change, rel=1e-4, abs=1e-7)


def test_t8_reads_both_the_probe_and_the_files(tiny_run):
    _, out = tiny_run
    with open_store(out, read_only=True) as store:
        rec = evaluate(Runs.from_store(store, "t"), {"T8"})[0]
    assert rec.paper.verdict in ("confirmed", "not confirmed"), rec.paper.reason
    assert rec.strict.verdict in ("confirmed", "not confirmed"), rec.strict.reason
    assert "step 10" in rec.paper.measured and "step 30" in rec.strict.measured


def test_matrix_pc1_matches_a_direct_svd(tiny_run):
    v, _ = tiny_run
    res = offline.matrix_pc1_shares(v, 30)
    assert res["snapshots"] == 4 and len(res["shares"]) == 8  # W_Q, W_K, W_V, W_O × 2 layers
    states = [offline._state(p) for _, p in offline.weight_files(v, 30)]
    name = next(iter(res["shares"]))
    rows = np.stack([s[name].double().reshape(-1).numpy() for s in states])
    d = rows - rows[0]
    d -= d.mean(axis=0)
    sv = np.linalg.svd(d, compute_uv=False)
    assert res["shares"][name] == pytest.approx(sv[0] ** 2 / np.sum(sv**2), rel=1e-9)
