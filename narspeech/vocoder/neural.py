"""Batched inference of a neural (HiFi-GAN-style) generator: sorted, padded, exact at any batch size.

* Utterances are sorted by length and cut into sub-batches whose padded size
  ``B × (T_max + context)`` stays within ``max_batch_frames``: short lines never pay for long
  ones, and on CPU the activations stay cache-sized (one padded batch of 8 long utterances
  through V1 is ~0.5 GB of activations and ran *slower* per second of audio than batch 1).
* Every utterance is followed by ``context`` frames of silence (``log(mel_floor)``), the
  generator's look-ahead (:meth:`~narspeech.vocoder.hifigan.Generator.context_frames`), in a
  batch and alone alike: its samples then never see another utterance's padding, so batched
  output equals one-at-a-time output (up to float rounding), and its last samples end in
  silence rather than in the convolutions' zero padding (log-mel 0 is loud).
* HiFi-GAN was trained on frames centred half a hop later than narspeech's (its STFT pads
  ``(n_fft - hop) / 2`` and does not centre): its output lags our frames by ``hop / 2``
  samples, so ``hop // 2`` samples are dropped at the start (:data:`OUTPUT_DELAY`; copy synthesis'
  STOI shows the difference). ``narspeech vocoder train`` keeps that
  convention, so fine-tuned and released generators align the same way.
* ``precision``: ``fp32`` | ``bf16`` | ``fp16`` (autocast; CUDA only, CPU runs fp32).
"""
from __future__ import annotations

import math

import numpy as np
import torch

from narspeech.audio.features import FeatureConfig
from narspeech.batching import make_batches
from narspeech.errors import NarspeechError
from narspeech.vocoder.base import check_batch

OUTPUT_DELAY = 0.5  # of a hop: generator output lags narspeech's centred frames by hop / 2
DEFAULT_BATCH_FRAMES = {"cpu": 600, "cuda": 200_000}  # CPU: a sub-batch whose activations stay in cache


class GeneratorVocoder:
    """A mel → waveform generator module as a :class:`~narspeech.vocoder.base.Vocoder`."""

    def __init__(self, generator: torch.nn.Module, feature_config: FeatureConfig, device: str | torch.device = "cpu", *,
                 name: str = "hifigan", precision: str = "auto", max_batch_frames: int | None = None, context_frames: int | None = None):
        self.device = torch.device(device)
        self.generator = generator.to(self.device).eval()
        self.feature_config = feature_config
        self.sample_rate = int(feature_config.sample_rate)
        self.n_mels = int(feature_config.n_mels)
        self.hop = int(feature_config.hop_length)
        self.name = name
        if getattr(generator, "hop_length", self.hop) != self.hop:
            raise NarspeechError(f"{name}: generator upsamples by {generator.hop_length} but the features' hop is {self.hop}")
        precision = str(precision).lower()
        if precision == "auto":
            precision = "fp16" if self.device.type == "cuda" else "fp32"
        if precision not in ("fp32", "bf16", "fp16"):
            raise NarspeechError(f"{name}: precision must be fp32, bf16 or fp16 (got {precision!r})")
        self.precision = precision if self.device.type == "cuda" else "fp32"
        self.context = int(context_frames if context_frames is not None else getattr(generator, "context_frames", lambda: 0)())
        self.max_batch_frames = int(max_batch_frames or DEFAULT_BATCH_FRAMES.get(self.device.type, 200_000))
        self.pad_value = math.log(feature_config.mel_floor)
        self.offset = int(self.hop * getattr(generator, "output_delay", OUTPUT_DELAY))
        self.context = max(self.context, 1)  # the offset needs samples past the last frame

    def autocast(self):
        """The autocast context of this vocoder's precision (fp32 on CPU)."""
        dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(self.precision)
        return torch.autocast(self.device.type, dtype=dtype, enabled=dtype is not None)

    def sub_batches(self, lengths: list[int]) -> list[list[int]]:
        """Indices, longest first, cut greedily so that B × (T_max + context) <= max_batch_frames."""
        return make_batches([n + self.context for n in lengths], max_padded=self.max_batch_frames, longest_first=True)

    @torch.no_grad()
    def __call__(self, mels: torch.Tensor, lengths: torch.Tensor | None = None) -> list[np.ndarray]:
        """Waveforms (float32, ``(length - 1) * hop`` samples) for a padded batch (B, T, n_mels)."""
        lengths = check_batch(mels, lengths, self.n_mels, self.name)
        lens = lengths.tolist()
        out: list[np.ndarray] = [np.zeros(0, np.float32)] * len(lens)
        for idx in self.sub_batches(lens):
            if lens[idx[0]] < 2:
                continue
            t = lens[idx[0]] + self.context
            x = torch.full((len(idx), t, self.n_mels), self.pad_value, dtype=torch.float32)
            for j, i in enumerate(idx):
                x[j, : lens[i]] = mels[i, : lens[i]].float().cpu()
            x = x.to(self.device).transpose(1, 2)
            with self.autocast():
                wav = self.generator(x)
            wav = wav.float()[:, 0].cpu().numpy()
            for j, i in enumerate(idx):
                n = max(lens[i] - 1, 0) * self.hop
                out[i] = np.ascontiguousarray(wav[j, self.offset : self.offset + n], dtype=np.float32)
        return out
