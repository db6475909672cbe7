"""Edge-silence trimming: cut leading and trailing silence from recordings before training.

Read speech corpora carry long silent edges (`arctic_fb`: median 325 ms before and 1 s after
the speech, a third of all audio). An AR teacher's attention then has to spend whole phones
on the silence, durations drift, and FastSpeech learns silent frames it cannot place
(ESPnet and ming024/FastSpeech2 trim too). The rule, like ``librosa.effects.trim``: frames
whose RMS is more than ``top_db`` below the utterance's loudest frame are silence; keep
from the first to the last non-silent frame, plus ``margin`` seconds each side. One addition:
a breath or lip click after the last word (seen in `arctic_fb`: a burst 36 dB down, 1 s after
the speech) is not speech, so a run of non-silent frames (gaps under 50 ms closed) only anchors
a bound if its own peak is within ``anchor_db`` of the loudest frame; a quiet final fricative
joined to its vowel stays, being part of the vowel's run.

:func:`speech_bounds` is the rule on one waveform; :func:`trim_data_dir` writes a new
Kaldi data dir with trimmed copies of the audio (PCM16 at the file's own rate) and a
``trim`` table (``utt start end original_duration``, seconds) so nothing is hidden.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

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


@dataclass
class TrimResult:
    """Per-utterance bounds in seconds, and the totals for the summary line."""

    bounds: dict[str, tuple[float, float, float]] = field(default_factory=dict)  # utt -> (start, end, duration)

    def summary(self) -> str:
        if not self.bounds:
            return "0 utterances"
        b = np.array(list(self.bounds.values()))
        lead, trail, total = b[:, 0], b[:, 2] - b[:, 1], b[:, 2].sum()
        cut = lead.sum() + trail.sum()
        return (f"{len(b)} utterances, {total / 3600:.2f} h -> {(total - cut) / 3600:.2f} h "
                f"({cut / max(total, 1e-9):.0%} cut); median leading {np.median(lead) * 1000:.0f} ms, "
                f"trailing {np.median(trail) * 1000:.0f} ms")


def trim_data_dir(src: str | Path, out: str | Path, *, top_db: float = 40.0, margin: float = 0.05, jobs: int = 2) -> TrimResult:
    """Write `out`: the data dir `src` with every recording's edge silence cut (audio in `out/wav/`)."""
    from narspeech.audio.io import load_audio, resolve_entry, write_wav
    from narspeech.data.datadir import read_data_dir, write_data_dir
    from narspeech.data.kaldi import guess_base
    from narspeech.fileio import write_table
    from narspeech.progress import progress

    src, out = Path(src), Path(out)
    if src.resolve() == out.resolve():
        raise NarspeechError("trim: the output must be a new data dir (the recordings would be overwritten)", path=out)
    dd = read_data_dir(src)
    base = guess_base(src, dd.wav_scp)
    wav_dir = (out / "wav").resolve()
    wav_dir.mkdir(parents=True, exist_ok=True)
    result = TrimResult()

    def one(utt: str) -> tuple[str, str, tuple[float, float, float]]:
        wav, sr = load_audio(resolve_entry(dd.wav_scp[utt], base), utt=utt)
        s, e = speech_bounds(wav, sr, top_db, margin)
        path = wav_dir / f"{utt}.wav"
        write_wav(path, wav[s:e], sr)
        return utt, str(path), (s / sr, e / sr, len(wav) / sr)

    new_scp, utt2dur = {}, {}
    with ThreadPoolExecutor(max(int(jobs), 1)) as pool:
        for utt, path, b in progress(pool.map(one, dd.utts), total=len(dd), desc="trim"):
            new_scp[utt] = path
            result.bounds[utt] = b
            utt2dur[utt] = f"{b[1] - b[0]:.4f}"
    dd.wav_scp = new_scp
    dd.extra_utt["utt2dur"] = utt2dur
    write_data_dir(out, dd)
    write_table(out / "trim", {u: f"{s:.4f} {e:.4f} {d:.4f}" for u, (s, e, d) in result.bounds.items()})
    return result
