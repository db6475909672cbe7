"""Shared helpers: atomic writes, Kaldi tables, config overrides, recipe option parsing."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from narspeech.config import load_config, merge
from narspeech.errors import NarspeechError
from narspeech.fileio import atomic_write, read_table, spk2utt_from_utt2spk, write_table

ROOT = Path(__file__).resolve().parent.parent


def test_atomic_write_leaves_old_file_when_interrupted(tmp_path):
    out = tmp_path / "text"
    out.write_text("old\n")
    with pytest.raises(RuntimeError):
        with atomic_write(out) as f:
            f.write("half a fi")
            raise RuntimeError("killed")
    assert out.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["text"]  # no temp file left behind


def test_table_round_trip_sorted(tmp_path):
    write_table(tmp_path / "utt2spk", {"b1": "b", "a2": "a", "a1": "a"})
    assert (tmp_path / "utt2spk").read_text() == "a1 a\na2 a\nb1 b\n"
    t = read_table(tmp_path / "utt2spk")
    assert spk2utt_from_utt2spk(t) == {"a": "a1 a2", "b": "b1"}


def test_table_ids_end_at_any_whitespace(tmp_path):
    p = tmp_path / "wav.scp"
    p.write_text("a1\t/x/a 1.wav\na2   sox b.flac -t wav - |\n")
    assert read_table(p) == {"a1": "/x/a 1.wav", "a2": "sox b.flac -t wav - |"}


@pytest.mark.parametrize(
    "content, fragment",
    [("a1 x\na1 y\n", "duplicated id"), ("b1 x\na1 y\n", "not sorted"), ("a1 x\na2\n", "empty value")],
)
def test_table_errors_name_file_and_utt(tmp_path, content, fragment):
    p = tmp_path / "text"
    p.write_text(content)
    with pytest.raises(NarspeechError) as e:
        read_table(p)
    assert fragment in str(e.value) and str(p) in str(e.value) and "utterance a" in str(e.value)


def test_config_overrides_are_yaml_typed(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("model:\n  d_model: 128\ntrain:\n  lr: 0.001\n")
    cfg = load_config(p, ["model.d_model=256", "train.betas=[0.9, 0.98]", "new.flag=true"])
    assert cfg == {"model": {"d_model": 256}, "train": {"lr": 0.001, "betas": [0.9, 0.98]}, "new": {"flag": True}}
    assert merge({"a": {"b": 1, "c": 2}}, {"a": {"b": 3}}) == {"a": {"b": 3, "c": 2}}
    with pytest.raises(NarspeechError):
        load_config(p, ["no_equals_sign"])


def test_cli_error_is_one_line_without_traceback(tmp_path):
    script = "from narspeech.cli.main import main, app\n" \
             "from narspeech.errors import NarspeechError\n" \
             "@app.command('boom')\n" \
             "def boom():\n    raise NarspeechError('corrupt audio', utt='u1', path='x.wav')\n" \
             "main()\n"
    r = subprocess.run([sys.executable, "-c", script, "boom"], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 1
    assert r.stderr.strip() == "error: x.wav: utterance u1: corrupt audio"


def test_recipe_option_parsing():
    script = (
        "set -euo pipefail; stage=1; nj=2; device=auto\n"
        f". {ROOT}/recipes/parse_options.sh\n"
        'echo "$stage $nj $device $#:$*"\n'
    )
    r = subprocess.run(["bash", "-c", script, "x", "--stage", "4", "--nj=8", "pos"], capture_output=True, text=True)
    assert r.stdout.strip() == "4 8 auto 1:pos", r.stderr
    r = subprocess.run(["bash", "-c", script, "x", "--bogus", "1"], capture_output=True, text=True)
    assert r.returncode != 0 and "unknown option --bogus" in r.stderr
    r = subprocess.run(["bash", "-c", "passthrough=true; " + script, "x", "--bogus", "1", "--nj", "3"], capture_output=True, text=True)
    assert r.stdout.strip() == "1 3 auto 2:--bogus 1", r.stderr


def test_atomic_write_uses_umask_permissions(tmp_path):
    import os

    old = os.umask(0o022)
    try:
        import importlib

        import narspeech.fileio as fio

        importlib.reload(fio)
        with fio.atomic_write(tmp_path / "f") as f:
            f.write("x")
        assert (tmp_path / "f").stat().st_mode & 0o777 == 0o644
    finally:
        os.umask(old)
