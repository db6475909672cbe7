"""Trim a data dir: a new Kaldi data dir with edge silence cut from every recording.

The rule on one waveform is :func:`narspeech.audio.trim.speech_bounds`. The trimmed copies are PCM16 at
each file's own rate, and a ``trim`` table (``utt start end original_duration``, seconds) keeps what was cut.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from narspeech.audio.io import guess_base, load_audio, resolve_entry, write_wav
from narspeech.audio.trim import speech_bounds
from narspeech.data.datadir import read_data_dir, write_data_dir
from narspeech.errors import NarspeechError
from narspeech.fileio import write_table
from narspeech.progress import progress


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
