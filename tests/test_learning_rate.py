"""One η rule for the monitor, the lab and the analysis of checkpoints (learning_rate.py)."""

import math

import pytest
import torch
from torch import nn

from spectral_edge.errors import SpectralEdgeError
from spectral_edge.integrations.checkpoints import discover, load_checkpoint
from spectral_edge.lab.optim import current_lr
from spectral_edge.learning_rate import (
    LR_POLICIES,
    group_learning_rate,
    learning_rate,
    saved_learning_rate,
)
from spectral_edge.monitor import learning_rate as monitor_learning_rate


def _optimizer():
    groups = [
        {"params": [], "lr": 9.0},  # steps nothing: no say in η
        {"params": [nn.Parameter(torch.zeros(10))], "lr": 1e-3},
        {"params": [nn.Parameter(torch.zeros(30))], "lr": 4e-3},
    ]
    return torch.optim.SGD(groups, lr=1.0)


@pytest.mark.parametrize(
    "policy, expect",
    [("first", 1e-3), ("max", 4e-3), ("mean", 2.5e-3), ("weighted", (1e-2 + 1.2e-1) / 40)],
)
def test_live_and_lab_readers_agree(policy, expect):
    opt = _optimizer()
    assert learning_rate(opt, policy) == pytest.approx(expect, rel=1e-15)
    assert monitor_learning_rate(opt, policy) == learning_rate(opt, policy)
    assert current_lr(opt, policy) == learning_rate(opt, policy)


@pytest.mark.parametrize("policy", ["first", "max", "mean"])
def test_saved_state_reads_as_the_live_optimizer(policy, tmp_path):
    opt = _optimizer()
    assert saved_learning_rate(opt.state_dict(), policy) == learning_rate(opt, policy)
    model = nn.Linear(2, 2)
    path = tmp_path / "step_3.pt"
    torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "step": 3}, path)
    (ckpt,) = discover([tmp_path])
    assert load_checkpoint(ckpt, policy).lr == learning_rate(opt, policy)


def test_bad_policy_and_missing_rates():
    assert LR_POLICIES == ("first", "max", "mean", "weighted")
    with pytest.raises(SpectralEdgeError, match="choose one of"):
        group_learning_rate([{"lr": 1.0, "params": [0]}], "median")
    with pytest.raises(SpectralEdgeError, match="use 'first', 'max' or 'mean'"):
        saved_learning_rate(_optimizer().state_dict(), "weighted")
    assert math.isnan(learning_rate([], "first"))
    assert saved_learning_rate({"state": {}}, "first") is None
    assert saved_learning_rate({"param_groups": [{"lr": 0.1, "params": []}]}, "first") is None
    with pytest.raises(SpectralEdgeError, match="holds parameters"):
        current_lr(torch.optim.SGD([{"params": [], "lr": 1.0}], lr=1.0))
