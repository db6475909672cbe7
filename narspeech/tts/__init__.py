"""Text-to-speech: AR teacher, duration extraction, FastSpeech/FastSpeech 2, synthesis.

Entry point for other parts: :func:`load_tts_model` (→ ``(model, cfg)``), and every acoustic
model's ``inference(tokens, token_lengths, *, speed, pitch_shift, energy_scale) -> (mels, lengths)``.
"""
from __future__ import annotations


def load_tts_model(path_or_exp_dir, device="cpu"):
    """See :func:`narspeech.tts.models.load_tts_model`."""
    from narspeech.tts.models import load_tts_model as _load

    return _load(path_or_exp_dir, device)


__all__ = ["load_tts_model"]
