"""Class 1 of issue 36: loading a file never runs code unless the user opts in."""
from __future__ import annotations

import os

import pytest
import torch

from narspeech.errors import NarspeechError
from narspeech.trust import NO_PIPES_ENV, TRUST_ENV


class _Payload:
    """Unpickling this runs `touch marker`: what a hostile checkpoint would do."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _hostile_checkpoint(path, marker):
    torch.save({"model": {"w": torch.zeros(2)}, "config": {"train": {}}, "step": 1, "epoch": 0,
                "extra": _Payload(marker)}, path)


@pytest.fixture
def no_opt_in(monkeypatch):
    monkeypatch.delenv(TRUST_ENV, raising=False)
    monkeypatch.delenv(NO_PIPES_ENV, raising=False)


def test_checkpoint_with_pickle_payload_is_refused_naming_the_opt_in(tmp_path, no_opt_in, monkeypatch):
    from narspeech.train.checkpoint import describe_exp, load_checkpoint
    from narspeech.vocoder.pretrained import load_generator

    exp, marker = tmp_path / "exp", tmp_path / "pwned"
    exp.mkdir()
    (exp / "config.yaml").write_text("train: {}\n")
    _hostile_checkpoint(exp / "last.pt", marker)
    for load in (load_checkpoint, describe_exp, load_generator):  # resume/decode, `train info`, the vocoder loader
        with pytest.raises(NarspeechError) as e:
            load(exp)
        assert "--trust-checkpoint" in str(e.value) and "last.pt" in str(e.value)
        assert not marker.exists()
    monkeypatch.setenv(TRUST_ENV, "1")  # the explicit opt-in: a full load, as before
    assert load_checkpoint(exp)["step"] == 1
    assert marker.exists()


def test_train_info_on_hostile_or_truncated_checkpoint_is_one_line(tmp_path, no_opt_in):
    from typer.testing import CliRunner

    from narspeech.cli.main import app

    exp = tmp_path / "exp"
    exp.mkdir()
    (exp / "config.yaml").write_text("train: {}\n")
    _hostile_checkpoint(exp / "last.pt", tmp_path / "pwned")
    data = (exp / "last.pt").read_bytes()
    (exp / "last.pt").write_bytes(data[: len(data) // 2])
    r = CliRunner().invoke(app, ["train", "info", str(exp)])
    assert r.exit_code != 0 and isinstance(r.exception, NarspeechError), r.output
    assert "last.pt" in str(r.exception) and "truncated" in str(r.exception)
    assert not (tmp_path / "pwned").exists()


def test_training_state_loads_with_weights_only_and_resumes(tmp_path, no_opt_in):
    """last.pt (RNG states of python, numpy and torch included) is readable by a safe load, and
    resuming through the safe loader restores the numpy RNG exactly."""
    import numpy as np

    from narspeech.train.engine import fit
    from narspeech.train.rng import rng_state, set_rng_state
    from narspeech.train.toy import ToySeqDataset, ToySeqModel, toy_collate

    cfg = {"train": {"max_steps": 2, "batch_bins": 200, "num_workers": 0, "tensorboard": False, "log_to_stderr": False,
                     "device": "cpu", "scheduler": {"name": "constant"}}}
    fit(cfg, ToySeqModel(), ToySeqDataset(8), None, toy_collate, tmp_path / "exp")
    ck = torch.load(tmp_path / "exp" / "last.pt", weights_only=True)
    assert ck["step"] == 2 and len(ck["rng"]) == 1
    np.random.seed(5)
    st = rng_state(torch.device("cpu"))
    want = np.random.rand(3)
    torch.save(st, tmp_path / "rng.pt")
    np.random.seed(99)
    set_rng_state(torch.load(tmp_path / "rng.pt", weights_only=True), torch.device("cpu"))
    assert np.array_equal(np.random.rand(3), want)


def test_pipe_entries_can_be_switched_off(tmp_path, no_opt_in, monkeypatch):
    from narspeech.audio.io import audio_info, load_audio

    marker = tmp_path / "ran"
    entry = f"touch {marker} && cat /nonexistent |"
    monkeypatch.setenv(NO_PIPES_ENV, "1")
    for read in (load_audio, audio_info):
        with pytest.raises(NarspeechError, match=NO_PIPES_ENV):
            read(entry, utt="u1")
    assert not marker.exists()
    monkeypatch.delenv(NO_PIPES_ENV)
    with pytest.raises(NarspeechError, match="command failed"):  # Kaldi's default: the command runs
        load_audio(entry, utt="u1")
    assert marker.exists()


def test_global_options_set_the_environment(tmp_path, no_opt_in):
    import subprocess
    import sys

    code = ("import os, sys; from narspeech.cli.main import app; sys.argv=['narspeech','--no-pipes','--trust-checkpoint','train','--help'];\n"
            "try: app()\nexcept SystemExit: pass\n"
            f"print(os.environ.get('{NO_PIPES_ENV}'), os.environ.get('{TRUST_ENV}'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "1 1"
