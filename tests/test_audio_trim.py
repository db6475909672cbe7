"""Edge-silence trimming on real speech with known silent edges."""
from __future__ import annotations

import numpy as np
import pytest

from narspeech.audio.trim import speech_bounds
from narspeech.data.trim import trim_data_dir


def _real_speech(shared_data) -> tuple[np.ndarray, int]:
    """An arctic_fb recording cut to its speech by hand-checked bounds (0.38-3.24 s of arctic_b0251)."""
    from narspeech.audio.io import load_audio
    from narspeech.fileio import read_table

    base = shared_data / "arctic_fb"
    scp = read_table(base / "test" / "wav.scp")
    wav, sr = load_audio(str(base / scp["arctic_b0251"]))
    return wav[int(0.38 * sr): int(3.24 * sr)], sr


def test_known_silence_is_cut_to_the_margin(shared_data):
    speech, sr = _real_speech(shared_data)
    rng = np.random.default_rng(0)
    lead, trail = int(0.7 * sr), int(1.2 * sr)
    noise = lambda n: 1e-4 * rng.standard_normal(n)  # noqa: E731 (-80 dB room noise)
    wav = np.concatenate([noise(lead), speech, noise(trail)]).astype(np.float32)
    s, e = speech_bounds(wav, sr, top_db=40, margin=0.05)
    tol = int(0.03 * sr)
    assert abs(s - (lead - int(0.05 * sr))) <= tol, s / sr
    assert abs(e - (lead + len(speech) + int(0.05 * sr))) <= tol + int(0.02 * sr), e / sr


def test_a_breath_after_the_speech_is_not_kept(shared_data):
    speech, sr = _real_speech(shared_data)
    peak = np.abs(speech).max()
    gap = np.zeros(int(0.8 * sr), dtype=np.float32)
    breath = (0.015 * peak * np.random.default_rng(1).standard_normal(int(0.15 * sr))).astype(np.float32)  # ~36 dB down
    wav = np.concatenate([speech, gap, breath, gap])
    _, e = speech_bounds(wav, sr, top_db=40, margin=0.0)
    assert e <= len(speech) + int(0.03 * sr), e / sr
    # with the anchor rule off, the breath would set the end
    _, e_all = speech_bounds(wav, sr, top_db=40, margin=0.0, anchor_db=40)
    assert e_all > len(speech) + len(gap)


def test_silence_and_empty_input_are_kept_whole():
    assert speech_bounds(np.zeros(16000, dtype=np.float32), 16000) == (0, 16000)
    assert speech_bounds(np.zeros(0, dtype=np.float32), 16000) == (0, 0)


def test_trim_data_dir_writes_audio_durations_and_bounds(tmp_path, shared_data):
    from narspeech.audio.io import load_audio
    from narspeech.data.subset import choose  # noqa: F401 (the data dir is a real one)
    from narspeech.fileio import read_table
    import subprocess
    import sys

    src = tmp_path / "src"
    subprocess.run([sys.executable, "-m", "narspeech", "data", "subset", str(shared_data / "arctic_fb" / "test"), str(src),
                    "--first", "3"], check=True, capture_output=True)
    scp = read_table(src / "wav.scp")
    for u, p in list(scp.items()):  # the subset keeps relative paths: make them absolute for this copy
        if not p.startswith("/"):
            scp[u] = str(shared_data / "arctic_fb" / p)
    (src / "wav.scp").write_text("".join(f"{u} {p}\n" for u, p in scp.items()))
    out = tmp_path / "out"
    res = trim_data_dir(src, out, top_db=40, margin=0.05, jobs=1)
    bounds = read_table(out / "trim")
    dur = read_table(out / "utt2dur")
    assert sorted(bounds) == sorted(scp) == sorted(res.bounds)
    for u, p in read_table(out / "wav.scp").items():
        wav, sr = load_audio(p)
        s, e, d = map(float, bounds[u].split())
        assert 0 <= s < e <= d
        assert abs(len(wav) / sr - (e - s)) < 1e-3
        assert abs(float(dur[u]) - len(wav) / sr) < 1e-3
        orig, _ = load_audio(scp[u])
        assert len(wav) < len(orig)  # arctic_fb carries silent edges
    assert read_table(out / "text") == read_table(src / "text")
    with pytest.raises(Exception):
        trim_data_dir(src, src)
