"""`feats extract` end to end on real audio: round trip through the dump, bad input, rates."""
from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import yaml

from narspeech.audio.dump import read_dump
from narspeech.audio.extract import extract_dump
from narspeech.audio.features import FeatureConfig
from narspeech.errors import NarspeechError

UTTS = ("arctic_a0003", "arctic_a0005", "arctic_a0007", "arctic_b0004")


def _data_dir(path, entries: dict[str, str]):
    path.mkdir(parents=True, exist_ok=True)
    (path / "wav.scp").write_text("".join(f"{u} {e}\n" for u, e in sorted(entries.items())))
    return path


@pytest.fixture(scope="module")
def arctic_entries(shared_data):
    return {u: str(shared_data / "arctic_fb" / "flac" / f"{u}.flac") for u in UTTS}


@pytest.fixture(scope="module")
def arctic_dump(tmp_path_factory, arctic_entries):
    root = tmp_path_factory.mktemp("extract")
    data = _data_dir(root / "data", arctic_entries)
    res = extract_dump(data, root / "dump", None, device="cpu", jobs=0)
    return res, root / "dump"


def test_round_trip(arctic_dump, arctic_entries):
    res, dump_dir = arctic_dump
    assert res.num_utts == len(UTTS) and not res.skipped
    d = read_dump(dump_dir)
    assert d.utts == sorted(UTTS)
    cfg = d.config
    assert cfg.to_dict() == FeatureConfig.for_rate(16000).to_dict()  # the first file's rate chose the defaults
    saved = yaml.safe_load((dump_dir / "feats.yaml").read_text())
    assert saved["sample_rate"] == 16000 and saved["hop_length"] == 200 and saved["f0_method"] == "pyin"
    total = 0.0
    for utt in UTTS:
        n = sf.info(arctic_entries[utt]).frames
        t = 1 + n // cfg.hop_length
        assert d.num_frames[utt] == t
        mel, f0, en = d.feats[utt], d.f0[utt], d.energy[utt]
        assert mel.shape == (t, cfg.n_mels) and f0.shape == (t,) and en.shape == (t,)
        assert mel.dtype == f0.dtype == en.dtype == np.float32
        assert mel.min() >= np.log(cfg.mel_floor) - 1e-6
        voiced = f0[f0 > 0]
        assert 0.1 < len(voiced) / t < 0.9 and 70 < np.median(voiced) < 180  # an adult male voice
        assert (en[f0 > 0].mean() > en[f0 == 0].mean())  # voiced frames are louder
        total += n / 16000
    assert res.audio_seconds == pytest.approx(total)
    # the scp lines are sorted and point into the final ark (no temporary names)
    lines = (dump_dir / "feats.scp").read_text().splitlines()
    assert [ln.split()[0] for ln in lines] == sorted(UTTS)
    assert all(ln.split()[1].rsplit(":", 1)[0] == str((dump_dir / "feats.ark").resolve()) for ln in lines)
    assert not list(dump_dir.glob(".*tmp*"))


def test_workers_give_the_same_dump(arctic_dump, tmp_path, arctic_entries):
    _, ref_dir = arctic_dump
    data = _data_dir(tmp_path / "data", arctic_entries)
    extract_dump(data, tmp_path / "dump", None, device="cpu", jobs=2, batch_seconds=6.0)  # several small batches
    a, b = read_dump(ref_dir), read_dump(tmp_path / "dump")
    for utt in UTTS:
        np.testing.assert_allclose(a.feats[utt], b.feats[utt], atol=1e-4)
        np.testing.assert_allclose(a.f0[utt], b.f0[utt], atol=1e-2)
        np.testing.assert_allclose(a.energy[utt], b.energy[utt], rtol=1e-4)


def test_moved_dump_is_still_readable(arctic_dump, tmp_path):
    import shutil

    _, dump_dir = arctic_dump
    moved = tmp_path / "moved"
    shutil.copytree(dump_dir, moved)
    d = read_dump(moved)
    assert d.feats[UTTS[0]].shape[1] == 80


def test_read_dump_checks_consistency(arctic_dump, tmp_path):
    import shutil

    _, dump_dir = arctic_dump
    broken = tmp_path / "broken"
    shutil.copytree(dump_dir, broken)
    lines = (broken / "f0.scp").read_text().splitlines()
    (broken / "f0.scp").write_text("\n".join(lines[1:]) + "\n")
    with pytest.raises(NarspeechError, match=f"f0.scp.*{UTTS[0]}.*missing"):
        read_dump(broken)


def _bad_files(tmp_path, good: str):
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF\x10\x00\x00\x00WAVEfmt " + bytes(range(256)) * 4)
    return {"a_good": good, "b_missing": str(tmp_path / "nope.flac"), "c_empty": str(empty), "d_corrupt": str(corrupt)}


@pytest.mark.parametrize("bad", ["b_missing", "c_empty", "d_corrupt"])
def test_bad_audio_names_utterance_and_file(tmp_path, arctic_entries, bad):
    entries = _bad_files(tmp_path, arctic_entries[UTTS[0]])
    data = _data_dir(tmp_path / "data", {"a_good": entries["a_good"], bad: entries[bad]})
    with pytest.raises(NarspeechError) as err:
        extract_dump(data, tmp_path / "dump", None, device="cpu", jobs=0)
    assert err.value.utt == bad and entries[bad] in str(err.value)
    assert not (tmp_path / "dump" / "feats.scp").exists()


def test_skip_bad_goes_on_and_lists_skipped(tmp_path, arctic_entries):
    entries = _bad_files(tmp_path, arctic_entries[UTTS[0]])
    data = _data_dir(tmp_path / "data", entries)
    res = extract_dump(data, tmp_path / "dump", None, device="cpu", jobs=0, skip_bad=True)
    assert res.num_utts == 1 and sorted(res.skipped) == ["b_missing", "c_empty", "d_corrupt"]
    skipped = (tmp_path / "dump" / "skipped").read_text()
    assert "b_missing" in skipped and "not found" in skipped and "c_empty" in skipped
    assert read_dump(tmp_path / "dump").utts == ["a_good"]


def test_rates_resample_upsample_rule_and_minimum(tmp_path, arctic_entries):
    from narspeech.audio.io import load_audio, write_wav

    wav, _ = load_audio(arctic_entries[UTTS[1]])
    write_wav(tmp_path / "x8k.wav", wav[::2].copy(), 8000)  # crude, only the header rate matters here
    write_wav(tmp_path / "x6k.wav", wav[: 6000], 6000)
    src = arctic_entries[UTTS[1]]
    n16 = sf.info(src).frames

    # 16 kHz file in a 22.05 kHz setup: upsampling is fine, its band covers fmax = 8 kHz
    data = _data_dir(tmp_path / "d1", {"u16": src})
    extract_dump(data, tmp_path / "o1", {"sample_rate": 22050}, device="cpu", jobs=0)
    d = read_dump(tmp_path / "o1")
    n22 = int(np.ceil(n16 * 22050 / 16000))
    assert d.config.hop_length == 256 and d.num_frames["u16"] == 1 + n22 // 256

    # an 8 kHz file cannot fill a 0-8 kHz mel range at 16 kHz
    data = _data_dir(tmp_path / "d2", {"a16": src, "b8": str(tmp_path / "x8k.wav")})
    with pytest.raises(NarspeechError, match="cannot be upsampled") as err:
        extract_dump(data, tmp_path / "o2", None, device="cpu", jobs=0)
    assert err.value.utt == "b8"
    # ... but downsampling to its rate is fine
    extract_dump(data, tmp_path / "o3", {"sample_rate": 8000}, device="cpu", jobs=0)
    assert read_dump(tmp_path / "o3").config.fmax == 4000

    data = _data_dir(tmp_path / "d4", {"c6": str(tmp_path / "x6k.wav")})
    with pytest.raises(NarspeechError, match="below the supported minimum"):
        extract_dump(data, tmp_path / "o4", None, device="cpu", jobs=0)


def test_cli_extract_and_stats(tmp_path, arctic_entries, capsys, monkeypatch):
    """Through the console entry point: options, outputs, and a one-line error for bad input."""
    import sys

    from narspeech.cli.main import main

    data = _data_dir(tmp_path / "data", {u: arctic_entries[u] for u in UTTS[:2]})
    conf = tmp_path / "feats.yaml"
    conf.write_text("n_mels: 64\nfmax: 7600\n")
    monkeypatch.setattr(sys, "argv", ["narspeech", "feats", "extract", str(data), str(tmp_path / "dump"), "--config", str(conf),
                                      "--set", "hop_length=256", "--device", "cpu", "--jobs", "1"])
    with pytest.raises(SystemExit) as ex:
        main()
    assert ex.value.code in (0, None)
    d = read_dump(tmp_path / "dump")
    assert (d.config.n_mels, d.config.hop_length, d.config.fmax) == (64, 256, 7600.0)
    assert d.feats[UTTS[0]].shape[1] == 64
    monkeypatch.setattr(sys, "argv", ["narspeech", "feats", "stats", str(tmp_path / "dump")])
    with pytest.raises(SystemExit) as ex:
        main()
    assert ex.value.code in (0, None)
    assert (tmp_path / "dump" / "stats.npz").is_file()

    (data / "wav.scp").write_text(f"{UTTS[0]} {tmp_path / 'missing.flac'}\n")
    monkeypatch.setattr(sys, "argv", ["narspeech", "feats", "extract", str(data), str(tmp_path / "dump2"), "--device", "cpu"])
    capsys.readouterr()
    with pytest.raises(SystemExit) as ex:
        main()
    assert ex.value.code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and UTTS[0] in err[0] and "missing.flac" in err[0]


def test_pipe_entries_give_the_same_features(arctic_dump, tmp_path, arctic_entries):
    _, ref_dir = arctic_dump
    utt = UTTS[2]
    data = _data_dir(tmp_path / "data", {utt: f"cat {arctic_entries[utt]} |"})
    extract_dump(data, tmp_path / "dump", None, device="cpu", jobs=0)
    np.testing.assert_array_equal(read_dump(tmp_path / "dump").feats[utt], read_dump(ref_dir).feats[utt])
