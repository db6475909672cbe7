"""Correction speed: FastCorrect (one parallel pass) vs the AR corrector (beam search).

Latency per sentence at batch 1 (each sentence alone, the mean over sentences) and the time
for the whole set at larger batch sizes, the speed-up of FastCorrect over the AR corrector on
the same sentences, device and batch size. Timing covers the model work only (tokens in →
corrected tokens out), CUDA-synchronised (`narspeech.metrics.timing.Timer`).
"""
from __future__ import annotations

import time
from typing import Sequence

import torch

from narspeech.correct.decode import Loaded, correct_texts
from narspeech.metrics.timing import Timer


def _time(loaded: Loaded, items: Sequence[tuple[str, str]], batch_size: int, beam: int, repeat: int) -> tuple[float, float]:
    """Fastest wall time of `repeat` runs, and the process CPU time of that run (on a shared
    machine wall time includes waiting for a core; CPU time does not)."""
    best = (float("inf"), float("inf"))
    for _ in range(repeat):
        c0 = time.process_time()
        with Timer(loaded.device) as t:
            correct_texts(loaded, items, batch_size=batch_size, beam=beam, oov="correct")
        best = min(best, (t.seconds, time.process_time() - c0))
    return best


def benchmark_correctors(fc: Loaded | None, ar: Loaded | None, items: Sequence[tuple[str, str]], *,
                         batch_sizes: Sequence[int] = (1, 0), beam: int = 5, repeat: int = 1,
                         variants: Sequence[tuple[str, Loaded, int]] = ()) -> dict:
    """Rows per (model, batch size): total seconds, ms per sentence, sentences/s; speed-ups.
    Batch size 0 means all sentences in one batch. One warm-up pass per model first.
    `variants`: more ``(name, AR corrector, beam)`` systems (AR greedy = beam 1, an int8 copy), timed
    against the AR corrector (``speedup_vs_ar`` of every row). A row's ``decode`` is its score dir name
    beside ``fc`` and ``ar`` (``exp/score_<set>/<hyps>/<decode>``)."""
    rows = []
    systems = [(n, m, beam) for n, m in (("fc", fc), ("ar", ar)) if m is not None] + list(variants)
    models = [m for m in (fc, ar) if m is not None]
    for _, m, bm in systems:
        correct_texts(m, items[: min(len(items), 8)], batch_size=8, beam=bm, oov="correct")  # warm-up
    for bs in batch_sizes:
        b = len(items) if bs <= 0 else bs
        for name, m, bm in systems:
            s, cpu = _time(m, items, b, bm, repeat)
            rows.append({"model": m.model.kind if name in ("fc", "ar") else name, "decode": name, "beam": bm,
                         "batch_size": b, "sentences": len(items), "seconds": s, "cpu_seconds": cpu,
                         "ms_per_sentence": 1000 * s / len(items), "cpu_ms_per_sentence": 1000 * cpu / len(items),
                         "sentences_per_s": len(items) / s})
    for r in rows:
        a = next((x for x in rows if x["decode"] == "ar" and x["batch_size"] == r["batch_size"]), None)
        r["speedup_vs_ar"] = a["seconds"] / r["seconds"] if a else None
        r["cpu_speedup_vs_ar"] = a["cpu_seconds"] / r["cpu_seconds"] if a and r["cpu_seconds"] > 0 else None
    speedup, cpu_speedup = {}, {}
    if fc is not None and ar is not None:
        for bs in sorted({r["batch_size"] for r in rows}):
            f = next(r for r in rows if r["decode"] == "fc" and r["batch_size"] == bs)
            a = next(r for r in rows if r["decode"] == "ar" and r["batch_size"] == bs)
            speedup[str(bs)] = a["seconds"] / f["seconds"]
            cpu_speedup[str(bs)] = a["cpu_seconds"] / f["cpu_seconds"] if f["cpu_seconds"] > 0 else None
    dev = str(models[0].device) if models else "n/a"
    return {"device": dev, "beam": beam, "sentences": len(items), "threads": torch.get_num_threads(), "rows": rows,
            "speedup_fastcorrect_over_ar": speedup, "cpu_time_speedup": cpu_speedup}


def markdown_table(res: dict) -> str:
    lines = [f"device {res['device']}, {res['sentences']} sentences, AR beam {res['beam']}", "",
             "| model | batch | total s | ms/sentence | CPU ms/sentence | sentences/s |", "| --- | --- | --- | --- | --- | --- |"]
    for r in res["rows"]:
        lines.append(f"| {r.get('decode', r['model'])} | {r['batch_size']} | {r['seconds']:.3f} | {r['ms_per_sentence']:.2f} | "
                     f"{r.get('cpu_ms_per_sentence', float('nan')):.2f} | {r['sentences_per_s']:.1f} |")
    for bs, x in res["speedup_fastcorrect_over_ar"].items():
        c = (res.get("cpu_time_speedup") or {}).get(bs)
        lines.append(f"\nFastCorrect speed-up over AR at batch {bs}: {x:.1f}x" + (f" (CPU time: {c:.1f}x)" if c else ""))
    return "\n".join(lines) + "\n"
