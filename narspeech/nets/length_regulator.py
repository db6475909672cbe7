"""The FastSpeech length regulator and the speed control on durations."""
from __future__ import annotations

import torch


def scale_durations(durations: torch.Tensor, speed: float = 1.0) -> torch.Tensor:
    """Durations for speaking `speed` times faster: ``round(d / speed)``, but a token that had at
    least one frame keeps at least one (so fast speech never drops a phone); 0 stays 0.

    The total length therefore scales by about 1/speed (exactly, up to rounding, once the
    durations are long compared with 1/speed)."""
    if speed <= 0:
        raise ValueError(f"speed must be > 0, got {speed}")
    if speed == 1.0:
        return durations
    scaled = torch.round(durations.float() / speed).long()
    return torch.where(durations > 0, scaled.clamp(min=1), torch.zeros_like(scaled))


def regulate_length(h: torch.Tensor, durations: torch.Tensor, max_len: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Repeat each token's hidden vector `durations[b, i]` times (Ren et al. 2019).

    h (B, N, D), durations (B, N) int ≥ 0 (0 at padding) -> (frames (B, T, D) zero-padded, lengths (B,)).
    """
    durations = durations.long().clamp(min=0)
    lengths = durations.sum(1)
    t = int(lengths.max()) if max_len is None else max_len
    t = max(t, 1)
    ends = durations.cumsum(1)  # (B, N) frame index where each token stops
    frames = torch.arange(t, device=h.device)[None].expand(h.size(0), t).contiguous()
    idx = torch.searchsorted(ends, frames, right=True).clamp(max=h.size(1) - 1)  # (B, T)
    out = torch.gather(h, 1, idx[..., None].expand(-1, -1, h.size(2)))
    valid = frames < lengths[:, None]
    return out * valid[..., None].to(out.dtype), lengths
