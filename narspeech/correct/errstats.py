"""Error profile of (hypothesis, reference) pairs: how much and what kind of ASR error they hold.

A corrector fine-tuned on pairs whose errors differ from the test set's learns the wrong
job, so the recipe compares the profile of every candidate source of training pairs (early
checkpoints, perturbed decoding, synthetic noise) with the dev hypotheses'. Per pair set:

* ``wer``, ``cer``, ``sentence_error_rate``, and the shares of substitutions / deletions /
  insertions among the word errors;
* ``nonword_share``: of the hypothesis words in substitutions and insertions, the share not in
  the lexicon (a character ASR misspells: ``ELEFANT``; a word ASR never does);
* ``near_miss_share``: of the substitutions, the share within a normalised character
  similarity of 0.5 of the reference word (a misspelling, not a different word);
* ``boundary_share``: of the error regions (maximal runs of non-matching words), the share
  that only moves word boundaries (the same letters: ``IN TO`` for ``INTO``);
* ``errors_per_bad_sentence``: word errors per sentence that has any.
"""
from __future__ import annotations

from collections import Counter
from typing import Iterable, Mapping

from rapidfuzz.distance import Levenshtein

from narspeech.errors import NarspeechError
from narspeech.metrics.scoring import score


def error_profile(refs: Mapping[str, str], hyps: Mapping[str, str], *, lexicon: Iterable[str] | None = None) -> dict:
    """Profile of the pairs (every hypothesis id must be in `refs`; references without a
    hypothesis are left out). `lexicon`: known words (default: the references' words)."""
    missing = [u for u in hyps if u not in refs]
    if missing:
        raise NarspeechError(f"hypothesis id not in the references ({len(missing)} such)", utt=missing[0])
    refs = {u: refs[u] for u in hyps}
    rep = score(refs, hyps)
    lex = set(lexicon) if lexicon is not None else {w for r in refs.values() for w in r.split()}
    ops = Counter()
    hyp_words = nonwords = subs = near = regions = boundary = bad = 0
    top = Counter()
    for ua in rep.utts:
        run: list = []
        for op in [*ua.ops, ("C", None, None)]:  # a sentinel match closes the last region
            code, r, h = op
            if code != "C":
                run.append(op)
                ops[code] += 1
                if h is not None:
                    hyp_words += 1
                    nonwords += h not in lex
                if code == "S":
                    subs += 1
                    near += Levenshtein.normalized_similarity(r, h) >= 0.5
                    top[(r, h)] += 1
                continue
            if run:
                regions += 1
                rw = "".join(x[1] for x in run if x[1] is not None)
                hw = "".join(x[2] for x in run if x[2] is not None)
                n_r = sum(x[1] is not None for x in run)
                n_h = sum(x[2] is not None for x in run)
                boundary += rw == hw and n_r != n_h
                run = []
        bad += ua.counts.errors > 0
    n_err = sum(ops.values())
    share = lambda a, b: a / b if b else 0.0  # noqa: E731
    return {
        "pairs": len(hyps), "ref_words": rep.wer.ref_units, "wer": rep.wer.error_rate, "cer": rep.cer.error_rate,
        "sentence_error_rate": share(bad, len(hyps)),
        "sub_share": share(ops["S"], n_err), "del_share": share(ops["D"], n_err), "ins_share": share(ops["I"], n_err),
        "nonword_share": share(nonwords, hyp_words), "near_miss_share": share(near, subs),
        "boundary_share": share(boundary, regions), "errors_per_bad_sentence": share(n_err, bad),
        "top_substitutions": [f"{r}->{h} {c}" for (r, h), c in top.most_common(10)],
    }


PROFILE_COLUMNS = ("pairs", "wer", "cer", "sentence_error_rate", "sub_share", "del_share", "ins_share",
                   "nonword_share", "near_miss_share", "boundary_share", "errors_per_bad_sentence")


def profile_table(rows: list[tuple[str, dict]]) -> str:
    """Markdown table of named profiles (rates in %)."""
    head = "| set | " + " | ".join(PROFILE_COLUMNS) + " |"
    lines = [head, "|" + " --- |" * (len(PROFILE_COLUMNS) + 1)]
    for name, p in rows:
        cells = [str(p[c]) if c == "pairs" else f"{p[c]:.2f}" if c == "errors_per_bad_sentence" else f"{100 * p[c]:.1f}" for c in PROFILE_COLUMNS]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
