"""Batched log-mel and energy from one STFT, and the feature configuration they share.

Conventions (docs/interfaces.md, "Dump directory"):

* centred frames, reflect padding of ``n_fft // 2`` on each side of *each utterance*
  (not of the padded batch), so ``T = 1 + n_samples // hop_length`` and a batch gives
  the same frames as one utterance at a time;
* log-mel = ``log(max(mel_fb @ |STFT|, 1e-5))`` with Slaney-style mel filters and Slaney
  area normalisation (librosa's default ``htk=False, norm="slaney"``, ``power=1``);
* energy = L2 norm over frequency of the linear magnitude frame (FastSpeech 2).

Default parameters per sample rate (:meth:`FeatureConfig.for_rate`):

=========  =====  ====  ====  ======  ==========  ==============================
rate       n_fft  hop   win   n_mels  fmin–fmax   note
=========  =====  ====  ====  ======  ==========  ==============================
22050      1024   256   1024  80      0–8000      LJSpeech / FastSpeech 2 setting
24000      2048   300   1200  80      0–8000      12.5 ms hop, 50 ms window
16000      1024   200   800   80      0–8000      12.5 ms hop, 50 ms window
other      pow2   12.5  4×hop 80      0–min(8000, sr/2)
=========  =====  ====  ====  ======  ==========  ==============================

F0 defaults: 60–800 Hz (covers low male voices to children), pYIN-style estimator
(:mod:`narspeech.audio.pitch`).
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np
import torch

from narspeech.audio.pitch import auto_decimation, estimate_f0
from narspeech.errors import NarspeechError

MIN_SAMPLE_RATE = 8000

# Named analysis presets. "hifigan": the released HiFi-GAN generators' mel (jik876/hifi-gan config_v1:
# 22.05 kHz, n_fft 1024, hop 256, win 1024, 80 Slaney mels 0-8000 Hz, natural log of the magnitude
# floored at 1e-5) -- the same as the 22.05 kHz defaults, so FastSpeech 2 mels go straight into it.
PRESETS: dict[str, dict[str, Any]] = {
    "hifigan": dict(sample_rate=22050, n_fft=1024, hop_length=256, win_length=1024, window="hann", n_mels=80,
                    fmin=0.0, fmax=8000.0, mel_floor=1e-5),
}


@dataclass(frozen=True)
class FeatureConfig:
    """Everything that defines the features in a dump; saved as DUMP/feats.yaml."""

    sample_rate: int = 22050
    n_fft: int = 1024
    hop_length: int = 256
    win_length: int = 1024
    window: str = "hann"
    n_mels: int = 80
    fmin: float = 0.0
    fmax: float = 8000.0
    mel_floor: float = 1e-5
    # F0 (see narspeech.audio.pitch.estimate_f0 for the meaning of each knob)
    f0_method: str = "pyin"
    f0_min: float = 60.0
    f0_max: float = 800.0
    f0_frame_length: int | None = None  # None: 2 * ceil(sample_rate / f0_min)
    f0_resolution: float = 0.25  # semitones per pitch state of the HMM (the F0 itself is not quantised)
    f0_max_transition_rate: float = 35.92  # octaves per second
    f0_switch_prob: float = 0.01
    f0_beta: tuple[float, float] = (2.0, 18.0)
    f0_no_trough_prob: float = 0.01
    f0_voicing_trust: float = 0.5  # weight of YIN's voicing evidence (pYIN's yinTrust)
    f0_decimate: int | None = None  # analyse F0 at sample_rate / k; None: auto (>= 8 kHz), 1: full rate

    @classmethod
    def for_rate(cls, sample_rate: int, **overrides: Any) -> "FeatureConfig":
        """Defaults for `sample_rate` (table in the module docstring), then `overrides`."""
        sr = int(sample_rate)
        if sr == 22050:
            base = dict(n_fft=1024, hop_length=256, win_length=1024)
        else:
            hop = int(round(0.0125 * sr))
            win = 4 * hop
            base = dict(n_fft=1 << (win - 1).bit_length(), hop_length=hop, win_length=win)
        base.update(sample_rate=sr, n_mels=80, fmin=0.0, fmax=float(min(8000.0, sr / 2)))
        base.update(overrides)
        return cls.from_dict(base)

    @classmethod
    def preset(cls, name: str, **overrides: Any) -> "FeatureConfig":
        """A named preset (:data:`PRESETS`, e.g. ``hifigan``), then `overrides`."""
        if name not in PRESETS:
            raise NarspeechError(f"unknown feature preset {name!r}; known: {', '.join(PRESETS)}")
        return cls.from_dict({**PRESETS[name], **overrides})

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "FeatureConfig":
        """Build from a mapping (e.g. feats.yaml); unknown keys are an error, not ignored."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise NarspeechError(f"unknown feature option(s) {', '.join(unknown)}; known: {', '.join(sorted(names))}")
        kw = dict(d)
        if "f0_beta" in kw and kw["f0_beta"] is not None:
            kw["f0_beta"] = tuple(float(x) for x in kw["f0_beta"])
        try:
            for f in dataclasses.fields(cls):
                if f.name in kw and kw[f.name] is not None and f.type in ("int", "float", "int | None"):
                    kw[f.name] = float(kw[f.name]) if f.type == "float" else int(kw[f.name])
        except (TypeError, ValueError) as e:
            raise NarspeechError(f"bad feature option value: {e}") from None
        cfg = cls(**kw)
        cfg.validate()
        return cfg

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["f0_beta"] = list(self.f0_beta)
        d["f0_frame_length"] = self.f0_frame
        d["f0_decimate"] = self.f0_decimation
        return d

    def replace(self, **kw: Any) -> "FeatureConfig":
        return self.from_dict({**dataclasses.asdict(self), **kw})

    @property
    def f0_frame(self) -> int:
        """F0 analysis frame: two periods of the lowest F0 unless set."""
        return int(self.f0_frame_length or 2 * math.ceil(self.sample_rate / self.f0_min))

    @property
    def f0_decimation(self) -> int:
        """Factor by which F0 analysis downsamples (resolved from f0_decimate=None: auto)."""
        return int(self.f0_decimate or auto_decimation(self.sample_rate, self.hop_length, self.f0_max))

    @property
    def frame_shift(self) -> float:
        """Seconds per frame."""
        return self.hop_length / self.sample_rate

    def num_frames(self, n_samples: int) -> int:
        """T = 1 + n_samples // hop_length (centred frames)."""
        return 1 + int(n_samples) // self.hop_length

    def validate(self) -> None:
        """Raise NarspeechError for settings that cannot give meaningful features."""
        sr = self.sample_rate
        problems = []
        if sr < MIN_SAMPLE_RATE:
            problems.append(f"sample_rate {sr} Hz is below the supported minimum {MIN_SAMPLE_RATE} Hz")
        if not 0 < self.win_length <= self.n_fft:
            problems.append(f"win_length {self.win_length} must be in 1..n_fft ({self.n_fft})")
        if self.hop_length <= 0:
            problems.append("hop_length must be positive")
        if not 0 <= self.fmin < self.fmax <= sr / 2 + 1e-6:
            problems.append(f"need 0 <= fmin < fmax <= sample_rate/2 (got {self.fmin}, {self.fmax}, sr {sr})")
        if self.n_mels <= 0:
            problems.append("n_mels must be positive")
        if self.window not in ("hann", "hamming"):
            problems.append(f"window {self.window!r} not supported (hann, hamming)")
        if self.f0_method != "pyin":
            problems.append(f"f0_method {self.f0_method!r} not supported (pyin)")
        if not 0 < self.f0_min < self.f0_max < sr / 2:
            problems.append(f"need 0 < f0_min < f0_max < sample_rate/2 (got {self.f0_min}, {self.f0_max})")
        elif self.f0_frame < 2 * math.ceil(sr / self.f0_min) - 1:
            problems.append(f"f0_frame_length {self.f0_frame} too short for f0_min {self.f0_min} Hz (need {2 * math.ceil(sr / self.f0_min)})")
        k = self.f0_decimate
        if k is not None and (k < 1 or sr % k or self.hop_length % k):
            problems.append(f"f0_decimate {k} must be >= 1 and divide sample_rate {sr} and hop_length {self.hop_length}")
        if problems:
            raise NarspeechError("bad feature config: " + "; ".join(problems))
        mel_filterbank(self)  # raises if some mel filter would be empty


# --------------------------------------------------------------------------- filters


def _hz_to_mel(f: np.ndarray) -> np.ndarray:
    """Slaney's mel scale: linear (200/3 Hz per mel) below 1 kHz, logarithmic above."""
    f = np.asarray(f, dtype=np.float64)
    lin = f / (200.0 / 3)
    logstep = math.log(6.4) / 27.0
    return np.where(f >= 1000.0, 15.0 + np.log(np.maximum(f, 1e-10) / 1000.0) / logstep, lin)


def _mel_to_hz(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, dtype=np.float64)
    logstep = math.log(6.4) / 27.0
    return np.where(m >= 15.0, 1000.0 * np.exp(logstep * (m - 15.0)), m * (200.0 / 3))


def mel_filterbank(cfg: FeatureConfig) -> torch.Tensor:
    """(n_mels, n_fft//2+1) triangular filters, Slaney mel scale, each scaled to unit area
    (``2 / bandwidth``) — the same matrix as ``librosa.filters.mel(htk=False, norm="slaney")``.

    Raises NarspeechError when a filter would be empty (too many mels for n_fft).
    """
    n_freqs = cfg.n_fft // 2 + 1
    fft_hz = np.linspace(0.0, cfg.sample_rate / 2, n_freqs)
    edges = _mel_to_hz(np.linspace(_hz_to_mel(cfg.fmin), _hz_to_mel(cfg.fmax), cfg.n_mels + 2))
    width = np.diff(edges)
    ramps = edges[:, None] - fft_hz[None, :]
    rising = -ramps[:-2] / width[:-1, None]
    falling = ramps[2:] / width[1:, None]
    fb = np.maximum(0.0, np.minimum(rising, falling))
    fb *= (2.0 / (edges[2:] - edges[:-2]))[:, None]
    empty = np.flatnonzero(fb.max(axis=1) <= 0)
    if empty.size:
        raise NarspeechError(
            f"bad feature config: {empty.size} of {cfg.n_mels} mel filters are empty "
            f"(n_fft {cfg.n_fft} too small for n_mels {cfg.n_mels} over {cfg.fmin}-{cfg.fmax} Hz)"
        )
    return torch.from_numpy(fb.astype(np.float32))


def stft_window(cfg: FeatureConfig, device: torch.device | str | None = None) -> torch.Tensor:
    """Periodic window of win_length samples (as scipy/librosa ``fftbins=True``)."""
    fn = torch.hann_window if cfg.window == "hann" else torch.hamming_window
    return fn(cfg.win_length, periodic=True, dtype=torch.float32, device=device)


# --------------------------------------------------------------------------- frames


def _lengths_or_full(wav: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
    if lengths is None:
        return torch.full((wav.shape[0],), wav.shape[1], dtype=torch.long, device=wav.device)
    return lengths.to(device=wav.device, dtype=torch.long)


def _reflect_index(pos: torch.Tensor, last: torch.Tensor) -> torch.Tensor:
    """numpy-"reflect" source index of position `pos` (may be <0 or >last) in a row of last+1 samples."""
    period = (2 * last).clamp(min=1)
    idx = torch.remainder(pos, period)
    idx = torch.where(idx > last, period - idx, idx)
    return torch.minimum(idx, last)


def reflect_pad_batch(wav: torch.Tensor, lengths: torch.Tensor, pad: int) -> torch.Tensor:
    """(B, N) → (B, N + 2*pad): each row reflected around *its own* ends (numpy "reflect"),
    so the padding of a short utterance in a batch never shows the batch's zero padding.
    Past a row's right padding the content is unspecified (those frames are cut)."""
    b, n = wav.shape
    last = (lengths - 1).clamp(min=0)[:, None]  # (B, 1)
    out = torch.zeros((b, n + 2 * pad), dtype=wav.dtype, device=wav.device)
    out[:, pad : pad + n] = wav
    if pad == 0:
        return out
    j = torch.arange(pad, device=wav.device)[None, :]
    out[:, :pad] = torch.gather(wav, 1, _reflect_index(j - pad, last))
    right = lengths[:, None] + j  # positions just past each row's end
    out.scatter_(1, right + pad, torch.gather(wav, 1, _reflect_index(right, last)))
    return out


def stft_magnitude(wav: torch.Tensor, cfg: FeatureConfig, lengths: torch.Tensor | None = None) -> torch.Tensor:
    """|STFT| of a padded batch (B, N) → (B, n_fft//2+1, T_max), T_max = 1 + N // hop.

    Frames beyond an utterance's own ``1 + length // hop`` are meaningless; the caller
    masks or cuts them.
    """
    wav = wav.float()
    lengths = _lengths_or_full(wav, lengths)
    padded = reflect_pad_batch(wav, lengths, cfg.n_fft // 2)
    spec = torch.stft(
        padded,
        n_fft=cfg.n_fft,
        hop_length=cfg.hop_length,
        win_length=cfg.win_length,
        window=stft_window(cfg, wav.device),
        center=False,
        return_complex=True,
    )
    return torch.addcmul(spec.real.square(), spec.imag, spec.imag).sqrt_()  # |z|, faster than abs()


def frame_mask(lengths: torch.Tensor, cfg: FeatureConfig, t_max: int) -> torch.Tensor:
    """(B, T_max) bool, True on an utterance's real frames."""
    n_frames = 1 + lengths.long() // cfg.hop_length
    return torch.arange(t_max, device=lengths.device)[None, :] < n_frames[:, None]


# --------------------------------------------------------------------------- features


_FB_CACHE: dict[tuple, torch.Tensor] = {}


def _filterbank_on(cfg: FeatureConfig, device: torch.device) -> torch.Tensor:
    key = (cfg.sample_rate, cfg.n_fft, cfg.n_mels, cfg.fmin, cfg.fmax, str(device))
    if key not in _FB_CACHE:
        _FB_CACHE[key] = mel_filterbank(cfg).to(device)
    return _FB_CACHE[key]


def mel_from_magnitude(mag: torch.Tensor, cfg: FeatureConfig) -> torch.Tensor:
    """(B, F, T) magnitude → (B, T, n_mels) natural-log mel, floored at cfg.mel_floor."""
    fb = _filterbank_on(cfg, mag.device)
    mel = torch.matmul(mag.transpose(1, 2), fb.t())
    return torch.log(torch.clamp(mel, min=cfg.mel_floor))


def log_mel(wav: torch.Tensor, cfg: FeatureConfig, lengths: torch.Tensor | None = None) -> torch.Tensor:
    """(B, N) float waveforms (or (N,)) → (B, T_max, n_mels) log-mel; rows past an utterance's
    frame count (when `lengths` is given) are set to log(mel_floor)."""
    squeeze = wav.dim() == 1
    wav = wav[None] if squeeze else wav
    with torch.autocast(wav.device.type, enabled=False):
        out = mel_from_magnitude(stft_magnitude(wav, cfg, lengths), cfg)
    if lengths is not None:
        mask = frame_mask(_lengths_or_full(wav, lengths), cfg, out.shape[1])
        out = out.masked_fill(~mask[..., None], math.log(cfg.mel_floor))
    return out[0] if squeeze else out


def energy(wav_or_mag: torch.Tensor, cfg: FeatureConfig | None = None, lengths: torch.Tensor | None = None, *, is_magnitude: bool = False) -> torch.Tensor:
    """Frame energy (B, T): L2 norm over frequency of the linear magnitude STFT frame.

    Pass waveforms (B, N) with `cfg`, or a magnitude (B, F, T) with ``is_magnitude=True``.
    """
    if is_magnitude:
        mag = wav_or_mag
    else:
        if cfg is None:
            raise ValueError("energy(): cfg is required for waveforms")
        mag = stft_magnitude(wav_or_mag if wav_or_mag.dim() == 2 else wav_or_mag[None], cfg, lengths)
    out = torch.linalg.vector_norm(mag, dim=1)
    if lengths is not None and cfg is not None:
        out = out * frame_mask(_lengths_or_full(out, lengths), cfg, out.shape[1])
    return out


@dataclass
class Features:
    """One batch of features, padded: mel (B, T, n_mels), f0 (B, T), energy (B, T), frames (B,)."""

    mel: torch.Tensor
    f0: torch.Tensor
    energy: torch.Tensor
    frames: torch.Tensor = field(default_factory=lambda: torch.zeros(0, dtype=torch.long))

    def unbatch(self) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Per utterance (mel, f0, energy) float32 numpy arrays cut to their own frame count."""
        mel, f0, en = (x.detach().float().cpu().numpy() for x in (self.mel, self.f0, self.energy))
        return [(mel[i, :t], f0[i, :t], en[i, :t]) for i, t in enumerate(self.frames.tolist())]


def compute_features(wav: torch.Tensor, lengths: torch.Tensor | None, cfg: FeatureConfig) -> Features:
    """Log-mel, F0 and energy of a padded batch (B, N) at cfg.sample_rate, in float32 on
    wav's device (no autocast: features must match the reference to 1e-3 in log domain)."""
    wav = wav.float()
    lengths = _lengths_or_full(wav, lengths)
    with torch.autocast(wav.device.type, enabled=False):  # even inside a caller's bf16 autocast
        return _compute_features(wav, lengths, cfg, estimate_f0)


def _compute_features(wav: torch.Tensor, lengths: torch.Tensor, cfg: FeatureConfig, estimate_f0) -> Features:
    mag = stft_magnitude(wav, cfg, lengths)
    mask = frame_mask(lengths, cfg, mag.shape[-1])
    mel = mel_from_magnitude(mag, cfg).masked_fill(~mask[..., None], math.log(cfg.mel_floor))
    en = torch.linalg.vector_norm(mag, dim=1) * mask
    f0 = estimate_f0(wav, cfg.sample_rate, cfg.hop_length, cfg.f0_min, cfg.f0_max, lengths=lengths, cfg=cfg)
    return Features(mel=mel, f0=f0 * mask, energy=en, frames=mask.sum(1))
