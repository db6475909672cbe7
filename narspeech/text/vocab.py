"""Token lists (`tokens.txt`): one token per line, the line number is its id.

Layout: ``<blank>`` (0, also padding), ``<unk>`` (1), the corpus tokens by
descending count then by name, and ``<sos/eos>`` last. Encoding an unknown token
raises (naming the utterance and the token) unless ``unk_ok=True``; nothing is
silently dropped.
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Iterable, Sequence

from narspeech.errors import NarspeechError
from narspeech.fileio import atomic_write, read_table

BLANK, UNK, SOS_EOS = "<blank>", "<unk>", "<sos/eos>"
SPECIALS = (BLANK, UNK, SOS_EOS)


def count_tokens(token_files: Iterable[str | Path]) -> Counter:
    """Token counts over `token` files (``utt tok1 tok2 …``)."""
    counts: Counter = Counter()
    for path in token_files:
        for utt, toks in read_table(path, allow_empty_value=True).items():
            counts.update(toks.split())
    return counts


def build_token_list(token_files: Iterable[str | Path], min_count: int = 1, *, counts: Counter | None = None) -> list[str]:
    """The token list for `token_files`; tokens seen fewer than `min_count` times are left out
    (they become ``<unk>``; :func:`dropped_tokens` lists them so the caller can report them).
    Pass `counts` (from :func:`count_tokens`) when the caller already has them."""
    counts = count_tokens(token_files) if counts is None else counts
    bad = [t for t in counts if t in SPECIALS]
    if bad:
        raise NarspeechError(f"reserved token {bad[0]} found in token files")
    kept = sorted((t for t, c in counts.items() if c >= min_count), key=lambda t: (-counts[t], t))
    return [BLANK, UNK, *kept, SOS_EOS]


def dropped_tokens(counts: Counter, min_count: int) -> list[tuple[str, int]]:
    return sorted(((t, c) for t, c in counts.items() if c < min_count), key=lambda x: (-x[1], x[0]))


def write_token_list(path: str | Path, tokens: Sequence[str]) -> None:
    with atomic_write(path) as f:
        f.writelines(f"{t}\n" for t in tokens)


def load_token_list(path: str | Path) -> list[str]:
    """Read `tokens.txt`; checks the fixed head/tail and that tokens are unique."""
    path = Path(path)
    if not path.is_file():
        raise NarspeechError("token list not found", path=path)
    tokens = [line.rstrip("\r\n") for line in path.read_text(encoding="utf-8").splitlines()]
    if len(tokens) < 3 or tokens[0] != BLANK or tokens[1] != UNK or tokens[-1] != SOS_EOS:
        raise NarspeechError(f"not a token list: expected {BLANK}, {UNK} first and {SOS_EOS} last", path=path)
    seen: set[str] = set()
    for n, t in enumerate(tokens, 1):
        if not t or any(c.isspace() for c in t):
            raise NarspeechError(f"line {n}: empty token or token with whitespace", path=path)
        if t in seen:
            raise NarspeechError(f"line {n}: duplicated token {t!r}", path=path)
        seen.add(t)
    return tokens


class TokenList:
    """Token ↔ id mapping over a token list (see the module docstring for the layout)."""

    def __init__(self, tokens: Sequence[str] | str | Path):
        self.tokens = list(tokens) if isinstance(tokens, (list, tuple)) else load_token_list(tokens)
        self.index = {t: i for i, t in enumerate(self.tokens)}
        self.blank, self.unk, self.sos_eos = self.index[BLANK], self.index[UNK], self.index[SOS_EOS]

    def __len__(self) -> int:
        return len(self.tokens)

    def unknown(self, tokens: Iterable[str]) -> list[str]:
        """Tokens of `tokens` not in the list (in order of first appearance)."""
        return list(dict.fromkeys(t for t in tokens if t not in self.index))

    def encode(self, tokens: Sequence[str], *, utt: str | None = None, unk_ok: bool = False) -> list[int]:
        """Ids for `tokens`; an unknown token raises naming `utt` unless `unk_ok` (then ``<unk>``)."""
        if not unk_ok:
            unknown = self.unknown(tokens)
            if unknown:
                raise NarspeechError(f"unknown token(s) {' '.join(unknown)} (not in the token list)", utt=utt)
        return [self.index.get(t, self.unk) for t in tokens]

    def decode(self, ids: Iterable[int]) -> list[str]:
        """Tokens for `ids` (an id out of range raises)."""
        out = []
        for i in ids:
            i = int(i)
            if not 0 <= i < len(self.tokens):
                raise NarspeechError(f"token id {i} out of range (list has {len(self.tokens)})")
            out.append(self.tokens[i])
        return out


def check_coverage(token_file: str | Path, token_list: TokenList) -> dict[str, list[str]]:
    """Utterances of `token_file` holding tokens missing from `token_list` → those tokens."""
    out = {}
    for utt, toks in read_table(token_file, allow_empty_value=True).items():
        unknown = token_list.unknown(toks.split())
        if unknown:
            out[utt] = unknown
    return out
