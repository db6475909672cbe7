"""Process life: SIGTERM handled like Ctrl-C, and worker processes that die with their parent.

* :func:`terminate_like_interrupt` makes SIGTERM raise :class:`Terminated` in the main
  process, so the clean-up that runs on Ctrl-C (``finally`` blocks: temporary outputs removed,
  locks released) runs on ``kill`` too; the CLI then exits with 143 (128 + SIGTERM). Forked
  children (data-loader workers) keep the default action: they just end.
* :func:`die_with_parent`, called first thing in a worker process, asks the Linux kernel to
  SIGKILL the worker when its parent dies (``PR_SET_PDEATHSIG``), so a parent killed by
  SIGKILL (the OOM killer) leaves no workers running with its inherited files and locks.
"""
from __future__ import annotations

import os
import signal
import sys
from contextlib import contextmanager
from typing import Iterator

EXIT_TERMINATED = 128 + signal.SIGTERM
_PR_SET_PDEATHSIG = 1


class Terminated(BaseException):
    """Raised in the main thread by SIGTERM once :func:`terminate_like_interrupt` is installed
    (a BaseException, like KeyboardInterrupt: ``except Exception`` does not swallow it)."""


_MAIN_PID: int | None = None


def _raise_terminated(signum, frame) -> None:
    if os.getpid() != _MAIN_PID:  # a forked child inherited the handler: die as by default
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)
        return
    raise Terminated(f"terminated by signal {signum}")


def terminate_like_interrupt() -> None:
    """Make SIGTERM raise :class:`Terminated` in this process's main thread (a no-op in other threads)."""
    global _MAIN_PID
    try:
        signal.signal(signal.SIGTERM, _raise_terminated)
        _MAIN_PID = os.getpid()
    except ValueError:  # not the main thread
        pass


@contextmanager
def children_die_on_sigterm() -> Iterator[None]:
    """Fork worker processes inside this block: they get SIGTERM's default action (end at once), not the
    parent's Python handler, which a child stuck in C (a lock inherited mid-use at fork) never runs, so
    ``Pool.terminate()`` could wait on it forever. The parent's handler is back after the block."""
    try:
        old = signal.signal(signal.SIGTERM, signal.SIG_DFL)
    except ValueError:  # not the main thread: nothing to change
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def die_with_parent(parent_pid: int | None = None) -> bool:
    """In a child process: be SIGKILLed when the parent dies. Returns whether the kernel took it
    (Linux only). If the parent is already gone (`parent_pid` given and no longer the parent), exit now."""
    ok = False
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            ok = libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) == 0
        except (OSError, AttributeError):
            ok = False
    if parent_pid is not None and os.getppid() != parent_pid:  # it died before prctl took effect
        os._exit(1)
    return ok


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists (owned by anyone)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
