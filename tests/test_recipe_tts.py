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
           "--focus_threshold", "0", "--teacher_args", tiny, "--fs_args", tiny]
    r = subprocess.run(cmd, cwd=egs, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    for stage in range(1, 9):
        assert f"stage {stage}:" in r.stderr
    n_train = len((egs / "data/train/text").read_text().splitlines())
    assert len((egs / "exp/teacher/durations/train/durations").read_text().splitlines()) == n_train
    for model in ("fastspeech2", "teacher"):
        synth = egs / f"exp/{model}/synth/test"
        wavs = list((synth / "wav").glob("*.wav"))
        assert wavs and all(w.stat().st_size > 44 for w in wavs)
        results = json.loads((synth / "results.json").read_text())
        assert results["utterances"] == len(wavs) and results["mcd_db"]["mean"] > 0
    speed = json.loads((egs / "exp/speed_test.json").read_text())
    assert speed
    # every stage can be re-run: training resumes from last.pt and finds nothing left to do
    r = subprocess.run(["./run.sh", "--stage", "4", "--stop_stage", "4", "--teacher_args", tiny], cwd=egs, env=env,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
