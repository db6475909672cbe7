"""Multi-speaker corpora: the VCTK 0.92 and LibriTTS(-R) importers and their recipes' stage 1, on small copies in
the corpora's real layouts made from real recordings (the multispeaker set), and the multispeaker recipe's stage 1."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from narspeech.errors import NarspeechError
from narspeech.fileio import read_table

ROOT = Path(__file__).resolve().parent.parent


def _recordings(shared, n_per_spk: int):
    """(speaker, utt, samples, rate) of the first utterances of two real speakers."""
    src = shared / "multispeaker" / "test"
    scp, u2s, text = read_table(src / "wav.scp"), read_table(src / "utt2spk"), read_table(src / "text")
    out = []
    for spk in ("f0001", "m0002"):
        for utt in sorted(u for u in scp if u2s[u] == spk)[:n_per_spk]:
            wav, sr = sf.read(shared / "multispeaker" / scp[utt], dtype="float32")
            out.append((spk, utt, wav, sr, text[utt]))
    return out


def make_vctk(root: Path, shared) -> Path:
    """VCTK-Corpus-0.92: wav48_silence_trimmed/<spk>/<spk>_<n>_mic{1,2}.flac, txt/<spk>/<spk>_<n>.txt, speaker-info.txt;
    p225_003 lacks mic2 (as p280/p362 do), p315 has recordings and no txt (as released)."""
    corpus = root / "VCTK-Corpus-0.92"
    rec = _recordings(shared, 3)
    for (spk_src, _, wav, sr, text), i in zip(rec, range(len(rec))):
        spk = "p225" if spk_src == "f0001" else "p226"
        n = i % 3 + 1
        (corpus / "wav48_silence_trimmed" / spk).mkdir(parents=True, exist_ok=True)
        (corpus / "txt" / spk).mkdir(parents=True, exist_ok=True)
        for mic in ("mic1", "mic2"):
            if not (spk == "p225" and n == 3 and mic == "mic2"):
                sf.write(corpus / "wav48_silence_trimmed" / spk / f"{spk}_{n:03d}_{mic}.flac", wav, sr)
        (corpus / "txt" / spk / f"{spk}_{n:03d}.txt").write_text(text + "\n")
    (corpus / "wav48_silence_trimmed" / "p315").mkdir()
    sf.write(corpus / "wav48_silence_trimmed" / "p315" / "p315_001_mic2.flac", rec[0][2], rec[0][3])
    sf.write(corpus / "wav48_silence_trimmed" / "p315" / "p315_001_mic1.flac", rec[0][2], rec[0][3])
    (corpus / "speaker-info.txt").write_text("ID  AGE  GENDER  ACCENTS  REGION COMMENTS \n"
                                             "p225  23  F    English    Southern  England\n"
                                             "p226  22  M    English    Surrey\n"
                                             "p315  18  M    American    Connecticut  (Text missing)\n")
    return corpus


def make_libritts(root: Path, shared, name: str = "LibriTTS_R") -> Path:
    """<name>/<subset>/<spk>/<chapter>/<spk>_<chapter>_<para>_<sent>.wav + .normalized.txt + .original.txt,
    speakers.tsv; speakers 84 and 840 (sorting utterance ids would not group them), one wav without text."""
    corpus = root / name
    rec = _recordings(shared, 3)
    for (spk_src, _, wav, sr, text), i in zip(rec, range(len(rec))):
        subset = "train-clean-100" if i % 3 < 2 else "test-clean"
        spk, chapter = ("84", "121123") if spk_src == "f0001" else ("840", "5543")
        d = corpus / subset / spk / chapter
        d.mkdir(parents=True, exist_ok=True)
        stem = f"{spk}_{chapter}_{i:06d}_000000"
        sf.write(d / f"{stem}.wav", wav, sr)
        (d / f"{stem}.normalized.txt").write_text(text.capitalize() + "\n")
        (d / f"{stem}.original.txt").write_text(text.upper() + "\n")
    lost = corpus / "train-clean-100" / "84" / "121123" / "84_121123_000099_000000.wav"
    sf.write(lost, rec[0][2], rec[0][3])
    (corpus / "speakers.tsv").write_text("READER\tGENDER\tSUBSET\tNAME\n84\tF\ttrain-clean-100\tChristie\n"
                                         "840\tM\ttrain-clean-100\tSomeone\n")
    return corpus


def test_vctk_one_microphone_both_and_what_the_release_lacks(shared_data, tmp_path):
    from narspeech.data.vctk import import_vctk

    corpus = make_vctk(tmp_path, shared_data)
    r = import_vctk(corpus, mic="mic2")
    assert sorted(r.data.wav_scp) == ["p225_001", "p225_002", "p226_001", "p226_002", "p226_003"]
    assert r.data.wav_scp["p226_001"].endswith("p226_001_mic2.flac") and r.data.utt2spk["p226_001"] == "p226"
    assert r.data.extra_spk["spk2gender"] == {"p225": "f", "p226": "m"}
    reasons = {s.utt: s.reason for s in r.skipped}
    assert "without a recording" in reasons["p225_003"] and "without a transcript" in reasons["p315_001"]
    r1 = import_vctk(corpus, mic="mic1", speakers=["p225"])
    assert sorted(r1.data.wav_scp) == ["p225_001", "p225_002", "p225_003"]
    both = import_vctk(corpus, mic="both")
    assert "p225_001_mic1" in both.data.wav_scp and "p225_001_mic2" in both.data.wav_scp and len(both.data) == 11
    with pytest.raises(NarspeechError, match="--mic must be"):
        import_vctk(corpus, mic="mic3")
    with pytest.raises(NarspeechError, match="not a VCTK 0.92 folder"):
        import_vctk(tmp_path)


def test_libritts_subsets_texts_and_speaker_order(shared_data, tmp_path):
    from narspeech.data.libritts import import_libritts
    from narspeech.data.datadir import speaker_order_consistent

    corpus = make_libritts(tmp_path, shared_data)
    r = import_libritts(tmp_path, subsets=["train-clean-100"])
    assert len(r.data) == 4 and set(r.data.utt2spk.values()) == {"84", "840"}
    assert speaker_order_consistent(r.data.utt2spk)  # 840_… sorts before 84_…: ids were prefixed
    assert [s.reason for s in r.skipped] == ["no normalized text (as released)"]
    assert r.data.extra_spk["spk2gender"] == {"84": "f", "840": "m"}
    first = sorted(r.data.text.items())[0][1]
    assert first[0].isupper() and not first.isupper()  # the normalized text
    orig = import_libritts(corpus / "train-clean-100", text_kind="original")
    assert all(t.isupper() for t in orig.data.text.values())
    with pytest.raises(NarspeechError, match="LibriTTS root with subsets test-clean, train-clean-100"):
        import_libritts(corpus)
    with pytest.raises(NarspeechError, match="subset 'dev-clean' not found"):
        import_libritts(corpus, subsets=["dev-clean"])


def _recipe_copy(tmp_path, corpus: str) -> Path:
    for part in ("recipes", f"egs/{corpus}/tts1"):
        shutil.copytree(ROOT / part, tmp_path / "repo" / part, ignore=shutil.ignore_patterns("data", "dump", "exp", "downloads"),
                        dirs_exist_ok=True)
    return tmp_path / "repo" / "egs" / corpus / "tts1"


def _env():
    return {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", "NARSPEECH_PROGRESS": "0"}


def test_vctk_and_libritts_recipes_stage_1(shared_data, tmp_path):
    vctk = make_vctk(tmp_path, shared_data)
    egs = _recipe_copy(tmp_path, "vctk")
    r = subprocess.run(["bash", "local/data.sh", "--corpus_dir", str(vctk), "--n_dev", "1", "--n_test", "1"], cwd=egs, env=_env(),
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert [len(read_table(egs / "data" / s / "text")) for s in ("train", "dev", "test")] == [3, 1, 1]
    libri = make_libritts(tmp_path, shared_data)
    egs = _recipe_copy(tmp_path, "libritts")
    r = subprocess.run(["bash", "local/data.sh", "--corpus_dir", str(libri), "--train_subsets", "train-clean-100",
                        "--n_dev", "1", "--n_test", "1"],
                       cwd=egs, env=_env(), capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    sizes = {s: len(read_table(egs / "data" / s / "text")) for s in ("train", "dev", "test_seen", "test_unseen")}
    assert sizes == {"train": 2, "dev": 1, "test_seen": 1, "test_unseen": 2}, sizes


@pytest.mark.slow
def test_multispeaker_recipe_end_to_end(shared_data, tmp_path):
    """egs/multispeaker/tts1 on a tiny Kaldi copy (4 voices × 3 train, 1 test utterances), tiny model: every stage runs,
    the model has one vector per voice, syntheses keep each line's voice, stage 8 scores speakers."""
    src = shared_data / "multispeaker"
    tiny = tmp_path / "tiny"
    for part, n in (("train", 3), ("dev", 1), ("test", 1)):  # dev: a training sentence (its tokens are known)
        scp, u2s, text = (read_table(src / ("train" if part == "dev" else part) / f) for f in ("wav.scp", "utt2spk", "text"))
        utts = [u for s in sorted(set(u2s.values())) for u in sorted(x for x in scp if u2s[x] == s)[:n]]
        (tiny / part).mkdir(parents=True)
        for name, table in (("wav.scp", {u: str(src / scp[u]) for u in utts}), ("utt2spk", u2s), ("text", text)):
            (tiny / part / name).write_text("".join(f"{u} {table[u]}\n" for u in utts))
    for part in ("recipes", "tools", "egs/multispeaker/tts1"):
        shutil.copytree(ROOT / part, tmp_path / "repo" / part, ignore=shutil.ignore_patterns("data", "dump", "exp", "downloads"),
                        dirs_exist_ok=True)
    egs = tmp_path / "repo" / "egs/multispeaker/tts1"
    env = {**_env(), "NARSPEECH_VENV": str(tmp_path / "no-venv"), "OMP_NUM_THREADS": "1"}
    small = "--set train.max_steps=4 --set train.valid_interval=2 --set model.d_model=32 --set model.d_ff=64"
    r = subprocess.run(["./run.sh", "--src", str(tiny), "--nj", "1", "--fs_args", small, "--eval_asr", "none",
                        "--vocoder", "griffin-lim", "--bench_utts", "2", "--synth_batch_size", "4"],
                       cwd=egs, env=env, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    assert read_table(egs / "exp/fastspeech2/spk2sid") == {"f0001": "0", "f0002": "1", "m0002": "2", "m0005": "3"}
    assert read_table(egs / "exp/fastspeech2/synth/test/utt2spk") == read_table(egs / "data/test/utt2spk")
    import json

    sp = json.loads((egs / "exp/fastspeech2/synth/test/results.json").read_text())["speaker"]
    assert sorted(sp["per_speaker"]) == ["f0001", "f0002", "m0002", "m0005"] and sp["overall"]["id_acc_ref"] is not None
    assert "speakers (similarity" in (egs / "exp/headline_test.txt").read_text()
    assert json.loads((egs / "exp/speed_test.json").read_text())["rows"][0]["speakers"] == ["f0001", "f0002", "m0002", "m0005"]
