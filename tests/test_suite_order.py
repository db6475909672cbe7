"""The suite's own scheduling: on several pytest-xdist workers the whole-recipe files (conftest.LONGEST_FIRST)
start first, so the longest tests run beside the short ones instead of forming the suite's tail."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

CONFTEST = Path(__file__).resolve().parent / "conftest.py"


def test_recipe_files_start_first_on_two_workers(tmp_path):
    pytest.importorskip("xdist")
    (tmp_path / "conftest.py").write_text(
        "import importlib.util\n"
        f"spec = importlib.util.spec_from_file_location('suite_conftest', {str(CONFTEST)!r})\n"
        "m = importlib.util.module_from_spec(spec)\nspec.loader.exec_module(m)\n"
        "pytest_configure = m.pytest_configure\npytest_collection_modifyitems = m.pytest_collection_modifyitems\n")
    for name in ("test_recipe_asr.py", "test_recipe_tts.py"):  # one test each: xdist's own order puts them last
        (tmp_path / name).write_text("def test_one():\n    pass\n")
    for name in ("test_a.py", "test_b.py", "test_c.py"):
        (tmp_path / name).write_text("".join(f"def test_{i}():\n    pass\n" for i in range(3)))
    r = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-n", "2", "--dist", "loadfile", "-v",
                        "--rootdir", ".", "-c", "/dev/null", "."], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout[-2000:]
    first = {}  # worker -> the file of the first test it ran
    for line in r.stdout.splitlines():
        if "PASSED" in line and line.startswith("[gw"):
            first.setdefault(line.split("]")[0], line.split("PASSED")[1].strip().split("::")[0])
    assert sorted(first.values()) == ["test_recipe_asr.py", "test_recipe_tts.py"], r.stdout[-2000:]
