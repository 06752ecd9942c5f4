"""The SCAN encoder-decoder: 3 + 3 pre-norm layers, d 256, 4 heads, d_ff 512 (docs/thesis.md §7).

Self-attention modules are named ``attn`` and encoder-decoder attention ``cross_attn``, each with
``q_proj``/``k_proj``/``v_proj``/``out_proj``, so the name filter ``"attn"`` selects every attention
matrix of both stacks (the ``attention`` selection of docs/thesis.md §1 includes cross-attention).

The paper quotes "~1.5M" parameters; the stated shape with biases and learned positions gives
3,977,737 here (encoder 1.58M, decoder 2.37M, embeddings and head the rest). We keep the stated
shape and report the count; ``d_model=128`` gives 1,400,585, close to the quoted figure, if the
paper's model was in fact that narrow.

Measured (2,048 train pairs, AdamW lr 1e-4, wd 1, batch 256, seed 42; H200, 2026-11-28): the train
set is fitted by step 500 (test sequence accuracy 86 %, teacher-forced), test reaches 95 % at step
2,750 and 97.6 % at 5,000; greedy decoding then scores 98.3 % on 1,024 test commands.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from spectral_edge.lab.models.attention import DecoderBlock, EncoderBlock


class Seq2SeqTransformer(nn.Module):
    """Pre-norm transformer encoder-decoder with learned positions and a linear output head."""

    def __init__(
        self,
        src_vocab_size: int,
        tgt_vocab_size: int,
        max_src_len: int = 9,
        max_tgt_len: int = 49,
        d_model: int = 256,
        n_heads: int = 4,
        d_ff: int = 512,
        n_encoder_layers: int = 3,
        n_decoder_layers: int = 3,
        pad_id: int = 0,
        activation: str = "gelu",
        dropout: float = 0.0,
    ):
        super().__init__()
        self.pad_id = pad_id
        self.src_embed = nn.Embedding(src_vocab_size, d_model)
        self.src_pos_embed = nn.Embedding(max_src_len, d_model)
        self.tgt_embed = nn.Embedding(tgt_vocab_size, d_model)
        self.tgt_pos_embed = nn.Embedding(max_tgt_len, d_model)
        self.encoder = nn.ModuleList(
            EncoderBlock(d_model, n_heads, d_ff, activation, dropout)
            for _ in range(n_encoder_layers)
        )
        self.decoder = nn.ModuleList(
            DecoderBlock(d_model, n_heads, d_ff, activation, dropout)
            for _ in range(n_decoder_layers)
        )
        self.encoder_norm = nn.LayerNorm(d_model)
        self.decoder_norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, tgt_vocab_size)

    def encode(self, src: Tensor) -> tuple[Tensor, Tensor]:
        """Encoder states ``(B, S, d)`` and the source mask (True on real tokens)."""
        mask = src != self.pad_id
        pos = torch.arange(src.shape[1], device=src.device)
        h = self.src_embed(src) + self.src_pos_embed(pos)
        for block in self.encoder:
            h = block(h, key_mask=mask)
        return self.encoder_norm(h), mask

    def decode(self, memory: Tensor, memory_mask: Tensor, tgt_in: Tensor) -> Tensor:
        """Logits ``(B, T, V)`` for decoder inputs ``tgt_in`` given encoder ``memory``.

        Decoder padding needs no mask: it sits after the real tokens and causal attention keeps
        real positions from seeing it; the loss ignores padded targets.
        """
        pos = torch.arange(tgt_in.shape[1], device=tgt_in.device)
        h = self.tgt_embed(tgt_in) + self.tgt_pos_embed(pos)
        for block in self.decoder:
            h = block(h, memory, memory_mask)
        return self.head(self.decoder_norm(h))

    def forward(self, src: Tensor, tgt_in: Tensor) -> Tensor:
        """Teacher-forced logits ``(B, T, V)``."""
        memory, mask = self.encode(src)
        return self.decode(memory, mask, tgt_in)

    @torch.no_grad()
    def greedy_decode(self, src: Tensor, max_len: int, sos_id: int, eos_id: int) -> Tensor:
        """Greedy output ids ``(B, max_len)`` (without ``<sos>``); ``pad_id`` after ``<eos>``.

        No key-value cache: SCAN outputs are at most 49 tokens and the model is small, so
        re-running the decoder on the growing prefix is simple and fast enough.
        """
        memory, mask = self.encode(src)
        ys = torch.full((len(src), 1), sos_id, dtype=torch.long, device=src.device)
        done = torch.zeros(len(src), dtype=torch.bool, device=src.device)
        for _ in range(max_len):
            nxt = self.decode(memory, mask, ys)[:, -1].argmax(-1)
            nxt = torch.where(done, torch.full_like(nxt, self.pad_id), nxt)
            ys = torch.cat([ys, nxt[:, None]], dim=1)
            done |= nxt == eos_id
            if bool(done.all()):
                break
        out = ys[:, 1:]
        if out.shape[1] < max_len:
            pad = out.new_full((len(out), max_len - out.shape[1]), self.pad_id)
            out = torch.cat([out, pad], dim=1)
        return out


def scan_seq2seq(**overrides) -> Seq2SeqTransformer:
    """The SCAN model with the vocabularies and lengths of :mod:`spectral_edge.lab.tasks.scan`."""
    from spectral_edge.lab.tasks import scan

    kw = dict(
        src_vocab_size=len(scan.SRC_VOCAB),
        tgt_vocab_size=len(scan.TGT_VOCAB),
        max_src_len=scan.MAX_SRC_LEN,
        max_tgt_len=scan.MAX_ACTIONS + 1,
        pad_id=scan.PAD,
    )
    return Seq2SeqTransformer(**{**kw, **overrides})
