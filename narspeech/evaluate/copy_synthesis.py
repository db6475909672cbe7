"""Scores of a copy synthesis (``narspeech vocoder copy``): wide-band PESQ and STOI on the time-aligned
copy, and MCD / F0 RMSE from :func:`narspeech.evaluate.synthesis.evaluate_synthesis`.

Writes ``OUT/quality`` (``utt pesq_wb stoi``) and ``OUT/results.json`` (``tts evaluate``'s results
plus ``pesq_wb``, ``stoi`` summaries).
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import torch

from narspeech.audio.io import guess_base, load_audio, resolve_entry
from narspeech.evaluate.synthesis import evaluate_synthesis, summary_stats
from narspeech.fileio import atomic_write, read_table, write_table
from narspeech.metrics.quality import quality_scores
from narspeech.progress import progress


def score_copy(out_dir: str | Path, data_dir: str | Path, *, device: str | torch.device = "auto",
               trim_db: float | None = None) -> dict:
    """PESQ-wb and STOI per utterance (``OUT/quality``) + ``tts evaluate``'s MCD/F0 → ``OUT/results.json``."""
    out_dir, data_dir = Path(out_dir), Path(data_dir)
    wav_scp = read_table(out_dir / "wav.scp")
    ref_scp = read_table(data_dir / "wav.scp")
    base = guess_base(data_dir, ref_scp)
    per = {}
    for u in progress(list(wav_scp), desc="pesq/stoi", unit="utt"):
        syn, sr = load_audio(wav_scp[u], utt=u)
        ref, ref_sr = load_audio(resolve_entry(ref_scp[u], base), utt=u)
        per[u] = quality_scores(ref, syn, ref_sr, sr, utt=u)
    write_table(out_dir / "quality", {u: f"{v['pesq_wb']:.4f} {v['stoi']:.4f}" for u, v in per.items()})
    results = evaluate_synthesis(out_dir, data_dir, out=out_dir / "results.json", device=device, trim_db=trim_db)
    results["pesq_wb"] = summary_stats([v["pesq_wb"] for v in per.values()])
    results["stoi"] = summary_stats([v["stoi"] for v in per.values()])
    results["quality_note"] = "PESQ wide-band (P.862.2) and STOI at 16 kHz on the time-aligned copy (pesq, pystoi packages)"
    with atomic_write(out_dir / "results.json") as f:
        json.dump(results, f, indent=1, default=lambda x: None if isinstance(x, float) and math.isnan(x) else str(x))
    return results
