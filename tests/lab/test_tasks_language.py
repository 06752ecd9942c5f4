"""Offline language corpora: determinism, tokenizer, batches, and the corpus switch."""

import pytest
import torch

from spectral_edge.errors import SpectralEdgeError
from spectral_edge.lab.tasks import language as L


def test_generators_deterministic_and_distinct():
    for name in L.CORPORA:
        a = L.generate_documents(name, 20, seed=1)
        assert a == L.generate_documents(name, 20, seed=1)
        assert a != L.generate_documents(name, 20, seed=2)
        assert all("\n" not in d and d.isascii() for d in a)
    assert L.generate_documents("stories", 5, 1) != L.generate_documents("reports", 5, 1)


def test_tokenizer_round_trip():
    text = "Once upon a time, Lily said: 12 km/h!\n"
    ids = L.encode(text)
    assert ids.dtype == torch.int64 and int(ids.max()) < L.VOCAB_SIZE
    assert L.decode(ids) == text
    with pytest.raises(SpectralEdgeError):
        L.encode("café")


def test_streams_and_batches():
    d = L.make_language("stories", n_docs=200, seed=0)
    assert d.vocab_size == 128
    assert len(d.val_tokens) < len(d.train_tokens)
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    x, y = L.sample_batch(d.train_tokens, 4, 32, g1)
    x2, _ = L.sample_batch(d.train_tokens, 4, 32, g2)
    assert x.shape == y.shape == (4, 32) and torch.equal(x, x2)
    assert torch.equal(x[:, 1:], y[:, :-1])  # targets are the next tokens
    batches = L.eval_batches(d.val_tokens, 8, 64, max_batches=2)
    assert len(batches) == 2 and batches[0][0].shape == (8, 64)


def _unigram(tokens):
    return torch.bincount(tokens, minlength=L.VOCAB_SIZE).double() / len(tokens)


def test_corpus_switch_changes_the_distribution():
    shift = L.make_shift("stories", "reports", switch_step=10, n_docs=200, seed=0)
    assert shift.data_at(9).corpus == "stories" and shift.data_at(10).corpus == "reports"
    g = torch.Generator().manual_seed(0)
    before = torch.cat([shift.batch(s, 16, 64, g)[0].flatten() for s in range(10)])
    after = torch.cat([shift.batch(s, 16, 64, g)[0].flatten() for s in range(10, 20)])
    # Total-variation distance between character unigrams: small within a corpus, large across.
    tv_across = 0.5 * (_unigram(before) - _unigram(after)).abs().sum()
    half = len(before) // 2
    tv_within = 0.5 * (_unigram(before[:half]) - _unigram(before[half:])).abs().sum()
    assert tv_across > 0.3 > 3 * tv_within
    digits = slice(ord("0"), ord("9") + 1)
    assert _unigram(after)[digits].sum() > 0.1 > _unigram(before)[digits].sum()


def test_bad_input():
    with pytest.raises(SpectralEdgeError):
        L.make_language("wikipedia")
    with pytest.raises(SpectralEdgeError):
        L.make_shift("stories", "stories")
    with pytest.raises(SpectralEdgeError):
        L.sample_batch(torch.arange(10), 2, 10, torch.Generator())
