"""Shared pieces of the integration tests: a tiny model, its data, a plain reference run."""

from __future__ import annotations

import math

import torch
from torch import nn

from spectral_edge import SpectralMonitor


def tiny_model(seed: int = 0, dtype=torch.float64) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(5, 7), nn.Tanh(), nn.Linear(7, 3)).to(dtype)


def tiny_data(n: int = 8, seed: int = 1, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 5, generator=g, dtype=dtype), torch.randn(n, 3, generator=g, dtype=dtype)


def plain_history(steps: int, lr: float = 0.05, **monitor_kwargs) -> list[dict]:
    """The reference: the plain monitor attached to a plain full-batch AdamW loop."""
    model = tiny_model()
    x, y = tiny_data()
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    monitor = SpectralMonitor(model, **monitor_kwargs).attach(opt)
    for _ in range(steps):
        opt.zero_grad()
        nn.functional.mse_loss(model(x), y).backward()
        opt.step()
    return monitor.history


def assert_same_windows(got: list[dict], want: list[dict], rtol: float = 1e-7) -> None:
    """Same steps, same feature names, same values (NaN where NaN)."""
    assert [h["step"] for h in got] == [h["step"] for h in want]
    assert len(want) > 0
    for a, b in zip(got, want, strict=True):
        assert set(a) == set(b), set(a) ^ set(b)
        for key, value in b.items():
            other = a[key]
            if isinstance(value, str):
                assert other == value, (a["step"], key)
            elif math.isnan(value):
                assert math.isnan(other), (a["step"], key, other)
            else:
                assert math.isclose(other, value, rel_tol=rtol, abs_tol=1e-12), (
                    a["step"],
                    key,
                    other,
                    value,
                )
