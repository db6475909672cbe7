"""Global feature statistics of a dump → stats.npz (`narspeech feats stats`).

Mean and standard deviation per mel bin, of F0 over voiced frames only (Hz, and of
log F0), and of energy. Per-utterance moments are computed in float64 and merged with
Chan et al.'s pairwise update, so the result is exact and stable for any corpus size.

Keys: ``mel_mean, mel_std`` (n_mels,); ``f0_mean, f0_std, f0_min, f0_max``,
``logf0_mean, logf0_std``, ``energy_mean, energy_std, energy_min, energy_max`` (scalars);
``mel_count, f0_count, energy_count, num_utts`` (counts: frames, voiced frames,
frames, utterances). The std is the population std (ddof=0).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from narspeech.audio.dump import read_dump
from narspeech.errors import NarspeechError
from narspeech.fileio import atomic_path
from narspeech.progress import progress


@dataclass
class Moments:
    """Running count, mean and sum of squared deviations (M2), min and max, in float64."""

    count: int = 0
    mean: np.ndarray | float = 0.0
    m2: np.ndarray | float = 0.0
    lo: np.ndarray | float = field(default=np.inf)
    hi: np.ndarray | float = field(default=-np.inf)

    def add(self, x: np.ndarray) -> None:
        """Merge a block of samples (n, ...) along axis 0."""
        x = np.asarray(x, dtype=np.float64)
        n = x.shape[0]
        if n == 0:
            return
        mean_b = x.mean(axis=0)
        m2_b = ((x - mean_b) ** 2).sum(axis=0)
        total = self.count + n
        delta = mean_b - self.mean
        self.mean = self.mean + delta * (n / total)
        self.m2 = self.m2 + m2_b + delta**2 * (self.count * n / total)
        self.lo = np.minimum(self.lo, x.min(axis=0))
        self.hi = np.maximum(self.hi, x.max(axis=0))
        self.count = total

    @property
    def std(self) -> np.ndarray | float:
        return np.sqrt(self.m2 / max(self.count, 1))


def compute_stats(dump_dir: str | Path) -> dict[str, np.ndarray]:
    """Statistics of every utterance in DUMP (see module docstring for the keys)."""
    dump = read_dump(dump_dir)
    mel, f0, logf0, en = Moments(), Moments(), Moments(), Moments()
    try:
        for utt in progress(dump.utts, total=len(dump), desc="feature stats", unit="utt"):
            m, p, e = dump.feats[utt], dump.f0[utt], dump.energy[utt]
            if m.ndim != 2 or m.shape[1] != dump.config.n_mels or p.shape != (m.shape[0],) or e.shape != (m.shape[0],):
                raise NarspeechError(f"feature shapes disagree: feats {m.shape}, f0 {p.shape}, energy {e.shape}", utt=utt, path=dump.path)
            mel.add(m)
            en.add(e)
            voiced = p[p > 0].astype(np.float64)
            f0.add(voiced)
            logf0.add(np.log(voiced))
    finally:
        dump.close()
    if f0.count == 0:
        raise NarspeechError("no voiced frame in the dump: cannot compute F0 statistics", path=dump.path)
    scalar = lambda v: np.asarray(v, dtype=np.float64)  # noqa: E731
    return {
        "mel_mean": np.asarray(mel.mean, dtype=np.float64),
        "mel_std": np.asarray(mel.std, dtype=np.float64),
        "f0_mean": scalar(f0.mean),
        "f0_std": scalar(f0.std),
        "f0_min": scalar(f0.lo),
        "f0_max": scalar(f0.hi),
        "logf0_mean": scalar(logf0.mean),
        "logf0_std": scalar(logf0.std),
        "energy_mean": scalar(en.mean),
        "energy_std": scalar(en.std),
        "energy_min": scalar(en.lo),
        "energy_max": scalar(en.hi),
        "mel_count": np.asarray(mel.count),
        "f0_count": np.asarray(f0.count),
        "energy_count": np.asarray(en.count),
        "num_utts": np.asarray(len(dump)),
    }


def save_stats(stats: dict[str, np.ndarray], path: str | Path) -> None:
    """Write stats.npz atomically."""
    path = Path(path)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **stats)


def load_stats(path: str | Path) -> dict[str, np.ndarray]:
    """Read stats.npz back as a dict of arrays."""
    path = Path(path)
    if not path.is_file():
        raise NarspeechError("stats file not found (run `narspeech feats stats DUMP`)", path=path)
    with np.load(path) as z:
        return {k: z[k] for k in z.files}
