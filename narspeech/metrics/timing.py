"""Wall-clock timing that is honest on GPUs: synchronise before reading the clock.

CUDA kernels run asynchronously, so a timer must call ``torch.cuda.synchronize``
before start and stop or it measures only the launch. Real-time factor (RTF) is
compute seconds divided by seconds of audio produced (< 1 is faster than real time).
"""
from __future__ import annotations

import statistics
import time
from typing import Any, Callable

import torch


def synchronize(device: torch.device | str | None) -> None:
    """Wait for queued work on `device` (a no-op on CPU)."""
    if device is not None and torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


class Timer:
    """``with Timer(device) as t: …`` then ``t.seconds``; synchronises CUDA at both ends."""

    def __init__(self, device: torch.device | str | None = None):
        self.device = device
        self.seconds = 0.0

    def __enter__(self) -> "Timer":
        synchronize(self.device)
        self._t0 = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        synchronize(self.device)
        self.seconds = time.perf_counter() - self._t0


def time_call(fn: Callable[[], Any], *, device: torch.device | str | None = None, repeat: int = 3, warmup: int = 1) -> tuple[list[float], Any]:
    """Run `fn` `warmup` times untimed, then `repeat` times timed; return (seconds per run, last result)."""
    result = None
    for _ in range(max(0, warmup)):
        result = fn()
    times = []
    for _ in range(max(1, repeat)):
        with Timer(device) as t:
            result = fn()
        times.append(t.seconds)
    return times, result


def summarize(times: list[float]) -> dict[str, float]:
    """mean / std / median / min of a list of timings in seconds."""
    if not times:
        raise ValueError("no timings to summarize")
    return {
        "mean": statistics.fmean(times),
        "std": statistics.pstdev(times) if len(times) > 1 else 0.0,
        "median": statistics.median(times),
        "min": min(times),
        "runs": len(times),
    }


def real_time_factor(compute_seconds: float, audio_seconds: float) -> float:
    """Compute time per second of audio produced (inf if no audio)."""
    return compute_seconds / audio_seconds if audio_seconds > 0 else float("inf")
