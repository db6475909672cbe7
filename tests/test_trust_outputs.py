"""Class 4 of issue 36: user mistakes are one line naming the path or option, never a traceback."""
from __future__ import annotations

import math
import os

import pytest
from typer.testing import CliRunner

from narspeech.errors import NarspeechError


def _cli(*args):
    from narspeech.cli.main import app

    return CliRunner().invoke(app, [str(a) for a in args])


def _bad_outputs(tmp_path):
    """name -> (path, kind it breaks): a file, a folder, dangling and looping symlinks, a file as parent."""
    (tmp_path / "afile").write_text("x")
    (tmp_path / "afolder").mkdir()
    os.symlink(tmp_path / "nowhere", tmp_path / "dangling")
    os.symlink(tmp_path / "loop_b", tmp_path / "loop_a")
    os.symlink(tmp_path / "loop_a", tmp_path / "loop_b")
    return {"file": (tmp_path / "afile", "dir"), "folder": (tmp_path / "afolder", "file"),
            "dangling": (tmp_path / "dangling", "both"), "loop": (tmp_path / "loop_a", "both"),
            "under_file": (tmp_path / "afile" / "out", "both")}


# commands with an output folder / output file; their inputs do not exist: the output is checked first
DIR_COMMANDS = [
    lambda o, t: ["feats", "extract", t / "no_data", o],
    lambda o, t: ["asr", "decode", "--model", t / "no_exp", "--dump", t / "no_dump", "--out", o],
    lambda o, t: ["tts", "synthesize", "--model", t / "no_exp", "--text", t / "no_text", "--out", o],
    lambda o, t: ["data", "subset", t / "no_data", o, "--first", "2"],
    lambda o, t: ["correct", "decode", "--model", t / "no_exp", "--hyp", t / "no_hyp", "--out", o],
    lambda o, t: ["vocoder", "copy", t / "no_data", o],
]
FILE_COMMANDS = [
    lambda o, t: ["text", "vocab", t / "no_data", "--out", o],
    lambda o, t: ["train", "average", t / "no_exp", "--out", o],
    lambda o, t: ["feats", "stats", t / "no_dump", "--out", o],
]


@pytest.mark.parametrize("case", ["file", "folder", "dangling", "loop", "under_file"])
def test_bad_output_paths_are_one_line_before_any_work(tmp_path, case):
    path, breaks = _bad_outputs(tmp_path)[case]
    cmds = (DIR_COMMANDS if breaks in ("dir", "both") else []) + (FILE_COMMANDS if breaks in ("file", "both") else [])
    for make in cmds:
        args = make(path, tmp_path)
        r = _cli(*args)
        assert r.exit_code != 0, (args, r.output)
        assert isinstance(r.exception, NarspeechError), (args, r.exception)  # main() prints it as one line
        msg = str(r.exception)
        assert "\n" not in msg and "output" in msg and "no_" not in msg, (args, msg)  # before the inputs are read
        assert str(path) in msg or str(path.parent) in msg, (args, msg)


def test_check_output_accepts_good_paths(tmp_path):
    from narspeech.outputs import check_output

    (tmp_path / "d").mkdir()
    check_output(tmp_path / "d", "dir")
    check_output(tmp_path / "new" / "deeper", "dir")
    check_output(tmp_path / "d" / "f.json", "file")
    (tmp_path / "f").write_text("old")
    check_output(tmp_path / "f", "file")  # an existing file is replaced atomically


def test_yaml_errors_and_python_tags_name_the_file_or_option(tmp_path):
    from narspeech.config import load_config

    bad = tmp_path / "bad.yaml"
    bad.write_text("train:\n  max_steps: [1, 2\n  lr: 3\n")
    with pytest.raises(NarspeechError, match=r"bad\.yaml: not valid YAML \(line \d+, column \d+\)"):
        load_config(bad)
    tag = tmp_path / "tag.yaml"
    tag.write_text("train: !!python/object/apply:os.system ['true']\n")
    with pytest.raises(NarspeechError, match=r"tag\.yaml: not valid YAML.*python tags are not allowed"):
        load_config(tag)
    with pytest.raises(NarspeechError, match=r"--set 'train\.seed=!!python/name:os\.system'.*python tags"):
        load_config(None, ["train.seed=!!python/name:os.system"])
    r = _cli("feats", "extract", tmp_path / "no_data", tmp_path / "dump", "--config", bad)
    assert r.exit_code != 0 and isinstance(r.exception, NarspeechError) and "\n" not in str(r.exception)


@pytest.mark.parametrize("lr", [math.nan, math.inf, -1e-3, 0.0, "fast"])
def test_bad_learning_rate_is_one_line(lr):
    import torch

    from narspeech.train.optim import build_optimizer

    from narspeech.train.defaults import resolve_config

    with pytest.raises(NarspeechError, match="train.optim.lr must be"):
        build_optimizer([torch.nn.Parameter(torch.zeros(1))], {"lr": lr})
    with pytest.raises(NarspeechError, match="train.optim.lr must be"):  # before a training starts
        resolve_config({"train": {"optim": {"lr": lr}}})


def test_oserror_about_a_wrong_kind_of_path_is_one_line(tmp_path, capsys, monkeypatch):
    """The safety net below the early check: an OSError about a file where a folder goes names the path."""
    import sys

    from narspeech.cli import main as cli_main

    (tmp_path / "afile").write_text("x")

    def boom():
        (tmp_path / "afile" / "sub").mkdir(parents=True)

    monkeypatch.setattr(cli_main, "app", boom)
    monkeypatch.setattr(sys, "argv", ["narspeech"])
    with pytest.raises(SystemExit) as e:
        cli_main.main()
    assert e.value.code == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and str(tmp_path / "afile") in err and err.count("\n") == 1


def test_every_output_option_is_checked_by_the_helper():
    """A new command's output option must use out_dir/out_file too (by the project's option names)."""
    import typer

    from narspeech.cli.main import app

    names = {"out", "exp", "dest", "out_parent", "wav_dir", "json_out", "asr_cache"}
    unchecked = []

    def walk(cmd, path):
        for name, sub in (getattr(cmd, "commands", None) or {}).items():
            walk(sub, path + [name])
        for p in getattr(cmd, "params", []) if not getattr(cmd, "commands", None) else []:
            if p.name in names or (path == ["feats", "extract"] and p.name == "dump"):
                if p.callback is None:
                    unchecked.append(f"{' '.join(path)} {p.name}")

    walk(typer.main.get_command(app), [])
    assert not unchecked
