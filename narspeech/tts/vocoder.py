"""Vocoders: log-mel spectrograms (the dump's domain) → waveforms, in batches.

The interface is deliberately small so a neural vocoder (HiFi-GAN, …) can be added
beside Griffin-Lim without touching the callers: anything with a ``sample_rate``
and ``__call__(mels (B, T, n_mels), lengths (B,)) -> list[np.ndarray]`` is a
:class:`Vocoder`.

:class:`GriffinLim` inverts the features of :mod:`narspeech.audio.features`
(natural-log mel of the **magnitude** STFT, Slaney filters):

1. ``exp`` → mel magnitudes ``y`` (B, T, n_mels);
2. linear magnitude ``x >= 0`` with ``x · Mᵀ ≈ y``: pseudo-inverse start, clamped
   positive, refined by multiplicative NNLS updates ``x ← x ⊙ (y M) / (x MᵀM)``
   (Lee & Seung), which keep ``x`` non-negative and lower the squared error at every
   step — the pseudo-inverse alone leaves negative lobes and smeared energy;
3. ``torchaudio.transforms.GriffinLim`` (fast Griffin-Lim, momentum 0.99; Perraudin
   et al. 2013) on the padded batch with the features' n_fft / hop / window, frames
   past each utterance's length set to zero magnitude;
4. each waveform cut to ``(length - 1) · hop`` samples (centred frames:
   ``T = 1 + n_samples // hop``).
"""
from __future__ import annotations

import warnings
from typing import Protocol, runtime_checkable

import numpy as np
import torch

from narspeech.audio.features import FeatureConfig, mel_filterbank
from narspeech.errors import NarspeechError

VOCODERS = ("griffin-lim",)


@runtime_checkable
class Vocoder(Protocol):
    """Turns a padded batch of log-mels into one waveform (float32, at `sample_rate`) per utterance."""

    sample_rate: int

    def __call__(self, mels: torch.Tensor, lengths: torch.Tensor) -> list[np.ndarray]: ...


class GriffinLim:
    """Batched Griffin-Lim vocoder for the toolkit's log-mel features, on `device`.

    ``n_iter``: Griffin-Lim iterations (32 is fast and usable, 60 slightly cleaner);
    ``momentum``: fast Griffin-Lim momentum (0 = classic GL); ``nnls_iter``: multiplicative
    updates of the mel → linear inversion; ``sharpen``: exponent applied to the linear
    magnitude before phase recovery (Tacotron used 1.5 to reduce GL's hiss; 1.0 keeps the
    spectrum unchanged, which is what objective scores should see); ``seed`` fixes the random
    initial phase so a synthesis is reproducible.
    """

    def __init__(self, feature_config: FeatureConfig, n_iter: int = 32, momentum: float = 0.99, device: str | torch.device = "cpu",
                 *, nnls_iter: int = 30, sharpen: float = 1.0, seed: int = 0):
        import torchaudio

        if n_iter < 1 or nnls_iter < 0:
            raise NarspeechError(f"griffin-lim: n_iter must be >= 1 and nnls_iter >= 0 (got {n_iter}, {nnls_iter})")
        if not 0.0 <= momentum < 1.0:
            raise NarspeechError(f"griffin-lim: momentum must be in [0, 1) (got {momentum})")
        self.cfg = feature_config
        self.sample_rate = int(feature_config.sample_rate)
        self.device = torch.device(device)
        self.nnls_iter, self.sharpen, self.seed = int(nnls_iter), float(sharpen), int(seed)
        fb = mel_filterbank(feature_config).double()  # (n_mels, F)
        self.fb = fb.float().to(self.device)
        self.fb_pinv = torch.linalg.pinv(fb).float().to(self.device)  # (F, n_mels)
        # ~2.5 % of the filterbank is non-zero: on CPU the NNLS products are ~10x faster sparse
        self._sparse = None
        if self.device.type == "cpu":
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # "sparse CSR support is in beta"
                self._sparse = (self.fb.to_sparse_csr(), self.fb.t().contiguous().to_sparse_csr())
        window_fn = torch.hann_window if feature_config.window == "hann" else torch.hamming_window
        self.gl = torchaudio.transforms.GriffinLim(
            n_fft=feature_config.n_fft, n_iter=int(n_iter), win_length=feature_config.win_length,
            hop_length=feature_config.hop_length, window_fn=window_fn, power=1.0, momentum=float(momentum),
            rand_init=True,
        ).to(self.device)

    def mel_to_linear(self, mels: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """(B, T, n_mels) log-mel → (B, F, T) non-negative linear magnitude (zero past each length)."""
        y = torch.exp(mels.to(self.device, torch.float32))
        x = (y @ self.fb_pinv.t()).clamp(min=1e-8)
        ym = y @ self.fb  # (B, T, F), fixed numerator
        for _ in range(self.nnls_iter):
            x = x * ym / self._gram_product(x).clamp(min=1e-12)
        if lengths is not None:
            t = torch.arange(x.shape[1], device=self.device)
            x = x * (t[None, :] < lengths.to(self.device)[:, None])[..., None]
        if self.sharpen != 1.0:
            x = x.pow(self.sharpen)
        return x.transpose(1, 2).contiguous()

    def _gram_product(self, x: torch.Tensor) -> torch.Tensor:
        """x · MᵀM for x (B, T, F), as two products with the (sparse on CPU) filterbank."""
        if self._sparse is None:
            return (x @ self.fb.t()) @ self.fb
        fb, fb_t = self._sparse
        flat = x.reshape(-1, x.shape[-1]).t()  # (F, B*T)
        return torch.sparse.mm(fb_t, torch.sparse.mm(fb, flat)).t().reshape(x.shape)

    @torch.no_grad()
    def __call__(self, mels: torch.Tensor, lengths: torch.Tensor | None = None) -> list[np.ndarray]:
        """Waveforms for a padded batch (B, T, n_mels) with frame counts `lengths` (B,)."""
        if mels.dim() != 3 or mels.shape[-1] != self.cfg.n_mels:
            raise NarspeechError(f"griffin-lim: expected mels (B, T, {self.cfg.n_mels}), got {tuple(mels.shape)}")
        b, t, _ = mels.shape
        if lengths is None:
            lengths = torch.full((b,), t, dtype=torch.long)
        lengths = lengths.long().cpu()
        mag = self.mel_to_linear(mels, lengths)
        min_frames = self.cfg.n_fft // (2 * self.cfg.hop_length) + 2  # GL's reflect-padded STFT needs > n_fft/2 samples
        if mag.shape[-1] < min_frames:  # very short outputs: pad with silent frames, cut below
            mag = torch.nn.functional.pad(mag, (0, min_frames - mag.shape[-1]))
        fork = [self.device.index if self.device.index is not None else torch.cuda.current_device()] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=fork):
            torch.manual_seed(self.seed)
            wav = self.gl(mag)  # (B, (T-1)*hop)
        wav = wav.float().cpu().numpy()
        hop = self.cfg.hop_length
        out = []
        for i, n in enumerate(lengths.tolist()):
            w = wav[i, : max(int(n) - 1, 0) * hop].astype(np.float32)
            peak = float(np.abs(w).max()) if w.size else 0.0
            if peak > 0.999:  # GL can overshoot; scale rather than clip
                w *= 0.999 / peak
            out.append(w)
        return out


def make_vocoder(name: str, feature_config: FeatureConfig, device: str | torch.device = "cpu", **options) -> Vocoder:
    """The vocoder called `name` (``griffin-lim``) for `feature_config`; `options` go to its constructor."""
    if name in ("griffin-lim", "griffinlim", "gl"):
        return GriffinLim(feature_config, device=device, **options)
    raise NarspeechError(f"unknown vocoder {name!r}; available: {', '.join(VOCODERS)}")
