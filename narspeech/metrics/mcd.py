"""Mel-cepstral distortion (MCD) from log-mel spectra, aligned with DTW.

We do not use SPTK/pysptk mel-generalised cepstra (``mcep``) nor WORLD spectra.
The mel-cepstrum here is the cosine series of the natural-log **magnitude** mel
spectrum (the dump's log-mel, see docs/interfaces.md) in SPTK's convention,
``log|H(w)| = c_0 + 2 * sum_d c_d cos(d w)`` on the mel axis, so with N bands
``c_d = DCT-II(log_mel)_d / (2N)`` (scipy's unnormalised DCT-II); coefficients 1..24
(c0, the level, is dropped as usual; ``with_c0=True`` keeps it, so a system that is too
quiet or silent is charged for it: the "MCD with c0" headline score). MCD per frame pair is

    MCD = (10 / ln 10) * sqrt(2 * sum_d (c_d - c'_d)^2)   [dB]

(the formula is defined for cepstra in that convention; an orthonormal DCT would
inflate every value by sqrt(2N), about 12.6 for 80 bands) and an utterance's MCD
is the mean over the DTW path. Because the cepstra come from an 80-band mel
filterbank of the magnitude spectrum rather than from an mcep fit of the full
spectrum with a frequency-warping alpha, the absolute values are **not directly
comparable** with MCD figures printed in papers that use SPTK ``mcep``;
comparisons between systems scored by this code under the same vocoder and
feature config are valid.
"""
from __future__ import annotations

import math

import numpy as np
from scipy.fft import dct

from narspeech.metrics.dtw import dtw

MCD_CONST = 10.0 / math.log(10.0) * math.sqrt(2.0)
DEFAULT_ORDER = 24


def mel_cepstrum(log_mel: np.ndarray, order: int = DEFAULT_ORDER, with_c0: bool = False) -> np.ndarray:
    """Cepstral coefficients 1..`order` (T, order) of a natural-log mel spectrum (T, n_mels), SPTK scale.

    `with_c0`: coefficients 0..`order` (T, order + 1); c0 is the frame's mean log-mel (its level).
    """
    log_mel = np.asarray(log_mel, dtype=np.float64)
    if log_mel.ndim != 2:
        raise ValueError(f"log_mel must be (T, n_mels), got shape {log_mel.shape}")
    if order >= log_mel.shape[1]:
        raise ValueError(f"cepstral order {order} needs more than {log_mel.shape[1]} mel bands")
    return dct(log_mel, type=2, axis=1)[:, 0 if with_c0 else 1 : order + 1] / (2.0 * log_mel.shape[1])


def frame_mcd(c_ref: np.ndarray, c_syn: np.ndarray) -> np.ndarray:
    """MCD in dB of each frame pair of two equally long cepstral sequences (T, D)."""
    diff = np.asarray(c_ref, dtype=np.float64) - np.asarray(c_syn, dtype=np.float64)
    return MCD_CONST * np.sqrt((diff * diff).sum(-1))


def mcd_dtw(c_ref: np.ndarray, c_syn: np.ndarray, band: int | None = None) -> tuple[float, np.ndarray]:
    """Mean MCD (dB) along the DTW path between two cepstral sequences; returns ``(mcd, path)``.

    `path` is the (K, 2) array of aligned (ref frame, synth frame) indices, reused
    for F0 scoring so both metrics compare the same frame pairs.
    """
    path, _ = dtw(c_ref, c_syn, band=band)
    per_frame = frame_mcd(np.asarray(c_ref)[path[:, 0]], np.asarray(c_syn)[path[:, 1]])
    return float(per_frame.mean()), path


def speech_span(log_mel: np.ndarray, top_db: float) -> slice:
    """Frames from the first to the last whose level is within `top_db` dB of the utterance's loudest.

    Level is the frame's mel power in dB (from the natural-log magnitude mel). Leading and
    trailing silence is cut, pauses inside the utterance are kept.
    """
    lm = np.asarray(log_mel, dtype=np.float64)
    power = np.exp(2.0 * (lm - lm.max())).sum(axis=1)  # shifted by the peak: no overflow
    level = 10.0 * np.log10(np.maximum(power, 1e-30))
    loud = np.flatnonzero(level >= level.max() - top_db)
    return slice(int(loud[0]), int(loud[-1]) + 1)
