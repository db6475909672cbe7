"""A tiny variable-length sequence-regression task for the engine's tests and smoke runs.

The target is a fixed random 1-D convolution of the input, so a small conv net can learn it
exactly and the loss must fall. It follows the engine's contract: a dataset with ``lengths``,
a collate that pads and returns lengths, ``model(batch) -> (loss, stats)`` with a masked loss.
"""
from __future__ import annotations

import torch
from torch import nn


class ToySeqDataset(torch.utils.data.Dataset):
    """`n` sequences of lengths in [min_len, max_len], features (T, dim) -> targets (T, out)."""

    def __init__(self, n: int = 32, dim: int = 4, out: int = 2, min_len: int = 5, max_len: int = 40, seed: int = 0):
        g = torch.Generator().manual_seed(seed)
        kernel = torch.randn(out, dim, 3, generator=torch.Generator().manual_seed(1234)) / 3
        self.lengths = torch.randint(min_len, max_len + 1, (n,), generator=g).tolist()
        self.keys = [f"toy{i:04d}" for i in range(n)]
        self.items = []
        for T in self.lengths:
            x = torch.randn(T, dim, generator=g)
            y = torch.nn.functional.conv1d(x.T[None], kernel, padding=1)[0].T
            self.items.append((x, y))

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int):
        return self.items[i]


def toy_collate(items: list) -> dict[str, torch.Tensor]:
    lens = torch.tensor([x.shape[0] for x, _ in items])
    T = int(lens.max())
    x = torch.zeros(len(items), T, items[0][0].shape[1])
    y = torch.zeros(len(items), T, items[0][1].shape[1])
    for b, (xi, yi) in enumerate(items):
        x[b, : xi.shape[0]], y[b, : yi.shape[0]] = xi, yi
    return {"x": x, "y": y, "lengths": lens}


def _context3(x: torch.Tensor) -> torch.Tensor:
    """(B, T, D) -> (B, T, 3D): each frame with its left and right neighbour (zero-padded)."""
    xp = nn.functional.pad(x, (0, 0, 1, 1))
    return torch.cat([xp[:, :-2], xp[:, 1:-1], xp[:, 2:]], dim=-1)


class ToySeqModel(nn.Module):
    """Two width-3 convolutions written as linear layers over neighbour frames (cheap on any CPU),
    with optional dropout so the RNG state matters for exact resume."""

    def __init__(self, dim: int = 4, out: int = 2, hidden: int = 16, dropout: float = 0.0):
        super().__init__()
        self.inp = nn.Linear(3 * dim, hidden)
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(3 * hidden, out)

    def forward(self, batch: dict):
        h = self.drop(torch.relu(self.inp(_context3(batch["x"]))))
        pred = self.out(_context3(h))
        T = pred.shape[1]
        mask = (torch.arange(T, device=pred.device)[None] < batch["lengths"][:, None]).unsqueeze(-1).to(pred.dtype)
        err = ((pred.float() - batch["y"]) ** 2 * mask).sum() / (mask.sum() * pred.shape[-1])
        return err, {"mse": err.detach(), "frames": float(batch["lengths"].sum())}
