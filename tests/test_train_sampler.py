"""Length-bucketed batching: padded-size bound, determinism per (seed, epoch), DDP shares, resume skip."""
from __future__ import annotations

import random

import pytest
import torch

from narspeech.errors import NarspeechError
from narspeech.batching import make_batches
from narspeech.train.sampler import BucketBatchSampler


def test_batches_respect_padded_size_and_cover_everything_once():
    rng = random.Random(0)
    lengths = [rng.randint(1, 100) for _ in range(500)]
    batches = make_batches(lengths, max_padded=400, max_items=16)
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
    perm = torch.randperm(len(a.batches), generator=torch.Generator().manual_seed(3 + 1)).tolist()
    assert a.epoch_batches(1) == [a.batches[i] for i in perm]  # one process: the plain shuffle earlier runs used


def test_ranks_take_length_neighbours_at_each_step_of_a_shuffled_order():
    """Under DDP the batches that run side by side (one per rank, same step) are neighbours in length, so no rank
    waits long for another; the steps are still shuffled, each epoch alike on every rank, and cover every batch."""
    lengths = list(range(1, 120))
    batches = BucketBatchSampler(lengths, 200, seed=1).batches
    n, index = len(batches), {tuple(b): i for i, b in enumerate(batches)}
    assert n % 3
    for epoch in (5, 6):
        shares = [BucketBatchSampler(lengths, 200, seed=1, rank=r, world_size=3).epoch_batches(epoch) for r in range(3)]
        assert all(len(s) == -(-n // 3) for s in shares)
        steps = [[index[tuple(s[i])] for s in shares] for i in range(len(shares[0]))]
        for step in steps:
            assert step == [step[0], step[0] + 1, step[0] + 2] or step[0] == 3 * (n // 3)  # the padded last slot
        assert {i for step in steps for i in step} == set(range(n))
        assert [s[0] for s in steps] != sorted(s[0] for s in steps)  # shuffled
    assert BucketBatchSampler(lengths, 200, seed=1, rank=0, world_size=3).epoch_batches(5) != shares[0]


def test_one_update_over_ranks_equals_one_process_accumulating_its_batches():
    lengths = list(range(1, 120))
    one = BucketBatchSampler(lengths, 200, seed=1, step_batches=2).epoch_batches(3)
    two = [BucketBatchSampler(lengths, 200, seed=1, rank=r, world_size=2).epoch_batches(3) for r in range(2)]
    assert len(one) % 2 == 0  # no padding
    assert [b for pair in zip(*two) for b in pair] == one
    with pytest.raises(NarspeechError, match="multiple of the world size"):
        BucketBatchSampler(lengths, 200, world_size=2, step_batches=3)


def test_start_skips_already_consumed_batches():
    s = BucketBatchSampler(list(range(1, 60)), 100, seed=2)
    s.set_epoch(4)
    whole = list(s)
    s.set_epoch(4, start=3)
    assert list(s) == whole[3:]


def test_bad_settings_are_named():
    with pytest.raises(NarspeechError, match="batch_bins"):
        BucketBatchSampler([1, 2], 0)
    with pytest.raises(NarspeechError, match="empty dataset"):
        BucketBatchSampler([], 10)
