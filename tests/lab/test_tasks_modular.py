"""Modular arithmetic data against brute force, split sizes and determinism."""

import pytest
import torch

from spectral_edge.errors import SpectralEdgeError
from spectral_edge.lab.tasks.modular import (
    OPERATIONS,
    make_mlp_modular,
    make_modular,
    make_multitask,
)

BRUTE = {
    "add": lambda a, b, p: (a + b) % p,
    "sub": lambda a, b, p: (a - b) % p,
    "mul": lambda a, b, p: (a * b) % p,
    "a2_b2": lambda a, b, p: (a**2 + b**2) % p,
    "a2_ab_b2": lambda a, b, p: (a**2 + a * b + b**2) % p,
    "a3_ab": lambda a, b, p: (a**3 + a * b) % p,
}


def test_six_operations_of_the_spec():
    assert set(OPERATIONS) == set(BRUTE)


@pytest.mark.parametrize("op", sorted(BRUTE))
@pytest.mark.parametrize("p", [7, 97])
def test_operation_tables_match_brute_force(op, p):
    d = make_modular(p=p, op=op, train_fraction=0.5, seed=1)
    x = torch.cat([d.train_x, d.test_x])
    y = torch.cat([d.train_y, d.test_y])
    assert len(x) == p * p
    assert (x[:, 2] == p).all()
    assert {(a, b) for a, b in x[:, :2].tolist()} == {(a, b) for a in range(p) for b in range(p)}
    for (a, b, _), label in zip(x.tolist(), y.tolist(), strict=True):
        assert label == BRUTE[op](a, b, p)


def test_large_modulus_does_not_overflow():
    p = 2003
    a, b = torch.tensor([p - 1]), torch.tensor([p - 2])
    assert OPERATIONS["a3_ab"](a, b, p).item() == ((p - 1) ** 3 + (p - 1) * (p - 2)) % p


def test_split_sizes_and_vocabulary():
    d = make_modular(p=97, train_fraction=0.3, seed=0)
    assert len(d.train_x) == round(0.3 * 97 * 97) and len(d.test_x) == 97 * 97 - len(d.train_x)
    assert d.vocab_size == 98 and d.eq_token == 97 and d.n_classes == 97
    train = {tuple(r) for r in d.train_x.tolist()}
    assert not train & {tuple(r) for r in d.test_x.tolist()}


def test_split_deterministic_by_seed_and_shared_across_operations():
    a = make_modular(p=23, op="add", seed=5)
    b = make_modular(p=23, op="add", seed=5)
    c = make_modular(p=23, op="add", seed=6)
    m = make_modular(p=23, op="mul", seed=5)
    assert torch.equal(a.train_x, b.train_x) and torch.equal(a.test_y, b.test_y)
    assert not torch.equal(a.train_x, c.train_x)
    assert torch.equal(a.train_x, m.train_x)


def test_split_ignores_global_rng():
    torch.manual_seed(0)
    a = make_modular(p=11, seed=3)
    torch.manual_seed(1)
    torch.rand(10)
    assert torch.equal(a.train_x, make_modular(p=11, seed=3).train_x)


def test_multitask_columns():
    ops = ("add", "mul", "a2_b2")
    d = make_multitask(p=13, ops=ops, train_fraction=0.5, seed=2)
    assert d.train_y.shape == (len(d.train_x), 3) and d.n_tasks == 3
    single = make_modular(p=13, op="mul", train_fraction=0.5, seed=2)
    assert torch.equal(d.train_x, single.train_x)
    assert torch.equal(d.train_y[:, 1], single.train_y)
    for (a, b, _), row in zip(d.test_x.tolist(), d.test_y.tolist(), strict=True):
        assert row == [BRUTE[op](a, b, 13) for op in ops]


def test_mlp_setting():
    d = make_mlp_modular()
    assert d.p == 71
    n = 71 * 71
    assert len(d.train_x) == round(0.4 * n) and len(d.train_x) + len(d.test_x) == n
    assert d.train_x.shape[1] == 142 and d.train_y.shape[1] == 71
    assert (d.train_x.sum(1) == 2).all() and (d.train_y.sum(1) == 1).all()
    a, b = d.train_x[:, :71].argmax(1), d.train_x[:, 71:].argmax(1)
    assert torch.equal(d.train_labels, (a + b) % 71)
    assert torch.equal(d.train_y.argmax(1), d.train_labels)


@pytest.mark.parametrize(
    "kwargs",
    [dict(p=1), dict(train_fraction=0.0), dict(train_fraction=1.0), dict(op="div")],
)
def test_bad_input(kwargs):
    with pytest.raises(SpectralEdgeError):
        make_modular(**kwargs)


def test_multitask_rejects_repeats():
    with pytest.raises(SpectralEdgeError):
        make_multitask(ops=("add", "add"))
