"""Length bucketing shared by training (frames/tokens per batch) and feature extraction (seconds)."""
from __future__ import annotations

from typing import Sequence

from narspeech.errors import NarspeechError


def make_batches(lengths: Sequence[int], batch_bins: int, max_batch_size: int = 0) -> list[list[int]]:
    """Cut indices, sorted by length (ties by index), into batches with ``max_len*B <= batch_bins``.

    ``max_batch_size <= 0`` means no cap on items. Items longer than ``batch_bins`` come alone.

    >>> make_batches([3, 1, 2, 5], batch_bins=6)
    [[1, 2, 0], [3]]
    """
    if batch_bins <= 0:
        raise NarspeechError(f"train.batch_bins must be positive, got {batch_bins}")
    order = sorted(range(len(lengths)), key=lambda i: (int(lengths[i]), i))
    batches: list[list[int]] = []
    cur: list[int] = []
    for i in order:
        n = int(lengths[i])
        # sorted ascending, so the new item is the batch's longest
        full = cur and (n * (len(cur) + 1) > batch_bins or (max_batch_size > 0 and len(cur) >= max_batch_size))
        if full:
            batches.append(cur)
            cur = []
        cur.append(i)
    if cur:
        batches.append(cur)
    return batches
