"""Dyck-1 depth data checked by an independent stack."""

import random

import pytest
import torch

from spectral_edge.errors import SpectralEdgeError
from spectral_edge.lab.tasks.dyck import (
    CLOSE,
    IGNORE_INDEX,
    OPEN,
    PAD,
    accuracy,
    make_dyck,
    random_dyck_word,
)


def stack_depths(word):
    stack, out = [], []
    for ch in word:
        if ch == "(":
            stack.append(ch)
        else:
            assert stack, "unbalanced"
            stack.pop()
        out.append(len(stack))
    assert not stack, "unbalanced"
    return out


@pytest.fixture(scope="module")
def data():
    return make_dyck(seed=7)


def test_default_sizes(data):
    assert data.train_x.shape == (50, 24) and data.test_x.shape == (5000, 24)
    assert data.n_classes == 13 and data.vocab_size == 3


def test_words_are_balanced_and_short(data):
    for w in data.train_words + data.test_words:
        assert 2 <= len(w) <= 24 and len(w) % 2 == 0
        stack_depths(w)  # raises on unbalanced


def test_labels_match_a_stack(data):
    for words, x, y, mask in (
        (data.train_words, data.train_x, data.train_y, data.train_mask),
        (data.test_words[:500], data.test_x, data.test_y, data.test_mask),
    ):
        for i, w in enumerate(words):
            n = len(w)
            assert x[i, :n].tolist() == [OPEN if c == "(" else CLOSE for c in w]
            assert y[i, :n].tolist() == stack_depths(w)
            assert (x[i, n:] == PAD).all() and (y[i, n:] == IGNORE_INDEX).all()
            assert mask[i, :n].all() and not mask[i, n:].any()


def test_depth_range_covered(data):
    y = data.test_y[data.test_mask]
    assert y.min() == 0 and y.max() <= 12 and y.max() >= 9


def test_train_distinct_and_disjoint_from_test(data):
    assert len(set(data.train_words)) == 50
    assert not set(data.train_words) & set(data.test_words)


def test_deterministic_by_seed():
    a, b, c = make_dyck(20, 100, seed=1), make_dyck(20, 100, seed=1), make_dyck(20, 100, seed=2)
    assert a.train_words == b.train_words and torch.equal(a.test_x, b.test_x)
    assert a.train_words != c.train_words


def test_sampler_is_uniform_over_words_of_a_length():
    # 3 pairs: Catalan(3) = 5 words, each should appear about 1/5 of the time.
    rng = random.Random(0)
    counts = {}
    for _ in range(5000):
        w = random_dyck_word(3, rng)
        counts[w] = counts.get(w, 0) + 1
    assert len(counts) == 5
    assert all(800 < c < 1200 for c in counts.values())


def test_bad_input():
    with pytest.raises(SpectralEdgeError):
        make_dyck(n_train=3, max_pairs=2)  # only 3 words exist
    with pytest.raises(SpectralEdgeError):
        make_dyck(n_train=0)


def test_accuracy_levels(data):
    y = data.train_y[:4]
    pred = y.clamp(min=0).clone()
    assert accuracy(pred, y) == 1.0 and accuracy(pred, y, "token") == 1.0
    pred[0, 0] += 1  # one wrong depth in one string
    n_real = int((y != IGNORE_INDEX).sum())
    assert accuracy(pred, y) == 0.75
    assert accuracy(pred, y, "token") == pytest.approx(1 - 1 / n_real)
    pred[1, -1] = 5  # a wrong guess on padding does not count
    if y[1, -1] == IGNORE_INDEX:
        assert accuracy(pred, y) == 0.75
    logits = torch.nn.functional.one_hot(y.clamp(min=0), 13).float()
    assert accuracy(logits, y) == 1.0
    with pytest.raises(SpectralEdgeError):
        accuracy(pred, y, "word")
