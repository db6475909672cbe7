"""The vocoder interface, input checks, and the feature-compatibility check.

Anything with a ``sample_rate``, a ``feature_config`` and ``__call__(mels (B, T, n_mels),
lengths (B,)) -> list[np.ndarray]`` is a :class:`Vocoder`: mels are the dump's log-mels
(natural log of the Slaney mel magnitude, floored), padded; each output is float32 at
``sample_rate`` with ``(length - 1) * hop`` samples (centred frames, ``T = 1 + N // hop``).

:func:`vocode_items` is what writers use: it checks each utterance (empty, NaN/inf, wrong
mel size) and vocodes only the good ones, so one bad utterance is one line in a ``failed``
list while the rest of the batch is still written.
"""
from __future__ import annotations

import math
from typing import Protocol, Sequence, runtime_checkable

import numpy as np
import torch

from narspeech.audio.features import FeatureConfig
from narspeech.degenerate import audio_problem
from narspeech.errors import NarspeechError

# Fields that define what a log-mel frame means; a vocoder only understands its own values.
MEL_FIELDS = ("sample_rate", "n_fft", "hop_length", "win_length", "window", "n_mels", "fmin", "fmax", "mel_floor")


@runtime_checkable
class Vocoder(Protocol):
    """Turns a padded batch of log-mels into one waveform (float32, at `sample_rate`) per utterance."""

    sample_rate: int

    def __call__(self, mels: torch.Tensor, lengths: torch.Tensor) -> list[np.ndarray]: ...


def feature_mismatch(features: FeatureConfig, expected: FeatureConfig) -> list[str]:
    """``["hop_length 200 (vocoder: 256)", …]``: the mel-defining fields where `features` differ."""
    out = []
    for k in MEL_FIELDS:
        a, b = getattr(features, k), getattr(expected, k)
        if (isinstance(a, float) or isinstance(b, float)) and math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-12):
            continue
        if a != b:
            out.append(f"{k} {a} (vocoder: {b})")
    return out


def check_features(features: FeatureConfig, expected: FeatureConfig, vocoder: str) -> None:
    """Refuse mels whose feature config is not the one `vocoder` was trained on (it would vocode noise)."""
    diff = feature_mismatch(features, expected)
    if diff:
        raise NarspeechError(
            f"the features do not match vocoder {vocoder}: {', '.join(diff)}; extract the features with the vocoder's "
            "settings (for HiFi-GAN: `narspeech feats extract --set sample_rate=22050`, whose defaults are n_fft 1024, hop 256, "
            "win 1024, 80 mels, 0-8000 Hz, floor 1e-5) and retrain, or use --vocoder griffin-lim")


def check_mel(mel: np.ndarray | torch.Tensor, n_mels: int) -> str | None:
    """Why `mel` (T, n_mels) cannot be vocoded, or None."""
    shape = tuple(mel.shape)
    if len(shape) != 2 or shape[1] != n_mels:
        return f"mel has shape {shape}, expected (frames, {n_mels})"
    if shape[0] < 2:
        return f"mel has {shape[0]} frame(s) (need >= 2)"
    finite = bool(torch.isfinite(mel).all()) if isinstance(mel, torch.Tensor) else bool(np.isfinite(mel).all())
    if not finite:
        return "mel contains NaN or inf"
    return None


def pad_mels(mels: Sequence[np.ndarray | torch.Tensor], pad_value: float, extra: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, T_max + extra, n_mels) float32 batch padded with `pad_value`, and the lengths (B,)."""
    lengths = torch.tensor([len(m) for m in mels], dtype=torch.long)
    out = torch.full((len(mels), int(lengths.max()) + extra, mels[0].shape[1]), pad_value, dtype=torch.float32)
    for i, m in enumerate(mels):
        out[i, : len(m)] = m if torch.is_tensor(m) else torch.from_numpy(np.array(m, dtype=np.float32))  # a copy: dump arrays are read-only
    return out, lengths


def check_batch(mels: torch.Tensor, lengths: torch.Tensor | None, n_mels: int, name: str) -> torch.Tensor:
    """Validate a padded batch for a vocoder's ``__call__``; return the lengths (CPU, long)."""
    if mels.dim() != 3 or mels.shape[-1] != n_mels:
        raise NarspeechError(f"{name}: expected mels (B, T, {n_mels}), got {tuple(mels.shape)}")
    b, t, _ = mels.shape
    lengths = torch.full((b,), t, dtype=torch.long) if lengths is None else lengths.long().cpu()
    for i, n in enumerate(lengths.tolist()):
        if not torch.isfinite(mels[i, :n]).all():
            raise NarspeechError(f"{name}: mel {i} of the batch contains NaN or inf")
    return lengths


def vocode_items(vocoder: Vocoder, items: Sequence[tuple[str, np.ndarray | torch.Tensor]], *,
                 failed: dict[str, str] | None = None) -> dict[str, np.ndarray]:
    """``{utt: wav}`` for the good ``(utt, mel)`` items, vocoded as one batch; bad ones go to `failed`."""
    failed = {} if failed is None else failed
    n_mels = int(getattr(vocoder, "n_mels", 0) or (items[0][1].shape[-1] if items else 0))
    good = []
    for utt, mel in items:
        why = check_mel(mel, n_mels)
        if why is None:
            good.append((utt, mel))
        else:
            failed[utt] = why
    if not good:
        return {}
    pad = math.log(getattr(getattr(vocoder, "feature_config", None), "mel_floor", 1e-5))
    batch, lengths = pad_mels([m for _, m in good], pad)
    out = {}
    for (utt, _), w in zip(good, vocoder(batch, lengths)):
        why = audio_problem(w)  # NaN, constant or silent audio is a failure of this item, not output
        if why is None:
            out[utt] = w
        else:
            failed[utt] = f"vocoder output: {why}"
    return out
