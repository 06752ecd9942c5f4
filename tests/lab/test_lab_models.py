"""Model shapes, parameter counts of the named configurations, attention naming."""

import pytest
import torch

from spectral_edge.errors import SpectralEdgeError
from spectral_edge.lab.models import (
    GPT_CONFIGS,
    MODEL_NAMES,
    build_model,
    count_parameters,
    gpt_config,
)
from spectral_edge.lab.tasks import dyck, modular, scan


def meta_count(name, **kw):
    with torch.device("meta"):
        return count_parameters(build_model(name, **kw))


# Measured counts; the comments say how they relate to the papers' figures.
@pytest.mark.parametrize(
    "name, kw, expected",
    [
        ("gpt2-124m", {}, 124_439_808),  # GPT-2 small, tied: the famous 124.44M
        ("tinystories-51m", {}, 51_082_752),  # 51M with the GPT-2 vocabulary, tied
        ("small", {}, 3_257_856),
        ("tiny", {}, 116_480),
        ("modular-transformer", {}, 290_657),  # paper: ~290K
        ("dyck-transformer", {}, 270_349),  # paper: ~150K (stated shape gives more)
        ("scan-seq2seq", {}, 3_977_737),  # paper: ~1.5M (stated shape gives more)
        ("scan-seq2seq", {"d_model": 128}, 1_400_585),
        ("mlp-quadratic", {}, 436_224),
        ("mlp-embed", {}, 193_761),  # docs/measurements.md: P = 193,761
        ("tf-1layer", {}, 222_592),
    ],
)
def test_parameter_counts(name, kw, expected):
    assert meta_count(name, **kw) == expected


def test_gpt2_tied_embeddings_counted_once():
    with torch.device("meta"):
        tied = build_model("gpt2-124m")
        untied = build_model("gpt2-124m", tie_embeddings=False)
    assert tied.lm_head.weight is tied.wte.weight
    names = [n for n, _ in tied.named_parameters()]
    assert "wte.weight" in names and "lm_head.weight" not in names
    assert count_parameters(untied) - count_parameters(tied) == 50257 * 768


def test_named_gpt_shapes():
    c = GPT_CONFIGS["tinystories-51m"]
    assert (c.n_layer, c.d_model, c.n_head, c.d_ff, c.block_size) == (8, 512, 16, 2048, 256)
    c = GPT_CONFIGS["gpt2-124m"]
    assert (c.n_layer, c.d_model, c.n_head, c.d_ff, c.block_size, c.vocab_size) == (
        12,
        768,
        12,
        3072,
        1024,
        50257,
    )
    assert c.tie_embeddings


def test_gpt_meta_forward_shape():
    with torch.device("meta"):
        model = build_model("gpt2-124m")
        out = model(torch.zeros(2, 16, dtype=torch.long))
    assert out.shape == (2, 16, 50257)


def test_tiny_gpt_is_causal():
    torch.manual_seed(0)
    model = build_model("tiny").eval()
    x = torch.randint(0, 128, (1, 20))
    y = x.clone()
    y[0, 10:] = (y[0, 10:] + 1) % 128
    a, b = model(x), model(y)
    torch.testing.assert_close(a[:, :10], b[:, :10])
    assert not torch.allclose(a[:, 10:], b[:, 10:])


def test_modular_models_shapes():
    d = modular.make_modular(p=13, seed=0)
    for name in ("modular-transformer", "tf-1layer", "mlp-embed"):
        assert build_model(name, p=13)(d.train_x[:5]).shape == (5, 13)
    multi = build_model("modular-transformer", p=13, n_tasks=3)
    assert multi(d.train_x[:5]).shape == (5, 3, 13)
    mlp = modular.make_mlp_modular(p=11)
    assert build_model("mlp-quadratic", p=11, width=32)(mlp.train_x[:4]).shape == (4, 11)


def test_one_layer_last_query_is_exact():
    """Computing only the last query equals a full one-layer pass read at the last position."""
    torch.manual_seed(0)
    m = build_model("tf-1layer", p=13)
    x = modular.make_modular(p=13).train_x[:8]
    h = m.embed(x) + m.pos_embed(torch.arange(3))
    full = h + m.attn(h)
    full = full + m.mlp(full)
    torch.testing.assert_close(m(x), m.head(full[:, -1]))


def test_dyck_model_causal_and_padding():
    torch.manual_seed(0)
    d = dyck.make_dyck(n_train=10, n_test=10, seed=0)
    causal = build_model("dyck-transformer").eval()
    out = causal(d.train_x)
    assert out.shape == (10, 24, 13)
    # A causal model's outputs on real positions ignore the padding after them.
    x2 = d.train_x.clone()
    x2[~d.train_mask] = 0
    torch.testing.assert_close(out[d.train_mask], causal(x2)[d.train_mask])
    bidir = build_model("dyck-transformer", causal=False).eval()
    a = bidir(d.train_x, key_mask=d.train_mask)
    b = bidir(x2, key_mask=d.train_mask)
    torch.testing.assert_close(a[d.train_mask], b[d.train_mask])


def test_seq2seq_shapes_and_greedy_decode():
    torch.manual_seed(0)
    data = scan.make_scan(n_train=8, n_test=4, seed=0)
    model = build_model("scan-seq2seq", d_model=32, n_heads=2, d_ff=64).eval()
    logits = model(data.train_src, data.train_tgt_in)
    assert logits.shape == (8, 49, len(scan.TGT_VOCAB))
    out = model.greedy_decode(data.test_src, 49, scan.SOS, scan.EOS)
    assert out.shape == (4, 49)
    # Greedy decoding agrees with teacher forcing on its own output.
    tf = model(data.test_src, torch.cat([torch.full((4, 1), scan.SOS), out[:, :-1]], 1))
    first = tf.argmax(-1)[:, 0]
    assert torch.equal(first, out[:, 0])
    # Source padding is masked: appending padding does not change the output.
    padded = torch.cat([data.train_src[:, :8], torch.zeros(8, 1, dtype=torch.long)], 1)
    if (data.train_src[:, 8] == 0).all():
        torch.testing.assert_close(model(padded, data.train_tgt_in), logits)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_attention_filter_selects_exactly_qkvo(name):
    with torch.device("meta"):
        model = build_model(name)
    picked = [n for n, _ in model.named_parameters() if "attn" in n]
    for n in picked:
        assert n.split(".")[-2] in ("q_proj", "k_proj", "v_proj", "out_proj"), n
    weights = [n for n in picked if n.endswith("weight")]
    layers = {
        "gpt2-124m": 12,
        "tinystories-51m": 8,
        "small": 4,
        "tiny": 2,
        "modular-transformer": 2,
        "dyck-transformer": 2,
        "scan-seq2seq": 3 + 3 + 3,  # encoder self, decoder self, decoder cross
        "tf-1layer": 1,
        "mlp-quadratic": 0,
        "mlp-embed": 0,
    }[name]
    assert len(weights) == 4 * layers


def test_registry_errors():
    with pytest.raises(SpectralEdgeError, match="unknown model"):
        build_model("resnet")
    with pytest.raises(SpectralEdgeError, match="d_modle"):
        build_model("modular-transformer", d_modle=64)
    with pytest.raises(SpectralEdgeError, match="unknown GPT config key"):
        gpt_config("tiny", layers=3)
    with pytest.raises(SpectralEdgeError):
        build_model("tiny", n_head=5)
    assert build_model("gpt-tiny").config == GPT_CONFIGS["tiny"]
