"""Where shared real data lives: ``$NARSPEECH_SHARED_DATA``, else ``shared/data`` beside the checkout.

Without the variable the first existing folder of :func:`shared_data_candidates` wins:
``../shared/data`` beside this package's checkout (the README layout: a clone with a copy
of ``shared/`` next to it), ``shared/data`` inside it, then the same two around the git
top level of the working directory (a clone run with another install of narspeech).
"""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
RESOURCES = Path(__file__).resolve().parent / "resources"


def _git_toplevel(cwd: Path) -> Path | None:
    try:
        out = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=cwd, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return Path(out.stdout.strip()).resolve() if out.returncode == 0 and out.stdout.strip() else None


def shared_data_candidates() -> list[Path]:
    """The folders :func:`shared_data_dir` tries, in order (``$NARSPEECH_SHARED_DATA`` alone when set)."""
    env = os.environ.get("NARSPEECH_SHARED_DATA")
    if env:
        return [Path(env)]
    roots = [PROJECT_ROOT]
    cwd = Path.cwd()
    top = _git_toplevel(cwd)
    roots += [r for r in (top, cwd.resolve()) if r is not None]
    out: list[Path] = []
    for root in roots:
        for base in (root.parent, root):
            p = base / "shared" / "data"
            if p not in out:
                out.append(p)
    return out


def shared_data_dir() -> Path:
    """The shared data folder; when none exists, the first candidate (for the error message)."""
    cands = shared_data_candidates()
    return next((p for p in cands if p.is_dir()), cands[0])


def data_required() -> bool:
    """True in CI (``CI=true``) or with ``NARSPEECH_REQUIRE_DATA=1``: real-data tests must not skip."""
    ci = os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")
    return ci or os.environ.get("NARSPEECH_REQUIRE_DATA", "").strip().lower() in ("1", "true", "yes")
