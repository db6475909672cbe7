"""Multi-head attention that returns its per-head weights (needed for guided-attention
loss and for reading durations off an AR teacher's encoder-decoder attention)."""
from __future__ import annotations

import math

import torch
from torch import nn


class MultiHeadAttention(nn.Module):
    """Scaled dot-product attention with `n_heads` heads (Vaswani et al. 2017).

    ``forward(q, k, v, key_padding_mask=None, attn_mask=None, need_weights=True) -> (out (B,Tq,D), weights (B,H,Tq,Tk))``.
    `key_padding_mask` (B, Tk) and `attn_mask` (Tq, Tk) are True where attention is not allowed.
    With ``need_weights=False`` the fused `scaled_dot_product_attention` kernel runs and weights is None
    (self-attention of FFT blocks: much faster, no T×T matrix kept for backward).
    """

    def __init__(self, d_model: int, n_heads: int, dropout: float = 0.0):
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model {d_model} not divisible by n_heads {n_heads}")
        self.h, self.dk = n_heads, d_model // n_heads
        self.q = nn.Linear(d_model, d_model)
        self.k = nn.Linear(d_model, d_model)
        self.v = nn.Linear(d_model, d_model)
        self.o = nn.Linear(d_model, d_model)
        self.drop = nn.Dropout(dropout)

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, key_padding_mask: torch.Tensor | None = None,
                attn_mask: torch.Tensor | None = None, need_weights: bool = True) -> tuple[torch.Tensor, torch.Tensor | None]:
        b, tq, tk = q.size(0), q.size(1), k.size(1)
        qh = self.q(q).view(b, tq, self.h, self.dk).transpose(1, 2)
        kh = self.k(k).view(b, tk, self.h, self.dk).transpose(1, 2)
        vh = self.v(v).view(b, tk, self.h, self.dk).transpose(1, 2)
        if not need_weights:  # fused kernel (flash / memory-efficient on CUDA, fused on CPU): no (Tq, Tk) matrix kept
            allowed = None
            if key_padding_mask is not None:
                allowed = ~key_padding_mask[:, None, None, :]
            if attn_mask is not None:
                allowed = ~attn_mask[None, None] if allowed is None else allowed & ~attn_mask[None, None]
            out = nn.functional.scaled_dot_product_attention(qh, kh, vh, attn_mask=allowed,
                                                             dropout_p=self.drop.p if self.training else 0.0)
            return self.o(out.transpose(1, 2).reshape(b, tq, self.h * self.dk)), None
        scores = torch.matmul(qh, kh.transpose(-2, -1)) / math.sqrt(self.dk)
        scores = scores.float()  # softmax in fp32 under bf16 autocast
        blocked = None
        if key_padding_mask is not None:
            blocked = key_padding_mask[:, None, None, :]
        if attn_mask is not None:
            blocked = attn_mask[None, None] if blocked is None else blocked | attn_mask[None, None]
        if blocked is not None:
            scores = scores.masked_fill(blocked, float("-inf"))
        weights = torch.softmax(scores, dim=-1)
        if blocked is not None:  # a query row with every key blocked gives NaN: make it zeros
            weights = weights.masked_fill(blocked, 0.0)
        out = torch.matmul(self.drop(weights).to(vh.dtype), vh)
        out = out.transpose(1, 2).reshape(b, tq, self.h * self.dk)
        return self.o(out), weights
