"""Corrector training data: an alignment dir of `narspeech correct align` + a token list.

Items are (source ids, target ids, per-source-token durations, edit labels); ``lengths``
(the longer side, tokens) lets the engine bucket by length. Tokens missing from the list
become ``<unk>`` (counted and reported, never dropped silently).
"""
from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path
from typing import Iterable, Sequence

import torch

from narspeech.errors import NarspeechError
from narspeech.fileio import read_table
from narspeech.text.vocab import BLANK, SOS_EOS, UNK, TokenList

log = logging.getLogger("narspeech.correct")


def read_align_dir(d: str | Path) -> tuple[list[str], list[list[str]], list[list[str]], list[list[int]], list[list[int]]]:
    """(utts, sources, targets, durations, edited) of an alignment dir, checked for consistency."""
    d = Path(d)
    src = read_table(d / "src_tokens")
    tgt = read_table(d / "tgt_tokens")
    dur = read_table(d / "durations")
    edits = read_table(d / "edits")
    utts, S, T, D, E = [], [], [], [], []
    for utt, s in src.items():
        if utt not in tgt or utt not in dur or utt not in edits:
            raise NarspeechError("missing from tgt_tokens/durations/edits", utt=utt, path=d)
        s_t, t_t = s.split(), tgt[utt].split()
        d_i = [int(x) for x in dur[utt].split()]
        e = [int(x != "C") for x in edits[utt].split()]
        if len(d_i) != len(s_t) or len(e) != len(s_t) or sum(d_i) != len(t_t):
            raise NarspeechError("durations/edits do not match the tokens (sum(d) must equal the reference length)", utt=utt, path=d / "durations")
        utts.append(utt)
        S.append(s_t)
        T.append(t_t)
        D.append(d_i)
        E.append(e)
    return utts, S, T, D, E


def build_tokens(token_seqs: Iterable[Sequence[str]], min_count: int = 1, keep: Iterable[str] = (), max_size: int = 0) -> list[str]:
    """Token list: ``<blank>``, ``<unk>``, tokens by count (≥ `min_count`; at most `max_size` of
    them when > 0), then every token of `keep` not yet in, ``<sos/eos>`` (the softmax over the
    vocabulary dominates a small corrector's cost: `max_size` bounds it)."""
    counts: Counter = Counter()
    for seq in token_seqs:
        counts.update(seq)
    keep = set(keep) - {BLANK, UNK, SOS_EOS}
    kept = sorted((t for t, c in counts.items() if c >= min_count and t not in (BLANK, UNK, SOS_EOS)), key=lambda t: (-counts[t], t))
    if max_size > 0:
        kept = kept[:max_size]
    kept += sorted(keep - set(kept), key=lambda t: (-counts[t], t))
    return [BLANK, UNK, *kept, SOS_EOS]


class CorrectionDataset(torch.utils.data.Dataset):
    """Pairs from one or more alignment dirs, encoded with `tokens`."""

    def __init__(self, align_dirs: Sequence[str | Path], tokens: TokenList):
        self.utts, self.items = [], []
        unk = 0
        for d in align_dirs:
            utts, S, T, D, E = read_align_dir(d)
            for u, s, t, dur, e in zip(utts, S, T, D, E):
                si, ti = tokens.encode(s, unk_ok=True), tokens.encode(t, unk_ok=True)
                unk += si.count(tokens.unk) + ti.count(tokens.unk)
                self.utts.append(u)
                self.items.append((si, ti, dur, e))
        if not self.items:
            raise NarspeechError("no training pairs", path=", ".join(map(str, align_dirs)))
        if unk:
            log.warning("%d tokens of %s are not in the token list (trained as <unk>)", unk, ", ".join(map(str, align_dirs)))
        self.lengths = [max(len(s), len(t)) for s, t, _, _ in self.items]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int):
        return self.items[i]


def _pad(seqs: list[list[int]]) -> torch.Tensor:
    out = torch.zeros(len(seqs), max(max((len(s) for s in seqs), default=1), 1), dtype=torch.long)
    for i, s in enumerate(seqs):
        out[i, : len(s)] = torch.as_tensor(s, dtype=torch.long)
    return out


def collate(items: list) -> dict[str, torch.Tensor]:
    """Pad a list of items into ``src``, ``src_len``, ``tgt``, ``tgt_len``, ``durations``, ``edited``."""
    src, tgt, dur, edit = zip(*items)
    return {
        "src": _pad(list(src)), "src_len": torch.tensor([len(s) for s in src]),
        "tgt": _pad(list(tgt)), "tgt_len": torch.tensor([len(t) for t in tgt]),
        "durations": _pad(list(dur)), "edited": _pad(list(edit)),
    }
