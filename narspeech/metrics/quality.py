"""Perceptual quality of time-aligned speech (copy synthesis): wide-band PESQ and STOI.

MCD on log-mel cannot tell Griffin-Lim from HiFi-GAN (both keep the magnitude); PESQ and
STOI look at the waveform and do. Both need the degraded signal time-aligned with the
reference (copy synthesis, not TTS). Computed through the PyPI packages ``pesq`` (ITU-T
P.862.2 wide-band, 16 kHz) and ``pystoi`` (Taal et al. 2011; it resamples to 10 kHz itself).
Both signals are resampled to 16 kHz and cut to the shorter length first.
"""
from __future__ import annotations

import importlib

import numpy as np

from narspeech.audio.io import resample
from narspeech.errors import NarspeechError

RATE = 16000


def _need(module: str, package: str):
    try:
        return importlib.import_module(module)
    except ImportError:
        raise NarspeechError(f"this score needs the PyPI package {package} (pip install {package}; tools/requirements.txt lists it)") from None


def _prepare(ref: np.ndarray, deg: np.ndarray, sr: int, deg_sr: int | None) -> tuple[np.ndarray, np.ndarray]:
    ref = resample(np.asarray(ref, np.float32), sr, RATE)
    deg = resample(np.asarray(deg, np.float32), deg_sr or sr, RATE)
    n = min(len(ref), len(deg))
    return ref[:n].astype(np.float64), deg[:n].astype(np.float64)


def pesq_wb(ref: np.ndarray, deg: np.ndarray, sr: int, deg_sr: int | None = None, *, utt: str | None = None) -> float:
    """Wide-band PESQ (MOS-LQO, about 1.0–4.64) of `deg` against `ref`; NaN when PESQ finds no speech."""
    pesq = _need("pesq", "pesq")
    r, d = _prepare(ref, deg, sr, deg_sr)
    if len(r) < RATE // 4:
        raise NarspeechError(f"PESQ needs at least 0.25 s of audio (got {len(r) / RATE:.3f} s)", utt=utt)
    try:
        return float(pesq.pesq(RATE, r, d, "wb"))
    except pesq.NoUtterancesError:
        return float("nan")


def stoi(ref: np.ndarray, deg: np.ndarray, sr: int, deg_sr: int | None = None, *, extended: bool = False) -> float:
    """STOI (0–1; ``extended``: ESTOI) of `deg` against `ref`."""
    pystoi = _need("pystoi", "pystoi")
    r, d = _prepare(ref, deg, sr, deg_sr)
    return float(pystoi.stoi(r, d, RATE, extended=extended))


def quality_scores(ref: np.ndarray, deg: np.ndarray, sr: int, deg_sr: int | None = None, *, utt: str | None = None) -> dict[str, float]:
    """``{"pesq_wb": …, "stoi": …}`` for one time-aligned pair."""
    return {"pesq_wb": pesq_wb(ref, deg, sr, deg_sr, utt=utt), "stoi": stoi(ref, deg, sr, deg_sr)}
