"""A GPT-2-style decoder-only language model and its named configurations.

The architecture is GPT-2's: learned token (``wte``) and position (``wpe``) embeddings, pre-norm
blocks (LayerNorm, causal attention, LayerNorm, GELU MLP), a final LayerNorm and an LM head whose
weight is the token embedding when ``tie_embeddings`` is set. Attention uses separate
``attn.q_proj``/``k_proj``/``v_proj``/``out_proj`` (see :mod:`.attention`) instead of GPT-2's fused
``c_attn``: the same parameter count, and the ``"attn"`` name filter selects exactly W_Q, W_K, W_V,
W_O. Because the head is tied, ``named_parameters()`` lists the shared matrix once, as
``wte.weight``, which is what the monitor's "tied weights counted once" needs.

Named configurations (``GPT_CONFIGS``), parameter counts as measured by the tests:

================== ====== ===== ===== ====== ====== ======= ==============
name               layers d     heads d_ff   seq    vocab   parameters
================== ====== ===== ===== ====== ====== ======= ==============
gpt2-124m          12     768   12    3072   1024   50257   124,439,808
tinystories-51m    8      512   16    2048   256    50257   51,082,752
small              4      256   4     1024   256    128     3,257,856
tiny               2      64    4     256    128    128     116,480
================== ====== ===== ===== ====== ====== ======= ==============

The first two are the paper's shapes and need a GPU; ``small`` and ``tiny`` are CPU-sized,
byte-level (vocabulary 128, matching :mod:`spectral_edge.lab.tasks.language`), and results on them
are "scaled-down". On an H200 (bf16 autocast, 2026-11-28) a training step of ``tinystories-51m``
at batch 32×256 took 34 ms with AdamW and 55 ms with Muon (6.6 GiB), ``gpt2-124m`` at 8×1024 took
51 and 80 ms (9.2 GiB). Initialisation follows GPT-2: N(0, 0.02), residual output projections
scaled by 1/√(2·layers), zero biases.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace

import torch
from torch import Tensor, nn

from spectral_edge.errors import SpectralEdgeError
from spectral_edge.lab.models.attention import EncoderBlock


@dataclass(frozen=True)
class GPTConfig:
    """Flat description of a GPT model; every field can be overridden by name."""

    vocab_size: int = 50257
    block_size: int = 1024
    n_layer: int = 12
    n_head: int = 12
    d_model: int = 768
    d_ff: int = 3072
    dropout: float = 0.0
    bias: bool = True
    tie_embeddings: bool = True


GPT_CONFIGS: dict[str, GPTConfig] = {
    "gpt2-124m": GPTConfig(),
    "tinystories-51m": GPTConfig(block_size=256, n_layer=8, n_head=16, d_model=512, d_ff=2048),
    "small": GPTConfig(vocab_size=128, block_size=256, n_layer=4, n_head=4, d_model=256, d_ff=1024),
    "tiny": GPTConfig(vocab_size=128, block_size=128, n_layer=2, n_head=4, d_model=64, d_ff=256),
}


def gpt_config(name: str, **overrides) -> GPTConfig:
    """A named configuration with some fields replaced; unknown names and keys are errors."""
    if name not in GPT_CONFIGS:
        raise SpectralEdgeError(
            f"unknown GPT configuration {name!r}; choose one of: {', '.join(GPT_CONFIGS)}"
        )
    known = {f.name for f in fields(GPTConfig)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise SpectralEdgeError(
            f"unknown GPT config key(s) {unknown}; known keys: {', '.join(sorted(known))}"
        )
    return replace(GPT_CONFIGS[name], **overrides)


class GPT(nn.Module):
    """GPT-2-style causal language model; ``forward`` returns logits ``(B, T, vocab)``."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        c = self.config = config
        if c.d_model % c.n_head:
            raise SpectralEdgeError(f"d_model={c.d_model} is not divisible by n_head={c.n_head}")
        self.wte = nn.Embedding(c.vocab_size, c.d_model)
        self.wpe = nn.Embedding(c.block_size, c.d_model)
        self.drop = nn.Dropout(c.dropout)
        self.blocks = nn.ModuleList(
            EncoderBlock(c.d_model, c.n_head, c.d_ff, "gelu", c.dropout, bias=c.bias)
            for _ in range(c.n_layer)
        )
        self.norm_f = nn.LayerNorm(c.d_model, bias=c.bias)
        self.lm_head = nn.Linear(c.d_model, c.vocab_size, bias=False)
        if c.tie_embeddings:
            self.lm_head.weight = self.wte.weight
        self._init_weights()

    def _init_weights(self) -> None:
        std = 0.02
        for name, p in self.named_parameters():
            if name.endswith("bias"):
                nn.init.zeros_(p)
            elif "norm" in name:
                nn.init.ones_(p)
            elif name.endswith(("attn.out_proj.weight", "mlp.fc_out.weight")):
                # GPT-2: each residual branch adds variance, so its output map starts smaller.
                nn.init.normal_(p, 0.0, std / math.sqrt(2 * self.config.n_layer))
            else:
                nn.init.normal_(p, 0.0, std)

    def forward(self, idx: Tensor) -> Tensor:
        """``idx`` ``(B, T)`` token ids with ``T <= block_size``."""
        t = idx.shape[1]
        if t > self.config.block_size:
            raise SpectralEdgeError(
                f"sequence length {t} exceeds block_size {self.config.block_size}"
            )
        pos = torch.arange(t, device=idx.device)
        h = self.drop(self.wte(idx) + self.wpe(pos))
        for block in self.blocks:
            h = block(h, causal=True)
        return self.lm_head(self.norm_f(h))


def build_gpt(name: str = "tiny", **overrides) -> GPT:
    """``GPT(gpt_config(name, **overrides))``."""
    return GPT(gpt_config(name, **overrides))


def count_parameters(model: nn.Module) -> int:
    """Trainable parameters, shared (tied) tensors counted once; works on the meta device."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
