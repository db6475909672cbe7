"""F0 error between a recording and a synthesis along a given frame alignment.

F0 tracks are (T,) arrays in Hz with 0 for unvoiced frames (the dump's convention).
Over the aligned frame pairs (typically the MCD DTW path):

* ``f0_rmse_hz`` / ``f0_rmse_cents``: RMSE over pairs voiced in **both** tracks
  (cents = 1200·log2(f_syn / f_ref), insensitive to the speaker's register);
* ``vde``: voicing decision error, the fraction of pairs whose voiced/unvoiced
  decisions differ;
* ``voiced_pairs``: how many pairs entered the RMSE (an RMSE over 3 frames means little;
  with none the RMSE is NaN, never a flattering number);
* ``ref_voiced`` / ``syn_voiced``: voiced pairs on each side, for voicing precision/recall/F1
  (:func:`voicing_f1`) with the recording as truth. Unlike VDE, which a system with no voiced
  frame at all passes at the recording's unvoiced share, F1 is 0 for it.
"""
from __future__ import annotations

import numpy as np


def f0_errors(f0_ref: np.ndarray, f0_syn: np.ndarray, path: np.ndarray | None = None) -> dict[str, float]:
    """F0 RMSE (Hz, cents) and voicing decision error of `f0_syn` against `f0_ref`.

    `path` is a (K, 2) array of (ref frame, synth frame) pairs; without it the two
    tracks are compared frame by frame over their common length.
    """
    f0_ref = np.asarray(f0_ref, dtype=np.float64).reshape(-1)
    f0_syn = np.asarray(f0_syn, dtype=np.float64).reshape(-1)
    if path is None:
        n = min(len(f0_ref), len(f0_syn))
        path = np.stack([np.arange(n), np.arange(n)], axis=1)
    path = np.asarray(path)
    # the DTW path comes from spectra whose frame count may differ by one from the F0 track's
    ri = np.minimum(path[:, 0], len(f0_ref) - 1)
    si = np.minimum(path[:, 1], len(f0_syn) - 1)
    a, b = f0_ref[ri], f0_syn[si]
    va, vb = a > 0, b > 0
    both = va & vb
    out = {"vde": float(np.mean(va != vb)) if len(a) else float("nan"), "voiced_pairs": int(both.sum()),
           "ref_voiced": int(va.sum()), "syn_voiced": int(vb.sum())}
    if both.any():
        d = b[both] - a[both]
        cents = 1200.0 * np.log2(b[both] / a[both])
        out["f0_rmse_hz"] = float(np.sqrt(np.mean(d * d)))
        out["f0_rmse_cents"] = float(np.sqrt(np.mean(cents * cents)))
    else:
        out["f0_rmse_hz"] = out["f0_rmse_cents"] = float("nan")
    return out


def voicing_f1(both: int, ref_voiced: int, syn_voiced: int) -> dict[str, float]:
    """Voicing precision, recall and F1 of the synthesis, the recording's voiced frames as truth.

    From counts of aligned frame pairs (summed over utterances for a corpus score). No
    voiced synthesis frame gives precision 0 and F1 0; no voiced recording frame gives NaN.
    """
    if ref_voiced <= 0:
        return {"precision": float("nan"), "recall": float("nan"), "f1": float("nan")}
    p = both / syn_voiced if syn_voiced > 0 else 0.0
    r = both / ref_voiced
    return {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r > 0 else 0.0}
