"""The one error type the CLI turns into a one-line message (no traceback), and the record of an input skipped."""
from __future__ import annotations

import errno
from dataclasses import dataclass
from pathlib import Path


class NarspeechError(Exception):
    """A problem with the user's input, named by utterance and/or file.

    >>> str(NarspeechError("empty transcript", utt="a01", path="data/train/text"))
    'data/train/text: utterance a01: empty transcript'
    """

    def __init__(self, message: str, *, utt: str | None = None, path: str | Path | None = None):
        self.message, self.utt, self.path = message, utt, None if path is None else str(path)
        parts = [p for p in (self.path, f"utterance {utt}" if utt else None) if p]
        super().__init__(": ".join(parts + [message]))


# errnos that mean "this place cannot be written (or read)": the user's to fix, not a bug
_UNWRITABLE = {errno.EACCES: "permission denied", errno.EPERM: "operation not permitted",
               errno.EROFS: "cannot write: read-only file system", errno.ENOSPC: "cannot write: no space left on device",
               errno.EDQUOT: "cannot write: disk quota exceeded"}


def unwritable_message(e: OSError) -> str | None:
    """One line (without the path) for an OSError about a place that cannot be written, else None."""
    if e.errno not in _UNWRITABLE:
        return None
    return f"{_UNWRITABLE[e.errno]} (choose another output folder or fix its permissions)"


# errnos that mean "this path is the wrong kind of thing" (a file where a folder goes, a symlink loop)
_WRONG_KIND = {errno.EEXIST: "exists and is not a folder", errno.ENOTDIR: "a part of this path is a file, not a folder",
               errno.EISDIR: "is a folder, expected a file", errno.ELOOP: "too many levels of symlinks (a symlink loop?)"}


def path_error_message(e: OSError) -> str | None:
    """One line (without the path) for an OSError about an unwritable place or a path of the wrong
    kind (the user's to fix), else None."""
    msg = unwritable_message(e)
    if msg is None and e.errno in _WRONG_KIND:
        msg = f"{_WRONG_KIND[e.errno]} (remove it or choose another path)"
    return msg


@dataclass
class Skipped:
    """One utterance left out under ``--skip-bad``, with the file and the reason."""

    utt: str
    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: utterance {self.utt}: {self.reason}"
