"""Streaming vocoding: one log-mel vocoded chunk by chunk, each chunk's window widened by the receptive field.

The output samples of frames ``[a, b)`` depend only on the frames within the generator's
look-ahead (:meth:`context_frames`) on either side, so vocoding the window
``[a - context, b + context]`` and keeping the samples of ``[a, b)`` gives the one-shot samples
(the same silence padding past the end as :class:`~narspeech.vocoder.neural.GeneratorVocoder`),
up to float rounding: the pieces concatenate to the one-shot waveform, seams included. The
first chunk is short so the first audio is ready early; later chunks are longer so the
overlap costs little. A vocoder without a generator (Griffin-Lim) yields the whole waveform at once.
"""
from __future__ import annotations

from typing import Iterator

import numpy as np
import torch

from narspeech.vocoder.base import pad_mels

FIRST_CHUNK_FRAMES = 16  # ~0.19 s of audio at hop 256 / 22.05 kHz: the first piece, as early as possible
CHUNK_FRAMES = 64  # later pieces: long enough that the overlap on both sides is a small share


def stream_length(vocoder, mel) -> int | None:
    """Samples :func:`stream_vocode` yields for `mel` in all, or None for a vocoder that yields one piece."""
    return (len(mel) - 1) * vocoder.hop if getattr(vocoder, "generator", None) is not None else None


def stream_vocode(vocoder, mel: np.ndarray | torch.Tensor, *, first_frames: int = FIRST_CHUNK_FRAMES,
                  chunk_frames: int = CHUNK_FRAMES, overlap: int | None = None) -> Iterator[np.ndarray]:
    """Consecutive float32 pieces of the waveform of `mel` (T, n_mels); together ``(T - 1) * hop`` samples.

    `overlap`: frames of context on each side of a chunk (default: the generator's look-ahead;
    less is only for showing what the overlap is for).
    """
    mel = torch.as_tensor(np.asarray(mel, dtype=np.float32) if not torch.is_tensor(mel) else mel).float().cpu()
    gen = getattr(vocoder, "generator", None)
    if gen is None:  # no local receptive field to exploit (Griffin-Lim): one piece

        pad = float(np.log(vocoder.feature_config.mel_floor))
        yield vocoder(*pad_mels([mel], pad))[0]
        return
    if first_frames < 1 or chunk_frames < 1:
        raise ValueError("chunk sizes must be >= 1 frame")
    t, hop, offset = len(mel), vocoder.hop, vocoder.offset
    ctx = vocoder.context if overlap is None else int(overlap)
    tail = torch.full((vocoder.context, mel.shape[1]), vocoder.pad_value)
    padded = torch.cat([mel, tail])  # the one-shot path's trailing silence
    a, size = 0, first_frames
    while a < t - 1:
        b = min(t - 1, a + size)
        s, e = max(0, a - ctx), min(len(padded), b + ctx + 1)
        x = padded[s:e].T[None].to(vocoder.device)
        with torch.no_grad(), vocoder.autocast():
            wav = gen(x).float()[0, 0].cpu().numpy()
        lo = (a - s) * hop + offset
        yield np.ascontiguousarray(wav[lo : lo + (b - a) * hop], dtype=np.float32)
        a, size = b, chunk_frames
