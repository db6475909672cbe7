"""tools/activate.sh (sourced by every recipe's path.sh) makes Python import this checkout's narspeech, even when
another narspeech comes first on the path: one virtual env shared by several clones must not run another clone's code."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_activate_puts_this_checkout_before_another_narspeech(tmp_path):
    decoy = tmp_path / "other_clone" / "narspeech"
    decoy.mkdir(parents=True)
    (decoy / "__init__.py").write_text("")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "PYTHONPATH": str(tmp_path / "other_clone"), "NARSPEECH_VENV": str(tmp_path / "no-venv")}
    script = f'. "{ROOT}/tools/activate.sh" && "{sys.executable}" -c "import narspeech; print(narspeech.__file__)"'
    r = subprocess.run(["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert Path(r.stdout.strip()).resolve().parent.parent == ROOT
    again = subprocess.run(["bash", "-c", f'. "{ROOT}/tools/activate.sh"; . "{ROOT}/tools/activate.sh"; echo "$PYTHONPATH"'],
                           cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert again.stdout.strip() == f"{ROOT}{os.pathsep}{tmp_path / 'other_clone'}"  # sourcing twice adds it once
