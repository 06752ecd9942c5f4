"""Multi-head attention and the pre-norm blocks every lab model is built from.

Attention is written out with four separate ``nn.Linear`` maps named ``q_proj``, ``k_proj``,
``v_proj`` and ``out_proj`` inside a module named ``attn`` (``cross_attn`` for encoder-decoder
attention), rather than ``nn.MultiheadAttention`` with its fused ``in_proj_weight``. The reason is
the monitor: the grokking papers take snapshots of the attention weights W_Q, W_K, W_V, W_O only,
and with these names the selection is the plain name filter ``"attn"`` (which also picks
``cross_attn``), while no other parameter name contains that substring (norms are ``norm1``,
``norm2``, ...; feed-forward maps are ``mlp.fc_in`` / ``mlp.fc_out``).

The product itself is ``F.scaled_dot_product_attention``, which picks the fastest kernel on each
device.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from spectral_edge.errors import SpectralEdgeError

ACTIVATIONS = {"gelu": nn.GELU, "relu": nn.ReLU}


class Attention(nn.Module):
    """Multi-head attention from queries ``x`` to keys/values ``context`` (``x`` by default)."""

    def __init__(self, d_model: int, n_heads: int, bias: bool = True, dropout: float = 0.0):
        super().__init__()
        if d_model % n_heads:
            raise SpectralEdgeError(f"d_model={d_model} is not divisible by n_heads={n_heads}")
        self.n_heads = n_heads
        self.dropout = dropout
        self.q_proj = nn.Linear(d_model, d_model, bias=bias)
        self.k_proj = nn.Linear(d_model, d_model, bias=bias)
        self.v_proj = nn.Linear(d_model, d_model, bias=bias)
        self.out_proj = nn.Linear(d_model, d_model, bias=bias)

    def _heads(self, t: Tensor) -> Tensor:
        b, n, d = t.shape
        return t.view(b, n, self.n_heads, d // self.n_heads).transpose(1, 2)

    def forward(
        self,
        x: Tensor,
        context: Tensor | None = None,
        causal: bool = False,
        key_mask: Tensor | None = None,
    ) -> Tensor:
        """``x`` ``(B, Tq, d)``; ``key_mask`` ``(B, Tk)`` bool, True where a key may be attended.

        ``causal`` aligns the query and key ends (query i sees keys up to i + Tk - Tq), so that a
        single last-position query over a full sequence is causal too.
        """
        ctx = x if context is None else context
        q = self._heads(self.q_proj(x))
        k = self._heads(self.k_proj(ctx))
        v = self._heads(self.v_proj(ctx))
        tq, tk = q.shape[2], k.shape[2]
        mask = None
        if key_mask is not None:
            mask = key_mask[:, None, None, :]
        if causal and (key_mask is not None or tq != tk):
            keep = torch.ones(tq, tk, dtype=torch.bool, device=x.device).tril(diagonal=tk - tq)
            mask = keep if mask is None else mask & keep
            causal = False
        out = F.scaled_dot_product_attention(
            q,
            k,
            v,
            attn_mask=mask,
            dropout_p=self.dropout if self.training else 0.0,
            is_causal=causal,
        )
        b, h, t, dh = out.shape
        return self.out_proj(out.transpose(1, 2).reshape(b, t, h * dh))


class FeedForward(nn.Module):
    """``fc_in`` → activation → ``fc_out``."""

    def __init__(self, d_model: int, d_ff: int, activation: str = "gelu", bias: bool = True):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise SpectralEdgeError(
                f"unknown activation {activation!r}; choose one of: {', '.join(ACTIVATIONS)}"
            )
        self.fc_in = nn.Linear(d_model, d_ff, bias=bias)
        self.act = ACTIVATIONS[activation]()
        self.fc_out = nn.Linear(d_ff, d_model, bias=bias)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc_out(self.act(self.fc_in(x)))


class EncoderBlock(nn.Module):
    """Pre-norm block: ``x + attn(norm1(x))`` then ``x + mlp(norm2(x))``.

    Pre-norm is what the mod-arith and Dyck papers use and it trains without warm-up at lr 1e-3.
    """

    def __init__(
        self,
        d_model: int,
        n_heads: int,
        d_ff: int,
        activation: str = "gelu",
        dropout: float = 0.0,
        bias: bool = True,
    ):
        super().__init__()
        self.norm1 = nn.LayerNorm(d_model, bias=bias)
        self.attn = Attention(d_model, n_heads, bias=bias, dropout=dropout)
        self.norm2 = nn.LayerNorm(d_model, bias=bias)
        self.mlp = FeedForward(d_model, d_ff, activation, bias=bias)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor, causal: bool = False, key_mask: Tensor | None = None) -> Tensor:
        x = x + self.drop(self.attn(self.norm1(x), causal=causal, key_mask=key_mask))
        return x + self.drop(self.mlp(self.norm2(x)))


class DecoderBlock(nn.Module):
    """Pre-norm decoder block: causal self-attention, cross-attention to the encoder, MLP."""

    def __init__(
        self,
        d_model: int,
        n_heads: int,
        d_ff: int,
        activation: str = "gelu",
        dropout: float = 0.0,
    ):
        super().__init__()
        self.norm1 = nn.LayerNorm(d_model)
        self.attn = Attention(d_model, n_heads, dropout=dropout)
        self.norm2 = nn.LayerNorm(d_model)
        self.cross_attn = Attention(d_model, n_heads, dropout=dropout)
        self.norm3 = nn.LayerNorm(d_model)
        self.mlp = FeedForward(d_model, d_ff, activation)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor, memory: Tensor, memory_mask: Tensor | None = None) -> Tensor:
        x = x + self.drop(self.attn(self.norm1(x), causal=True))
        x = x + self.drop(self.cross_attn(self.norm2(x), context=memory, key_mask=memory_mask))
        return x + self.drop(self.mlp(self.norm3(x)))
