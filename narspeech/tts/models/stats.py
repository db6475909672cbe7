"""Normalisation statistics kept inside a model as buffers, so a checkpoint alone can
normalise targets in training and return denormalised log-mels at inference."""
from __future__ import annotations

import math

from pathlib import Path

import numpy as np
import torch
from torch import nn

from narspeech.errors import NarspeechError

KEYS = ("mel_mean", "mel_std", "f0_mean", "f0_std", "energy_mean", "energy_std")

PAD_LOG_MEL = math.log(1e-5)  # padding frames are silence in the dump's log-mel domain (mel floor 1e-5)


def load_stats(path: str | Path) -> dict[str, np.ndarray]:
    """Read the dump's stats.npz (`narspeech feats stats`), checking the keys the models use."""
    path = Path(path)
    if not path.is_file():
        raise NarspeechError("stats file not found (run `narspeech feats stats DUMP`)", path=path)
    with np.load(path) as z:
        missing = [k for k in KEYS if k not in z]
        if missing:
            raise NarspeechError(f"stats file lacks {', '.join(missing)}", path=path)
        return {k: np.asarray(z[k], dtype=np.float32) for k in KEYS}


class FeatureStats(nn.Module):
    """Buffers mel_mean/mel_std (n_mels,), f0_mean/f0_std (Hz, voiced frames), energy_mean/energy_std."""

    def __init__(self, n_mels: int, stats: dict[str, np.ndarray] | None = None):
        super().__init__()
        self.register_buffer("mel_mean", torch.zeros(n_mels))
        self.register_buffer("mel_std", torch.ones(n_mels))
        for k in ("f0_mean", "energy_mean"):
            self.register_buffer(k, torch.zeros(()))
        for k in ("f0_std", "energy_std"):
            self.register_buffer(k, torch.ones(()))
        if stats is not None:
            for k in KEYS:
                v = torch.as_tensor(np.asarray(stats[k], dtype=np.float32)).reshape(getattr(self, k).shape)
                if k.endswith("std"):
                    v = v.clamp(min=1e-5)
                getattr(self, k).copy_(v)

    def norm_mel(self, mel: torch.Tensor) -> torch.Tensor:
        return (mel - self.mel_mean) / self.mel_std

    def denorm_mel(self, mel: torch.Tensor) -> torch.Tensor:
        return mel * self.mel_std + self.mel_mean
