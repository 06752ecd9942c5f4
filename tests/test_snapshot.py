"""Parameter selections and the flat layout, on small hand-built models with known names."""

from __future__ import annotations

import re

import pytest
import torch
from torch import nn

from spectral_edge.errors import SpectralEdgeError
from spectral_edge.snapshot import (
    ParameterLayout,
    describe_selection,
    layer_groups,
    select_parameters,
)


def names(model, params="all", **kw) -> list[str]:
    return [n for n, _ in select_parameters(model, params, **kw)]


# --------------------------------------------------------------------------------------------
# Models


class Attn(nn.Module):
    """Separate q/k/v/out projections, with biases and a (1-D) qk-norm inside."""

    def __init__(self, d=8):
        super().__init__()
        self.q_proj = nn.Linear(d, d)
        self.k_proj = nn.Linear(d, d)
        self.v_proj = nn.Linear(d, d)
        self.out_proj = nn.Linear(d, d)
        self.q_norm = nn.LayerNorm(d)


class Block(nn.Module):
    def __init__(self, d=8, cross=False):
        super().__init__()
        self.ln_1 = nn.LayerNorm(d)
        self.attn = Attn(d)
        if cross:
            self.cross_attention = Attn(d)
        self.ln_2 = nn.LayerNorm(d)
        self.mlp = nn.Sequential(nn.Linear(d, 2 * d), nn.GELU(), nn.Linear(2 * d, d))


class TinyGPT(nn.Module):
    """Token embedding tied to the head, a positional parameter, a causal-mask buffer."""

    def __init__(self, vocab=11, d=8, n_layers=3, ctx=5):
        super().__init__()
        self.wte = nn.Embedding(vocab, d)
        self.pos_emb = nn.Parameter(torch.zeros(ctx, d))
        self.h = nn.ModuleList([Block(d, cross=(i == 1)) for i in range(n_layers)])
        self.ln_f = nn.LayerNorm(d)
        self.lm_head = nn.Linear(d, vocab, bias=False)
        self.lm_head.weight = self.wte.weight  # tied
        self.register_buffer("mask", torch.tril(torch.ones(ctx, ctx)))
        self.register_buffer("scale", torch.ones(1), persistent=False)


class SelfAttnModel(nn.Module):
    """Modules named self_attn (nn.Linear projections) and a fused nn.MultiheadAttention."""

    def __init__(self, d=8):
        super().__init__()
        self.tok = nn.Embedding(7, d)  # an embedding whose name says nothing
        self.final = nn.LayerNorm(d)  # a norm whose name says nothing
        self.self_attn = Attn(d)
        self.mha_attn = nn.MultiheadAttention(d, 2)
        self.kv_attention = nn.MultiheadAttention(d, 2, kdim=4, vdim=6)  # separate q/k/v weights
        self.proj = nn.Linear(d, d)


def test_tiny_gpt_names_are_what_the_tests_assume():
    # Guards the fixtures: the selection tests below rely on these exact names.
    model = TinyGPT()
    all_names = names(model)
    assert "wte.weight" in all_names and "lm_head.weight" not in all_names
    assert "h.1.cross_attention.q_proj.weight" in all_names


# --------------------------------------------------------------------------------------------
# all


def test_all_counts_tied_weights_once_and_excludes_buffers():
    model = TinyGPT()
    chosen = select_parameters(model, "all")
    got = [n for n, _ in chosen]
    assert got == sorted(got)
    assert "mask" not in got and "scale" not in got
    assert sum("wte" in n or "lm_head" in n for n in got) == 1
    unique = {id(p): p for p in model.parameters()}
    layout = ParameterLayout(model, "all")
    assert layout.numel == sum(p.numel() for p in unique.values())
    tied_total = sum(p.numel() for _, p in model.named_parameters(remove_duplicate=False))
    assert layout.numel == tied_total - model.wte.weight.numel()


# --------------------------------------------------------------------------------------------
# attention


def test_attention_picks_q_k_v_out_weights_of_every_attention_module():
    model = TinyGPT()
    got = names(model, "attention")
    want = sorted(
        f"h.{i}.{mod}.{proj}.weight"
        for i in range(3)
        for mod in (["attn", "cross_attention"] if i == 1 else ["attn"])
        for proj in ("q_proj", "k_proj", "v_proj", "out_proj")
    )
    assert got == want  # no biases, no qk-norm, no MLP, no embeddings


def test_attention_on_self_attn_and_nn_multihead_attention():
    model = SelfAttnModel()
    got = set(names(model, "attention"))
    want = {
        "self_attn.q_proj.weight",
        "self_attn.k_proj.weight",
        "self_attn.v_proj.weight",
        "self_attn.out_proj.weight",
        "mha_attn.in_proj_weight",
        "mha_attn.out_proj.weight",
        "kv_attention.q_proj_weight",
        "kv_attention.k_proj_weight",
        "kv_attention.v_proj_weight",
        "kv_attention.out_proj.weight",
    }
    assert got == want


def test_attention_on_torch_transformer_layers():
    enc = nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2, 16), 2, enable_nested_tensor=False)
    dec = nn.TransformerDecoderLayer(8, 2, 16)
    assert set(names(enc, "attention")) == {
        f"layers.{i}.self_attn.{w}" for i in range(2) for w in ("in_proj_weight", "out_proj.weight")
    }
    assert set(names(dec, "attention")) == {
        f"{m}.{w}"
        for m in ("self_attn", "multihead_attn")
        for w in ("in_proj_weight", "out_proj.weight")
    }


# --------------------------------------------------------------------------------------------
# trunk


def test_trunk_excludes_embeddings_and_norms_by_name():
    model = TinyGPT()
    got = names(model, "trunk")
    assert not any(n.startswith(("wte", "pos_emb", "ln_f")) for n in got)
    assert not any(".ln_" in n or "q_norm" in n for n in got)
    assert "h.0.mlp.0.weight" in got and "h.2.attn.out_proj.bias" in got
    assert "h.1.cross_attention.k_proj.weight" in got
    everything = set(names(model))
    excluded = everything - set(got)
    assert excluded == {
        n
        for n in everything
        if n.startswith(("wte.", "pos_emb", "ln_f.")) or ".ln_" in n or ".q_norm." in n
    }


def test_trunk_excludes_embeddings_and_norms_by_type():
    model = SelfAttnModel()
    got = names(model, "trunk")
    assert not any(n.startswith(("tok.", "final.")) for n in got)
    assert "self_attn.q_norm.weight" not in got
    assert "proj.weight" in got and "mha_attn.in_proj_weight" in got


def test_trunk_type_exclusions_cover_other_norms():
    model = nn.ModuleDict(
        {
            "a": nn.BatchNorm1d(4),
            "b": nn.GroupNorm(2, 4),
            "c": nn.RMSNorm(4),
            "d": nn.EmbeddingBag(5, 4),
            "e": nn.Linear(4, 4),
        }
    )
    assert names(model, "trunk") == ["e.bias", "e.weight"]


def test_trunk_with_bare_parameters_named_like_embeddings_or_norms():
    model = nn.Module()
    model.embed_scale = nn.Parameter(torch.ones(3))
    model.norm_gain = nn.Parameter(torch.ones(3))
    model.position_bias = nn.Parameter(torch.ones(3))
    model.w = nn.Parameter(torch.ones(3, 3))
    assert names(model, "trunk") == ["w"]


def test_trunk_keeps_linear_layers_whatever_their_name():
    model = nn.Module()
    model.positionwise_feed_forward = nn.Linear(2, 2)  # the Transformer's position-wise FFN
    model.out = nn.Linear(2, 2)
    assert names(model, "trunk") == [
        "out.bias",
        "out.weight",
        "positionwise_feed_forward.bias",
        "positionwise_feed_forward.weight",
    ]


# --------------------------------------------------------------------------------------------
# layers


def test_layer_n_and_layer_groups():
    model = TinyGPT(n_layers=12)
    groups = layer_groups(model)
    assert list(groups) == [f"layer:{i}" for i in range(12)]
    l1 = names(model, "layer:1")
    assert l1 and all(n.startswith("h.1.") for n in l1)  # never h.10. or h.11.
    assert set(l1) == {n for n in names(model) if n.startswith("h.1.")}
    covered = sorted(n for sel in groups.values() for n in names(model, sel))
    assert covered == sorted(n for n in names(model) if n.startswith("h."))


@pytest.mark.parametrize("container", ["layers", "layer", "blocks", "block", "h"])
def test_layer_containers(container):
    model = nn.Module()
    setattr(model, container, nn.ModuleList([nn.Linear(2, 2) for _ in range(3)]))
    model.head = nn.Linear(2, 1)
    assert names(model, "layer:2") == [f"{container}.2.bias", f"{container}.2.weight"]
    assert list(layer_groups(model)) == ["layer:0", "layer:1", "layer:2"]


def test_layer_groups_of_a_model_without_layers_is_empty():
    assert layer_groups(nn.Linear(2, 2)) == {}


# --------------------------------------------------------------------------------------------
# regex, callable, list of names, trainable_only


def test_regex_selection():
    model = TinyGPT()
    assert names(model, r"^h\.0\..*weight$") == sorted(
        n for n in names(model) if re.search(r"^h\.0\..*weight$", n)
    )
    assert names(model, "mlp") == sorted(n for n in names(model) if "mlp" in n)


def test_callable_selection():
    model = TinyGPT()
    got = names(model, lambda n, p: p.ndim == 1)
    assert got == sorted(n for n, p in model.named_parameters() if p.ndim == 1)
    seen = []
    names(model, lambda n, p: seen.append((n, tuple(p.shape))) or True)
    assert [n for n, _ in seen] == names(model)


def test_list_of_names_is_laid_out_name_sorted():
    model = TinyGPT()
    pick = ["h.2.mlp.0.weight", "h.0.attn.q_proj.bias", "wte.weight"]
    assert names(model, pick) == sorted(pick)
    assert names(model, tuple(pick)) == sorted(pick)
    layout = ParameterLayout(model, pick)
    assert layout.selection == "names:" + ",".join(pick)


def test_trainable_only():
    model = TinyGPT()
    for p in model.h[0].parameters():
        p.requires_grad_(False)
    got = names(model)
    assert not any(n.startswith("h.0.") for n in got)
    full = names(model, trainable_only=False)
    assert set(full) - set(got) == {n for n in full if n.startswith("h.0.")}
    assert ParameterLayout(model, "all", trainable_only=False).numel > ParameterLayout(model).numel


# --------------------------------------------------------------------------------------------
# Layout


def test_layout_is_name_sorted_contiguous_and_independent_of_registration_order():
    def build(order):
        m = nn.Module()
        for name in order:
            setattr(m, name, nn.Linear(3, {"a": 2, "b": 4, "c": 1}[name]))
        return m

    one, two = build("abc"), build("cab")
    l1, l2 = ParameterLayout(one), ParameterLayout(two)
    assert (
        l1.names == l2.names == ["a.bias", "a.weight", "b.bias", "b.weight", "c.bias", "c.weight"]
    )
    assert [(s.offset, s.numel, s.shape) for s in l1.slots] == [
        (s.offset, s.numel, s.shape) for s in l2.slots
    ]
    offset = 0
    for slot in l1.slots:
        assert slot.offset == offset
        offset += slot.numel
    assert l1.numel == offset == sum(p.numel() for p in one.parameters())
    d = l1.describe()
    assert d == {"selection": "all", "n_params": offset, "names": l1.names}
    d["names"].append("x")  # describe and names hand out copies
    assert "x" not in l1.names


def test_tensors_and_pieces_are_views_in_layout_order():
    model = TinyGPT()
    layout = ParameterLayout(model, "attention")
    params = dict(model.named_parameters())
    tensors = layout.tensors(model)
    for slot, t in zip(layout.slots, tensors, strict=True):
        assert t.data_ptr() == params[slot.name].data_ptr()  # no copies
        assert not t.requires_grad
    pieces = list(layout.pieces(model))
    assert [o for o, _ in pieces] == [s.offset for s in layout.slots]
    flat = torch.cat([t for _, t in pieces])
    assert flat.numel() == layout.numel
    with torch.no_grad():
        model.h[0].attn.q_proj.weight.add_(1.0)
    assert torch.equal(
        layout.tensors(model)[layout.names.index("h.0.attn.q_proj.weight")],
        model.h[0].attn.q_proj.weight.detach(),
    )


def test_describe_selection():
    def my_filter(n, p):
        return True

    assert describe_selection("trunk") == "trunk"
    assert describe_selection(["a", "b"]) == "names:a,b"
    assert describe_selection(my_filter).startswith("callable:") and "my_filter" in (
        describe_selection(my_filter)
    )
    with pytest.raises(SpectralEdgeError, match="string, a callable or a list"):
        describe_selection(3)


# --------------------------------------------------------------------------------------------
# Errors


def test_no_match_lists_names_and_the_options():
    model = TinyGPT()
    with pytest.raises(SpectralEdgeError) as err:
        select_parameters(model, "nothing_like_this")
    msg = str(err.value)
    assert "nothing_like_this" in msg and "matched none" in msg
    assert "h.0.attn.k_proj.bias" in msg  # the first names, sorted
    assert "'attention'" in msg and "layer:N" in msg


def test_no_attention_in_an_mlp_is_a_clear_error():
    with pytest.raises(SpectralEdgeError, match="'attention' matched none"):
        ParameterLayout(nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 1)), "attention")


def test_bad_regex():
    with pytest.raises(SpectralEdgeError, match="regular expression") as err:
        select_parameters(TinyGPT(), "h.(0")
    assert err.value.__cause__ is None


def test_unknown_names():
    with pytest.raises(SpectralEdgeError, match="nope") as err:
        select_parameters(TinyGPT(), ["wte.weight", "nope", "lm_head.weight"])
    # lm_head.weight is the tied duplicate: it is not a separate parameter name
    assert "lm_head.weight" in str(err.value)


def test_no_trainable_parameters():
    model = nn.Linear(2, 2).requires_grad_(False)
    with pytest.raises(SpectralEdgeError, match="no trainable parameters"):
        ParameterLayout(model)
    assert ParameterLayout(model, trainable_only=False).numel == 6
    with pytest.raises(SpectralEdgeError, match="no parameters"):
        ParameterLayout(nn.ReLU(), trainable_only=False)
    with pytest.raises(SpectralEdgeError, match="no trainable parameters"):
        ParameterLayout(nn.ReLU())


@pytest.mark.parametrize("sel", ["layer:", "layer:x", "layer:-1", "layer:1.5"])
def test_layer_without_a_number(sel):
    with pytest.raises(SpectralEdgeError, match="layer selection needs a number"):
        select_parameters(TinyGPT(), sel)


def test_layer_that_does_not_exist():
    with pytest.raises(SpectralEdgeError, match="'layer:7' matched none"):
        select_parameters(TinyGPT(), "layer:7")


@pytest.mark.parametrize("sel", [3, None, 2.5, {"a": 1}])
def test_selection_of_the_wrong_type(sel):
    with pytest.raises(SpectralEdgeError, match="params must be"):
        select_parameters(TinyGPT(), sel)


def test_disappeared_parameter_is_named():
    model = TinyGPT()
    layout = ParameterLayout(model)
    del model.h[2].mlp[2]
    with pytest.raises(SpectralEdgeError, match=r"'h\.2\.mlp\.2\.(bias|weight)'.*disappeared"):
        layout.tensors(model)
    with pytest.raises(SpectralEdgeError, match="disappeared"):
        list(layout.pieces(model))


def test_reshaped_parameter_is_named_with_both_shapes():
    model = TinyGPT()
    layout = ParameterLayout(model)
    model.h[0].mlp[0] = nn.Linear(8, 32)
    with pytest.raises(SpectralEdgeError, match=r"'h\.0\.mlp\.0\.bias'.*\(16,\).*\(32,\)"):
        layout.tensors(model)


def test_frozen_after_layout_is_still_read():
    # requires_grad is checked at construction; freezing later does not change the layout
    model = TinyGPT()
    layout = ParameterLayout(model)
    model.h[0].requires_grad_(False)
    assert len(layout.tensors(model)) == len(layout.slots)
