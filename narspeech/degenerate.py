"""Degenerate output: what no speech system should write and call a success.

Every stage that writes per-item audio, features or mels asks :func:`array_problem` /
:func:`audio_problem` about each item and records a failure for that item (``failed``,
``skipped``), as synthesis does for NaN mels: a run whose output is NaN, constant or
silent must not report "N written, 0 failed".
"""
from __future__ import annotations

import numpy as np

#: half a 16-bit step: audio whose every sample is below it is all zeros once written as PCM-16
SILENT_PEAK = 0.5 / 32768


def array_problem(x, what: str = "output") -> str | None:
    """Why the array `x` is degenerate — NaN/inf, or one constant value throughout — or None."""
    a = np.asarray(x.detach().cpu() if hasattr(x, "detach") else x)
    if a.size == 0:
        return f"the {what} is empty"
    if not np.isfinite(a).all():
        return f"the {what} contains NaN or inf"
    if a.size > 1 and float(a.max()) == float(a.min()):
        return f"the {what} is constant ({float(a.flat[0]):.4g} throughout)"
    return None


def audio_problem(wav) -> str | None:
    """:func:`array_problem` for a waveform, plus digital silence (every sample rounds to 0 in 16 bits)."""
    a = np.asarray(wav)
    if a.size and np.isfinite(a).all() and float(np.abs(a).max()) < SILENT_PEAK:
        return "the audio is silent (every sample rounds to 0 in 16-bit PCM)"
    return array_problem(a, "audio")
