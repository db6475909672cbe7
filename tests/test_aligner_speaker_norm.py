"""The aligner sees the speaker: per-speaker mean normalisation of its features (Kaldi's per-speaker CMVN)."""
from __future__ import annotations

import numpy as np
import torch

from narspeech.tts.durations.aligner import align
from narspeech.tts.durations.speaker_norm import set_speakers, speaker_cmvn, speaker_norm_wanted
from narspeech.tts.durations.speaker_report import duration_change, speaker_report


def _two_voice_corpus(seed=0, n_a=30, n_b=10, offset=6.0):
    """Phones of known durations (2-8 frames) spoken by two "voices": B's features are A's moved by a
    large constant offset (another vocal tract and channel), and A speaks three times as much."""
    rng = np.random.default_rng(seed)
    vocab, dim = 10, 6
    means = rng.normal(0, 1.5, (vocab, dim))
    shift = offset * rng.choice([-1.0, 1.0], dim)
    feats, toks, truth, spk = {}, {}, {}, {}
    for i in range(n_a + n_b):
        u, voice = f"u{i:02d}", "a" if i < n_a else "b"
        t = rng.integers(0, vocab, int(rng.integers(5, 10)))
        d = rng.integers(2, 9, len(t))
        x = np.repeat(means[t], d, 0) + 0.3 * rng.normal(size=(int(d.sum()), dim)) + (shift if voice == "b" else 0.0)
        feats[u], toks[u], truth[u], spk[u] = torch.tensor(x), t, d, voice
    return feats, toks, truth, spk, vocab


def test_speaker_normalised_aligner_recovers_the_second_voice_the_pooled_one_misses():
    """Pooled phone models sit between the voices (nearer the one that speaks more) and misplace the
    boundaries by several frames; per-speaker mean normalisation aligns as well as if both were one voice."""
    feats, toks, truth, spk, vocab = _two_voice_corpus()

    def error(f):  # mean boundary offset (frames) per voice
        res = align(f, toks, set(), vocab, iterations=8, progress_desc=None)
        err = {u: np.abs(np.cumsum(res.durations[u])[:-1] - np.cumsum(truth[u])[:-1]).mean() for u in f}
        return {v: np.mean([e for u, e in err.items() if spk[u] == v]) for v in "ab"}

    normed, pooled = error(speaker_cmvn(feats, spk)), error(feats)
    assert normed["a"] < 1.0 and normed["b"] < 1.0, normed  # as on one voice (offset 0: 0.63, 0.57 frames)
    assert pooled["a"] > 3.0 and pooled["b"] > 3.0, pooled  # measured 4.8, 8.7 frames


def test_speaker_cmvn_and_the_speaker_table(tmp_path):
    feats = {"a1": torch.ones(3, 2), "a2": 3 * torch.ones(1, 2), "b1": torch.full((2, 2), -5.0)}
    out = speaker_cmvn(feats, {"a1": "A", "a2": "A", "b1": "B"})
    assert torch.allclose(out["a1"], torch.full((3, 2), -0.5)) and torch.allclose(out["a2"], torch.full((1, 2), 1.5))
    assert torch.allclose(out["b1"], torch.zeros(2, 2))
    assert set_speakers(tmp_path, ["a1"]) is None  # no utt2spk: one voice
    (tmp_path / "utt2spk").write_text("a1 A\na2 A\n")
    assert set_speakers(tmp_path, ["a1", "a2"]) is None  # one speaker: nothing to normalise
    (tmp_path / "utt2spk").write_text("a1 A\na2 A\nb1 B\n")
    assert set_speakers(tmp_path, ["a1", "b1"]) == {"a1": "A", "b1": "B"}
    two = {"a1": "A", "b1": "B"}  # auto: on for several voices, off for one, as given models were made when there are
    assert speaker_norm_wanted(None, two, None) and not speaker_norm_wanted(None, None, None)
    assert not speaker_norm_wanted(None, two, False) and speaker_norm_wanted(None, None, True)
    assert not speaker_norm_wanted(False, two, None) and speaker_norm_wanted(True, None, None)
    ch = duration_change({"a1": np.array([2, 3]), "b1": np.array([4])}, {"a1": np.array([3, 2]), "b1": np.array([4])},
                         {"a1": "A", "b1": "B"})
    assert ch["A"]["mean_abs_delta"] == 1.0 and ch["B"]["changed"] == 0.0 and ch["all"]["n_tokens"] == 3


def test_speaker_report_counts_squeezed_phones_and_pauses_per_speaker():
    toks = {"a1": np.array([3, 4, 1]), "b1": np.array([3, 1, 4])}  # token 1: punctuation
    durs = {"a1": np.array([3, 5, 2]), "b1": np.array([4, 0, 3])}
    mels = {u: np.where(np.repeat(toks[u] == 1, durs[u])[:, None], -5.0, 0.0) * np.ones((1, 4)) for u in toks}
    spread = {u: (0.3, 0.2, 0.4, 1.3, 1.0, 1.0) for u in toks}
    r = speaker_report(durs, toks, mels, {"a1": "A", "b1": "B"}, pause_ids={1}, spread=spread,
                       log_likelihood={"a1": (-20.0, 10), "b1": (-7.0, 7)}, min_frames=3)
    assert r["A"]["at_minimum"] == 0.5 and r["B"]["at_minimum"] == 0.5
    assert r["A"]["pause_share"] == 1.0 and r["B"]["pause_share"] == 0.0
    assert r["A"]["pause_level"] == -5.0 and np.isnan(r["B"]["pause_level"])
    assert r["A"]["log_likelihood_per_frame"] == -2.0 and r["B"]["spread"] == 0.3
