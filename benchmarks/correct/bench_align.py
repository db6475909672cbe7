#!/usr/bin/env python
"""Edit-alignment speed (FastCorrect durations): sentence pairs per second on one CPU core.

Pairs are real sentences (LJSpeech text, words) as references and copies with ~15 %
random word errors (10 % substitution, 2.5 % deletion, 2.5 % insertion) as hypotheses.
Run with one thread: OMP_NUM_THREADS=1 python benchmarks/correct/bench_align.py [--text F] [--pairs N]
Prints pairs/s (wall) and pairs per CPU-second of this process (the one-core rate on a
machine shared with other jobs) per batch size (the aligner batches length-sorted pairs itself in
`align_many`; `--batch-sizes` caps its batch) and, for scale, a plain Python DP + traceback.
"""
from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path


def load_sentences(path: Path, limit: int) -> list[list[str]]:
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        text = line.split("|")[-1] if "|" in line else line
        words = "".join(c if c.isalnum() or c in "' " else " " for c in text.upper()).split()
        if words:
            out.append(words)
        if len(out) >= limit:
            break
    return out


def noisy(words: list[str], vocab: list[str], rng: random.Random) -> list[str]:
    out = []
    for w in words:
        r = rng.random()
        if r < 0.10:
            out.append(rng.choice(vocab))
        elif r < 0.125:
            continue
        elif r < 0.15:
            out += [w, rng.choice(vocab)]
        else:
            out.append(w)
    return out or [rng.choice(vocab)]


def python_dp(s: list[str], t: list[str]) -> int:
    """Plain Python Levenshtein table + traceback (what a per-pair Python aligner costs)."""
    n, m = len(s), len(t)
    d = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(n + 1):
        d[i][0] = i
    for j in range(m + 1):
        d[0][j] = j
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            d[i][j] = min(d[i - 1][j - 1] + (s[i - 1] != t[j - 1]), d[i - 1][j] + 1, d[i][j - 1] + 1)
    i, j, steps = n, m, 0
    while i or j:
        if i and j and d[i][j] == d[i - 1][j - 1] + (s[i - 1] != t[j - 1]):
            i, j = i - 1, j - 1
        elif i and d[i][j] == d[i - 1][j] + 1:
            i -= 1
        else:
            j -= 1
        steps += 1
    return steps


def main() -> None:
    import numpy  # noqa: F401  (import time outside the measurement)

    from narspeech.correct.align import align_many
    from narspeech.paths import shared_data_dir

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--text", type=Path, default=shared_data_dir() / "ljspeech_text" / "metadata.csv")
    ap.add_argument("--pairs", type=int, default=13100)
    ap.add_argument("--batch-sizes", default="1,64,512,2048")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", type=Path, default=None)
    a = ap.parse_args()
    rng = random.Random(0)
    refs = load_sentences(a.text, a.pairs)
    vocab = sorted({w for r in refs for w in r})
    pairs = [(noisy(r, vocab, rng), r) for r in refs]
    mean_len = sum(len(t) for _, t in pairs) / len(pairs)
    rows = []
    for bs in [int(x) for x in a.batch_sizes.split(",")]:
        n = len(pairs) if bs > 1 else min(len(pairs), 2000)
        best, cpu = float("inf"), float("inf")
        for _ in range(a.repeat):
            t0, c0 = time.perf_counter(), time.process_time()
            align_many(pairs[:n], max_batch=bs)
            best, cpu = min(best, time.perf_counter() - t0), min(cpu, time.process_time() - c0)
        rows.append({"batch": bs, "pairs": n, "seconds": best, "pairs_per_s": n / best, "cpu_seconds": cpu, "pairs_per_cpu_s": n / cpu})
    n = min(len(pairs), 1000)
    t0 = time.process_time()
    for s, t in pairs[:n]:
        python_dp(s, t)
    py = n / (time.process_time() - t0)
    print(f"{len(pairs)} pairs, mean reference length {mean_len:.1f} words, 1 thread")
    print(f"{'batch':>6} {'pairs':>7} {'wall s':>8} {'pairs/s':>9} {'CPU s':>8} {'pairs/CPU-s':>12}")
    for r in rows:
        print(f"{r['batch']:>6} {r['pairs']:>7} {r['seconds']:>8.3f} {r['pairs_per_s']:>9.0f} {r['cpu_seconds']:>8.3f} {r['pairs_per_cpu_s']:>12.0f}")
    print(f"plain Python DP+traceback (one min-edit path, no tie rules): {py:.0f} pairs/CPU-s")
    if a.json:
        a.json.write_text(json.dumps({"rows": rows, "python_dp_pairs_per_s": py, "mean_ref_len": mean_len}, indent=2) + "\n")


if __name__ == "__main__":
    main()
