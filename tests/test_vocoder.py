"""Griffin-Lim vocoder: round trip on real speech, NNLS mel inversion, lengths, interface."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from narspeech.audio.features import FeatureConfig, log_mel, mel_filterbank
from narspeech.errors import NarspeechError
from narspeech.vocoder import GriffinLim, Vocoder, make_vocoder

CFG16 = FeatureConfig.for_rate(16000)


def _arctic(shared_data, n=2, max_seconds=3.0):
    from narspeech.audio.io import load_audio, resolve_entry
    from narspeech.fileio import read_table

    base = shared_data / "arctic_fb"
    scp = read_table(base / "test" / "wav.scp")
    return [load_audio(resolve_entry(scp[u], base), utt=u)[0][: int(max_seconds * 16000)] for u in list(scp)[:n]]


def _pad(mels):
    lengths = torch.tensor([m.shape[0] for m in mels])
    batch = torch.full((len(mels), int(lengths.max()), mels[0].shape[1]), math.log(1e-5))
    for i, m in enumerate(mels):
        batch[i, : m.shape[0]] = m
    return batch, lengths


def _round_trip_scores(mels, wavs):
    """Mean log-mel L1 and spectral convergence ||S - S'|| / ||S|| of the re-extracted mels."""
    l1, sc = [], []
    for m, w in zip(mels, wavs):
        m2 = log_mel(torch.from_numpy(w), CFG16)
        n = min(len(m), len(m2))
        a, b = m[:n], m2[:n]
        l1.append((a - b).abs().mean().item())
        sc.append(((a.exp() - b.exp()).norm() / a.exp().norm()).item())
    return float(np.mean(l1)), float(np.mean(sc))


def test_griffin_lim_round_trip_on_real_speech(shared_data):
    """Bounds measured on arctic_fb test utterances (32 iterations, 4 utts: L1 0.09, SC 0.07);
    one GL iteration (random phase) gives SC ≈ 0.25, so the bounds catch a broken phase
    recovery, a wrong hop/window or a wrong mel inversion, with margin for the random start."""
    wavs = _arctic(shared_data)
    mels = [log_mel(torch.from_numpy(w), CFG16) for w in wavs]
    batch, lengths = _pad(mels)
    out = GriffinLim(CFG16, n_iter=32)(batch, lengths)
    assert [len(o) for o in out] == [(int(n) - 1) * CFG16.hop_length for n in lengths]
    for o, w in zip(out, wavs):
        assert o.dtype == np.float32 and np.abs(o).max() <= 1.0
        assert 0.5 < np.sqrt(np.mean(o**2)) / np.sqrt(np.mean(w[: len(o)] ** 2)) < 2.0  # level preserved
    l1, sc = _round_trip_scores(mels, out)
    assert l1 < 0.15 and sc < 0.12, (l1, sc)
    _, sc1 = _round_trip_scores(mels, GriffinLim(CFG16, n_iter=1)(batch, lengths))
    assert sc < 0.6 * sc1, (sc, sc1)


def test_nnls_inversion_beats_clamped_pseudo_inverse(shared_data):
    wav = _arctic(shared_data, n=1, max_seconds=1.5)[0]
    mel = log_mel(torch.from_numpy(wav), CFG16)[None]
    fb = mel_filterbank(CFG16)

    def residual(nnls_iter):
        x = GriffinLim(CFG16, nnls_iter=nnls_iter).mel_to_linear(mel)  # (1, F, T)
        assert (x >= 0).all()
        return ((x.transpose(1, 2) @ fb.t() - mel.exp()).norm() / mel.exp().norm()).item()

    assert residual(30) < 0.7 * residual(0)


def test_padding_does_not_leak_and_is_deterministic():
    sr = 16000
    t = np.arange(sr) / sr
    wav = (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    long_mel = log_mel(torch.from_numpy(wav), CFG16)
    short_mel = long_mel[:20]
    batch, lengths = _pad([long_mel, short_mel])
    gl = GriffinLim(CFG16, n_iter=8)
    a = gl(batch, lengths)
    b = gl(batch, lengths)
    np.testing.assert_array_equal(a[1], b[1])  # seeded initial phase
    assert len(a[1]) == 19 * CFG16.hop_length
    # the short item's frames past its length were zero magnitude: nothing of the long tone follows it
    full = GriffinLim(CFG16, n_iter=8).mel_to_linear(batch, lengths)
    assert full[1, :, 20:].abs().max() == 0 and full[0, :, 20:].abs().max() > 0


def test_interface_and_errors():
    gl = make_vocoder("griffin-lim", CFG16, "cpu", n_iter=4)
    assert isinstance(gl, Vocoder) and gl.sample_rate == 16000
    with pytest.raises(NarspeechError, match="unknown vocoder"):
        make_vocoder("hifigan", CFG16)
    with pytest.raises(NarspeechError, match="expected mels"):
        gl(torch.zeros(1, 10, 40), torch.tensor([10]))
    with pytest.raises(NarspeechError, match="momentum"):
        GriffinLim(CFG16, momentum=1.0)


@pytest.mark.gpu
def test_griffin_lim_on_cuda_matches_cpu_quality(shared_data):
    wavs = _arctic(shared_data)
    mels = [log_mel(torch.from_numpy(w), CFG16) for w in wavs]
    batch, lengths = _pad(mels)
    out = GriffinLim(CFG16, n_iter=32, device="cuda")(batch.cuda(), lengths)
    l1, sc = _round_trip_scores(mels, out)
    assert l1 < 0.15 and sc < 0.12, (l1, sc)


def test_very_short_outputs_do_not_crash():
    """An untrained AR teacher may stop after one frame; GL must still return (empty) audio."""
    gl = GriffinLim(CFG16, n_iter=2)
    out = gl(torch.full((2, 3, 80), -5.0), torch.tensor([3, 1]))
    assert [len(o) for o in out] == [2 * CFG16.hop_length, 0]


def test_griffin_lim_batch_equals_one_at_a_time(shared_data):
    """Issue 11: a sentence must give the same waveform at batch 1 and in a padded batch (per-utterance
    start phase, window sum and reflect padding). torchaudio's batch-wide random phase failed this."""
    wavs = _arctic(shared_data, n=3, max_seconds=1.0)
    mels = [log_mel(torch.from_numpy(w[: 16000 - 2000 * i]), CFG16) for i, w in enumerate(wavs)]
    batch, lengths = _pad(mels)
    gl = GriffinLim(CFG16, n_iter=4, nnls_iter=5)
    together = gl(batch, lengths)
    for i, m in enumerate(mels):
        alone = gl(m[None], torch.tensor([len(m)]))[0]
        assert len(alone) == len(together[i])
        np.testing.assert_allclose(together[i], alone, atol=2e-5)


def test_copy_synthesis_writes_the_good_utterances_and_lists_the_bad(shared_data, tmp_path, one_thread):
    """An unreadable recording is one line in OUT/failed; the others are vocoded and scored (PESQ, STOI, MCD)."""
    pytest.importorskip("pesq")
    pytest.importorskip("pystoi")
    from narspeech.audio.io import write_wav
    from narspeech.fileio import read_table
    from narspeech.evaluate.copy_synthesis import score_copy
    from narspeech.vocoder.copy import copy_synthesis

    data = tmp_path / "data"
    write_wav(data / "a.wav", _arctic(shared_data, n=1, max_seconds=1.0)[0], 16000)
    (data / "wav.scp").write_text(f"a {data / 'a.wav'}\nb {data / 'missing.wav'}\n")
    copy_synthesis(data, tmp_path / "out", "griffin-lim", device="cpu", vocoder_options={"n_iter": 8})
    assert read_table(tmp_path / "out" / "failed").keys() == {"b"} and list(read_table(tmp_path / "out" / "wav.scp")) == ["a"]
    r = score_copy(tmp_path / "out", data, device="cpu")
    assert r["stoi"]["n"] == 1 and 0.5 < r["stoi"]["mean"] <= 1.0 and 1.0 <= r["pesq_wb"]["mean"] <= 4.7 and r["mcd_db"]["n"] == 1
