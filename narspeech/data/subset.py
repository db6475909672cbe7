"""Choose utterances from a data dir (subset) or partition it (split), keeping every table consistent.

Both work on :class:`~narspeech.data.datadir.DataDir`, so `token`, `utt2dur`,
`spk2gender`… follow the chosen utterances and `spk2utt` is regenerated.
"""
from __future__ import annotations

import random
from pathlib import Path

from narspeech.data.datadir import DataDir
from narspeech.errors import NarspeechError
from narspeech.fileio import read_text_lines


def read_id_list(path: str | Path) -> list[str]:
    """First field of every non-empty line (so a `text` or `utt2spk` file works as a list too)."""
    path = Path(path)
    if not path.is_file():
        raise NarspeechError("id list not found", path=path)
    return [line.split()[0] for line in read_text_lines(path) if line.strip()]


def choose(dd: DataDir, *, first: int | None = None, last: int | None = None, random_n: int | None = None,
           utt_list: list[str] | None = None, spk_list: list[str] | None = None, seed: int = 0) -> tuple[list[str], list[str]]:
    """Utterance ids picked by exactly one criterion, and ids asked for but absent from `dd`.

    ``first``/``last`` follow sorted id order (Kaldi's ``subset_data_dir.sh``);
    ``random_n`` is a seeded sample.
    """
    given = [x is not None for x in (first, last, random_n, utt_list, spk_list)]
    if sum(given) != 1:
        raise NarspeechError("choose exactly one of --first, --last, --random, --utt-list, --spk-list")
    utts = dd.utts
    for n in (first, last, random_n):
        if n is not None and not 0 < n <= len(utts):
            raise NarspeechError(f"asked for {n} utterances, the data dir has {len(utts)}")
    if first is not None:
        return utts[:first], []
    if last is not None:
        return utts[-last:], []
    if random_n is not None:
        return sorted(random.Random(seed).sample(utts, random_n)), []
    if utt_list is not None:
        have = set(utts)
        return sorted({u for u in utt_list if u in have}), [u for u in utt_list if u not in have]
    spk_set = set(spk_list or [])
    known = set(dd.utt2spk.values())
    return sorted(u for u in utts if dd.utt2spk[u] in spk_set), [s for s in (spk_list or []) if s not in known]


def parse_parts(spec: str) -> list[tuple[str, float | int]]:
    """``"train:0.9,dev:0.05,test:0.05"`` → ``[("train", 0.9), …]``.

    Each size is a ratio (0 < x < 1), a count (integer >= 1) or ``-N`` (everything but N,
    at most one part).
    """
    parts = []
    for item in spec.split(","):
        name, sep, size = item.strip().partition(":")
        if not sep or not name or "/" in name:
            raise NarspeechError(f"bad part {item!r}: expected name:size, e.g. train:0.9 or dev:50 or train:-100")
        try:
            value: float | int = int(size)
        except ValueError:
            try:
                value = float(size)
            except ValueError:
                raise NarspeechError(f"bad size in part {item!r}") from None
            if not 0 < value < 1:
                raise NarspeechError(f"ratio in part {item!r} must be between 0 and 1")
        if value == 0:
            raise NarspeechError(f"part {item!r} would be empty")
        parts.append((name, value))
    if len({n for n, _ in parts}) != len(parts):
        raise NarspeechError(f"part names repeat in {spec!r}")
    if sum(isinstance(v, int) and v < 0 for _, v in parts) > 1:
        raise NarspeechError("at most one part may be -N (the rest)")
    return parts


def part_counts(sizes: list[float | int], n: int) -> list[int]:
    """How many units each part gets out of `n`; ratios summing to 1 cover every unit exactly."""
    ratio_idx = [i for i, v in enumerate(sizes) if isinstance(v, float)]
    counts = [0] * len(sizes)
    cum = 0.0
    prev = 0
    for i in ratio_idx:
        cum += sizes[i]
        bound = round(cum * n)
        counts[i], prev = bound - prev, bound
    for i, v in enumerate(sizes):
        if isinstance(v, int):
            counts[i] = v if v > 0 else n + v
    if any(c <= 0 for c in counts) or sum(counts) > n:
        raise NarspeechError(f"cannot make parts of sizes {sizes} from {n}: would get {counts}")
    return counts


def split(dd: DataDir, sizes: list[float | int], *, by_speaker: bool = False, seed: int = 0,
          ordered: bool = False) -> list[DataDir]:
    """Partition `dd` into disjoint parts of the given sizes (see :func:`parse_parts`).

    Sizes count utterances, or speakers with ``by_speaker`` (every speaker then lies in
    one part only). Units are shuffled with `seed`, or taken in sorted id order with
    ``ordered`` (e.g. ARCTIC's last utterances as dev/test).
    """
    units = sorted(set(dd.utt2spk.values())) if by_speaker else dd.utts
    counts = part_counts(sizes, len(units))
    order = list(units)
    if not ordered:
        random.Random(seed).shuffle(order)
    parts, start = [], 0
    for c in counts:
        chosen = set(order[start:start + c])
        start += c
        utts = [u for u in dd.utts if dd.utt2spk[u] in chosen] if by_speaker else chosen
        parts.append(dd.subset(utts))
    return parts
