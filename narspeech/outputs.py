"""Output paths checked before any work starts, by every command (one helper for all).

A command's output folder or file that is already the wrong kind of thing — an existing
file where a folder goes, a folder where a file goes, a dangling or looping symlink, a
parent that is a file, an unwritable place — is one line naming the path, given when the
command starts, not a traceback after the work is done. CLI options use :func:`out_dir` /
:func:`out_file` as their typer ``callback``; library code can call :func:`check_output`.
"""
from __future__ import annotations

import errno
import os
from pathlib import Path

from narspeech.errors import NarspeechError


def _symlink_problem(p: Path) -> str | None:
    if not p.is_symlink():
        return None
    try:
        os.stat(p)
    except FileNotFoundError:
        return f"is a dangling symlink (to {os.readlink(p)}, which does not exist)"
    except OSError as e:
        if e.errno == errno.ELOOP:
            return "is a symlink loop"
        return f"cannot be followed ({e.strerror})"
    return None


def check_output(path: str | Path, kind: str = "dir") -> Path:
    """Raise a :class:`NarspeechError` unless `path` can become an output of `kind` (``dir`` or ``file``)."""
    if kind not in ("dir", "file"):
        raise ValueError(kind)
    p = Path(path)
    problem = _symlink_problem(p)
    if problem:
        raise NarspeechError(f"output {problem}: remove it or choose another output", path=p)
    if p.exists():
        if kind == "dir" and not p.is_dir():
            raise NarspeechError("output folder is an existing file: remove it or choose another output", path=p)
        if kind == "file" and p.is_dir():
            raise NarspeechError("output file is an existing folder: give a file name", path=p)
        base = p if kind == "dir" else p.parent
    else:
        base = p.absolute().parent
        while not base.exists():
            problem = _symlink_problem(base)
            if problem:
                raise NarspeechError(f"a folder of the output {problem}", path=base)
            base = base.parent
        if not base.is_dir():
            raise NarspeechError(f"a folder of the output is an existing file ({base})", path=p)
    if not os.access(base if base.is_dir() else base.parent, os.W_OK | os.X_OK):
        raise NarspeechError("permission denied (choose another output folder or fix its permissions)", path=base)
    return p


def out_dir(value):
    """typer ``callback`` of an output-folder option (None and lists pass through, each checked)."""
    return _check_value(value, "dir")


def out_file(value):
    """typer ``callback`` of an output-file option."""
    return _check_value(value, "file")


def _check_value(value, kind: str):
    if value is None:
        return value
    for v in value if isinstance(value, (list, tuple)) else [value]:
        check_output(v, kind)
    return value
