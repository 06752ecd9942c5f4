"""Modular arithmetic tasks: (a op b) mod p, single task, multi-task, and the MLP setting.

Every example is a sequence of three input tokens ``[a, b, =]`` with ``a, b`` in ``0..p-1`` and the
token id ``p`` standing for "="; the vocabulary therefore has ``p + 1`` tokens and the label has
``p`` classes. All ``p²`` ordered pairs form the data set and a seeded permutation splits them into
train and test, so the same ``(p, op, train_fraction, seed)`` always yields the same split and the
split does not depend on the operation (useful for comparing operations on identical pairs).

The six operations of the spec (docs/thesis.md §7) are named by their formula so that a preset can
say ``op="a2_ab_b2"`` without a lookup table:

======== ===============
name     label
======== ===============
add      a + b
sub      a − b
mul      a · b
a2_b2    a² + b²
a2_ab_b2 a² + ab + b²
a3_ab    a³ + ab
======== ===============

(all mod p). The papers report that only the first four grok.

Multi-task data (the "shared trunk, several heads" family) keeps one set of inputs and one split
and gives each example one label column per operation: ``y`` has shape ``(N, T)``. We chose label
columns over a task-id token because the paper's model is a shared trunk with one read-out head per
task, evaluated on the same pairs; with columns every forward pass trains every head on the same
example, and the per-task test accuracy is simply a per-column accuracy.

The two-layer MLP setting (docs/thesis.md §7, last row) uses one-hot inputs and MSE on one-hot
targets; :func:`make_mlp_modular` builds it from the same pairs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from spectral_edge.errors import SpectralEdgeError

# Each operation reduces mod p after every product so that int64 never overflows for any p that
# fits a vocabulary (a³ alone would overflow only beyond p ≈ 2e6, but the habit is cheap).
OPERATIONS: dict[str, Callable[[Tensor, Tensor, int], Tensor]] = {
    "add": lambda a, b, p: (a + b) % p,
    "sub": lambda a, b, p: (a - b) % p,
    "mul": lambda a, b, p: (a * b) % p,
    "a2_b2": lambda a, b, p: (a * a % p + b * b % p) % p,
    "a2_ab_b2": lambda a, b, p: (a * a % p + a * b % p + b * b % p) % p,
    "a3_ab": lambda a, b, p: (a * a % p * a % p + a * b % p) % p,
}


@dataclass(frozen=True)
class ModularData:
    """A split modular-arithmetic data set.

    ``train_x``/``test_x`` are ``(N, 3)`` int64 token ids ``[a, b, p]``. ``train_y``/``test_y`` are
    ``(N,)`` class ids for a single operation, or ``(N, T)`` with one column per entry of ``ops``
    for multi-task data (see the module docstring).
    """

    p: int
    ops: tuple[str, ...]
    train_fraction: float
    seed: int
    train_x: Tensor
    train_y: Tensor
    test_x: Tensor
    test_y: Tensor

    @property
    def vocab_size(self) -> int:
        """Input tokens: the residues 0..p-1 and "="."""
        return self.p + 1

    @property
    def eq_token(self) -> int:
        return self.p

    @property
    def n_classes(self) -> int:
        return self.p

    @property
    def n_tasks(self) -> int:
        return len(self.ops)


def _check(p: int, train_fraction: float, ops: Sequence[str]) -> None:
    if not isinstance(p, int) or p < 2:
        raise SpectralEdgeError(f"modulus p must be an integer >= 2, got {p!r}")
    if not 0.0 < train_fraction < 1.0:
        raise SpectralEdgeError(f"train_fraction must lie in (0, 1), got {train_fraction!r}")
    if not ops:
        raise SpectralEdgeError("at least one operation is needed")
    for op in ops:
        if op not in OPERATIONS:
            known = ", ".join(OPERATIONS)
            raise SpectralEdgeError(f"unknown operation {op!r}; choose one of: {known}")
    if len(set(ops)) != len(ops):
        raise SpectralEdgeError(f"operations repeat in {list(ops)}")


def all_pairs(p: int) -> tuple[Tensor, Tensor]:
    """Every ordered pair ``(a, b)`` in row-major order (a slow, b fast)."""
    a = torch.arange(p, dtype=torch.int64).repeat_interleave(p)
    b = torch.arange(p, dtype=torch.int64).repeat(p)
    return a, b


def split_indices(n: int, train_fraction: float, seed: int) -> tuple[Tensor, Tensor]:
    """A seeded permutation of ``range(n)`` cut into train and test index sets.

    The train size is ``round(train_fraction * n)``, clamped so both sides keep one example.
    A private generator keeps the split independent of the global torch RNG state.
    """
    gen = torch.Generator().manual_seed(int(seed))
    perm = torch.randperm(n, generator=gen)
    n_train = min(max(round(train_fraction * n), 1), n - 1)
    return perm[:n_train], perm[n_train:]


def _build(p: int, ops: tuple[str, ...], train_fraction: float, seed: int, multi: bool):
    _check(p, train_fraction, ops)
    a, b = all_pairs(p)
    x = torch.stack([a, b, torch.full_like(a, p)], dim=1)
    labels = torch.stack([OPERATIONS[op](a, b, p) for op in ops], dim=1)
    y = labels if multi else labels[:, 0]
    tr, te = split_indices(p * p, train_fraction, seed)
    return ModularData(p, ops, float(train_fraction), int(seed), x[tr], y[tr], x[te], y[te])


def make_modular(
    p: int = 97, op: str = "add", train_fraction: float = 0.5, seed: int = 42
) -> ModularData:
    """Single-task data: labels ``(a op b) mod p`` of shape ``(N,)``."""
    return _build(p, (op,), train_fraction, seed, multi=False)


def make_multitask(
    p: int = 97,
    ops: Sequence[str] = ("add", "mul"),
    train_fraction: float = 0.5,
    seed: int = 42,
) -> ModularData:
    """Multi-task data: shared inputs and split, labels ``(N, len(ops))``, column t is ops[t]."""
    return _build(p, tuple(ops), train_fraction, seed, multi=True)


@dataclass(frozen=True)
class MLPModularData:
    """One-hot modular addition for the two-layer MLP with MSE loss.

    ``*_x`` is ``(N, 2p)`` float32: one-hot of ``a`` followed by one-hot of ``b``. ``*_y`` is the
    ``(N, p)`` one-hot of the answer (the MSE target); ``*_labels`` the answer as class ids, for
    accuracy (argmax of the output).
    """

    p: int
    train_fraction: float
    seed: int
    train_x: Tensor
    train_y: Tensor
    train_labels: Tensor
    test_x: Tensor
    test_y: Tensor
    test_labels: Tensor


def make_mlp_modular(
    p: int = 71, train_fraction: float = 0.4, seed: int = 42, op: str = "add"
) -> MLPModularData:
    """The two-layer-MLP setting (docs/thesis.md §7): a+b mod 71, 40 % train, one-hot in and out."""
    _check(p, train_fraction, (op,))
    a, b = all_pairs(p)
    eye = torch.eye(p)
    x = torch.cat([eye[a], eye[b]], dim=1)
    labels = OPERATIONS[op](a, b, p)
    y = eye[labels]
    tr, te = split_indices(p * p, train_fraction, seed)
    return MLPModularData(
        p, float(train_fraction), int(seed), x[tr], y[tr], labels[tr], x[te], y[te], labels[te]
    )
