"""Convolutional prenets and postnets used by Tacotron 2 / Transformer-TTS, and the
variance predictor of FastSpeech (duration, pitch, energy)."""
from __future__ import annotations

import torch
from torch import nn


class Conv1dStack(nn.Module):
    """`n_layers` × (Conv1d → BatchNorm → activation → dropout) over (B, T, C) inputs, masked at padding."""

    def __init__(self, in_dim: int, channels: int, out_dim: int, n_layers: int, kernel: int = 5, dropout: float = 0.5,
                 activation: str = "relu", last_activation: bool = True):
        super().__init__()
        self.layers = nn.ModuleList()
        for i in range(n_layers):
            cin = in_dim if i == 0 else channels
            cout = out_dim if i == n_layers - 1 else channels
            act = activation if (i < n_layers - 1 or last_activation) else None
            self.layers.append(nn.Sequential(
                nn.Conv1d(cin, cout, kernel, padding=kernel // 2, bias=False),
                nn.BatchNorm1d(cout),
                {"relu": nn.ReLU(), "tanh": nn.Tanh(), None: nn.Identity()}[act],
                nn.Dropout(dropout),
            ))

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """x (B, T, C); mask (B, T) True at valid frames (padding is zeroed between layers)."""
        x = x.transpose(1, 2)
        m = None if mask is None else mask[:, None, :].to(x.dtype)
        for layer in self.layers:
            if m is not None:
                x = x * m
            x = layer(x)
        if m is not None:
            x = x * m
        return x.transpose(1, 2)


class EncoderPrenet(nn.Module):
    """Token embedding → 3 conv layers (BN, ReLU, dropout) → linear to d_model (Transformer-TTS)."""

    def __init__(self, n_tokens: int, d_emb: int, d_model: int, n_layers: int = 3, kernel: int = 5, dropout: float = 0.5):
        super().__init__()
        self.embed = nn.Embedding(n_tokens, d_emb, padding_idx=0)
        self.convs = Conv1dStack(d_emb, d_emb, d_emb, n_layers, kernel, dropout) if n_layers > 0 else None
        self.proj = nn.Linear(d_emb, d_model)

    def forward(self, tokens: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        x = self.embed(tokens)
        if self.convs is not None:
            x = self.convs(x, mask)
        return self.proj(x)


class DecoderPrenet(nn.Module):
    """2 FC + ReLU layers with dropout that stays on at inference too (Tacotron 2), then a
    projection to d_model. The always-on dropout is the bottleneck that forces the decoder to
    use the attention instead of copying the previous frame."""

    def __init__(self, n_mels: int, units: int, d_model: int, n_layers: int = 2, dropout: float = 0.5):
        super().__init__()
        dims = [n_mels] + [units] * n_layers
        self.fcs = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))
        self.p = dropout
        self.proj = nn.Linear(units, d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for fc in self.fcs:
            x = nn.functional.dropout(torch.relu(fc(x)), self.p, training=True)
        return self.proj(x)


class Postnet(nn.Module):
    """5 conv layers (tanh, BN, dropout) predicting a residual added to the coarse mel."""

    def __init__(self, n_mels: int, channels: int = 256, n_layers: int = 5, kernel: int = 5, dropout: float = 0.5):
        super().__init__()
        self.net = Conv1dStack(n_mels, channels, n_mels, n_layers, kernel, dropout, activation="tanh", last_activation=False)

    def forward(self, mel: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return mel + self.net(mel, mask)


class VariancePredictor(nn.Module):
    """FastSpeech predictor: 2 × (Conv1d → ReLU → LayerNorm → dropout) → linear, one value per position."""

    def __init__(self, d_model: int, channels: int = 256, kernel: int = 3, n_layers: int = 2, dropout: float = 0.5):
        super().__init__()
        self.convs = nn.ModuleList()
        self.norms = nn.ModuleList()
        for i in range(n_layers):
            self.convs.append(nn.Conv1d(d_model if i == 0 else channels, channels, kernel, padding=kernel // 2))
            self.norms.append(nn.LayerNorm(channels))
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(channels, 1)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """x (B, N, D), mask (B, N) True at valid positions -> (B, N), 0 at padding."""
        m = None if mask is None else mask[..., None].to(x.dtype)
        for conv, norm in zip(self.convs, self.norms):
            if m is not None:
                x = x * m
            x = self.drop(norm(torch.relu(conv(x.transpose(1, 2)).transpose(1, 2))))
        y = self.out(x).squeeze(-1)
        return y if mask is None else y.masked_fill(~mask, 0.0)
