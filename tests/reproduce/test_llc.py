"""The LLC estimator (spectral_edge.reproduce.llc) against a case whose answer is known.

For a regular model the LLC is d/2. Linear regression with XᵀX/n = I has the loss
L(w) = L(w*) + ½‖w − w*‖² exactly, so with full-batch SGLD (no minibatch noise) everything about
the estimate can be computed: each coordinate of z = w − w* follows the AR(1) chain
z ← ρ·z + √ε·ξ with a = nβ + γ and ρ = 1 − εa/2, whose stationary variance is
v = 1 / (a·(1 − εa/4)). So

    E[λ̂] = nβ · ½·d·v = (d/2) · nβ/a · 1/(1 − εa/4)      (localisation and step-size bias)

and, per draw, nβ·½‖z‖² has variance d·(nβ·v)²/2, with the autocorrelation of z² decaying as
ρ^{2k}: integrated time τ = (1 + ρ²)/(1 − ρ²). Over C chains of D draws the standard error
of λ̂ is √(d·(nβ·v)²/2 · τ / (C·D)). The tolerance below is that bias plus four standard errors.
"""

from __future__ import annotations

import math
import sys

import numpy as np
import pandas as pd
import pytest
import torch

pytest.importorskip("devinterp", reason="the LLC needs the llc extra (devinterp==2.0.1)")

from spectral_edge.errors import SpectralEdgeError  # noqa: E402
from spectral_edge.reproduce.llc import (  # noqa: E402
    default_n_beta,
    llc_at,
    llc_series,
    llc_series_to_csv,
    saved_weights,
)

D_PARAMS, N_SAMPLES = 20, 1000


def regression_at_minimum(d: int = D_PARAMS, n: int = N_SAMPLES, seed: int = 0):
    """A bias-free linear model sitting at the least-squares w*, data with XᵀX/n = I."""
    gen = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(n, d, generator=gen, dtype=torch.float64))
    x = q * math.sqrt(n)  # XᵀX/n = I
    y = x @ torch.randn(d, 1, generator=gen, dtype=torch.float64) + 0.1 * torch.randn(
        n, 1, generator=gen, dtype=torch.float64
    )
    w_star = torch.linalg.lstsq(x, y).solution  # (d, 1)
    model = torch.nn.Linear(d, 1, bias=False)
    with torch.no_grad():
        model.weight.copy_(w_star.T.float())
    return model, (x.float(), y.float())


def half_squared_error(model, batch):
    x, y = batch
    return 0.5 * (model(x) - y).square().mean()


def expected_llc_and_se(d, nbeta, gamma, eps, chains, draws):
    a = nbeta + gamma
    rho = 1 - eps * a / 2
    v = 1 / (a * (1 - eps * a / 4))
    mean = nbeta * 0.5 * d * v
    var_per_draw = d * (nbeta * v) ** 2 / 2
    tau = (1 + rho**2) / (1 - rho**2)
    return mean, math.sqrt(var_per_draw * tau / (chains * draws))


def test_regular_model_llc_is_half_the_parameter_count():
    model, data = regression_at_minimum()
    nbeta = default_n_beta(N_SAMPLES)  # n / log n ≈ 144.8
    gamma, chains, draws, burnin = 1.0, 4, 500, 200
    eps = 0.1 / (nbeta + gamma)  # εa/2 = 0.05: ρ = 0.95, τ ≈ 19.5, ρ^(2·burnin) ≈ 1e-9
    est = llc_at(
        model,
        half_squared_error,
        data,
        lr=eps,
        localization=gamma,
        num_chains=chains,
        num_draws=draws,
        num_burnin=burnin,
        batch_size=N_SAMPLES,  # full batch: no minibatch noise, so the maths above is exact
        seed=0,
    )
    mean, se = expected_llc_and_se(D_PARAMS, nbeta, gamma, eps, chains, draws)
    bias = mean - D_PARAMS / 2  # ≈ +0.19: 2.6 % step-size bias, −0.7 % from γ
    tolerance = abs(bias) + 4 * se  # ≈ 0.19 + 4 × 0.32
    assert abs(est.llc - D_PARAMS / 2) <= tolerance, (est.llc, tolerance)
    assert abs(est.llc - mean) <= 4 * se, (est.llc, mean, se)
    # the across-chain standard error is of the size the chain's autocorrelation predicts
    assert 0.1 * se < est.llc_se < 4 * se, (est.llc_se, se)
    assert est.failed_chains == 0
    assert abs(est.drift) <= 6 * se * math.sqrt(2)  # halves of a stationary chain agree
    assert est.init_loss == pytest.approx(float(half_squared_error(model, data).detach()), rel=1e-5)
    assert est.loss_trace.shape == (chains, burnin + draws)
    assert est.hyperparameters["n_beta"] == pytest.approx(nbeta)


def test_without_burn_in_it_is_devinterps_own_llc():
    model, data = regression_at_minimum(d=5, n=200)
    est = llc_at(
        model, half_squared_error, data, lr=1e-3, localization=1.0, num_chains=2,
        num_draws=50, num_burnin=0, batch_size=50, seed=3,
    )  # fmt: skip
    assert est.llc == pytest.approx(est.llc_all_steps, rel=1e-5, abs=1e-6)


def test_seeded_estimates_repeat_exactly_and_leave_the_caller_alone():
    model, data = regression_at_minimum(d=5, n=200)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    kwargs = dict(lr=1e-3, localization=1.0, num_chains=2, num_draws=30, num_burnin=10,
                  batch_size=40)  # fmt: skip
    torch.manual_seed(123)
    first = llc_at(model, half_squared_error, data, seed=7, **kwargs)
    after_rng = torch.rand(3)
    torch.manual_seed(123)
    torch.rand(3)  # the generator the estimate must have left as it was
    second = llc_at(model, half_squared_error, data, seed=7, **kwargs)
    other = llc_at(model, half_squared_error, data, seed=8, **kwargs)
    np.testing.assert_array_equal(first.loss_trace, second.loss_trace)
    assert first.llc == second.llc and first.llc_se == second.llc_se
    assert other.llc != first.llc
    torch.manual_seed(123)
    assert torch.equal(torch.rand(3), after_rng)  # the global generator was given back
    for name, value in model.state_dict().items():
        assert torch.equal(value, before[name])  # devinterp sampled a copy


def test_bad_arguments_are_one_line_errors():
    model, data = regression_at_minimum(d=3, n=50)
    with pytest.raises(SpectralEdgeError, match="batch_size"):
        llc_at(model, half_squared_error, data, batch_size=51)
    with pytest.raises(SpectralEdgeError, match="first dimension"):
        llc_at(model, half_squared_error, (data[0], data[1][:10]))
    with pytest.raises(SpectralEdgeError, match="scalar"):
        llc_at(model, lambda m, b: (m(b[0]) - b[1]).square(), data, batch_size=10,
               num_draws=2, num_burnin=0, num_chains=1)  # fmt: skip


def test_a_missing_devinterp_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "devinterp", None)
    model, data = regression_at_minimum(d=3, n=50)
    with pytest.raises(SpectralEdgeError, match=r"spectral-edge\[llc\]"):
        llc_at(model, half_squared_error, data, batch_size=10)


# --- a run's series ------------------------------------------------------------------------------


TINY_LLC = dict(lr=1e-4, localization=100.0, num_chains=2, num_draws=6, num_burnin=2,
                batch_size=32)  # fmt: skip


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A 20-step embedding-MLP run (p 23) that saved its weights at steps 0, 10 and 20."""
    from spectral_edge.lab.presets import get_preset, parse_overrides
    from spectral_edge.lab.trainer import Trainer

    cfg = parse_overrides(
        ["p=23", "batch_size=64", "steps=20", "eval_every=10", "monitor_every=5",
         "monitor_window=4", "model_args=hidden=64,d_embed=16", "weights_every=10"],
        get_preset("modadd-cpu"),
    )  # fmt: skip
    out = tmp_path_factory.mktemp("run")
    Trainer(cfg, out, run_name="lab/tiny", progress=False).fit()
    return out


def test_series_reads_every_saved_weight_of_a_run(tiny_run):
    assert [s for s, _ in saved_weights(tiny_run, "lab/tiny")] == [0, 10, 20]
    lines = []
    table = llc_series(tiny_run, "lab/tiny", progress=lines.append, **TINY_LLC)
    assert list(table.columns[:4]) == ["step", "llc", "llc_se", "seconds"]
    assert list(table["step"]) == [0, 10, 20]
    assert np.isfinite(table[["llc", "llc_se", "init_loss"]].to_numpy()).all()
    assert (table["lr"] == 1e-4).all() and (table["num_draws"] == 6).all()
    # L_n(w*) is the trainer's own training loss at those weights (full pass, drop-last aside)
    from spectral_edge.store import open_store

    with open_store(tiny_run, read_only=True) as store:
        logged = store.run("lab/tiny").metrics().set_index("step")["train_loss"]
    np.testing.assert_allclose(table["init_loss"], logged.loc[[0, 10, 20]], rtol=0.05)
    assert len(lines) == 3 and "step 20" in lines[-1]
    again = llc_series(tiny_run, "lab/tiny", steps=[10], **TINY_LLC)
    assert again["llc"].iloc[0] == table.set_index("step").loc[10, "llc"]  # seeded


def test_series_csv_continues_and_refuses_other_settings(tiny_run, tmp_path):
    path = llc_series_to_csv(tiny_run, "lab/tiny", tmp_path / "llc", steps=[0, 10], **TINY_LLC)
    assert path == tmp_path / "llc" / "lab" / "tiny.csv"
    assert list(pd.read_csv(path)["step"]) == [0, 10]
    made = []
    llc_series_to_csv(tiny_run, "lab/tiny", tmp_path / "llc", progress=made.append, **TINY_LLC)
    assert len(made) == 1 and "step 20" in made[0]  # only the missing step
    table = pd.read_csv(path)
    assert list(table["step"]) == [0, 10, 20]
    assert list(table.columns[:4]) == ["step", "llc", "llc_se", "seconds"]
    with pytest.raises(SpectralEdgeError, match="lr"):
        llc_series_to_csv(tiny_run, "lab/tiny", tmp_path / "llc", **{**TINY_LLC, "lr": 2e-4})
    llc_series_to_csv(tiny_run, "lab/tiny", tmp_path / "llc", overwrite=True, steps=[20],
                      **{**TINY_LLC, "lr": 2e-4})  # fmt: skip
    assert list(pd.read_csv(path)["lr"]) == [2e-4]


def test_cli_writes_one_csv_per_matched_run(tiny_run, tmp_path, capsys):
    from spectral_edge.cli import main

    out = tmp_path / "llc"
    code = main(["llc", str(tiny_run), "lab/*", "--out", str(out), "--steps", "20",
                 "--lr", "1e-4", "--localization", "100", "--chains", "2", "--draws", "6",
                 "--burnin", "2", "--batch-size", "32"])  # fmt: skip
    assert code == 0
    table = pd.read_csv(out / "lab" / "tiny.csv")
    assert list(table["step"]) == [20] and np.isfinite(table["llc"]).all()
    assert "lab/tiny" in capsys.readouterr().out
    assert main(["llc", str(tiny_run), "nothing-*", "--out", str(out)]) == 2
    assert "no run" in capsys.readouterr().err


def test_series_of_a_run_without_weights_says_how_to_get_them(tiny_run, tmp_path):
    with pytest.raises(SpectralEdgeError, match="weights_every"):
        llc_series(tiny_run, "lab/none")
