"""`data combine` / `feats combine`: a corpus plus another (e.g. synthetic) one as one training set."""
from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from narspeech.errors import NarspeechError


def make_dir(root, name, utts, spk, gender="f", extra=True):
    d = root / name
    d.mkdir()
    rows = {"wav.scp": {}, "text": {}, "utt2spk": {}, "token": {}}
    for i, u in enumerate(utts):
        wav = root / f"{u}.wav"
        sf.write(wav, (0.1 * np.sin(np.arange(4000) * (0.05 + 0.01 * i))).astype(np.float32), 16000)
        rows["wav.scp"][u], rows["text"][u], rows["utt2spk"][u], rows["token"][u] = str(wav), f"word {i}", spk, "w o"
    if extra:
        rows["utt2dur"] = {u: "0.25" for u in utts}
    rows["spk2gender"] = {spk: gender}
    rows["spk2utt"] = {spk: " ".join(utts)}
    for fname, table in rows.items():
        (d / fname).write_text("".join(f"{k} {v}\n" for k, v in sorted(table.items())))
    return d


def test_combine_data_dirs(tmp_path):
    from narspeech.data.combine import combine_data_dirs

    a = make_dir(tmp_path, "a", ["a1", "a2"], "sa")
    b = make_dir(tmp_path, "b", ["b1"], "sb", extra=False)
    dd, dropped = combine_data_dirs([a, b])
    assert dd.utts == ["a1", "a2", "b1"] and dd.utt2spk["b1"] == "sb" and dd.text["a2"] == "word 1"
    assert set(dd.extra_utt) == {"token"} and dropped == ["utt2dur"]  # only a has durations: they cannot cover b1
    assert dd.extra_spk["spk2gender"] == {"sa": "f", "sb": "f"}
    with pytest.raises(NarspeechError, match="utterance a1 is in both"):
        combine_data_dirs([a, make_dir(tmp_path, "c", ["a1"], "sc")])
    with pytest.raises(NarspeechError, match="speaker sa .*different values"):
        combine_data_dirs([a, make_dir(tmp_path, "d", ["d1"], "sa", gender="m")])


def test_combine_dumps(tmp_path):
    from narspeech.audio.dump import read_dump
    from narspeech.audio.extract import extract_dump
    from narspeech.data.combine import combine_dumps

    cfg = {"sample_rate": 16000, "n_fft": 512, "hop_length": 160, "win_length": 400, "n_mels": 20, "fmax": 8000}
    a, b = make_dir(tmp_path, "a", ["a1", "a2"], "sa"), make_dir(tmp_path, "b", ["b1"], "sb")
    for d in (a, b):
        extract_dump(d, tmp_path / f"dump_{d.name}", cfg, device="cpu", jobs=0)
    assert combine_dumps([tmp_path / "dump_a", tmp_path / "dump_b"], tmp_path / "both") == 3
    both, one = read_dump(tmp_path / "both"), read_dump(tmp_path / "dump_b")
    assert both.utts == ["a1", "a2", "b1"] and both.num_frames["b1"] == one.num_frames["b1"]
    np.testing.assert_array_equal(both.feats["b1"], one.feats["b1"])
    extract_dump(b, tmp_path / "dump_40", {**cfg, "n_mels": 40}, device="cpu", jobs=0)
    with pytest.raises(NarspeechError, match="feature config differs.*n_mels"):
        combine_dumps([tmp_path / "dump_a", tmp_path / "dump_40"], tmp_path / "bad")
    with pytest.raises(NarspeechError, match="utterance b1 is in both"):
        combine_dumps([tmp_path / "dump_b", tmp_path / "both"], tmp_path / "bad")
