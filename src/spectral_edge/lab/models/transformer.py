"""Small transformer encoders of the grokking papers.

:class:`SmallTransformer` is the model of the modular-arithmetic and Dyck companion papers
(docs/thesis.md §7): token and learned position embeddings, ``n_layers`` pre-norm blocks (d 128, 4
heads, d_ff 256, GELU), a final LayerNorm and a linear head. The read-out is

- ``"first"``: logits from position 0 (mod-arith: the paper reads the class off the first token;
  with bidirectional attention position 0 sees the whole ``[a, b, =]``),
- ``"last"``: logits from the last position,
- ``"all"``: logits at every position (Dyck depth), usually with ``causal=True`` so a position
  sees only its prefix, which is all its label depends on.

Multi-task mod-arith (shared trunk, one head per task) uses ``n_tasks > 1``: one ``head`` whose
output is split into ``n_tasks`` blocks of ``n_classes``, logits ``(B, n_tasks, C)``. That is the
same function as separate heads and keeps the parameter naming of the single-task model.

Parameter counts (biases everywhere, final LayerNorm; measured by the tests):
``modular_transformer(97)`` 290,657 (the paper's "~290K"); ``dyck_transformer()`` 270,349 (the
paper says "~150K", which no 2-layer d 128/d_ff 256 model reaches: one layer gives 137,869; we keep
the stated shape and report the difference).

Measured with the paper's recipe (p 97, train fraction 0.5, AdamW lr 1e-3, β (0.9, 0.98), batch
512, clip 1.0, seed 42, test accuracy ≥ 95 %; H200, 2026-11-28): add groks at step 1,800, mul at
1,900, multi-task add+mul at 4,700; add with weight decay 0 stays at 0.4 % test accuracy through
6,000 steps.

:class:`OneLayerTransformer` is the fast-grokking CPU model of docs/measurements.md (one layer, d
128, 4 heads, d_mlp 512, ReLU, no LayerNorm, read-out at the last position); it lives here, not in
``mlp.py``, because it is a transformer.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from spectral_edge.errors import SpectralEdgeError
from spectral_edge.lab.models.attention import Attention, EncoderBlock, FeedForward

READOUTS = ("first", "last", "all")


class SmallTransformer(nn.Module):
    """Pre-norm transformer encoder with a classification head (see the module docstring)."""

    def __init__(
        self,
        vocab_size: int,
        n_classes: int,
        max_len: int,
        d_model: int = 128,
        n_heads: int = 4,
        d_ff: int = 256,
        n_layers: int = 2,
        readout: str = "first",
        causal: bool = False,
        n_tasks: int = 1,
        activation: str = "gelu",
        dropout: float = 0.0,
    ):
        super().__init__()
        if readout not in READOUTS:
            raise SpectralEdgeError(f"unknown readout {readout!r}; choose one of: {READOUTS}")
        if n_tasks < 1 or n_layers < 1:
            raise SpectralEdgeError(f"n_tasks and n_layers must be >= 1, got {n_tasks}, {n_layers}")
        self.readout, self.causal = readout, causal
        self.n_classes, self.n_tasks = n_classes, n_tasks
        self.embed = nn.Embedding(vocab_size, d_model)
        self.pos_embed = nn.Embedding(max_len, d_model)
        self.blocks = nn.ModuleList(
            EncoderBlock(d_model, n_heads, d_ff, activation, dropout) for _ in range(n_layers)
        )
        self.norm_f = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, n_classes * n_tasks)

    def forward(self, x: Tensor, key_mask: Tensor | None = None) -> Tensor:
        """``x`` ``(B, T)`` token ids; ``key_mask`` ``(B, T)`` True on real tokens (optional).

        Returns ``(B, C)`` for the ``first``/``last`` read-outs, ``(B, T, C)`` for ``all``, with
        an extra task axis before ``C`` when ``n_tasks > 1``.
        """
        pos = torch.arange(x.shape[1], device=x.device)
        h = self.embed(x) + self.pos_embed(pos)
        for block in self.blocks:
            h = block(h, causal=self.causal, key_mask=key_mask)
        h = self.norm_f(h)
        if self.readout == "first":
            h = h[:, 0]
        elif self.readout == "last":
            h = h[:, -1]
        logits = self.head(h)
        if self.n_tasks > 1:
            logits = logits.unflatten(-1, (self.n_tasks, self.n_classes))
        return logits


def modular_transformer(p: int = 97, n_tasks: int = 1, **overrides) -> SmallTransformer:
    """The mod-arith model: vocabulary p + 1 ("=" is token p), 3 positions, read-out at 0."""
    kw = dict(vocab_size=p + 1, n_classes=p, max_len=3, readout="first", n_tasks=n_tasks)
    return SmallTransformer(**{**kw, **overrides})


def dyck_transformer(max_pairs: int = 12, causal: bool = True, **overrides) -> SmallTransformer:
    """The Dyck-1 depth model: tokens ``( ) PAD``, depth classes 0..max_pairs at every position."""
    kw = dict(
        vocab_size=3, n_classes=max_pairs + 1, max_len=2 * max_pairs, readout="all", causal=causal
    )
    return SmallTransformer(**{**kw, **overrides})


class OneLayerTransformer(nn.Module):
    """One attention layer and one MLP over ``[a, b, =]``, no LayerNorm, read-out at the end.

    The layout of Nanda et al.'s grokking transformer: attention without biases, an MLP with
    biases and ReLU, an unembedding without bias. Only the last position's output is read, and
    with a single layer it depends only on the last query, so the query, attention output and MLP
    are computed for that position alone: exact, and 2.3× faster on CPU (docs/measurements.md).
    """

    def __init__(
        self, p: int = 97, d_model: int = 128, n_heads: int = 4, d_mlp: int = 512, n_ctx: int = 3
    ):
        super().__init__()
        self.embed = nn.Embedding(p + 1, d_model)
        self.pos_embed = nn.Embedding(n_ctx, d_model)
        self.attn = Attention(d_model, n_heads, bias=False)
        self.mlp = FeedForward(d_model, d_mlp, activation="relu", bias=True)
        self.head = nn.Linear(d_model, p, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        """``x`` ``(B, T)`` token ids → logits ``(B, p)`` at the last position."""
        pos = torch.arange(x.shape[1], device=x.device)
        h = self.embed(x) + self.pos_embed(pos)
        last = h[:, -1:]
        last = last + self.attn(last, context=h)
        last = last + self.mlp(last)
        return self.head(last[:, 0])
