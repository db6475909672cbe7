"""Log-mel and energy against librosa, and the feature config (defaults, round trip, validation)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from narspeech.audio.features import FeatureConfig, energy, log_mel, mel_filterbank
from narspeech.errors import NarspeechError


@pytest.fixture(scope="module")
def arctic_wav(shared_data):
    from narspeech.audio.io import load_audio

    wav, sr = load_audio(str(shared_data / "arctic_fb" / "flac" / "arctic_a0002.flac"))
    return wav, sr


@pytest.mark.parametrize("sr", [16000, 22050, 24000])
def test_filterbank_matches_librosa(sr):
    import librosa

    cfg = FeatureConfig.for_rate(sr)
    ref = librosa.filters.mel(sr=sr, n_fft=cfg.n_fft, n_mels=cfg.n_mels, fmin=cfg.fmin, fmax=cfg.fmax, htk=False, norm="slaney")
    ours = mel_filterbank(cfg).numpy()
    assert ours.shape == (cfg.n_mels, cfg.n_fft // 2 + 1)
    np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("overrides", [{}, {"hop_length": 256, "win_length": 1024, "fmin": 80.0, "fmax": 7600.0}])
def test_log_mel_matches_librosa_on_real_speech(arctic_wav, overrides):
    import librosa

    wav, sr = arctic_wav
    cfg = FeatureConfig.for_rate(sr, **overrides)
    ref = librosa.feature.melspectrogram(
        y=wav, sr=sr, n_fft=cfg.n_fft, hop_length=cfg.hop_length, win_length=cfg.win_length, window="hann",
        center=True, pad_mode="reflect", power=1.0, n_mels=cfg.n_mels, fmin=cfg.fmin, fmax=cfg.fmax, htk=False, norm="slaney",
    )
    ref = np.log(np.maximum(ref, 1e-5)).T
    ours = log_mel(torch.from_numpy(wav), cfg).numpy()
    assert ours.shape == ref.shape == (1 + len(wav) // cfg.hop_length, cfg.n_mels)
    assert np.abs(ours - ref).max() < 1e-3


def test_energy_is_l2_norm_of_magnitude_frames(arctic_wav):
    import librosa

    wav, sr = arctic_wav
    cfg = FeatureConfig.for_rate(sr)
    mag = np.abs(librosa.stft(wav, n_fft=cfg.n_fft, hop_length=cfg.hop_length, win_length=cfg.win_length, center=True, pad_mode="reflect"))
    ref = np.sqrt((mag.astype(np.float64) ** 2).sum(axis=0))
    ours = energy(torch.from_numpy(wav)[None], cfg)[0].numpy()
    assert ours.shape == ref.shape
    np.testing.assert_allclose(ours, ref, rtol=1e-4, atol=1e-4)


def test_rate_defaults_and_round_trip():
    c22 = FeatureConfig.for_rate(22050)
    assert (c22.n_fft, c22.hop_length, c22.win_length, c22.n_mels, c22.fmin, c22.fmax) == (1024, 256, 1024, 80, 0.0, 8000.0)
    c16 = FeatureConfig.for_rate(16000)
    assert (c16.n_fft, c16.hop_length, c16.win_length, c16.fmax) == (1024, 200, 800, 8000.0)
    c8 = FeatureConfig.for_rate(8000)
    assert c8.fmax == 4000.0 and c8.hop_length == 100
    back = FeatureConfig.from_dict(c22.to_dict())
    assert back.to_dict() == c22.to_dict()
    assert c22.num_frames(22050) == 1 + 22050 // 256


@pytest.mark.parametrize(
    "bad, words",
    [
        ({"sample_rate": 6000}, "below the supported minimum"),
        ({"fmax": 12000.0}, "fmax"),
        ({"win_length": 2048}, "win_length"),
        ({"n_mels": 400, "n_fft": 256, "win_length": 256, "hop_length": 64}, "empty"),
        ({"hop_size": 256}, "unknown feature option"),
        ({"f0_decimate": 3}, "f0_decimate"),
    ],
)
def test_bad_configs_are_named(bad, words):
    with pytest.raises(NarspeechError, match=words):
        cfg = FeatureConfig.for_rate(bad.pop("sample_rate", 16000), **bad)
        mel_filterbank(cfg)
