"""Edge-silence trimming: cut leading and trailing silence from recordings before training.

Read speech corpora carry long silent edges (in some, a third of all audio). An AR teacher's attention then has to spend whole phones
on the silence, durations drift, and FastSpeech learns silent frames it cannot place
(ESPnet and ming024/FastSpeech2 trim too). The rule, like ``librosa.effects.trim``: frames
whose RMS is more than ``top_db`` below the utterance's loudest frame are silence; keep
from the first to the last non-silent frame, plus ``margin`` seconds each side. One addition:
a breath or lip click after the last word is not speech, so a run of non-silent frames (gaps under 50 ms closed) only anchors
a bound if its own peak is within ``anchor_db`` of the loudest frame; a quiet final fricative
joined to its vowel stays, being part of the vowel's run.

:func:`speech_bounds` is the rule on one waveform; :func:`narspeech.data.trim.trim_data_dir`
applies it to a data dir.
"""
from __future__ import annotations

import numpy as np

from narspeech.errors import NarspeechError

FRAME_S = 0.020   # analysis window
HOP_S = 0.005     # analysis hop: the bounds are exact to 5 ms


def frame_db(wav: np.ndarray, sr: int, frame_s: float = FRAME_S, hop_s: float = HOP_S) -> np.ndarray:
    """RMS level (dB, relative to full scale) of frames starting every `hop_s` seconds."""
    n, hop = max(int(round(frame_s * sr)), 1), max(int(round(hop_s * sr)), 1)
    if len(wav) < n:
        wav = np.pad(wav, (0, n - len(wav)))
    frames = np.lib.stride_tricks.sliding_window_view(wav.astype(np.float64), n)[::hop]
    rms = np.sqrt(np.mean(frames * frames, axis=1))
    return 20.0 * np.log10(np.maximum(rms, 1e-10))


def _runs(mask: np.ndarray, max_gap: int) -> list[tuple[int, int]]:
    """[first, last] frame of each run of True, runs closer than `max_gap` frames merged."""
    idx = np.flatnonzero(mask)
    if idx.size == 0:
        return []
    cuts = np.flatnonzero(np.diff(idx) > max_gap + 1)
    starts = np.concatenate([[idx[0]], idx[cuts + 1]])
    ends = np.concatenate([idx[cuts], [idx[-1]]])
    return list(zip(starts.tolist(), ends.tolist()))


def speech_bounds(wav: np.ndarray, sr: int, top_db: float = 40.0, margin: float = 0.05,
                  anchor_db: float = 25.0) -> tuple[int, int]:
    """Sample range [start, end) from the first to the last frame within `top_db` of the loudest one
    (counting only runs whose peak is within `anchor_db` of it), widened by `margin` seconds each
    side (clipped to the file). All-silent input keeps everything."""
    if top_db <= 0:
        raise NarspeechError(f"trim: top_db must be > 0 (got {top_db})")
    if len(wav) == 0:
        return 0, 0
    db = frame_db(wav, sr)
    peak = db.max()
    if peak <= -100.0:  # digital silence: nothing to anchor on
        return 0, len(wav)
    hop, n = int(round(HOP_S * sr)), int(round(FRAME_S * sr))
    runs = [(a, b) for a, b in _runs(db > peak - top_db, int(0.05 / HOP_S)) if db[a: b + 1].max() > peak - max(anchor_db, 0.0)]
    pad = int(round(margin * sr))
    start = max(runs[0][0] * hop - pad, 0)
    end = min(runs[-1][1] * hop + n + pad, len(wav))
    return start, end
