"""F0: known answers on synthetic voiced signals, and agreement with librosa.pyin on real speech."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from narspeech.audio.features import FeatureConfig
from narspeech.audio.pitch import estimate_f0


def _harmonic(f0_track: np.ndarray, sr: int, n_harm: int = 8) -> np.ndarray:
    """A voiced-like signal: harmonics with 1/k amplitudes following an F0 track (per sample)."""
    phase = 2 * np.pi * np.cumsum(f0_track) / sr
    return sum(np.sin(k * phase) / k for k in range(1, n_harm + 1)).astype(np.float32) * 0.3


@pytest.mark.parametrize("sr, f0", [(16000, 110.0), (22050, 220.0), (16000, 345.0)])
def test_steady_tone_with_silence_around(sr, f0):
    cfg = FeatureConfig.for_rate(sr)
    n = sr // 2
    wav = np.concatenate([np.zeros(n, np.float32), _harmonic(np.full(n, f0), sr), np.zeros(n, np.float32)])
    est = estimate_f0(torch.from_numpy(wav), sr, cfg.hop_length, cfg.f0_min, cfg.f0_max, cfg=cfg).numpy()
    assert est.shape == (1 + len(wav) // cfg.hop_length,)
    t = np.arange(len(est)) * cfg.hop_length
    inside = (t > n + 0.06 * sr) & (t < 2 * n - 0.06 * sr)
    outside = (t < n - 0.06 * sr) | (t > 2 * n + 0.06 * sr)
    assert np.all(est[inside] > 0)
    cents = 1200 * np.abs(np.log2(est[inside] / f0))
    assert cents.max() < 8  # measured <= 4 cents (F0 analysed at 8-11 kHz), < 1 cent at full rate
    assert np.all(est[outside] == 0)


def test_glide_is_tracked_without_octave_jumps():
    sr = 16000
    cfg = FeatureConfig.for_rate(sr)
    track = np.geomspace(100, 250, 2 * sr)  # a rising glide over 2 s, 1.3 octaves
    wav = _harmonic(track, sr)
    est = estimate_f0(torch.from_numpy(wav), sr, cfg.hop_length, cfg.f0_min, cfg.f0_max, cfg=cfg).numpy()
    centre = np.minimum(np.arange(len(est)) * cfg.hop_length, len(track) - 1)
    ref = track[centre]
    mid = slice(5, len(est) - 5)
    assert np.all(est[mid] > 0)
    cents = 1200 * np.abs(np.log2(est[mid] / ref[mid]))
    assert np.median(cents) < 10 and cents.max() < 50


def test_agrees_with_librosa_pyin_on_real_speech(shared_data):
    """On a few arctic_fb utterances: voicing agreement, pitch error on frames both call voiced."""
    import librosa

    from narspeech.audio.io import load_audio

    agree, cents, gross = [], [], []
    for utt in ("arctic_a0002", "arctic_b0100", "arctic_a0200"):
        wav, sr = load_audio(str(shared_data / "arctic_fb" / "flac" / f"{utt}.flac"))
        cfg = FeatureConfig.for_rate(sr)
        ours = estimate_f0(torch.from_numpy(wav), sr, cfg.hop_length, cfg.f0_min, cfg.f0_max, cfg=cfg).numpy()
        ref, voiced, _ = librosa.pyin(wav, fmin=cfg.f0_min, fmax=cfg.f0_max, sr=sr, frame_length=cfg.f0_frame, hop_length=cfg.hop_length)
        assert ours.shape == ref.shape
        agree.append(np.mean((ours > 0) == voiced))
        both = (ours > 0) & voiced
        ratio = ours[both] / ref[both]
        cents.extend(1200 * np.abs(np.log2(ratio)))
        gross.append(np.mean(np.abs(ratio - 1) > 0.2))
    # measured: agreement 0.87-0.97 (pyin against itself with a 1024 frame: ~0.92), median 7 cents, gross 0
    assert np.mean(agree) > 0.88 and min(agree) > 0.84
    assert np.median(cents) < 20
    assert max(gross) < 0.05
