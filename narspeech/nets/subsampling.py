"""2-D convolutional front-ends that subsample features in time (ESPnet's Conv2dSubsampling / Conv2dSubsampling2).

Two 3×3 convolutions with ReLU over the (time, mel) plane, then a linear projection of
(channels × reduced mel bins) to ``d_model``. Factor 4: both convolutions stride 2; factor 2: the
second has stride 1 (twice the encoder frame rate, for fast speech and small units such as
characters, where CTC needs a frame per token plus a blank between repeats). Without padding an
input of ``T`` frames gives :func:`subsampled_lengths` frames: ``((T - 1) // 2 - 1) // 2`` (×4) or
``(T - 1) // 2 - 2`` (×2); :func:`min_frames` input frames give one output frame.
"""
from __future__ import annotations

import torch
from torch import nn

FACTORS = (2, 4)


def check_factor(factor: int, what: str = "subsampling factor") -> int:
    """`factor` as an int, or ValueError naming `what` and the allowed ones (2.0 == 2 passes; "2", 3, None do not)."""
    if factor not in FACTORS:
        raise ValueError(f"{what} must be one of {', '.join(map(str, FACTORS))}, got {factor!r}")
    return int(factor)


def _conv_out(n, stride: int):
    """Frames (or bins) after one unpadded 3-wide convolution with `stride` (int or floor-divided tensor)."""
    if isinstance(n, torch.Tensor):
        return torch.div(n - 3, stride, rounding_mode="floor") + 1
    return (n - 3) // stride + 1


def _strides(factor: int) -> tuple[int, int]:
    return (2, 2) if check_factor(factor) == 4 else (2, 1)


def subsampled_lengths(lengths: torch.Tensor, factor: int = 4) -> torch.Tensor:
    """Output frame counts of :class:`Conv2dSubsampling` (×`factor`) for input frame counts `lengths`."""
    s1, s2 = _strides(factor)
    return _conv_out(_conv_out(lengths, s1).clamp(min=0), s2).clamp(min=0)


def subsampled_length(n: int, factor: int = 4) -> int:
    """:func:`subsampled_lengths` for one frame count."""
    s1, s2 = _strides(factor)
    return max(0, _conv_out(max(0, _conv_out(n, s1)), s2))


def min_frames(factor: int = 4) -> int:
    """Fewest input frames that give one output frame at `factor`."""
    n = 1
    while subsampled_length(n, factor) < 1:
        n += 1
    return n


MIN_FRAMES = min_frames(4)  # the ×4 front-end's; models may use another factor: min_frames(factor)


class Conv2dSubsampling(nn.Module):
    """(B, T, n_mels) features → (B, T', d_model), ``T' = subsampled_lengths(T, factor)``; also returns T' per item.

    Padding frames (beyond each item's length) are zeroed before the convolutions so they cannot
    change the valid output frames: a padded batch gives the same outputs as one item at a time.
    """

    def __init__(self, n_mels: int, d_model: int, channels: int | None = None, factor: int = 4):
        super().__init__()
        c = channels or d_model
        self.factor = check_factor(factor)
        s1, s2 = _strides(factor)
        self.conv = nn.Sequential(nn.Conv2d(1, c, 3, s1), nn.ReLU(), nn.Conv2d(c, c, 3, s2), nn.ReLU())
        f = _conv_out(_conv_out(n_mels, s1), s2)
        self.out = nn.Linear(c * f, d_model)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        valid = torch.arange(x.size(1), device=x.device)[None, :] < lengths[:, None]
        x = x.masked_fill(~valid[..., None], 0.0)
        h = self.conv(x.unsqueeze(1))  # (B, C, T', F')
        b, c, t, f = h.shape
        out_len = subsampled_lengths(lengths, self.factor)
        return self.out(h.transpose(1, 2).reshape(b, t, c * f)), out_len


class Conv2dSubsampling4(Conv2dSubsampling):
    """The ×4 front-end (ESPnet's Conv2dSubsampling)."""

    def __init__(self, n_mels: int, d_model: int, channels: int | None = None):
        super().__init__(n_mels, d_model, channels, factor=4)
