"""Training notices that its inputs changed: `tts train --resume` after new durations (or another
config) stops naming what changed; `--retrain` moves the old run aside and trains afresh."""
from __future__ import annotations

import numpy as np
import pytest
import yaml

from narspeech.train.checkpoint import load_checkpoint
from tests.test_data_import import run_cli
from tests.test_tts_train import FS2, make_corpus, write_durations

pytestmark = pytest.mark.usefixtures("one_thread")


def _args(tmp_path, *extra):
    d, p = tmp_path / "data", tmp_path / "dump"
    return ["tts", "train", "--config", tmp_path / "fs2.yaml", "--tokens", d / "tokens.txt", "--train-data", d / "train",
            "--train-dump", p / "train", "--durations", tmp_path / "dur" / "durations", "--exp", tmp_path / "exp", *extra]


def test_resume_stops_when_durations_or_config_changed_and_retrain_starts_over(tmp_path, monkeypatch, capsys):
    true = make_corpus(tmp_path, n_utts=4)
    train_true = {u: d for u, d in true.items() if u.startswith("train")}
    (tmp_path / "dur").mkdir()
    write_durations(tmp_path / "dur" / "durations", train_true)
    cfg = {"model": FS2["model"], "train": dict(FS2["train"], max_steps=2, valid_interval=0, tensorboard=False, log_to_stderr=False)}
    (tmp_path / "fs2.yaml").write_text(yaml.safe_dump(cfg))
    code, out, err = run_cli(_args(tmp_path), monkeypatch, capsys)
    assert code == 0, err
    assert (tmp_path / "exp" / "inputs.json").is_file()
    # unchanged inputs, a longer run: resumes
    code, out, err = run_cli(_args(tmp_path, "--resume", "--set", "train.max_steps=3"), monkeypatch, capsys)
    assert code == 0, err
    assert load_checkpoint(tmp_path / "exp" / "last.pt")["step"] == 3

    # new durations (same sums: another focus threshold / teacher would give these): --resume must stop
    changed = {u: (d[::-1] if u == "train01" else d) for u, d in train_true.items()}
    assert not np.array_equal(changed["train01"], train_true["train01"])
    write_durations(tmp_path / "dur" / "durations", changed)
    code, out, err = run_cli(_args(tmp_path, "--resume", "--set", "train.max_steps=5"), monkeypatch, capsys)
    assert code == 1 and "Traceback" not in err, err
    assert "inputs changed" in err and "durations" in err and "--retrain" in err
    assert load_checkpoint(tmp_path / "exp" / "last.pt")["step"] == 3  # nothing was trained on the mix
    # another config: stops too
    write_durations(tmp_path / "dur" / "durations", train_true)
    code, out, err = run_cli(_args(tmp_path, "--resume", "--set", "model.d_ff=48"), monkeypatch, capsys)
    assert code == 1 and "config" in err, err

    # --retrain: the old run goes to stale-*/, a fresh one is trained on today's inputs
    write_durations(tmp_path / "dur" / "durations", changed)
    code, out, err = run_cli(_args(tmp_path, "--resume", "--retrain"), monkeypatch, capsys)
    assert code == 0, err
    stale = list((tmp_path / "exp").glob("stale-*"))
    assert len(stale) == 1 and load_checkpoint(stale[0] / "last.pt")["step"] == 3
    assert load_checkpoint(tmp_path / "exp" / "last.pt")["step"] == 2
    code, out, err = run_cli(_args(tmp_path, "--resume"), monkeypatch, capsys)  # now consistent again
    assert code == 0, err
