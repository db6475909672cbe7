"""Sentence-internal pauses: where a speaker pauses, and whether a synthesis does too.

    python benchmarks/tts/pauses.py DIR [DIR ...] [--data DATA --durations FILE] [--min-frames 8] [--below-db 40]

Each DIR holds a ``feats.scp`` of log-mels (a feature dump, or a `tts synthesize` output dir). A pause is a
run of at least ``--min-frames`` frames more than ``--below-db`` dB under the utterance's loudest frame that
touches neither end (edge silence is not a pause). Prints, per DIR, the pauses, the utterances with one and
their frames. With ``--data`` (its ``token`` file) and ``--durations`` (made on the first DIR, e.g. a dump and
`tts align`'s durations), also which token holds each pause (the one overlapping it most: punctuation, the
word boundary ``<space>``, or a phone) and how often each punctuation mark inside a sentence is paused at.

It tells whether a speaker's pauses are predictable from the text at all (arctic's: egs/arctic/tts1/RESULTS.md).
"""
from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

import kaldiio
import numpy as np

from narspeech.fileio import read_table
from narspeech.metrics.spectral import frame_level_db, near_floor
from narspeech.tts.durations.aligner import SKIPPABLE, WORD_BOUNDARY
from narspeech.tts.durations.files import read_durations


def internal_pauses(log_mel: np.ndarray, min_frames: int = 8, below_db: float = 40.0) -> list[tuple[int, int]]:
    """[start, end) of each run of ≥ `min_frames` frames more than `below_db` dB under the peak, not at an edge."""
    level = frame_level_db(log_mel)
    quiet = np.concatenate([[False], near_floor(level, level.max(), below_db), [False]])
    edges = np.flatnonzero(np.diff(quiet.astype(np.int8)))
    runs = zip(edges[::2], edges[1::2])
    return [(int(a), int(b)) for a, b in runs if b - a >= min_frames and a > 0 and b < len(level)]


def holder(durations: np.ndarray, start: int, end: int) -> int:
    """Index of the token whose frames overlap [start, end) most."""
    ends = np.cumsum(durations)
    overlap = np.minimum(ends, end) - np.maximum(ends - durations, start)
    return int(np.argmax(overlap))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("dirs", nargs="+", type=Path)
    ap.add_argument("--data", type=Path, help="data dir whose `token` file the durations index")
    ap.add_argument("--durations", type=Path, help="durations of the first DIR's utterances")
    ap.add_argument("--min-frames", type=int, default=8)
    ap.add_argument("--below-db", type=float, default=40.0)
    a = ap.parse_args()
    found = {}
    for d in a.dirs:
        feats = kaldiio.load_scp(str(d / "feats.scp"))
        found[d] = {u: internal_pauses(feats[u], a.min_frames, a.below_db) for u in sorted(feats)}
        runs = found[d].values()
        print(f"{d}: {sum(map(len, runs))} pauses of >= {a.min_frames} frames in {sum(bool(r) for r in runs)} of "
              f"{len(found[d])} utterances, {sum(b - s for r in runs for s, b in r)} frames")
    if a.data is None or a.durations is None:
        return
    tokens = {u: t.split() for u, t in read_table(a.data / "token").items()}
    durations = read_durations(a.durations)
    held, paused, marks = Counter(), Counter(), Counter()
    for u, runs in found[a.dirs[0]].items():
        if u not in durations or u not in tokens:
            continue
        tok, dur = tokens[u], durations[u]
        for s, e in runs:
            t = tok[holder(dur, s, e)]
            held[t if t in SKIPPABLE or t == WORD_BOUNDARY else "a phone"] += 1
        ends = np.cumsum(dur)
        for k, t in enumerate(tok[:-1]):
            if t in SKIPPABLE and k > 0:
                marks[t] += 1
                mid = (ends[k] - dur[k] + ends[k]) / 2
                paused[t] += any(s - 3 <= mid <= e + 3 for s, e in runs)
    print("held by: " + ", ".join(f"{t} {n}" for t, n in held.most_common()))
    print("punctuation inside sentences paused at: " + ", ".join(f"'{t}' {paused[t]} of {n}" for t, n in marks.most_common()))


if __name__ == "__main__":
    main()
