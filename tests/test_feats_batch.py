"""A padded batch gives exactly the features of each utterance alone (padding never leaks)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from narspeech.audio.features import FeatureConfig, compute_features, log_mel


def _batch(wavs):
    lengths = torch.tensor([len(w) for w in wavs])
    x = torch.zeros(len(wavs), int(lengths.max()))
    for i, w in enumerate(wavs):
        x[i, : len(w)] = torch.from_numpy(w)
    return x, lengths


def test_batch_equals_one_at_a_time(shared_data):
    from narspeech.audio.io import load_audio

    cfg = FeatureConfig.for_rate(16000)
    full = [load_audio(str(shared_data / "arctic_fb" / "flac" / f"arctic_a{i:04d}.flac"))[0] for i in (2, 5, 9)]
    # very different lengths, incl. shorter than the STFT/F0 frames and a hop-multiple edge case
    wavs = [full[0], full[1][:20000], full[2][:300], full[2][4000:4000 + 2 * cfg.hop_length]]
    x, lengths = _batch(wavs)
    x[1, 20000:] = 0.5  # garbage in the padding must not matter either
    batched = compute_features(x, lengths, cfg).unbatch()
    assert any((f0 > 0).any() for _, f0, _ in batched)
    for w, (mel_b, f0_b, en_b) in zip(wavs, batched):
        (mel_s, f0_s, en_s), = compute_features(torch.from_numpy(w)[None], None, cfg).unbatch()
        assert mel_b.shape == mel_s.shape == (1 + len(w) // cfg.hop_length, cfg.n_mels)
        np.testing.assert_allclose(mel_b, mel_s, atol=1e-4)
        np.testing.assert_allclose(en_b, en_s, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(f0_b, f0_s, rtol=1e-4, atol=1e-3)


def test_padding_frames_are_masked():
    cfg = FeatureConfig.for_rate(16000)
    rng = np.random.default_rng(0)
    wavs = [rng.standard_normal(16000).astype(np.float32) * 0.1, rng.standard_normal(4000).astype(np.float32) * 0.1]
    x, lengths = _batch(wavs)
    mel = log_mel(x, cfg, lengths)
    t_short = 1 + 4000 // cfg.hop_length
    assert torch.all(mel[1, t_short:] == np.log(cfg.mel_floor))
    assert torch.all(mel[1, :t_short] > np.log(cfg.mel_floor))


@pytest.mark.gpu
def test_cuda_matches_cpu(shared_data):
    from narspeech.audio.io import load_audio

    cfg = FeatureConfig.for_rate(16000)
    wavs = [load_audio(str(shared_data / "arctic_fb" / "flac" / f"arctic_a{i:04d}.flac"))[0] for i in (2, 5, 9)]
    x, lengths = _batch(wavs)
    cpu = compute_features(x, lengths, cfg).unbatch()
    gpu = compute_features(x.cuda(), lengths.cuda(), cfg).unbatch()
    for (m1, f1, e1), (m2, f2, e2) in zip(cpu, gpu):
        np.testing.assert_allclose(m1, m2, atol=1e-3)
        np.testing.assert_allclose(e1, e2, rtol=1e-3, atol=1e-4)
        voiced_agree = np.mean((f1 > 0) == (f2 > 0))
        assert voiced_agree > 0.98
        both = (f1 > 0) & (f2 > 0)
        assert np.median(np.abs(np.log2(f1[both] / f2[both]))) * 1200 < 1
