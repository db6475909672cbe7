"""Level and movement of a log-mel spectrogram: does the output pause, and does it move?

Two failure modes that MCD without c0 and the voicing error miss (issue 7): a system
that stays at the level floor (silence), and one whose spectrum barely changes over
time (a stationary blur). Measured on natural-log magnitude mels (the dump's log-mel):

* :func:`frame_level_db` — each frame's mel power in dB;
* :func:`near_floor` — frames more than `below_db` dB under a **reference** peak level
  (the recording's, so a silent synthesis cannot pass by being quiet everywhere);
* :func:`temporal_variance` — mean over mel bins of each bin's variance over time: a
  stationary output has a small fraction of the recording's.

The silence fraction and the variance ratio are distributional: they are blind to the
order of frames (a time-reversed recording scores exactly like the recording), so
they are checks beside the headline metrics, which compare frames along time
(see :mod:`narspeech.evaluate.headline`). Their paired versions, along a DTW path:
:func:`level_correlation` — does the synthesis get loud and quiet where the recording
does (syllables, closures, pauses; a headline metric) — and :func:`floor_decision_error`
— how often one side is near the floor and the other is not.
"""
from __future__ import annotations

import numpy as np

DEFAULT_FLOOR_DB = 40.0


def frame_level_db(log_mel: np.ndarray) -> np.ndarray:
    """Mel power of each frame in dB (T,) from a natural-log magnitude mel (T, n_mels)."""
    lm = np.asarray(log_mel, dtype=np.float64)
    if lm.ndim != 2 or lm.shape[0] == 0:
        raise ValueError(f"log_mel must be a non-empty (T, n_mels) array, got shape {lm.shape}")
    top = lm.max()
    power = np.exp(2.0 * (lm - top)).sum(axis=1)  # shifted by the peak: no overflow
    return 10.0 * np.log10(np.maximum(power, 1e-30)) + 20.0 * top / np.log(10.0)


def near_floor(level_db: np.ndarray, ref_peak_db: float, below_db: float = DEFAULT_FLOOR_DB) -> np.ndarray:
    """Boolean (T,): frames whose level is more than `below_db` dB under `ref_peak_db`."""
    return np.asarray(level_db) < ref_peak_db - below_db


def temporal_variance(log_mel: np.ndarray) -> float:
    """Mean over mel bins of the per-bin variance over time (natural-log units squared)."""
    lm = np.asarray(log_mel, dtype=np.float64)
    return float(lm.var(axis=0).mean()) if len(lm) > 1 else 0.0


def floor_decision_error(floor_ref: np.ndarray, floor_syn: np.ndarray, path: np.ndarray) -> float:
    """Fraction of aligned (ref, synth) frame pairs whose near-floor decisions differ."""
    path = np.asarray(path)
    a = np.asarray(floor_ref)[np.minimum(path[:, 0], len(floor_ref) - 1)]
    b = np.asarray(floor_syn)[np.minimum(path[:, 1], len(floor_syn) - 1)]
    return float(np.mean(a != b)) if len(a) else float("nan")


def level_correlation(level_ref: np.ndarray, level_syn: np.ndarray, path: np.ndarray) -> float:
    """Pearson correlation of the frame levels (dB) over aligned (ref, synth) pairs; 0 if either is flat.

    Scale-free: it asks whether loud and quiet frames fall in the right places, not how far
    the level swings (a faint modulation in step still correlates; :func:`temporal_variance` sees that).
    """
    path = np.asarray(path)
    a = np.asarray(level_ref, dtype=np.float64)[np.minimum(path[:, 0], len(level_ref) - 1)]
    b = np.asarray(level_syn, dtype=np.float64)[np.minimum(path[:, 1], len(level_syn) - 1)]
    if len(a) < 2 or a.std() < 1e-6 or b.std() < 1e-6:
        return 0.0
    return float(np.corrcoef(a, b)[0, 1])


def level_scores(ref_mel: np.ndarray, syn_mel: np.ndarray, path: np.ndarray, below_db: float = DEFAULT_FLOOR_DB) -> dict[str, float]:
    """Level correlation and floor decision error along `path`, silence fractions (near the floor,
    relative to the recording's peak) and the temporal variance ratio."""
    ref_level, syn_level = frame_level_db(ref_mel), frame_level_db(syn_mel)
    peak = float(ref_level.max())
    fr, fs = near_floor(ref_level, peak, below_db), near_floor(syn_level, peak, below_db)
    vr = temporal_variance(ref_mel)
    return {"silence_ref": float(fr.mean()), "silence_synth": float(fs.mean()),
            "floor_error": floor_decision_error(fr, fs, path), "level_corr": level_correlation(ref_level, syn_level, path),
            "variance_ratio": temporal_variance(syn_mel) / vr if vr > 0 else float("nan")}
