"""CLI start-up: commands that need no model (scoring, token lists) run without importing torch, whose import
is most of a short command's time; recipes call them dozens of times."""
from __future__ import annotations

import subprocess
import sys

PROBE = """
import sys
from typer.testing import CliRunner
from narspeech.cli.main import app
r = CliRunner().invoke(app, sys.argv[1:])
assert r.exit_code == 0, (r.output, r.exception)
print("torch imported" if "torch" in sys.modules else "no torch")
"""


def _run(*args) -> str:
    r = subprocess.run([sys.executable, "-c", PROBE, *map(str, args)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    return r.stdout.strip().splitlines()[-1]


def test_scoring_and_token_list_commands_skip_torch(tmp_path):
    (tmp_path / "ref").write_text("a THE CAT SAT\nb A DOG\n")
    (tmp_path / "hyp").write_text("a THE CAT SAT\nb A DOG RAN\n")
    assert _run("asr", "score", tmp_path / "ref", tmp_path / "hyp") == "no torch"
    data = tmp_path / "data"
    data.mkdir()
    (data / "token").write_text("a t h e\nb d o g\n")
    assert _run("text", "vocab", data, "--out", tmp_path / "tokens.txt") == "no torch"
    assert (tmp_path / "tokens.txt").is_file()


def test_global_flag_still_reaches_the_environment(tmp_path):
    """The lazy import must not drop --no-pipes / --trust-checkpoint."""
    (tmp_path / "ref").write_text("a X\n")
    probe = PROBE.replace('print("torch', 'import os; print(os.environ.get("NARSPEECH_NO_PIPES")); print("torch')
    r = subprocess.run([sys.executable, "-c", probe, "--no-pipes", "asr", "score", str(tmp_path / "ref"), str(tmp_path / "ref")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip().splitlines()[-2] == "1", r.stdout
