"""Length-bucketed batches: similar lengths together, bounded by padded size, shuffled per epoch.

Batches are made once: the items are sorted by length and cut greedily so that the
**padded size** ``max_len * batch_size`` stays within ``batch_bins`` (and the batch within
``max_batch_size`` items). Padded size, not the sum of lengths, is what the padded
tensors on the GPU cost, so it is the bound that keeps memory flat across buckets;
since neighbours in sorted order have similar lengths the two differ little.
An item longer than ``batch_bins`` on its own gets a batch of one (and is counted in
:attr:`BucketBatchSampler.oversized`).

Each epoch the batch *order* is shuffled with a generator seeded by ``seed + epoch``,
so the order is the same on every rank and on every rerun. Under DDP rank ``r`` of
``W`` takes batches ``r, r+W, r+2W, …`` of that order (the list is wrapped round to a
multiple of ``W`` so all ranks take the same number of steps); together one step of
``W`` ranks sees the same ``W`` batches that one process with ``accum_grad=W`` sees.
``set_epoch(epoch, start=k)`` skips the first ``k`` batches of this rank's share,
which is how a run killed mid-epoch resumes where it stopped.
"""
from __future__ import annotations

from typing import Iterator, Sequence

import torch

from narspeech.data.batching import make_batches  # noqa: F401  (re-exported: the sampler's bucketing)
from narspeech.errors import NarspeechError


class BucketBatchSampler(torch.utils.data.Sampler[list[int]]):
    """Batch sampler over length buckets; deterministic given ``seed`` and epoch; DDP-aware.

    Pass it as ``DataLoader(batch_sampler=…)``. ``len()`` is this rank's number of batches
    per epoch (before any ``start`` skip).
    """

    def __init__(
        self,
        lengths: Sequence[int],
        batch_bins: int,
        max_batch_size: int = 0,
        *,
        shuffle: bool = True,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        pad_to_world: bool = True,
    ):
        if len(lengths) == 0:
            raise NarspeechError("empty dataset: nothing to batch")
        self.lengths = [int(n) for n in lengths]
        self.batch_bins, self.max_batch_size = int(batch_bins), int(max_batch_size)
        self.batches = make_batches(self.lengths, self.batch_bins, self.max_batch_size)
        self.oversized = sum(1 for n in self.lengths if n > self.batch_bins)
        self.shuffle, self.seed = shuffle, int(seed)
        self.rank, self.world_size = rank, world_size
        self.pad_to_world = pad_to_world
        self.epoch, self.start = 0, 0

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        """Choose the epoch's shuffle and skip this rank's first `start` batches (resume)."""
        self.epoch, self.start = int(epoch), int(start)

    def epoch_batches(self, epoch: int | None = None) -> list[list[int]]:
        """This rank's batches for `epoch` in order (no `start` skip)."""
        epoch = self.epoch if epoch is None else epoch
        order = list(range(len(self.batches)))
        if self.shuffle:
            g = torch.Generator().manual_seed(self.seed + epoch)
            order = torch.randperm(len(order), generator=g).tolist()
        if self.world_size > 1:
            if self.pad_to_world:
                pad = (-len(order)) % self.world_size
                order = order + (order * (pad // max(len(order), 1) + 1))[:pad]
            order = order[self.rank :: self.world_size]
        return [self.batches[i] for i in order]

    def __iter__(self) -> Iterator[list[int]]:
        yield from self.epoch_batches()[self.start :]

    def __len__(self) -> int:
        n = len(self.batches)
        if self.world_size > 1:
            n = -(-n // self.world_size) if self.pad_to_world else len(range(self.rank, n, self.world_size))
        return n
