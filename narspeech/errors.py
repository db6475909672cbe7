"""The one error type the CLI turns into a one-line message (no traceback)."""
from __future__ import annotations

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
