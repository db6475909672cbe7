"""Padding masks from lengths."""
from __future__ import annotations

import torch


def pad_mask(lengths: torch.Tensor, max_len: int | None = None) -> torch.Tensor:
    """(B,) lengths -> (B, T) bool, True at padded positions (PyTorch's key_padding_mask convention)."""
    max_len = int(lengths.max()) if max_len is None else max_len
    return torch.arange(max_len, device=lengths.device)[None, :] >= lengths[:, None]


def valid_mask(lengths: torch.Tensor, max_len: int | None = None) -> torch.Tensor:
    """(B,) lengths -> (B, T) bool, True at real positions."""
    return ~pad_mask(lengths, max_len)


def causal_mask(n: int, device: torch.device | None = None) -> torch.Tensor:
    """(n, n) bool, True where query i must not see key j > i."""
    return torch.triu(torch.ones(n, n, dtype=torch.bool, device=device), diagonal=1)
