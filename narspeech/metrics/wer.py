"""Word and character error rates with jiwer, over ``utt -> text`` tables.

Rates are corpus-level (total edits / total reference units), as Kaldi and ESPnet
report them, not the mean of per-utterance rates. Text is compared as given
(normalise both sides first if casing/punctuation should not count).
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping

import jiwer

from narspeech.errors import NarspeechError
from narspeech.fileio import read_table


def error_rate(refs: Mapping[str, str], hyps: Mapping[str, str], *, unit: str = "word", ref_path: str | Path | None = None) -> dict[str, float]:
    """Corpus error rate of `hyps` against `refs` (keys are utterance ids).

    `unit` is ``word`` (WER) or ``char`` (CER; spaces count as characters, jiwer's
    convention). Every reference needs a hypothesis (an empty one counts as all
    deletions); hypotheses without a reference are an error too, naming the utterance.
    """
    if unit not in ("word", "char"):
        raise ValueError(f"unit must be 'word' or 'char', not {unit!r}")
    extra = sorted(set(hyps) - set(refs))
    if extra:
        raise NarspeechError(f"hypothesis has no reference ({len(extra)} such)", utt=extra[0], path=ref_path)
    keys = sorted(refs)
    ref_list, hyp_list = [], []
    for k in keys:
        r = " ".join(refs[k].split())
        if not r:
            raise NarspeechError("empty reference", utt=k, path=ref_path)
        ref_list.append(r)
        hyp_list.append(" ".join(hyps.get(k, "").split()))
    if not keys:
        raise NarspeechError("no references to score", path=ref_path)
    out = jiwer.process_words(ref_list, hyp_list) if unit == "word" else jiwer.process_characters(ref_list, hyp_list)
    s, d, i, h = out.substitutions, out.deletions, out.insertions, out.hits
    n = s + d + h
    return {
        "error_rate": (s + d + i) / n,
        "substitutions": s,
        "deletions": d,
        "insertions": i,
        "ref_units": n,
        "utterances": len(keys),
        "missing_hyps": sum(k not in hyps for k in keys),
    }


def score_files(ref: str | Path, hyp: str | Path, *, unit: str = "word") -> dict[str, float]:
    """Error rate of a Kaldi ``hyp`` file (``utt text``) against a ``ref``/``text`` file."""
    refs = read_table(ref)
    hyps = read_table(hyp, allow_empty_value=True)
    return error_rate(refs, hyps, unit=unit, ref_path=ref)
