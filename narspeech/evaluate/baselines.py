"""Reference points for TTS scores: fake "synthesis" dirs made from the recordings themselves.

* ``recording`` — the recording itself (the ceiling of every metric);
* ``griffin-lim`` — copy synthesis: the recording's own log-mel through Griffin-Lim (the
  ceiling of a Griffin-Lim system);
* ``silence`` — digital silence of the recording's length;
* ``noise`` — white noise of the recording's length and RMS;
* ``reversed`` — the recording played backwards (same spectra and level statistics, no speech).

Each is written as a synthesis dir (``wav/``, ``wav.scp``, ``synth_info.json``) that
``narspeech tts evaluate`` scores like a model's output. A metric that ranks silence,
noise or reversal near copy synthesis cannot tell speech from its absence.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from narspeech.audio.features import log_mel
from narspeech.audio.io import write_wav
from narspeech.fileio import atomic_write, write_table
from narspeech.vocoder.griffin_lim import GriffinLim

KINDS = ("recording", "griffin-lim", "silence", "noise", "reversed")


def fake_synthesis(kind: str, wavs: Sequence[np.ndarray], cfg, *, gl_iters: int = 32, seed: int = 0, batch_size: int = 16) -> list[np.ndarray]:
    """The `kind` baseline of each waveform (at ``cfg.sample_rate``)."""
    if kind not in KINDS:
        raise ValueError(f"unknown baseline {kind!r}; one of {KINDS}")
    wavs = [np.asarray(w, dtype=np.float32) for w in wavs]
    if kind == "recording":
        return wavs
    if kind == "silence":
        return [np.zeros_like(w) for w in wavs]
    if kind == "reversed":
        return [w[::-1].copy() for w in wavs]
    if kind == "noise":
        rng = np.random.default_rng(seed)
        return [(rng.standard_normal(len(w)) * float(np.sqrt(np.mean(w.astype(np.float64) ** 2)))).astype(np.float32) for w in wavs]


    vocoder = GriffinLim(cfg, n_iter=gl_iters)
    out: list[np.ndarray] = []
    for i in range(0, len(wavs), batch_size):
        mels = [log_mel(torch.from_numpy(w), cfg) for w in wavs[i : i + batch_size]]
        lengths = torch.tensor([len(m) for m in mels])
        batch = torch.nn.utils.rnn.pad_sequence(mels, batch_first=True, padding_value=math.log(cfg.mel_floor))
        out.extend(vocoder(batch, lengths))
    return out


def write_synthesis_dir(out: str | Path, utts: Sequence[str], wavs: Sequence[np.ndarray], cfg, info: dict | None = None) -> Path:
    """Write `wavs` as a synthesis dir that ``tts evaluate`` reads (absolute paths in wav.scp)."""
    out = Path(out)
    scp = {}
    for u, w in zip(utts, wavs):
        path = out / "wav" / f"{u}.wav"
        write_wav(path, w, cfg.sample_rate)
        scp[u] = str(path.resolve())
    write_table(out / "wav.scp", scp)
    with atomic_write(out / "synth_info.json") as f:
        json.dump({"feats": cfg.to_dict(), **(info or {})}, f)
    return out
