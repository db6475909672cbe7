"""The one batcher: indices sorted by length, cut into batches under constraints given as parameters.

Every caller batches here (lhotse's habit: one sampling package, constraints as parameters):
training buckets (frames or tokens per batch), feature extraction (milliseconds per batch),
synthesis (sentences per batch, similar lengths), vocoding, ASR decoding and correction.
"""
from __future__ import annotations

from typing import Sequence


def make_batches(lengths: Sequence[float], *, max_items: int = 0, max_padded: float = 0, max_ratio: float = 0.0,
                 longest_first: bool = False) -> list[list[int]]:
    """Cut indices, sorted by length (ties by index), greedily into batches.

    A new batch starts when adding the next item would break a constraint: more than
    `max_items` items; a padded size (longest × count) over `max_padded`; a longest item more than
    `max_ratio` times the shortest. A constraint of 0 is off; an item over `max_padded` comes alone.
    `longest_first` sorts descending (synthesis and vocoding: padding is small and OOM shows early).

    >>> make_batches([3, 1, 2, 5], max_padded=6)
    [[1, 2], [0], [3]]
    >>> make_batches([3, 1, 2, 5], max_items=2, longest_first=True)
    [[3, 0], [2, 1]]
    """
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i] if longest_first else lengths[i], i))
    batches: list[list[int]] = []
    cur: list[int] = []
    for i in order:
        if cur:
            first, n = lengths[cur[0]], lengths[i]
            longest, shortest = max(first, n), min(first, n)
            if ((max_items > 0 and len(cur) >= max_items) or (max_padded > 0 and longest * (len(cur) + 1) > max_padded)
                    or (max_ratio > 0 and longest > max_ratio * shortest)):
                batches.append(cur)
                cur = []
        cur.append(i)
    if cur:
        batches.append(cur)
    return batches


def chunks(n: int, size: int) -> list[list[int]]:
    """Indices 0..n-1 in order, `size` at a time (0 = all in one): batches of items already sorted."""
    size = n if size <= 0 else size
    return [list(range(i, min(n, i + size))) for i in range(0, n, size)]
