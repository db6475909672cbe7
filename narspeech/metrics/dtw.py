"""Dynamic time warping between two feature sequences (vectorised over anti-diagonals).

Used to align a synthesised utterance with its recording before scoring MCD and
F0 error: the two differ in timing, so frames are compared along the cheapest
monotonic path. Steps are (1,0), (0,1), (1,1), all weight 1 (the symmetric-1
pattern that MCD-DTW scripts use); an optional Sakoe–Chiba band limits how far the
path strays from the diagonal.
"""
from __future__ import annotations

import numpy as np


def euclidean_cost(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise Euclidean distance matrix (N, M) between rows of `a` (N, D) and `b` (M, D)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    d2 = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
    return np.sqrt(np.maximum(d2, 0.0))


def dtw_path(cost: np.ndarray, band: int | None = None) -> tuple[np.ndarray, float]:
    """Cheapest monotonic path through `cost` (N, M) from (0, 0) to (N-1, M-1).

    Returns ``(path, total)``: `path` is an int array (K, 2) of (i, j) pairs, `total`
    the summed cost along it. `band` (frames) is a Sakoe–Chiba window around the
    line joining the corners (at least 1, so a path along that line always exists).

    The recursion ``D[i,j] = C[i,j] + min(D[i-1,j], D[i,j-1], D[i-1,j-1])`` is run one
    anti-diagonal at a time, so each step is a numpy operation over all its cells.
    """
    cost = np.asarray(cost, dtype=np.float64)
    if cost.ndim != 2 or cost.shape[0] == 0 or cost.shape[1] == 0:
        raise ValueError(f"dtw_path needs a non-empty 2-D cost matrix, got shape {cost.shape}")
    n, m = cost.shape
    if band is not None:
        band = max(int(band), 1)
        i = np.arange(n)[:, None]
        j = np.arange(m)[None, :]
        # distance of (i, j) from the corner-to-corner line, measured in frames of the longer axis
        off = np.abs(i * (m - 1) - j * (n - 1)) / max(n - 1, m - 1, 1)
        cost = np.where(off <= band, cost, np.inf)

    acc = np.full((n + 1, m + 1), np.inf)
    acc[0, 0] = 0.0
    # step[i, j]: 0 = diagonal, 1 = from above (i-1, j), 2 = from left (i, j-1)
    step = np.zeros((n, m), dtype=np.int8)
    for k in range(n + m - 1):  # anti-diagonal i + j = k (0-based cost indices)
        i = np.arange(max(0, k - m + 1), min(n, k + 1))
        j = k - i
        cand = np.stack([acc[i, j], acc[i, j + 1], acc[i + 1, j]])  # diag, up, left (acc is 1-offset)
        best = np.argmin(cand, axis=0)
        acc[i + 1, j + 1] = cost[i, j] + cand[best, np.arange(len(i))]
        step[i, j] = best
    total = float(acc[n, m])
    if not np.isfinite(total):
        raise ValueError("no DTW path within the band")

    path = []
    i, j = n - 1, m - 1
    while True:
        path.append((i, j))
        if i == 0 and j == 0:
            break
        s = step[i, j]
        if s == 0:
            i, j = i - 1, j - 1
        elif s == 1:
            i -= 1
        else:
            j -= 1
    return np.asarray(path[::-1], dtype=np.int64), total


def dtw(a: np.ndarray, b: np.ndarray, band: int | None = None) -> tuple[np.ndarray, float]:
    """Align feature sequences `a` (N, D) and `b` (M, D) with Euclidean frame distance."""
    return dtw_path(euclidean_cost(a, b), band=band)
