"""Stability over a run, the analysis registry on a real stored run, holographic encoding, CLI."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from spectral_edge.cli import main
from spectral_edge.dynamics.analyses import ANALYSES, record_analysis, run_analyses, run_analysis
from spectral_edge.dynamics.stability_analysis import (
    adiabatic_summary,
    alpha_hierarchy,
    alpha_series,
    davis_kahan_check,
)
from spectral_edge.errors import SpectralEdgeError
from spectral_edge.monitor import SpectralMonitor
from spectral_edge.reproduce.probes.holographic import (
    direction_spread,
    execution_manifold,
    holographic_report,
)
from spectral_edge.store import open_store


@pytest.fixture(scope="module")
def store_path(tmp_path_factory):
    """A small real run: an MLP regression trained by SGD with the monitor writing a store."""
    path = tmp_path_factory.mktemp("dyn") / "store.sqlite"
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1))
    x, y = torch.randn(256, 4), torch.randn(256)
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    mon = SpectralMonitor(model, window=5, store=path, run_name="mlp")
    for step in range(1, 71):
        idx = torch.randint(0, 256, (32,))
        loss = ((model(x[idx]).squeeze(-1) - y[idx]) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        mon.observe(step, lr=0.05)
        mon.log_metrics(step, train_loss=float(loss.detach()))
    mon.run.finish()
    mon.detach()
    mon.run.store.close()  # the last connection checkpoints the WAL into the file we copy
    with open_store(path) as store:
        store.create_run("empty", config={})
    return path


def windows_of(path, name="mlp"):
    with open_store(path, read_only=True) as store:
        return store.run(name).windows()


def test_stability_summaries_on_a_real_run(store_path):
    w = windows_of(store_path)
    alphas = alpha_series(w)
    stored = w.set_index("step")["alpha_1"].dropna()
    recomputed = alphas.set_index("step")["alpha_1"].loc[stored.index]
    assert np.allclose(recomputed, stored, atol=1e-9)  # same α from σ and ‖ΔC‖
    h = alpha_hierarchy(w)
    assert 0 <= h["alpha_sub"] <= 1 and 0 <= h["fraction_windows_ordered"] <= 1
    a = adiabatic_summary(w)
    assert abs(sum(a["fractions"].values()) - 1) < 1e-9
    assert adiabatic_summary(w, form="paper")["n_defined"] > 0
    dk = davis_kahan_check(w)
    assert 0 <= dk["fraction_respected"] <= 1 and dk["n_windows"] > 50


def test_planted_stability_frame():
    # Modes 1 ≫ 2 ≫ 3 with small ΔC: α_1 > α_2 > α_3 ≈ 0 by construction.
    steps = np.arange(1, 11)
    frame = pd.DataFrame(
        {
            "step": steps,
            "sigma_1": 10.0,
            "sigma_2": 6.0,
            "sigma_3": 5.0,
            "sigma_4": 4.9,
            "delta_c": 5.0,
            "k_star": 1,
            "rotation_1": np.cos(0.1),
            "dk_bound_1": np.r_[np.full(8, 0.5), 0.05, 0.05],
            "adiabatic_dk": np.r_[np.full(5, 0.01), np.full(5, 100.0)],
        }
    )
    h = alpha_hierarchy(frame)
    assert h["holds"] and h["fraction_windows_ordered"] == 1.0
    assert h["alpha_dominant"] > 0.5 > h["alpha_sub"]
    dk = davis_kahan_check(frame)
    assert dk["fraction_respected"] == 0.8 and dk["violations"] == [9, 10]
    a = adiabatic_summary(frame)
    assert a["fractions"] == {"plateau": 0.5, "transition": 0.0, "forgetting": 0.5}


def test_registry_writes_events_and_config(store_path, tmp_path):
    import shutil

    path = tmp_path / "copy.sqlite"
    shutil.copy(store_path, path)
    with open_store(path) as store:
        run = store.run("mlp")
        names = ["stability", "gap_flow", "lags", "granger", "gap_ode", "phases"]
        results = run_analyses(run, names, to_config=True)
        assert set(results) == set(names)
        events = run.events()
        kinds = set(events["kind"])
        assert {f"analysis:{n}" for n in names} <= kinds
        assert set(run.config["analyses"]) == set(names)
        ev = events[events["kind"] == "analysis:granger"].iloc[0]["evidence"]
        assert "gap_to_loss" in ev and ev["loss"] == "train_loss"
        record_analysis(run, "krylov", {"count": 3, "x": float("nan")}, step=7)
        ev = run.events()
        krylov = ev[ev["kind"] == "analysis:krylov"].iloc[0]
        assert krylov["step"] == 7 and krylov["evidence"]["x"] is None


def test_bad_input_writes_nothing(store_path, tmp_path):
    import shutil

    path = tmp_path / "copy.sqlite"
    shutil.copy(store_path, path)
    with open_store(path) as store:
        run = store.run("mlp")
        n_events = len(run.events())
        config = run.config
        # A run without accuracy: grokking fails, and the batch (with a valid analysis) writes
        # nothing at all.
        with pytest.raises(SpectralEdgeError, match="without accuracy"):
            run_analyses(run, ["gap_flow", "grokking"], to_config=True)
        with pytest.raises(SpectralEdgeError, match="commutator_defect"):
            run_analysis(run, "commutator_onset")
        with pytest.raises(SpectralEdgeError, match="no option"):
            run_analysis(run, "gap_flow", bogus=1)
        with pytest.raises(SpectralEdgeError, match="unknown analysis"):
            run_analysis(run, "nope")
        with pytest.raises(SpectralEdgeError, match="other="):
            run_analysis(run, "lag_flip")
        with pytest.raises(SpectralEdgeError, match="validation_loss"):
            run_analysis(run, "lags", loss="validation_loss")
        assert len(run.events()) == n_events and run.config == config
        empty = store.run("empty")
        with pytest.raises(SpectralEdgeError, match="no windows"):
            run_analysis(empty, "gap_flow")
        assert len(empty.events()) == 0
    # Series too short.
    short = pd.DataFrame({"step": [1, 2], "gap": [1.0, 2.0], "k_star": [1, 1]})
    with pytest.raises(SpectralEdgeError, match="at least"):
        alpha_hierarchy(short)


def test_cli(store_path, tmp_path, capsys):
    import shutil

    path = tmp_path / "copy.sqlite"
    shutil.copy(store_path, path)
    assert main(["dynamics", str(path), "mlp", "list"]) == 0
    assert "granger" in capsys.readouterr().out
    assert main(["dynamics", str(path), "mlp", "gap_flow", "--set", "per=100", "--json"]) == 0
    assert '"time_unit_steps": 100.0' in capsys.readouterr().out
    assert main(["dynamics", str(path), "mlp", "grokking"]) == 2
    assert "accuracy" in capsys.readouterr().err
    with open_store(path, read_only=True) as store:
        kinds = list(store.run("mlp").events()["kind"])
    assert kinds.count("analysis:gap_flow") == 1 and "analysis:grokking" not in kinds
    assert set(ANALYSES) >= {"lags", "granger", "signal_ode", "adiabatic", "davis_kahan"}


def test_direction_spread():
    flat = direction_spread(np.ones(100))
    assert flat["participation_ratio"] == pytest.approx(1.0) and flat["mass_fraction"] == 0.9
    one = direction_spread(np.r_[1.0, np.zeros(99)])
    assert one["participation_ratio"] == pytest.approx(0.01) and one["mass_count"] == 1


def test_holographic_and_execution_manifold():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))
    x = torch.randn(200, 6)
    labels = (x[:, 0] > 0).long()
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    ps = [p for _, p in sorted(model.named_parameters())]

    def snap():
        return torch.cat([p.detach().reshape(-1) for p in ps]).double().numpy()

    traj = [snap()]
    for _ in range(40):
        loss = torch.nn.functional.cross_entropy(model(x), labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
        traj.append(snap())
    traj = np.array(traj)
    before = snap()

    def accuracy(m):
        return float((m(x).argmax(-1) == labels).float().mean())

    rep = holographic_report(model, accuracy, traj, ks=(1, 2, 6), directions=traj[1:3] - traj[0])
    assert np.allclose(snap(), before)
    assert rep["final_accuracy"] > 0.9
    assert set(rep["pca_accuracy"]) == {1, 2, 6} and len(rep["spread"]) == 2
    em = execution_manifold(traj)
    assert 0 < em["pc1_share"] <= 1 and em["cumulative_shares"][-1] <= 1 + 1e-12
    # A straight-line trajectory is one-dimensional.
    line = np.outer(np.linspace(0, 1, 10), np.arange(1.0, 6.0))
    assert execution_manifold(line)["pc1_share"] == pytest.approx(1.0)
    with pytest.raises(SpectralEdgeError, match="at least 3"):
        execution_manifold(line[:2])
