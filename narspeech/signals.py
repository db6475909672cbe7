"""Process life: SIGTERM handled like Ctrl-C, and worker processes that die with their parent.

* :func:`terminate_like_interrupt` makes SIGTERM raise :class:`Terminated` (a
  ``KeyboardInterrupt``), so the clean-up that runs on Ctrl-C (temporary outputs removed,
  locks released) runs on ``kill`` too; the CLI then exits with 143 (128 + SIGTERM).
* :func:`die_with_parent`, called first thing in a worker process, asks the Linux kernel to
  SIGKILL the worker when its parent dies (``PR_SET_PDEATHSIG``), so a parent killed by
  SIGKILL (the OOM killer) leaves no workers running with its inherited files and locks.
"""
from __future__ import annotations

import os
import signal
import sys

EXIT_TERMINATED = 128 + signal.SIGTERM
_PR_SET_PDEATHSIG = 1


class Terminated(KeyboardInterrupt):
    """Raised in the main thread by SIGTERM once :func:`terminate_like_interrupt` is installed."""


def _raise_terminated(signum, frame) -> None:
    raise Terminated(f"terminated by signal {signum}")


def terminate_like_interrupt() -> None:
    """Make SIGTERM raise :class:`Terminated` in the main thread (a no-op in other threads)."""
    try:
        signal.signal(signal.SIGTERM, _raise_terminated)
    except ValueError:  # not the main thread
        pass


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
