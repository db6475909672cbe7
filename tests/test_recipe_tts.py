"""The espeak TTS recipe, all stages, with tiny settings: proves the stage wiring (CLI options,
files passed between stages, re-running a finished stage) on a copy of the recipe in tmp."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_espeak_recipe_end_to_end(tmp_path, espeak):
    for part in ("recipes", "tools", "egs/espeak/tts1"):
        shutil.copytree(ROOT / part, tmp_path / part, ignore=shutil.ignore_patterns("data", "dump", "exp", "downloads"))
    egs = tmp_path / "egs/espeak/tts1"
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "NARSPEECH_VENV": str(tmp_path / "no-venv"), "NARSPEECH_PROGRESS": "0", "OMP_NUM_THREADS": "1"}
    tiny = "--set train.max_steps=6 --set train.valid_interval=3 --set model.d_model=32 --set model.d_ff=64"
    cmd = ["./run.sh", "--num_utts", "40", "--nj", "1", "--bench_utts", "2", "--synth_batch_size", "2",
           "--focus_threshold", "0", "--teacher_args", tiny, "--fs_args", tiny, "--teacher_seeds", "0 1"]
    r = subprocess.run(cmd, cwd=egs, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    for stage in range(1, 9):
        assert f"stage {stage}:" in r.stderr
    n_train = len((egs / "data/train/text").read_text().splitlines())
    n_test = len((egs / "data/test/text").read_text().splitlines())
    assert len((egs / "exp/teacher/durations/train/durations").read_text().splitlines()) == n_train
    assert len((egs / "exp/align/train/durations").read_text().splitlines()) == n_train  # the teacher-free reference
    quality = json.loads((egs / "exp/teacher/durations/train/quality.json").read_text())
    assert quality["n"] == n_train and quality["reference_agreement"]["n_utts"] > 0, quality
    assert (egs / "data/train_raw/wav.scp").is_file() and (egs / "data/train/trim").is_file()  # stage 1 trimmed
    for model in ("fastspeech2", "teacher"):
        synth = egs / f"exp/{model}/synth/test"
        wavs = list((synth / "wav").glob("*.wav"))
        assert wavs and all(w.stat().st_size > 44 for w in wavs)
        results = json.loads((synth / "results.json").read_text())
        # every test sentence is scored, or listed in `failed` (a 6-step teacher may stop at once)
        failed = {l.split()[0] for l in (synth / "failed").read_text().splitlines() if l.strip()}
        assert set(results["missing_synth"]) == failed and results["utterances"] + len(failed) == n_test
        assert results["utterances"] == len(wavs) and not results["synth_without_ref"]
        # scored against the recordings: finite, not 0 (a file against itself), not absurd (wrong scale or frames)
        mcd = results["mcd_db"]
        assert mcd["n"] == len(wavs) and 1.0 < mcd["mean"] < 40.0, mcd
        assert 0 < results["duration_ratio"]["mean"] < 20, results["duration_ratio"]
    headline = (egs / "exp/headline_test.txt").read_text()
    assert "fastspeech2" in headline and "teacher" in headline, headline
    # two synthesis seeds of the teacher: two draws, scored each, and their mean reported
    assert json.loads((egs / "exp/teacher/synth_seed1/test/synth_info.json").read_text())["seed"] == 1
    assert (egs / "exp/teacher/synth_seed1/test/results.json").is_file()
    assert "teacher/synth/test mean of 2 draws (seeds 0, 1)" in headline, headline
    synthesised = set.intersection(*({l.split()[0] for l in (egs / f"exp/{m}/synth/test/wav.scp").read_text().splitlines()}
                                     for m in ("fastspeech2", "teacher")))
    assert (egs / "exp/spectrograms_test.png").is_file() == bool(synthesised)  # stage 8 plots two sentences to look at
    speed = json.loads((egs / "exp/speed_test.json").read_text())
    rows = speed["rows"]
    assert sorted((r["model"], r["batch_size"]) for r in rows) == [("student", 1), ("student", 2), ("teacher", 1), ("teacher", 2)]
    for r in rows:
        assert r["sentences"] == 2 and r["audio_seconds"] > 0 and 0 < r["mel"]["mean"] < 60 and r["mel_rtf"] > 0, r
    assert [s["batch_size"] for s in speed["speedup"]] == [1, 2]
    assert all(s["mel"] > 0 for s in speed["speedup"])
    # the point of the recipe: per second of audio the non-autoregressive student outruns the AR teacher
    assert all(s["mel_rtf"] > 1.0 for s in speed["speedup"]), speed["speedup"]
    # every stage can be re-run: training resumes from last.pt and finds nothing left to do
    r = subprocess.run(["./run.sh", "--stage", "4", "--stop_stage", "4", "--teacher_args", tiny], cwd=egs, env=env,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    # the Tacotron 2 teacher through the same stages: trained, its attention read by `tts durations`, free-running synthesis
    t2 = ("--set train.max_steps=4 --set train.valid_interval=2 --set model.d_emb=16 --set model.enc_conv_channels=16 "
          "--set model.enc_lstm_units=8 --set model.prenet_units=16 --set model.attn_rnn_units=16 --set model.dec_rnn_units=16 "
          "--set model.attn_dim=8 --set model.postnet_channels=8")
    r = subprocess.run(["./run.sh", "--stage", "4", "--stop_stage", "7", "--teacher", "tacotron2", "--teacher_exp", "exp/t2",
                        "--teacher_args", t2, "--fs_args", tiny, "--focus_threshold", "0", "--synth_batch_size", "2"],
                       cwd=egs, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "tacotron2" in r.stderr and yaml_type(egs / "exp/t2/config.yaml") == "tacotron2"
    t2_durations = (egs / "exp/t2/durations/train/durations").read_text().splitlines()
    assert len(t2_durations) == n_train
    assert set((egs / "exp/t2/durations/train/heads").read_text().split()[1::3]) == {"0"}  # one attention: layer 0
    assert list((egs / "exp/t2/synth/test/wav").glob("*.wav")) or (egs / "exp/t2/synth/test/failed").read_text().strip()


def yaml_type(path: Path) -> str:
    import yaml

    return yaml.safe_load(path.read_text())["model"]["type"]
