"""MCD, DTW, F0 error, WER and timing: known answers, not just shapes."""
from __future__ import annotations

import math
import time

import numpy as np
import pytest
import torch

from narspeech.metrics.dtw import dtw, dtw_path, euclidean_cost
from narspeech.metrics.f0 import f0_errors
from narspeech.metrics.mcd import MCD_CONST, frame_mcd, mcd_dtw, mel_cepstrum, speech_span
from narspeech.metrics.timing import Timer, real_time_factor, summarize, time_call
from narspeech.metrics.scoring import error_rate


def brute_force_dtw(cost: np.ndarray) -> float:
    n, m = cost.shape
    acc = np.full((n + 1, m + 1), np.inf)
    acc[0, 0] = 0
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            acc[i, j] = cost[i - 1, j - 1] + min(acc[i - 1, j], acc[i, j - 1], acc[i - 1, j - 1])
    return acc[n, m]


def test_dtw_recovers_known_warp():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(40, 5))
    # b stretches and compresses a in time: every frame of a used at least once, in order
    reps = rng.integers(1, 4, size=40)
    idx = np.repeat(np.arange(40), reps)
    b = a[idx] + rng.normal(scale=1e-3, size=(len(idx), 5))
    path, total = dtw(a, b)
    expected = np.stack([idx, np.arange(len(idx))], axis=1)
    np.testing.assert_array_equal(path, expected)
    assert total < 0.05 * len(idx)


def test_dtw_total_matches_brute_force_and_path_is_monotonic():
    rng = np.random.default_rng(1)
    for n, m in [(1, 1), (1, 7), (7, 1), (13, 9), (20, 31)]:
        cost = rng.random((n, m))
        path, total = dtw_path(cost)
        assert total == pytest.approx(brute_force_dtw(cost))
        assert tuple(path[0]) == (0, 0) and tuple(path[-1]) == (n - 1, m - 1)
        steps = np.diff(path, axis=0)
        assert ((steps >= 0) & (steps <= 1)).all() and (steps.sum(1) >= 1).all()
        assert cost[path[:, 0], path[:, 1]].sum() == pytest.approx(total)


def test_dtw_band_keeps_path_near_diagonal():
    rng = np.random.default_rng(2)
    cost = rng.random((50, 60))
    cost[:, 40:] *= 0.01  # a cheap region far off the diagonal lures the unconstrained path
    free, _ = dtw_path(cost)
    banded, total = dtw_path(cost, band=3)
    off = np.abs(banded[:, 0] * 59 / 49 - banded[:, 1])
    assert off.max() <= 4
    assert np.abs(free[:, 0] * 59 / 49 - free[:, 1]).max() > 4
    assert total >= brute_force_dtw(cost) - 1e-9


def test_euclidean_cost():
    a = np.array([[0.0, 0.0], [3.0, 4.0]])
    np.testing.assert_allclose(euclidean_cost(a, a), [[0, 5], [5, 0]], atol=1e-6)


def _tone_log_mel(noise: float, seed: int = 0) -> np.ndarray:
    from narspeech.audio.features import FeatureConfig, log_mel

    sr = 16000
    t = np.arange(sr) / sr
    f0 = 120 + 40 * np.sin(2 * np.pi * 1.5 * t)
    phase = 2 * np.pi * np.cumsum(f0) / sr
    wav = sum(np.sin(k * phase) / k for k in range(1, 20)) * 0.1
    wav = wav + noise * np.random.default_rng(seed).normal(size=len(wav))
    return log_mel(torch.from_numpy(wav.astype(np.float32)), FeatureConfig.for_rate(sr)).numpy()


def test_mcd_zero_for_identical_and_grows_with_distortion():
    clean = mel_cepstrum(_tone_log_mel(0.0))
    assert clean.shape[1] == 24
    self_mcd, path = mcd_dtw(clean, clean)
    assert self_mcd == pytest.approx(0.0, abs=1e-9)
    np.testing.assert_array_equal(path[:, 0], path[:, 1])
    scores = [mcd_dtw(clean, mel_cepstrum(_tone_log_mel(level, seed=1)))[0] for level in (0.001, 0.01, 0.05)]
    assert 0 < scores[0] < scores[1] < scores[2]


def test_mcd_formula_and_c0_is_ignored():
    log_mel = np.random.default_rng(0).normal(size=(10, 80))
    shifted = log_mel + 3.0  # a pure level change lives in c0 only
    np.testing.assert_allclose(mel_cepstrum(shifted), mel_cepstrum(log_mel), atol=1e-9)
    a, b = np.zeros((1, 24)), np.zeros((1, 24))
    b[0, 0] = 1.0
    assert frame_mcd(a, b)[0] == pytest.approx(10 / math.log(10) * math.sqrt(2)) == pytest.approx(MCD_CONST)


def test_mel_cepstrum_follows_the_sptk_convention():
    # log|H| = c0 + 2 * sum_d c_d cos(d w): a log spectrum 0.3 + 2 * 0.5 cos(3w) on the band
    # centres has c_3 = 0.5 and every other coefficient 0
    n = 80
    w = np.pi * (np.arange(n) + 0.5) / n
    c = mel_cepstrum((0.3 + 2 * 0.5 * np.cos(3 * w))[None])[0]
    expected = np.zeros(24)
    expected[2] = 0.5  # coefficient 3 is column 2 (c0 dropped)
    np.testing.assert_allclose(c, expected, atol=1e-12)


def test_speech_span_cuts_edge_silence_and_keeps_pauses():
    speech = np.random.default_rng(0).normal(0.0, 0.5, size=(30, 80))
    pause = np.full((5, 80), np.log(1e-5))
    lm = np.concatenate([pause, speech[:10], pause, speech[10:], pause, pause])
    assert speech_span(lm, 40.0) == slice(5, 5 + 10 + 5 + 20)
    padded, plain = np.concatenate([pause, speech, pause]), speech
    c = mel_cepstrum(plain)
    assert mcd_dtw(c, mel_cepstrum(padded[speech_span(padded, 40.0)]))[0] == pytest.approx(0.0, abs=1e-9)
    assert mcd_dtw(c, mel_cepstrum(padded))[0] > 0.1  # untrimmed silence costs MCD


def test_f0_errors_known_values():
    ref = np.array([0, 100, 200, 200, 0, 0], dtype=float)
    syn = np.array([0, 110, 200, 0, 150, 0], dtype=float)
    r = f0_errors(ref, syn)
    assert r["voiced_pairs"] == 2
    assert r["f0_rmse_hz"] == pytest.approx(math.sqrt((10**2 + 0) / 2))
    assert r["f0_rmse_cents"] == pytest.approx(math.sqrt((1200 * math.log2(1.1)) ** 2 / 2))
    assert r["vde"] == pytest.approx(2 / 6)
    none = f0_errors(np.zeros(4), np.zeros(4))
    assert math.isnan(none["f0_rmse_hz"]) and none["vde"] == 0


def test_f0_errors_follow_the_path():
    ref = np.array([100.0, 200.0, 300.0])
    syn = np.array([100.0, 100.0, 200.0, 300.0])  # first frame held twice
    path = np.array([[0, 0], [0, 1], [1, 2], [2, 3]])
    assert f0_errors(ref, syn, path)["f0_rmse_hz"] == 0.0
    assert f0_errors(ref, syn)["f0_rmse_hz"] > 50


def test_f0_rmse_on_synthetic_tones():
    """Through the real F0 estimator: tones at 200 Hz and 210 Hz differ by 10 Hz / 84.5 cents."""
    from narspeech.audio.pitch import estimate_f0

    sr, hop = 16000, 200
    t = np.arange(sr // 2) / sr
    wavs = torch.tensor(np.stack([0.5 * np.sin(2 * np.pi * f * t) for f in (200.0, 210.0)]), dtype=torch.float32)
    f0 = estimate_f0(wavs, sr, hop, 60.0, 800.0).numpy()
    r = f0_errors(f0[0], f0[1])
    assert r["voiced_pairs"] > 0.8 * f0.shape[1]
    assert r["f0_rmse_hz"] == pytest.approx(10.0, abs=1.5)
    assert r["f0_rmse_cents"] == pytest.approx(1200 * math.log2(210 / 200), abs=10)
    assert r["vde"] < 0.1


def test_error_rate_known_counts():
    refs = {"a": "the cat sat", "b": "on the mat"}
    hyps = {"a": "the cat sat down", "b": "on mat"}
    r = error_rate(refs, hyps)
    assert (r["substitutions"], r["deletions"], r["insertions"], r["ref_units"]) == (0, 1, 1, 6)
    assert r["error_rate"] == pytest.approx(2 / 6)
    c = error_rate({"a": "abc"}, {"a": "abd"}, unit="char")
    assert c["error_rate"] == pytest.approx(1 / 3)
    missing = error_rate(refs, {"a": "the cat sat"})
    assert missing["deletions"] == 3 and missing["missing_hyps"] == 1


def test_error_rate_bad_input_names_utterance():
    from narspeech.errors import NarspeechError

    with pytest.raises(NarspeechError, match="utterance x"):
        error_rate({"a": "x"}, {"x": "y"})
    with pytest.raises(NarspeechError, match="empty reference"):
        error_rate({"a": " "}, {"a": "y"})


def test_timing_helpers():
    with Timer("cpu") as t:
        time.sleep(0.05)
    assert 0.04 < t.seconds < 0.5
    calls = []
    times, result = time_call(lambda: calls.append(1) or len(calls), repeat=3, warmup=2)
    assert len(times) == 3 and len(calls) == 5 and result == 5
    s = summarize([1.0, 2.0, 3.0])
    assert s["mean"] == 2.0 and s["min"] == 1.0 and s["runs"] == 3
    assert real_time_factor(1.0, 4.0) == 0.25 and real_time_factor(1.0, 0.0) == float("inf")
