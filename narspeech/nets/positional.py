"""Sinusoidal positional encodings, plain or scaled by a trainable weight (Transformer-TTS)."""
from __future__ import annotations

import math

import torch
from torch import nn


def sinusoid_table(n: int, d: int, device: torch.device | None = None) -> torch.Tensor:
    """(n, d) sin/cos table of Vaswani et al. 2017."""
    pos = torch.arange(n, dtype=torch.float32, device=device)[:, None]
    div = torch.exp(torch.arange(0, d, 2, dtype=torch.float32, device=device) * (-math.log(10000.0) / d))
    pe = torch.zeros(n, d, device=device)
    pe[:, 0::2] = torch.sin(pos * div)
    pe[:, 1::2] = torch.cos(pos * div)[:, : d // 2]
    return pe


class PositionalEncoding(nn.Module):
    """``x * sqrt(d) + alpha * PE`` with alpha trainable when `scaled` (Li et al. 2019), else ``x + PE``.

    Transformer-TTS learns alpha because the scales of the text and mel inputs differ.
    """

    def __init__(self, d_model: int, dropout: float = 0.0, scaled: bool = True, max_len: int = 2000):
        super().__init__()
        self.d, self.scaled = d_model, scaled
        self.alpha = nn.Parameter(torch.ones(1)) if scaled else None
        self.drop = nn.Dropout(dropout)
        self.register_buffer("pe", sinusoid_table(max_len, d_model), persistent=False)

    def forward(self, x: torch.Tensor, offset: int = 0) -> torch.Tensor:
        n = x.size(1) + offset
        if n > self.pe.size(0):
            self.pe = sinusoid_table(max(n, 2 * self.pe.size(0)), self.d, device=x.device)
        pe = self.pe[offset:n].to(x.dtype)[None]
        if self.scaled:
            return self.drop(x + self.alpha.to(x.dtype) * pe)
        return self.drop(x + pe)
