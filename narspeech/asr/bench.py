"""Decoding speed of Mask-CTC against AR beam search (and CTC greedy) on the same utterances:
total seconds, real-time factor and latency per batch, at each batch size; the speed-up of
Mask-CTC over the AR beam search (`narspeech bench asr`)."""
from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from narspeech.asr.recognize import DecodeOptions, Recognizer
from narspeech.audio.dump import read_dump
from narspeech.batching import chunks
from narspeech.metrics.timing import Timer
from narspeech.nets.subsampling import FACTORS, min_frames


def time_decoding(rec: Recognizer, mels: list[np.ndarray], opts: DecodeOptions, batch_size: int, *, repeat: int = 1,
                  warmup: int = 1) -> dict:
    """Decode `mels` (sorted by length by the caller) in batches of `batch_size` (0 = all): the best of
    `repeat` timed runs after `warmup` untimed batches."""
    batches = chunks(len(mels), batch_size)

    def run(idx):
        lens = torch.tensor([mels[i].shape[0] for i in idx])
        x = torch.zeros(len(idx), int(lens.max()), mels[0].shape[1])
        for k, i in enumerate(idx):
            x[k, : mels[i].shape[0]] = torch.tensor(mels[i])
        x, lens = x.to(rec.device), lens.to(rec.device)
        with Timer(rec.device) as t:
            rec.decode_feats(x, lens, opts)
        return t.seconds

    for _ in range(max(0, warmup)):
        run(batches[0])
    runs = []
    for _ in range(max(1, repeat)):
        per = [run(b) for b in batches]
        runs.append(per)
    best = min(runs, key=sum)
    audio = sum(m.shape[0] for m in mels) * rec.feats.hop_length / rec.feats.sample_rate
    total = sum(best)
    return {"method": opts.method, "batch_size": len(batches[0]), "batches": len(batches), "seconds": total,
            "rtf": total / audio, "latency_mean_s": float(np.mean(best)), "latency_max_s": float(np.max(best)),
            "audio_seconds": audio, "runs": len(runs)}


def benchmark_asr(maskctc: Recognizer, ar: Recognizer | None, mels: list[np.ndarray], *, batch_sizes: list[int],
                  threshold: float | None = None, iterations: int | None = None, beam: int = 10, ctc_weight: float = 0.3,
                  repeat: int = 1) -> dict:
    """Time greedy CTC, Mask-CTC (the model's settings tuned on dev unless `threshold`/`iterations` are given) and AR beam."""
    mask = maskctc.default_options("maskctc", threshold=threshold, iterations=iterations)
    order = sorted(range(len(mels)), key=lambda i: mels[i].shape[0])
    mels = [mels[i] for i in order]
    rows = []
    for bs in batch_sizes:
        rows.append({"system": "ctc_greedy", **time_decoding(maskctc, mels, DecodeOptions("ctc"), bs, repeat=repeat)})
        rows.append({"system": "maskctc", **time_decoding(maskctc, mels, mask, bs, repeat=repeat)})
        if getattr(maskctc.model, "length_head", None) is not None:
            rows.append({"system": "maskctc_length_adjust", **time_decoding(
                maskctc, mels, replace(mask, length_adjust=True), bs, repeat=repeat)})
        if ar is not None:
            rows.append({"system": f"ar_beam{beam}", **time_decoding(ar, mels, DecodeOptions("beam", beam=beam, ctc_weight=ctc_weight), bs, repeat=repeat)})
    for r in rows:
        ref = next((x for x in rows if x["system"].startswith("ar_beam") and x["batch_size"] == r["batch_size"]), None)
        r["speedup_vs_ar"] = ref["seconds"] / r["seconds"] if ref else None
    return {"device": str(maskctc.device), "threads": torch.get_num_threads(), "utterances": len(mels),
            "options": {"threshold": mask.threshold, "iterations": mask.iterations, "ctc_fusion": mask.ctc_fusion, "beam": beam,
                        "ctc_weight": ctc_weight},
            "maskctc": maskctc.info, "ar": None if ar is None else ar.info, "rows": rows,
            "time": time.strftime("%Y-%m-%dT%H:%M:%S")}


def markdown_table(res: dict) -> str:
    lines = [f"ASR decoding speed on {res['device']} ({res['threads']} threads), {res['utterances']} utterances, "
             f"{res['rows'][0]['audio_seconds']:.1f} s of audio", "",
             "| system | batch | seconds | RTF | latency/batch (s) | speed-up vs AR |", "| --- | --- | --- | --- | --- | --- |"]
    for r in res["rows"]:
        sp = "" if r["speedup_vs_ar"] is None else f"{r['speedup_vs_ar']:.1f}×"
        lines.append(f"| {r['system']} | {r['batch_size']} | {r['seconds']:.3f} | {r['rtf']:.4f} | {r['latency_mean_s']:.4f} | {sp} |")
    return "\n".join(lines) + "\n"


def load_mels(dump_dir: str | Path, limit: int | None = None) -> list[np.ndarray]:
    d = read_dump(dump_dir)
    shortest = max(min_frames(f) for f in FACTORS)  # long enough for any model's subsampling
    utts = [u for u in d.num_frames if d.num_frames[u] >= shortest][: limit or None]
    return [np.asarray(d.feats[u], dtype=np.float32) for u in utts]
