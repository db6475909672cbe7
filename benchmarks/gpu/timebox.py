"""Run one step of the prepared GPU run inside a time box, whatever the step does.

A step is either a command line (a plain subprocess: pip, pytest, nvidia-smi) or a Python
callable run in a forked child, so the narspeech commands start without importing torch
again (a fresh interpreter costs seconds per step; the parent imports torch once and never
touches CUDA, so each child initialises CUDA itself). Every step runs in its own process
group with its output in a log file. When the box ends the step gets SIGTERM (a training
run then saves last.pt and stops: the engine's pre-emption handling), and SIGKILL for its
whole group after `grace` seconds. Standard library only: this module runs before the
wheels are installed.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence


@dataclass
class Outcome:
    """How a step ended: ``ok`` | ``failed`` | ``timeout``; rc, wall seconds and the log's last line."""

    status: str
    rc: int | None
    seconds: float
    last_line: str


def last_line(log: Path, limit: int = 300) -> str:
    """The last non-empty line of a log (progress-bar carriage returns split lines too)."""
    try:
        with open(log, "rb") as f:
            f.seek(0, 2)
            f.seek(max(0, f.tell() - 8192))
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return ""
    lines = [ln.strip() for ln in text.replace("\r", "\n").splitlines() if ln.strip()]
    return lines[-1][:limit] if lines else ""


def _fork_child(fn: Callable[[], int | None], log: Path) -> int:
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid:
        return pid
    rc = 1
    try:
        os.setsid()
        fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.close(fd)
        # the log, also when sys.stdout was replaced (pytest's capture, a notebook)
        sys.stdout = open(1, "w", buffering=1, encoding="utf-8", errors="replace", closefd=False)
        sys.stderr = open(2, "w", buffering=1, encoding="utf-8", errors="replace", closefd=False)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        out = fn()
        rc = 0 if out is None else int(out)
    except SystemExit as e:
        rc = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except BaseException:  # noqa: BLE001 - the child reports everything in its log
        traceback.print_exc()
        rc = 1
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(rc)


def _signal_group(pid: int, sig: int, group: bool = True) -> None:
    try:
        if group:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _wait(pid: int, until: float) -> int | None:
    """Exit code of `pid` once it ends before `until` (monotonic), else None."""
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() >= until:
            return None
        time.sleep(0.05)


def run_boxed(target: Sequence[str] | Callable[[], int | None], box_s: float, log: Path, *, env: dict | None = None,
              cwd: str | Path | None = None, grace_s: float = 5.0, term_group: bool = True) -> Outcome:
    """Run `target` (argv list or callable) for at most `box_s` seconds (+ `grace_s` after SIGTERM).

    `term_group=False` sends the first SIGTERM to the step's main process only (a training
    run stops cleanly while its DataLoader workers keep serving it); SIGKILL always goes to
    the whole group, so nothing the step started outlives it.
    """
    log = Path(log)
    log.parent.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    if callable(target):
        pid = _fork_child(target, log)
    else:
        with open(log, "ab") as f:
            proc = subprocess.Popen(list(target), stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    env=env, cwd=cwd, start_new_session=True)
        pid = proc.pid
    rc = _wait(pid, start + max(0.0, box_s))
    timed_out = rc is None
    if timed_out:
        _signal_group(pid, signal.SIGTERM, group=term_group)
        rc = _wait(pid, time.monotonic() + grace_s)
        if rc is None:
            _signal_group(pid, signal.SIGKILL)
            rc = _wait(pid, time.monotonic() + 10.0)
    _signal_group(pid, signal.SIGKILL)  # whatever the step left behind in its group
    seconds = time.monotonic() - start
    status = "timeout" if timed_out else ("ok" if rc == 0 else "failed")
    return Outcome(status, rc, seconds, last_line(log))
