"""The prompt sentences of the synthetic corpus (`narspeech/resources/prompts.txt`).

The shipped file holds 2,000 public-domain sentences chosen by :func:`select_prompts`
from the normalized column of LJSpeech 1.1's ``metadata.csv`` (13,100 lines): 3–20
words, no digits, only letters and ``,.;:?!'"-``, starting with a capital and ending
with ``.?!``, balanced quotes, no duplicates, then evenly spaced over the corpus.
Regenerate with ``python -m narspeech.data.prompts METADATA OUT``.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

from narspeech.errors import NarspeechError
from narspeech.fileio import atomic_write, read_text_lines
from narspeech.paths import RESOURCES

DEFAULT_PROMPTS = RESOURCES / "prompts.txt"
_OK = re.compile(r"[A-Z][A-Za-z ,.;:?!'\"-]*[.?!]")


def select_prompts(metadata: str | Path, n: int = 2000, min_words: int = 3, max_words: int = 20) -> list[str]:
    """`n` sentences from an LJSpeech ``metadata.csv`` (normalized column), evenly spaced."""
    cands, seen = [], set()
    for line in read_text_lines(metadata):
        fields = line.split("|")
        if len(fields) != 3:
            continue
        text = " ".join(fields[2].split())
        if (min_words <= len(text.split()) <= max_words and _OK.fullmatch(text) and text.count('"') % 2 == 0
                and text not in seen):
            seen.add(text)
            cands.append(text)
    if len(cands) < n:
        raise NarspeechError(f"only {len(cands)} sentences qualify, asked for {n}", path=metadata)
    step = len(cands) / n
    return [cands[int(i * step)] for i in range(n)]


def load_prompts(path: str | Path | None = None) -> list[str]:
    """Non-empty lines of a prompts file (default: the shipped one)."""
    path = Path(path) if path is not None else DEFAULT_PROMPTS
    if not path.is_file():
        raise NarspeechError("prompts file not found", path=path)
    prompts = [" ".join(l.split()) for l in read_text_lines(path) if l.strip()]
    if not prompts:
        raise NarspeechError("prompts file is empty", path=path)
    return prompts


if __name__ == "__main__":
    with atomic_write(sys.argv[2]) as f:
        f.writelines(p + "\n" for p in select_prompts(sys.argv[1]))
