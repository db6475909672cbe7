"""recipes/correct.sh --pretrained: a second run dir (another ASR system) links the first run's text,
units, noisy pretraining pairs and pretrained correctors instead of building them again, and says
clearly what is missing when the first run has not got that far."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINKED = ("data/text", "data/units", "exp/align/text_train", "exp/align/text_heldout", "exp/fc_pretrain", "exp/ar_pretrain")


def _run(cwd: Path) -> subprocess.CompletedProcess:
    """Stages 1, 3 and 4 (stage 2 needs an ASR model) of a run pretrained by ../ec1."""
    env = {**os.environ, "NARSPEECH_PROGRESS": "0"}
    for stages in (("1", "1"), ("3", "4")):
        r = subprocess.run(["bash", str(ROOT / "recipes/correct.sh"), "--pretrained", "../ec1", "--stage", stages[0],
                            "--stop_stage", stages[1]], cwd=cwd, env=env, capture_output=True, text=True, timeout=60)
        if r.returncode:
            break
    return r


def test_pretrained_run_links_the_first_runs_models(tmp_path):
    first, second = tmp_path / "ec1", tmp_path / "ec1_ar"
    for p in LINKED:
        (first / p).mkdir(parents=True)
        (first / p / "marker").write_text(p)
    second.mkdir()
    r = _run(second)
    assert r.returncode == 0, r.stderr
    for p in LINKED:
        assert (second / p).is_symlink(), p
        assert (second / p / "marker").read_text() == p
    assert "stage 4: pretrained correctors: linked from ../ec1" in r.stderr
    r = _run(second)  # re-runnable
    assert r.returncode == 0, r.stderr


def test_pretrained_run_missing_models_is_a_clear_error(tmp_path):
    first, second = tmp_path / "ec1", tmp_path / "ec1_ar"
    for p in LINKED[:4]:  # stages 1-3 done, no pretrained models yet
        (first / p).mkdir(parents=True)
    second.mkdir()
    r = _run(second)
    assert r.returncode != 0
    assert "--pretrained ../ec1 has no exp/fc_pretrain: run its stages 1-4 first" in r.stderr
