"""Length-bucketed batches: similar lengths together, bounded by padded size, shuffled per epoch.

Batches are made once: the items are sorted by length and cut greedily so that the
**padded size** ``max_len * batch_size`` stays within ``batch_bins`` (and the batch within
``max_batch_size`` items). Padded size, not the sum of lengths, is what the padded
tensors on the GPU cost, so it is the bound that keeps memory flat across buckets;
since neighbours in sorted order have similar lengths the two differ little.
An item longer than ``batch_bins`` on its own gets a batch of one (and is counted in
:attr:`BucketBatchSampler.oversized`).

Each epoch the batch *order* is shuffled with a generator seeded by ``seed + epoch``,
so the order is the same on every rank and on every rerun. The shuffle moves slots of
``step_batches`` batches that are neighbours in length (the batches of one update:
``world_size * accum_grad``; 1 on one process without accumulation, a plain shuffle).
Under DDP rank ``r`` of ``W`` takes batches ``r, r+W, r+2W, …`` of that order, so the
ranks that run side by side get batches of similar length and none waits long for
another at the gradient all-reduce. The sorted list is padded with its longest
batches to a multiple of ``W`` so all ranks take the same number of steps; together one
step of ``W`` ranks sees the same ``W`` batches that one process with ``accum_grad=W``
sees.
``set_epoch(epoch, start=k)`` skips the first ``k`` batches of this rank's share,
which is how a run killed mid-epoch resumes where it stopped.
"""
from __future__ import annotations

from typing import Iterator, Sequence

import torch

from narspeech.batching import make_batches
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
        step_batches: int = 0,
    ):
        if len(lengths) == 0:
            raise NarspeechError("empty dataset: nothing to batch")
        self.lengths = [int(n) for n in lengths]
        self.batch_bins, self.max_batch_size = int(batch_bins), int(max_batch_size)
        if self.batch_bins <= 0:
            raise NarspeechError(f"train.batch_bins must be positive, got {self.batch_bins}")
        self.batches = make_batches(self.lengths, max_padded=self.batch_bins, max_items=self.max_batch_size)
        self.oversized = sum(1 for n in self.lengths if n > self.batch_bins)
        self.shuffle, self.seed = shuffle, int(seed)
        self.rank, self.world_size = rank, world_size
        self.pad_to_world = pad_to_world
        self.step_batches = int(step_batches) or world_size
        if self.step_batches % world_size:
            raise NarspeechError(f"step_batches ({step_batches}) must be a multiple of the world size ({world_size})")
        self.epoch, self.start = 0, 0

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        """Choose the epoch's shuffle and skip this rank's first `start` batches (resume)."""
        self.epoch, self.start = int(epoch), int(start)

    def epoch_batches(self, epoch: int | None = None) -> list[list[int]]:
        """This rank's batches for `epoch` in order (no `start` skip)."""
        epoch = self.epoch if epoch is None else epoch
        n = len(self.batches)
        order = list(range(n))  # sorted by length
        if self.world_size > 1 and self.pad_to_world:
            order += [(n - 1 - j) % n for j in range((-n) % self.world_size)]
        if self.shuffle:
            g = torch.Generator().manual_seed(self.seed + epoch)
            k = self.step_batches
            slots = [order[i : i + k] for i in range(0, len(order), k)]
            order = [b for i in torch.randperm(len(slots), generator=g).tolist() for b in slots[i]]
        return [self.batches[i] for i in order[self.rank :: self.world_size]]

    def __iter__(self) -> Iterator[list[int]]:
        yield from self.epoch_batches()[self.start :]

    def __len__(self) -> int:
        n = len(self.batches)
        if self.world_size > 1:
            n = -(-n // self.world_size) if self.pad_to_world else len(range(self.rank, n, self.world_size))
        return n
