"""2-D convolutional front-end that subsamples features ×4 in time (ESPnet's Conv2dSubsampling).

Two 3×3 convolutions with stride 2 and ReLU over the (time, mel) plane, then a linear
projection of (channels × reduced mel bins) to ``d_model``. Without padding, an input of
``T`` frames gives ``((T - 1) // 2 - 1) // 2`` frames, so at least :data:`MIN_FRAMES` input
frames are needed for one output frame.
"""
from __future__ import annotations

import torch
from torch import nn

MIN_FRAMES = 7


def subsampled_lengths(lengths: torch.Tensor) -> torch.Tensor:
    """Output frame counts of :class:`Conv2dSubsampling4` for input frame counts `lengths`."""
    return torch.div(torch.div(lengths - 1, 2, rounding_mode="floor") - 1, 2, rounding_mode="floor").clamp(min=0)


class Conv2dSubsampling4(nn.Module):
    """(B, T, n_mels) features → (B, T', d_model), ``T' = ((T-1)//2 - 1)//2``; also returns T' per item.

    Padding frames (beyond each item's length) are zeroed before the convolutions so they cannot
    change the valid output frames: a padded batch gives the same outputs as one item at a time.
    """

    def __init__(self, n_mels: int, d_model: int, channels: int | None = None):
        super().__init__()
        c = channels or d_model
        self.conv = nn.Sequential(nn.Conv2d(1, c, 3, 2), nn.ReLU(), nn.Conv2d(c, c, 3, 2), nn.ReLU())
        f = ((n_mels - 1) // 2 - 1) // 2
        self.out = nn.Linear(c * f, d_model)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        valid = torch.arange(x.size(1), device=x.device)[None, :] < lengths[:, None]
        x = x.masked_fill(~valid[..., None], 0.0)
        h = self.conv(x.unsqueeze(1))  # (B, C, T', F')
        b, c, t, f = h.shape
        out_len = subsampled_lengths(lengths)
        return self.out(h.transpose(1, 2).reshape(b, t, c * f)), out_len
