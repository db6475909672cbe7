"""`feats stats` against numpy on the dumped arrays; the Welford/Chan merge on hard numbers."""
from __future__ import annotations

import numpy as np
import pytest

from narspeech.audio.dump import read_dump
from narspeech.audio.extract import extract_dump
from narspeech.audio.stats import Moments, compute_stats, load_stats, save_stats


def test_stats_match_numpy_on_a_real_dump(shared_data, tmp_path):
    utts = ("arctic_a0010", "arctic_a0011", "arctic_b0012")
    data = tmp_path / "data"
    data.mkdir()
    (data / "wav.scp").write_text("".join(f"{u} {shared_data / 'arctic_fb' / 'flac' / (u + '.flac')}\n" for u in utts))
    extract_dump(data, tmp_path / "dump", None, device="cpu", jobs=0)
    st = compute_stats(tmp_path / "dump")
    save_stats(st, tmp_path / "dump" / "stats.npz")
    back = load_stats(tmp_path / "dump" / "stats.npz")

    d = read_dump(tmp_path / "dump")
    mel = np.concatenate([d.feats[u] for u in utts]).astype(np.float64)
    f0 = np.concatenate([d.f0[u] for u in utts]).astype(np.float64)
    en = np.concatenate([d.energy[u] for u in utts]).astype(np.float64)
    voiced = f0[f0 > 0]
    assert back["mel_mean"].shape == back["mel_std"].shape == (80,)
    np.testing.assert_allclose(back["mel_mean"], mel.mean(0), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(back["mel_std"], mel.std(0), rtol=1e-10)
    for key, ref in (("f0_mean", voiced.mean()), ("f0_std", voiced.std()), ("f0_min", voiced.min()), ("f0_max", voiced.max()),
                     ("logf0_mean", np.log(voiced).mean()), ("logf0_std", np.log(voiced).std()),
                     ("energy_mean", en.mean()), ("energy_std", en.std()), ("energy_max", en.max())):
        assert back[key].shape == () and float(back[key]) == pytest.approx(ref, rel=1e-10), key
    assert int(back["mel_count"]) == len(mel) and int(back["f0_count"]) == len(voiced) and int(back["num_utts"]) == 3
    # the keys the TTS models read
    from narspeech.tts.models.stats import load_stats as tts_load_stats

    assert set(tts_load_stats(tmp_path / "dump" / "stats.npz")) >= {"mel_mean", "f0_std", "energy_mean"}


def test_moments_are_stable_far_from_zero():
    """Sums of squares in float32 would lose everything here; the merge keeps it exact."""
    rng = np.random.default_rng(0)
    blocks = [1e6 + rng.standard_normal((n, 3)) for n in (1, 7, 1000, 3)]
    m = Moments()
    for b in blocks:
        m.add(b.astype(np.float32).astype(np.float64))
    allx = np.concatenate([b.astype(np.float32).astype(np.float64) for b in blocks])
    np.testing.assert_allclose(m.mean, allx.mean(0), rtol=1e-12)
    np.testing.assert_allclose(m.std, allx.std(0), rtol=1e-9)
    assert m.count == len(allx)
