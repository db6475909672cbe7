"""What the engine does with datasets and batches: the DataLoader and its workers, iteration, device moves, item counts and names."""
from __future__ import annotations

import signal
from typing import Any, Callable

import torch

from narspeech.errors import NarspeechError
from narspeech.signals import die_with_parent


def to_device(batch: Any, device: torch.device) -> Any:
    """Move the tensors of a (nested) batch to `device`; other values pass through."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, dict):
        return {k: to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(to_device(v, device) for v in batch)
    return batch


def iterate_loader(loader):
    """Iterate a DataLoader; a NarspeechError raised in a worker comes back as the original one line
    (the DataLoader re-raises it with the worker's traceback folded into the message).
    Close it when the loop ends, however it ends (``contextlib.closing`` or ``close()`` in a ``finally``):
    that shuts the workers down, which a traceback kept alive (a caller, pytest) would otherwise keep alive."""
    it = iter(loader)
    try:
        yield from it
    except NarspeechError as e:
        msg = str(e)
        if msg.startswith("Caught NarspeechError"):
            tail = [l for l in msg.splitlines() if l.strip()][-1]
            raise NarspeechError(tail.split("NarspeechError: ", 1)[-1]) from None
        raise
    finally:
        shutdown = getattr(it, "_shutdown_workers", None)  # multi-process iterators only
        if shutdown is not None:
            shutdown()


def batch_items(batch: Any) -> int:
    """Items in a collated batch: the first dimension of its first tensor (1 if none)."""
    values = batch.values() if isinstance(batch, dict) else batch if isinstance(batch, (list, tuple)) else [batch]
    for v in values:
        if isinstance(v, torch.Tensor) and v.dim() > 0:
            return int(v.shape[0])
    return 1


def check_dataset(ds, name: str) -> None:
    lengths = getattr(ds, "lengths", None)
    if lengths is None:
        raise NarspeechError(f"{name} has no `lengths` attribute (frames or tokens per item, for length bucketing)")
    if len(lengths) != len(ds):
        raise NarspeechError(f"{name}: len(lengths)={len(lengths)} but the dataset has {len(ds)} items")


def item_names(ds, idx: list[int], k: int = 3) -> str:
    keys = getattr(ds, "keys", None) or getattr(ds, "utts", None)
    try:
        names = [str(keys[i]) for i in idx[:k]] if keys is not None else [f"#{i}" for i in idx[:k]]
    except Exception:
        names = [f"#{i}" for i in idx[:k]]
    return ", ".join(names) + (", …" if len(idx) > k else "")


WORKER_SIGTERM_GRACE_S = 60


def workers_leave_sigterm_to_the_trainer(_worker_id: int) -> None:
    """A group-wide SIGTERM (``timeout``, Slurm's scancel, a time box) must reach the trainer's handler,
    which stops at the next update with last.pt saved and shuts the workers down; workers that died of
    it first made the trainer fail on "DataLoader worker ... killed" instead. So a worker outlives a
    SIGTERM by a grace period only (then SIGALRM ends it): ignored outright, a worker left behind
    hung its parent's exit, where multiprocessing terminates and joins its daemonic children."""
    die_with_parent()  # a SIGKILLed trainer (OOM killer) leaves no workers holding its files and lock
    # a second SIGTERM keeps the first one's deadline (alarm(0) returns the seconds left)
    signal.signal(signal.SIGTERM, lambda *_: signal.alarm(signal.alarm(0) or WORKER_SIGTERM_GRACE_S))


def make_loader(dataset, sampler, collate_fn: Callable[[list], dict], num_workers: int, device: torch.device, *,
                seed: int) -> torch.utils.data.DataLoader:
    """The DataLoader of one epoch: the sampler's batches, pinned memory on CUDA, workers that leave SIGTERM to the trainer."""
    return torch.utils.data.DataLoader(
        dataset,
        batch_sampler=sampler,
        collate_fn=collate_fn,
        num_workers=num_workers,
        pin_memory=device.type == "cuda",
        # own generator: making an iterator must not draw from the global RNG (exact resume)
        generator=torch.Generator().manual_seed(seed),
        persistent_workers=False,
        prefetch_factor=4 if num_workers > 0 else None,
        worker_init_fn=workers_leave_sigterm_to_the_trainer if num_workers > 0 else None,
    )
