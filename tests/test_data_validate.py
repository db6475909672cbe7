"""`narspeech data validate` catches each class of bad input with a one-line message naming utt and file."""
from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from narspeech.data.validate import validate_data_dir
from tests.test_data_import import run_cli


def make_dir(root, n=4, sr=16000):
    """A valid data dir of n short tones, two speakers."""
    d = root / "data"
    d.mkdir(parents=True, exist_ok=True)
    wav, text, u2s = [], [], []
    for i in range(n):
        spk = "a" if i < n // 2 else "b"
        utt = f"{spk}-{i:02d}"
        p = root / f"{utt}.wav"
        t = np.arange(int(sr * (0.5 + 0.1 * i))) / sr
        sf.write(p, 0.3 * np.sin(2 * np.pi * 220 * t), sr, subtype="PCM_16")
        wav.append(f"{utt} {p}")
        text.append(f"{utt} word number {i}")
        u2s.append(f"{utt} {spk}")
    (d / "wav.scp").write_text("\n".join(wav) + "\n")
    (d / "text").write_text("\n".join(text) + "\n")
    (d / "utt2spk").write_text("\n".join(u2s) + "\n")
    (d / "spk2utt").write_text("a a-00 a-01\nb b-02 b-03\n")
    return d


def test_valid_dir_summary(tmp_path, monkeypatch, capsys):
    d = make_dir(tmp_path)
    rep = validate_data_dir(d)
    assert rep.ok, rep.problems
    assert rep.audio.count == 4 and rep.audio.rates == {16000: 4}
    assert rep.audio.min_seconds == pytest.approx(0.5) and rep.audio.max_seconds == pytest.approx(0.8)
    assert rep.audio.total_seconds == pytest.approx(0.5 + 0.6 + 0.7 + 0.8)
    code, out, err = run_cli(["data", "validate", d], monkeypatch, capsys)
    assert code == 0 and "4 utterances" in out and "16000 Hz (4)" in out and out.strip().endswith("ok")


def _corrupt(d, tmp_path):
    (tmp_path / "a-01.wav").write_bytes(b"RIFF\x00\x00garbage" * 10)


def _empty_audio(d, tmp_path):
    (tmp_path / "a-01.wav").write_bytes(b"")


def _missing_audio(d, tmp_path):
    (tmp_path / "a-01.wav").unlink()


def _empty_text(d, tmp_path):
    (d / "text").write_text((d / "text").read_text().replace("a-01 word number 1", "a-01"))


def _dup_id(d, tmp_path):
    lines = (d / "text").read_text().splitlines()
    (d / "text").write_text("\n".join(lines[:2] + ["a-01 again"] + lines[2:]) + "\n")


def _unsorted(d, tmp_path):
    lines = (d / "utt2spk").read_text().splitlines()
    lines[1], lines[2] = lines[2], lines[1]
    (d / "utt2spk").write_text("\n".join(lines) + "\n")


def _missing_from_text(d, tmp_path):
    (d / "text").write_text("".join(l + "\n" for l in (d / "text").read_text().splitlines() if not l.startswith("a-01")))


@pytest.mark.parametrize("breaker, file, message", [
    (_corrupt, "a-01.wav", "cannot"),
    (_empty_audio, "a-01.wav", "audio file is empty"),
    (_missing_audio, "a-01.wav", "audio file not found"),
    (_empty_text, "text", "empty transcript"),
    (_dup_id, "text", "duplicated id"),
    (_unsorted, "utt2spk", "not sorted"),
    (_missing_from_text, "text", "missing from this file"),
])
def test_each_bad_input_is_reported(tmp_path, monkeypatch, capsys, breaker, file, message):
    d = make_dir(tmp_path)
    breaker(d, tmp_path)
    code, out, err = run_cli(["data", "validate", d], monkeypatch, capsys)
    assert code != 0 and "Traceback" not in err
    lines = [l for l in err.splitlines() if message in l]
    assert len(lines) == 1, err
    assert "utterance a-01" in lines[0] and file in lines[0]
    assert err.splitlines()[-1].startswith("error:") and "problem(s) found" in err.splitlines()[-1]


def test_spk2utt_mismatch_speaker_order_and_token_coverage(tmp_path):
    d = make_dir(tmp_path)
    (d / "spk2utt").write_text("a a-00\nb a-01 b-02 b-03\n")
    (d / "token").write_text("a-00 w o r d\nb-02 w o r d\n")
    rep = validate_data_dir(d, audio=False)
    assert any("spk2utt" in p and "speaker a disagrees" in p for p in rep.problems)
    assert any("token" in p and "utterance a-01: utterance has no tokens" in p for p in rep.problems)
    assert any("utterance b-03" in p for p in rep.problems)
    # utterances sorted by id but not by speaker: Kaldi's prefix rule
    (d / "utt2spk").write_text("a-00 z\na-01 a\nb-02 b\nb-03 b\n")
    (d / "spk2utt").write_text("a a-01\nb b-02 b-03\nz a-00\n")
    (d / "token").unlink()
    rep = validate_data_dir(d, audio=False)
    assert len(rep.problems) == 1 and "not sorted by speaker" in rep.problems[0] and "utterance a-01" in rep.problems[0]


def test_sample_rate_check(tmp_path):
    d = make_dir(tmp_path)
    rep = validate_data_dir(d, expect_rate=22050, decode=False)
    assert len(rep.problems) == 1 and "16000 Hz" in rep.problems[0] and "expected 22050" in rep.problems[0]


def test_utt2dur_must_match_audio(tmp_path):
    d = make_dir(tmp_path)
    (d / "utt2dur").write_text("a-00 0.5\na-01 0.6\nb-02 0.9\nb-03 0.8\n")
    rep = validate_data_dir(d)
    assert len(rep.problems) == 1 and "utt2dur" in rep.problems[0] and "utterance b-02" in rep.problems[0]
