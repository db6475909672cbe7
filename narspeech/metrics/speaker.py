"""Pure speaker-verification scorers on embeddings: cosine similarity, equal error rate, nearest centroid."""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np


def unit(v: np.ndarray) -> np.ndarray:
    """`v` (…, D) scaled to unit L2 norm along the last axis."""
    v = np.asarray(v, dtype=np.float64)
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity of two vectors."""
    return float(np.dot(unit(a), unit(b)))


def eer(same: Sequence[float], different: Sequence[float]) -> tuple[float, float]:
    """Equal error rate of a score that should be high for `same`-speaker trials and low for `different` ones:
    the rate where the false-rejection and false-acceptance curves cross (linearly interpolated between the
    thresholds at the trial scores). Returns (eer, threshold)."""
    s, d = np.sort(np.asarray(same, float)), np.sort(np.asarray(different, float))
    if not len(s) or not len(d):
        raise ValueError("EER needs both same- and different-speaker trials")
    thr = np.unique(np.concatenate([s, d]))
    frr = np.searchsorted(s, thr, side="left") / len(s)         # same-speaker trials below the threshold
    far = 1.0 - np.searchsorted(d, thr, side="left") / len(d)   # different-speaker trials at or above it
    k = int(np.argmin(np.abs(frr - far)))
    if frr[k] == far[k] or k == 0:
        return float((frr[k] + far[k]) / 2), float(thr[k])
    j = k - 1 if (frr[k] - far[k]) > 0 else k + 1  # the neighbour on the other side of the crossing
    j = min(max(j, 0), len(thr) - 1)
    a0, a1 = frr[j] - far[j], frr[k] - far[k]
    t = a0 / (a0 - a1) if a0 != a1 else 0.5
    return float(frr[j] + t * (frr[k] - frr[j])), float(thr[j] + t * (thr[k] - thr[j]))


def nearest_centroid(embedding: np.ndarray, centroids: Mapping[str, np.ndarray]) -> tuple[str, float]:
    """(name, cosine) of the centroid closest in cosine to `embedding`."""
    names = sorted(centroids)
    sims = unit(np.stack([centroids[n] for n in names])) @ unit(embedding)
    k = int(np.argmax(sims))
    return names[k], float(sims[k])


def trial_scores(embeddings: Mapping[str, np.ndarray], utt2spk: Mapping[str, str]) -> tuple[list[float], list[float]]:
    """Cosine scores of every pair of utterances: (same-speaker pairs, different-speaker pairs)."""
    utts = sorted(u for u in embeddings if u in utt2spk)
    e = unit(np.stack([embeddings[u] for u in utts]))
    sims = e @ e.T
    spk = np.array([utt2spk[u] for u in utts])
    iu = np.triu_indices(len(utts), k=1)
    same = spk[iu[0]] == spk[iu[1]]
    s = sims[iu]
    return s[same].tolist(), s[~same].tolist()
