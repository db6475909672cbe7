"""The `durations` file (``utt d1 … dN``, frames per token): reading it and checking it against tokens and frames."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from narspeech.errors import NarspeechError
from narspeech.fileio import read_table


def read_durations(path: str | Path) -> dict[str, np.ndarray]:
    """Read a `durations` file (``utt d1 … dN``) into int64 arrays, with errors naming the line's utt."""
    out = {}
    for utt, value in read_table(path).items():
        try:
            d = np.array([int(v) for v in value.split()], dtype=np.int64)
        except ValueError:
            raise NarspeechError(f"durations must be integers, got {value[:60]!r}", utt=utt, path=path) from None
        if (d < 0).any():
            raise NarspeechError("negative duration", utt=utt, path=path)
        out[utt] = d
    return out


def read_filtered(durations_path: str | Path) -> dict[str, float]:
    """Utterances the teacher's duration extraction dropped (``filtered`` beside `durations`)."""
    p = Path(durations_path).parent / "filtered"
    if not p.is_file():
        return {}
    return {u: float(v.split()[0]) for u, v in read_table(p, check_sorted=False).items()}


def check_durations(utt: str, d: np.ndarray, n_tokens: int, n_frames: int, path: str | Path) -> None:
    """Raise a NarspeechError naming the utt and file when durations disagree with tokens or frames."""
    if len(d) != n_tokens:
        raise NarspeechError(f"{len(d)} durations but {n_tokens} tokens (durations from another token file?)", utt=utt, path=path)
    if int(d.sum()) != n_frames:
        raise NarspeechError(f"durations sum to {int(d.sum())} frames but the features have {n_frames} "
                             "(durations from another dump or hop size?)", utt=utt, path=path)
