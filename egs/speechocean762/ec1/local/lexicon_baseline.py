#!/usr/bin/env python3
"""A context-free reference point for the correctors: every hypothesis word outside the lexicon
(the pretraining text's words) is replaced by the most similar lexicon word (normalised character
Levenshtein similarity >= --min-sim; ties by frequency). No model, no context: it shows how much
of the ASR's error is non-words that plain spelling correction could fix.

  python local/lexicon_baseline.py --hyp HYP --text data/text/train.txt --out DIR
"""
from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

from rapidfuzz import process
from rapidfuzz.distance import Levenshtein

from narspeech.correct.noise import read_text_corpus
from narspeech.fileio import read_table, write_table


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--hyp", required=True)
    ap.add_argument("--text", required=True, nargs="+", help="lexicon source: plain text / LJSpeech metadata")
    ap.add_argument("--out", required=True)
    ap.add_argument("--min-sim", type=float, default=0.6)
    a = ap.parse_args()
    counts = Counter(w for t in a.text for s in read_text_corpus(t) for w in s.split())
    words = sorted(counts, key=lambda w: (-counts[w], w))
    cache: dict[str, str] = {}

    def fix(w: str) -> str:
        if w in counts:
            return w
        if w not in cache:
            best = process.extract(w, words, scorer=Levenshtein.normalized_similarity, limit=5, score_cutoff=a.min_sim)
            cache[w] = max(best, key=lambda m: (m[1], counts[m[0]]))[0] if best else w
        return cache[w]

    hyps = read_table(a.hyp, allow_empty_value=True)
    out = {u: " ".join(fix(w) for w in h.split()) for u, h in hyps.items()}
    write_table(Path(a.out) / "hyp", out)
    print(f"{sum(out[u] != hyps[u] for u in hyps)} of {len(hyps)} sentences changed -> {a.out}/hyp")


if __name__ == "__main__":
    main()
