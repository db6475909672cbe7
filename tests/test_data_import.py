"""Corpus importers on real data in each corpus' own layout (shared/data, or a copy made in tmp_path)."""
from __future__ import annotations

import shutil
import sys

import numpy as np
import pytest
import soundfile as sf

from narspeech.data.arctic import import_arctic, parse_prompts
from narspeech.data.datadir import read_data_dir, speaker_order_consistent, write_data_dir
from narspeech.data.kaldi import import_kaldi
from narspeech.data.librispeech import import_librispeech
from narspeech.data.ljspeech import import_ljspeech
from narspeech.errors import NarspeechError


def run_cli(args, monkeypatch, capsys):
    """Run the real console entry point in-process; returns (exit code, stdout, stderr)."""
    from narspeech.cli.main import main

    monkeypatch.setattr(sys, "argv", ["narspeech", *map(str, args)])
    code = 0
    try:
        main()
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    out = capsys.readouterr()
    return code, out.out, out.err


def make_arctic(root, shared, ids, spk="fb"):
    """A CMU ARCTIC speaker folder (wav/*.wav + etc/txt.done.data) from arctic_fb flac files."""
    d = root / f"cmu_us_{spk}_arctic"
    (d / "wav").mkdir(parents=True)
    (d / "etc").mkdir()
    text = dict(line.split(" ", 1) for line in (shared / "arctic_fb/test/text").read_text().splitlines())
    lines = []
    for utt in ids:
        wav, sr = sf.read(shared / f"arctic_fb/flac/{utt}.flac")
        sf.write(d / "wav" / f"{utt}.wav", wav, sr, subtype="PCM_16")
        lines.append(f'( {utt} "{text[utt]}" )')
    (d / "etc/txt.done.data").write_text("\n".join(lines) + "\n")
    return d


def test_ljspeech_takes_normalized_text_and_wav_twins_only(shared_data, tmp_path):
    res = import_ljspeech(shared_data / "ljspeech_sample/LJSpeech-1.1")
    dd = res.data
    assert len(dd) == 32 and not res.skipped
    assert all(v.endswith(f"/wavs/{u}.wav") and v.startswith("/") for u, v in dd.wav_scp.items())
    meta = {l.split("|")[0]: l.split("|")[2] for l in (shared_data / "ljspeech_sample/LJSpeech-1.1/metadata.csv").read_text().splitlines()}
    assert all(dd.text[u] == " ".join(meta[u].split()) for u in dd.utts)
    assert set(dd.utt2spk.values()) == {"LJ"}
    write_data_dir(tmp_path / "lj", dd)
    assert read_data_dir(tmp_path / "lj").wav_scp == dd.wav_scp
    assert (tmp_path / "lj/spk2utt").read_text().split() == ["LJ", *dd.utts]


def _lj_copy(shared_data, tmp_path, drop):
    src = tmp_path / "LJSpeech-1.1"
    (src / "wavs").mkdir(parents=True)
    lines = (shared_data / "ljspeech_sample/LJSpeech-1.1/metadata.csv").read_text().splitlines()[:4]
    (src / "metadata.csv").write_text("\n".join(lines) + "\n")
    for line in lines:
        utt = line.split("|")[0]
        if utt != drop:
            shutil.copy(shared_data / f"ljspeech_sample/LJSpeech-1.1/wavs/{utt}.wav", src / "wavs")
    return src


def test_ljspeech_missing_wav_error_and_skip_bad(shared_data, tmp_path, monkeypatch, capsys):
    src = _lj_copy(shared_data, tmp_path, drop="LJ001-0002")
    with pytest.raises(NarspeechError, match=r"LJ001-0002\.wav: utterance LJ001-0002: audio file not found"):
        import_ljspeech(src)
    code, _, err = run_cli(["data", "import", "ljspeech", src, tmp_path / "out"], monkeypatch, capsys)
    assert code == 1 and "Traceback" not in err
    assert err.strip().count("\n") == 0 and "LJ001-0002" in err and "LJ001-0002.wav" in err
    assert not (tmp_path / "out/wav.scp").exists()
    code, _, err = run_cli(["data", "import", "ljspeech", src, tmp_path / "out", "--skip-bad"], monkeypatch, capsys)
    assert code == 0 and "skipped:" in err and "LJ001-0002" in err
    assert read_data_dir(tmp_path / "out").utts == ["LJ001-0001", "LJ001-0003", "LJ001-0004"]


def test_librispeech_subset_dir_and_root(shared_data):
    a = import_librispeech(shared_data / "librispeech_sample/LibriSpeech/test-clean").data
    b = import_librispeech(shared_data / "librispeech_sample", subsets=["test-clean"]).data
    assert a.utts == b.utts == ["1089-134686-0000", "1089-134686-0001", "1089-134691-0000", "1089-134691-0001"]
    assert a.text["1089-134691-0000"] == "HE COULD WAIT NO LONGER"
    assert set(a.utt2spk.values()) == {"1089"} and a.wav_scp["1089-134686-0001"].endswith("134686/1089-134686-0001.flac")
    with pytest.raises(NarspeechError, match="--subset"):
        import_librispeech(shared_data / "librispeech_sample/LibriSpeech")
    with pytest.raises(NarspeechError, match="train-clean-100"):
        import_librispeech(shared_data / "librispeech_sample", subsets=["train-clean-100"])


def test_arctic_real_layout_two_speakers(shared_data, tmp_path):
    ids = ["arctic_b0251", "arctic_b0252", "arctic_b0253"]
    make_arctic(tmp_path, shared_data, ids, spk="fb")
    make_arctic(tmp_path, shared_data, ids[:2], spk="ab")
    res = import_arctic(tmp_path)
    dd = res.data
    assert dd.utts == ["ab-arctic_b0251", "ab-arctic_b0252", "fb-arctic_b0251", "fb-arctic_b0252", "fb-arctic_b0253"]
    assert dd.text["fb-arctic_b0253"] == "The very opposite is true; they are discouraged vagabonds"
    assert speaker_order_consistent(dd.utt2spk) and dd.spk2utt["ab"] == "ab-arctic_b0251 ab-arctic_b0252"
    one = import_arctic(tmp_path / "cmu_us_fb_arctic").data
    assert len(one) == 3 and set(one.utt2spk.values()) == {"fb"}


def test_arctic_prompt_parsing_and_missing_wav(shared_data, tmp_path):
    d = make_arctic(tmp_path, shared_data, ["arctic_b0251"])
    (d / "etc/txt.done.data").write_text('( arctic_a0001 "Author of the danger trail, Philip Steels, etc." )\n' +
                                         (d / "etc/txt.done.data").read_text())
    assert parse_prompts(d / "etc/txt.done.data")[0] == ("arctic_a0001", "Author of the danger trail, Philip Steels, etc.")
    with pytest.raises(NarspeechError, match=r"arctic_a0001\.wav: utterance fb-arctic_a0001: audio file not found"):
        import_arctic(d)
    res = import_arctic(d, skip_bad=True)
    assert res.data.utts == ["fb-arctic_b0251"] and [s.utt for s in res.skipped] == ["fb-arctic_a0001"]


def test_kaldi_import_resolves_relative_paths(shared_data, tmp_path, monkeypatch, capsys):
    src = shared_data / "arctic_fb/test"
    dd = import_kaldi(src).data  # default base: the dir's parent holds flac/
    assert len(dd) == 50 and dd.wav_scp["arctic_b0251"] == str(shared_data.absolute() / "arctic_fb/flac/arctic_b0251.flac")
    code, _, err = run_cli(["data", "import", "kaldi", src, tmp_path / "t", "--base", shared_data / "arctic_fb"], monkeypatch, capsys)
    assert code == 0, err
    out = read_data_dir(tmp_path / "t")
    assert out.wav_scp == dd.wav_scp and out.text == dd.text
    assert (tmp_path / "t/spk2utt").read_text().split()[0] == "fb"


def test_kaldi_import_sorts_and_prefixes_speakers(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for u in ("x1", "x2", "x3"):
        sf.write(tmp_path / f"{u}.wav", np.zeros(1600, dtype=np.float32) + 0.1, 16000)
    (src / "wav.scp").write_text("x3 x3.wav\nx1 x1.wav\nx2 x2.wav\n")
    (src / "text").write_text("x1 one\nx2 two\nx3 three\n")
    (src / "utt2spk").write_text("x1 bob\nx2 al\nx3 bob\n")  # sorted by utt, not by speaker
    dd = import_kaldi(src).data
    assert dd.utts == ["al-x2", "bob-x1", "bob-x3"] and speaker_order_consistent(dd.utt2spk)
    assert dd.text["bob-x3"] == "three" and dd.wav_scp["al-x2"] == str(tmp_path.absolute() / "x2.wav")


def test_kaldi_import_derives_utt2spk_from_spk2utt(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    sf.write(tmp_path / "x1.wav", np.zeros(1600, dtype=np.float32) + 0.1, 16000)
    (src / "wav.scp").write_text(f"s-x1 {tmp_path / 'x1.wav'}\n")
    (src / "text").write_text("s-x1 one\n")
    (src / "spk2utt").write_text("s s-x1\n")
    assert import_kaldi(src).data.utt2spk == {"s-x1": "s"}
    (src / "spk2utt").unlink()
    with pytest.raises(NarspeechError, match="utt2spk: file not found"):
        import_kaldi(src)
