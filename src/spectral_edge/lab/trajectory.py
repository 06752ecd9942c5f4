"""Record the exact parameter updates of a training loop, for offline comparisons.

The sketch-accuracy table (prediction C3) needs the full P-dimensional updates δ_t of a real run,
not just their Gram; this keeps them, one flat float64 vector per ``every`` steps. Memory is
T·P floats, so it is for small models or short stretches of large ones.

>>> import torch
>>> model = torch.nn.Linear(3, 1)
>>> opt = torch.optim.SGD(model.parameters(), lr=0.1)
>>> def step():
...     opt.zero_grad()
...     model(torch.ones(1, 3)).sum().backward()
...     opt.step()
>>> updates = record_updates(list(model.parameters()), step, steps=4, every=2)
>>> len(updates), updates[0].shape
(2, torch.Size([4]))
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch


def record_updates(
    params: Sequence[torch.Tensor], train_step: Callable[[], object], steps: int, every: int = 1
) -> list[torch.Tensor]:
    """Run ``train_step`` ``steps`` times; return θ_t − θ_{t−every} every ``every`` steps.

    Updates are float64 on the parameters' device, so a GPU keeps large ones cheap.
    """

    def flat() -> torch.Tensor:
        return torch.cat([p.detach().reshape(-1).to(torch.float64) for p in params])

    previous, updates = flat(), []
    for step in range(1, steps + 1):
        train_step()
        if step % every == 0:
            current = flat()
            updates.append(current - previous)
            previous = current
    return updates
