"""SpecAugment (Park et al. 2019) on a padded batch of normalised log-mels, and feature-domain
speed perturbation for the training data."""
from __future__ import annotations

import numpy as np
import torch


def spec_augment(x: torch.Tensor, lengths: torch.Tensor, *, freq_masks: int = 2, freq_width: int = 27,
                 time_masks: int = 2, time_width: float = 0.05, time_warp: int = 0) -> torch.Tensor:
    """Masks `freq_masks` bands of up to `freq_width` mel bins and `time_masks` spans of up to
    ``time_width`` (a fraction of each utterance's length if < 1, else frames) with 0 (the
    normalised mean), per utterance. `time_warp` > 0 warps the time axis around a random centre by
    up to that many frames (piecewise-linear resampling). Returns a new tensor; x is (B, T, F)."""
    b, t, f = x.shape
    x = x.clone()
    dev = x.device
    if time_warp > 0:
        x = _time_warp(x, lengths, time_warp)
    ar_f = torch.arange(f, device=dev)[None, :]
    for _ in range(freq_masks):
        w = torch.randint(0, freq_width + 1, (b, 1), device=dev).clamp(max=f)
        s = (torch.rand(b, 1, device=dev) * (f - w + 1)).long()
        x = x.masked_fill(((ar_f >= s) & (ar_f < s + w))[:, None, :], 0.0)
    ar_t = torch.arange(t, device=dev)[None, :]
    lens = lengths.to(dev)[:, None].float()
    for _ in range(time_masks):
        maxw = (lens * time_width).floor() if time_width < 1 else torch.full_like(lens, float(time_width))
        w = (torch.rand(b, 1, device=dev) * (maxw + 1)).floor().clamp(max=lens)
        s = (torch.rand(b, 1, device=dev) * (lens - w + 1)).floor()
        x = x.masked_fill(((ar_t >= s) & (ar_t < s + w))[:, :, None], 0.0)
    return x


def _time_warp(x: torch.Tensor, lengths: torch.Tensor, w: int) -> torch.Tensor:
    out = x.clone()
    for i, n in enumerate(lengths.tolist()):
        if n <= 2 * w + 2:
            continue
        c = int(torch.randint(w + 1, n - w - 1, (1,)))
        d = int(torch.randint(-w, w + 1, (1,)))
        seg = x[i, :n].T[None]  # (1, F, n)
        left = torch.nn.functional.interpolate(seg[..., :c], size=c + d, mode="linear", align_corners=False)
        right = torch.nn.functional.interpolate(seg[..., c:], size=n - c - d, mode="linear", align_corners=False)
        out[i, :n] = torch.cat([left, right], -1)[0].T
    return out


def speed_perturb_mel(mel: np.ndarray, factor: float, *, sample_rate: int, fmin: float, fmax: float) -> np.ndarray:
    """Approximate speed perturbation (Ko et al. 2015: resample the audio by `factor`) on a log-mel (T, n_mels).

    Speeding up by ``factor`` shortens the utterance to ``T / factor`` frames and scales every
    frequency by ``factor``: frames are linearly interpolated in time and each mel bin takes the
    log-magnitude found at ``centre_hz / factor`` in the original (bins pushed beyond the band
    repeat the edge value). Cheaper than re-extracting features from resampled audio, and random
    per epoch; an approximation, not the exact resampled spectrum."""
    if factor == 1.0:
        return mel
    import librosa

    t, n = mel.shape
    new_t = max(1, int(round(t / factor)))
    src_t = np.clip((np.arange(new_t) + 0.5) * factor - 0.5, 0, t - 1)
    i0 = np.floor(src_t).astype(int)
    i1 = np.minimum(i0 + 1, t - 1)
    a = (src_t - i0)[:, None]
    y = mel[i0] * (1 - a) + mel[i1] * a
    centres = librosa.mel_frequencies(n + 2, fmin=fmin, fmax=fmax)[1:-1]
    src_bin = np.interp(centres / factor, centres, np.arange(n))
    j0 = np.floor(src_bin).astype(int)
    j1 = np.minimum(j0 + 1, n - 1)
    b = (src_bin - j0)[None, :]
    return (y[:, j0] * (1 - b) + y[:, j1] * b).astype(np.float32)
