"""Conformer encoder (Gulati et al. 2020): macaron FFN → self-attention → convolution module → FFN.

Written here rather than taken from ``torchaudio.models.Conformer`` for one reason that matters
for batched decoding: torchaudio's convolution module convolves over padding frames (and its
batch-norm option mixes padded frames into the statistics), so a padded batch does not give the
same encoder output as one utterance at a time. Here padding is zeroed before the depthwise
convolution and the conv module normalises with LayerNorm by default (``conv_norm="batch"`` for
ESPnet's BatchNorm). Positions come from absolute sinusoidal encodings added after the
front-end (ESPnet's relative positional attention is not implemented).
"""
from __future__ import annotations

import math
from typing import Callable

import torch
from torch import nn

from narspeech.nets.attention import MultiHeadAttention


class FeedForward(nn.Module):
    """LayerNorm → Linear → Swish → dropout → Linear → dropout."""

    def __init__(self, d_model: int, d_ff: int, dropout: float):
        super().__init__()
        self.net = nn.Sequential(nn.LayerNorm(d_model), nn.Linear(d_model, d_ff), nn.SiLU(), nn.Dropout(dropout),
                                 nn.Linear(d_ff, d_model), nn.Dropout(dropout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class ConvModule(nn.Module):
    """LayerNorm → pointwise conv → GLU → depthwise conv (padding zeroed) → norm → Swish → pointwise conv → dropout."""

    def __init__(self, d_model: int, kernel: int, dropout: float, norm: str = "layer"):
        super().__init__()
        if kernel % 2 == 0:
            raise ValueError(f"conformer conv kernel must be odd, got {kernel}")
        self.ln = nn.LayerNorm(d_model)
        self.pw1 = nn.Conv1d(d_model, 2 * d_model, 1)
        self.dw = nn.Conv1d(d_model, d_model, kernel, padding=kernel // 2, groups=d_model)
        if norm not in ("layer", "batch"):
            raise ValueError(f"conv_norm must be layer or batch, got {norm!r}")
        self.norm_kind = norm
        self.norm = nn.LayerNorm(d_model) if norm == "layer" else nn.BatchNorm1d(d_model)
        self.pw2 = nn.Conv1d(d_model, d_model, 1)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, pad: torch.Tensor | None) -> torch.Tensor:
        h = nn.functional.glu(self.pw1(self.ln(x).transpose(1, 2)), dim=1)  # (B, D, T)
        if pad is not None:
            h = h.masked_fill(pad[:, None, :], 0.0)
        h = self.dw(h)
        if self.norm_kind == "layer":
            h = self.norm(h.transpose(1, 2)).transpose(1, 2)
        else:
            h = self.norm(h)
        h = self.pw2(nn.functional.silu(h))
        return self.drop(h.transpose(1, 2))


class ConformerLayer(nn.Module):
    """One Conformer block: ½FFN, MHSA, conv, ½FFN, final LayerNorm (pre-norm residuals)."""

    def __init__(self, d_model: int, n_heads: int, d_ff: int, kernel: int = 15, dropout: float = 0.1,
                 conv_norm: str = "layer"):
        super().__init__()
        self.ff1, self.ff2 = FeedForward(d_model, d_ff, dropout), FeedForward(d_model, d_ff, dropout)
        self.ln_att = nn.LayerNorm(d_model)
        self.att = MultiHeadAttention(d_model, n_heads, dropout)
        self.conv = ConvModule(d_model, kernel, dropout, conv_norm)
        self.ln_out = nn.LayerNorm(d_model)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, pad: torch.Tensor | None) -> torch.Tensor:
        x = x + 0.5 * self.ff1(x)
        h = self.ln_att(x)
        a, _ = self.att(h, h, h, key_padding_mask=pad, need_weights=False)
        x = x + self.drop(a)
        x = x + self.conv(x, pad)
        x = self.ln_out(x + 0.5 * self.ff2(x))
        if pad is not None:
            x = x.masked_fill(pad[..., None], 0.0)
        return x


class ConformerEncoder(nn.Module):
    """Stack of :class:`ConformerLayer` over (B, T, D) with a padding mask (True at padding)."""

    def __init__(self, d_model: int = 256, n_heads: int = 4, d_ff: int = 1024, n_layers: int = 12, kernel: int = 15,
                 dropout: float = 0.1, conv_norm: str = "layer"):
        super().__init__()
        self.scale = math.sqrt(d_model)
        self.layers = nn.ModuleList(ConformerLayer(d_model, n_heads, d_ff, kernel, dropout, conv_norm) for _ in range(n_layers))

    def forward(self, x: torch.Tensor, pad: torch.Tensor | None,
                tap: Callable[[int, torch.Tensor], torch.Tensor] | None = None) -> torch.Tensor:
        """`tap(i, x) -> x`, if given, runs after each layer i (1-based) but the last and may change what
        the next layer reads (intermediate CTC with self-conditioning)."""
        for i, layer in enumerate(self.layers, 1):
            x = layer(x, pad)
            if tap is not None and i < len(self.layers):
                x = tap(i, x)
        return x
