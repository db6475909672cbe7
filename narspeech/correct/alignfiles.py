"""`narspeech correct align`: edit-align a Kaldi ``hyp`` file to its ``text`` and write
``durations`` (``utt d1 … dN``, one per hypothesis token, sum = reference length), ``edits``
(per token C/S/D with ``+`` when it also produces inserted tokens), the tokenised sides
``src_tokens``/``tgt_tokens``, ``skipped`` (``utt reason``) and ``summary.json``.

Hypothesis ids that the reference lacks are an error naming the utterance and the file.
An empty hypothesis has no token to carry the reference (FastCorrect cannot insert from
nothing): it is skipped and listed, as are pairs longer than `max_tokens`.
"""
from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path

from narspeech.correct.align import Alignment, align_many
from narspeech.correct.units import Units
from narspeech.errors import NarspeechError
from narspeech.fileio import atomic_write, read_table


def read_pairs(hyp: str | Path, ref: str | Path) -> tuple[dict[str, str], dict[str, str]]:
    """(hyps, refs) tables; every hypothesis id must be in the reference (an empty reference is
    an error from :func:`read_table`, naming the line)."""
    refs = read_table(ref)
    hyps = read_table(hyp, allow_empty_value=True)
    for utt in hyps:
        if utt not in refs:
            raise NarspeechError(f"hypothesis id not in the reference {ref}", utt=utt, path=hyp)
    return hyps, refs


def align_files(hyp: str | Path, ref: str | Path, out_dir: str | Path, *, units: Units | None = None,
                max_tokens: int = 1000) -> dict:
    """Align every hypothesis of `hyp` to `ref` and write the outputs under `out_dir`; returns the summary."""
    units = units or Units("word")
    hyps, refs = read_pairs(hyp, ref)
    keys, pairs, skipped = [], [], {}
    for utt, h in hyps.items():
        s, t = units.encode(h), units.encode(refs[utt])
        if not s:
            skipped[utt] = "empty hypothesis"
        elif not t:
            skipped[utt] = "empty reference after tokenisation"
        elif max(len(s), len(t)) > max_tokens:
            skipped[utt] = f"longer than {max_tokens} tokens"
        else:
            keys.append(utt)
            pairs.append((s, t))
    t0 = time.perf_counter()
    res = align_many(pairs)
    seconds = time.perf_counter() - t0
    write_alignments(out_dir, keys, pairs, res)
    out = Path(out_dir)
    with atomic_write(out / "skipped") as f:
        f.writelines(f"{u} {r}\n" for u, r in sorted(skipped.items()))
    hist = Counter(d for a in res for d in a.durations)
    n_tgt = sum(len(t) for _, t in pairs)
    summary = {
        "hyp": str(hyp), "ref": str(ref), "units": units.to_dict(),
        "pairs": len(pairs), "skipped": len(skipped), "refs_without_hyp": sum(u not in hyps for u in refs),
        "source_tokens": sum(len(s) for s, _ in pairs), "target_tokens": n_tgt,
        "matches": sum(a.matches for a in res), "substitutions": sum(a.substitutions for a in res),
        "deletions": sum(a.deletions for a in res), "insertions": sum(a.insertions for a in res),
        "error_rate": sum(a.edits for a in res) / max(n_tgt, 1),
        "edited_sentences": sum(a.edits > 0 for a in res),
        "duration_histogram": {str(k): v for k, v in sorted(hist.items())},
        "align_seconds": seconds, "pairs_per_second": len(pairs) / seconds if seconds > 0 else None,
    }
    with atomic_write(out / "summary.json") as f:
        json.dump(summary, f, indent=2)
        f.write("\n")
    return summary


def write_alignments(out_dir: str | Path, keys: list[str], pairs: list[tuple[list[str], list[str]]], res: list[Alignment]) -> None:
    """``durations``, ``edits``, ``src_tokens``, ``tgt_tokens`` (sorted by id, atomic)."""
    out = Path(out_dir)
    order = sorted(range(len(keys)), key=lambda k: keys[k])
    files = {"durations": lambda k: " ".join(map(str, res[k].durations)),
             "edits": lambda k: " ".join(res[k].flags),
             "src_tokens": lambda k: " ".join(pairs[k][0]),
             "tgt_tokens": lambda k: " ".join(pairs[k][1])}
    for name, line in files.items():
        with atomic_write(out / name) as f:
            f.writelines(f"{keys[k]} {line(k)}\n" for k in order)
