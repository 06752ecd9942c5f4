"""Multilayer perceptrons for modular arithmetic.

:class:`QuadraticMLP` is the two-layer MLP of the MLP companion paper (docs/thesis.md §7, last row):
one-hot ``a`` and ``b`` concatenated (``2p`` inputs) → ``width`` (2048) units with the activation
x² → ``p`` outputs, trained with MSE on one-hot targets. No biases: with one-hot inputs a bias only
duplicates a column of the first matrix, and the analytic treatments of this model (Gromov 2023)
have none. For p = 71: 436,224 parameters.

:class:`EmbedMLP` is the MLP of docs/measurements.md ("Before the project"), the quickest model to
grok on CPU: one embedding table shared by ``a`` and ``b`` (128 each), the two embeddings
concatenated → 512 ReLU → ``p`` logits. With the shared table it has exactly the P = 193,761
parameters (p = 97) measured there, which separate tables (206,177) would not. It reads the token
tensors ``[a, b, =]`` of :mod:`spectral_edge.lab.tasks.modular` directly (columns 0 and 1).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class QuadraticMLP(nn.Module):
    """``head(embed(x)²)`` on ``(B, 2p)`` one-hot inputs; returns ``(B, p)``.

    The first layer is called ``embed`` because on one-hot inputs that is what it is (a sum of
    two looked-up columns), and the optimizer module treats it like one: this model has no hidden
    matrix, so Muon does not apply to it.
    """

    def __init__(self, p: int = 71, width: int = 2048, bias: bool = False):
        super().__init__()
        self.embed = nn.Linear(2 * p, width, bias=bias)
        self.head = nn.Linear(width, p, bias=bias)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.embed(x).square())


class EmbedMLP(nn.Module):
    """Shared embedding of ``a`` and ``b``, concatenated → hidden ReLU layer → ``head``."""

    def __init__(self, p: int = 97, d_embed: int = 128, hidden: int = 512):
        super().__init__()
        self.embed = nn.Embedding(p, d_embed)
        self.fc_in = nn.Linear(2 * d_embed, hidden)
        self.head = nn.Linear(hidden, p)

    def forward(self, x: Tensor) -> Tensor:
        """``x`` ``(B, 2)`` or ``(B, 3)`` token ids (``[a, b]`` or ``[a, b, =]``)."""
        h = torch.cat([self.embed(x[:, 0]), self.embed(x[:, 1])], dim=1)
        return self.head(torch.relu(self.fc_in(h)))
