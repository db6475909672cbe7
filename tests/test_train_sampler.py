"""Length-bucketed batching: padded-size bound, determinism per (seed, epoch), DDP shares, resume skip."""
from __future__ import annotations

import random

import pytest

from narspeech.errors import NarspeechError
from narspeech.train.sampler import BucketBatchSampler, make_batches


def test_batches_respect_padded_size_and_cover_everything_once():
    rng = random.Random(0)
    lengths = [rng.randint(1, 100) for _ in range(500)]
    batches = make_batches(lengths, batch_bins=400, max_batch_size=16)
    flat = sorted(i for b in batches for i in b)
    assert flat == list(range(500))
    for b in batches:
        assert len(b) <= 16
        assert max(lengths[i] for i in b) * len(b) <= 400
    # greedy packing is tight: the next item would have overflowed the batch
    order = sorted(range(500), key=lambda i: (lengths[i], i))
    for b, nxt in zip(batches, batches[1:]):
        assert len(b) == 16 or lengths[nxt[0]] * (len(b) + 1) > 400
    assert order == [i for b in batches for i in b]


def test_oversized_item_gets_its_own_batch():
    s = BucketBatchSampler([5, 50, 6], batch_bins=20, shuffle=False)
    assert s.batches == [[0, 2], [1]] and s.oversized == 1


def test_shuffle_is_deterministic_per_seed_and_epoch():
    lengths = list(range(1, 200))
    a = BucketBatchSampler(lengths, 300, seed=3)
    b = BucketBatchSampler(lengths, 300, seed=3)
    a.set_epoch(1)
    b.set_epoch(1)
    assert list(a) == list(b)
    e2 = a.epoch_batches(2)
    assert e2 != a.epoch_batches(1) and sorted(map(tuple, e2)) == sorted(map(tuple, a.epoch_batches(1)))
    assert BucketBatchSampler(lengths, 300, seed=4).epoch_batches(1) != a.epoch_batches(1)


def test_ranks_take_interleaved_shares_of_the_same_order():
    lengths = list(range(1, 120))
    full = BucketBatchSampler(lengths, 200, seed=1).epoch_batches(5)
    shares = [BucketBatchSampler(lengths, 200, seed=1, rank=r, world_size=3).epoch_batches(5) for r in range(3)]
    n = len(full)
    assert all(len(s) == -(-n // 3) for s in shares)
    padded = full + full[: (-n) % 3]
    assert [shares[i % 3][i // 3] for i in range(len(padded))] == padded


def test_start_skips_already_consumed_batches():
    s = BucketBatchSampler(list(range(1, 60)), 100, seed=2)
    s.set_epoch(4)
    whole = list(s)
    s.set_epoch(4, start=3)
    assert list(s) == whole[3:]


def test_bad_settings_are_named():
    with pytest.raises(NarspeechError, match="batch_bins"):
        make_batches([1, 2], 0)
    with pytest.raises(NarspeechError, match="empty dataset"):
        BucketBatchSampler([], 10)
