"""A learned ASR error model: synthetic noise that errs the way a given recogniser does.

Phonetic word substitution (:mod:`narspeech.correct.noise`) models a word-level ASR, whose
every output is a real word. A character-level ASR mostly **misspells** (``ELEFANT``,
``BISKIT``), splits or merges words, and drops short ones. This model is fitted on real
(hypothesis, reference) pairs of the recogniser (e.g. its training set decoded by early or
perturbed checkpoints, never the test set) and then corrupts any amount of plain text:

* per reference word: deletion, substitution and insertion-after rates, and word-boundary
  errors (merge with the next word, split in two) — the word alignment of the pairs;
* a substituted word takes one of its observed misspellings when it has any (with
  probability `variant_prob`), else a new one from a **character confusion model**: for each
  reference character of a substituted word the distribution of what the recogniser wrote
  (itself, another character, nothing), plus a per-character insertion rate and
  distribution (from the character edit operations of the substituted word pairs);
  misspellings and character model come only from the substitutions that are near misses
  (similarity >= `char_min_sim`): a word alignment also pairs a reference word with a merged
  neighbour, ``IN`` -> ``INACORDENCE``, which is no misspelling of it and would make the
  noise far longer in characters than the recogniser's errors;
* inserted words are drawn from the inserted words observed.

`scale` multiplies the word-level rates (the fitted ones reproduce the pairs' error rate).
"""
from __future__ import annotations

import json
import random
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

from rapidfuzz.distance import Levenshtein

from narspeech.errors import NarspeechError
from narspeech.fileio import atomic_write
from narspeech.metrics.scoring import score


def _draw(rng: random.Random, counts: Mapping[str, int]) -> str:
    keys = sorted(counts)
    return rng.choices(keys, weights=[counts[k] for k in keys])[0]


@dataclass
class ErrorModel:
    """Fitted rates and tables; `corrupt(words, rng)` like :class:`narspeech.correct.noise.Noiser`."""

    sub_rate: float = 0.0
    del_rate: float = 0.0
    ins_rate: float = 0.0
    merge_rate: float = 0.0
    split_rate: float = 0.0
    char_ins_rate: float = 0.0
    variants: dict[str, dict[str, int]] = field(default_factory=dict)
    char_out: dict[str, dict[str, int]] = field(default_factory=dict)  # ref char -> {written: count}, "" = dropped
    char_ins: dict[str, int] = field(default_factory=dict)
    inserted_words: dict[str, int] = field(default_factory=dict)
    variant_prob: float = 0.5
    scale: float = 1.0
    fitted_on: dict = field(default_factory=dict)

    # ------------------------------------------------------------------ fitting
    @classmethod
    def fit(cls, pairs: Sequence[tuple[str, str]], *, variant_prob: float = 0.5, char_min_sim: float = 0.5) -> "ErrorModel":
        """Fit on ``(hypothesis, reference)`` text pairs (words separated by spaces); misspellings and
        the character model only from substitutions whose normalised similarity is >= `char_min_sim`."""
        pairs = [(h, r) for h, r in pairs if r.split()]
        if not pairs:
            raise NarspeechError("no (hypothesis, reference) pairs to fit an error model on")
        keys = [str(i) for i in range(len(pairs))]
        rep = score(dict(zip(keys, (r for _, r in pairs))), dict(zip(keys, (h for h, _ in pairs))))
        n_ref = rep.wer.ref_units
        subs = dels = ins = merges = splits = 0
        variants: dict[str, Counter] = defaultdict(Counter)
        inserted: Counter = Counter()
        char_out: dict[str, Counter] = defaultdict(Counter)
        char_ins: Counter = Counter()
        n_chars = 0
        for ua in rep.utts:
            run: list = []
            for code, r, h in [*ua.ops, ("C", None, None)]:
                if code != "C":
                    run.append((code, r, h))
                    continue
                if run:
                    rw = [x[1] for x in run if x[1] is not None]
                    hw = [x[2] for x in run if x[2] is not None]
                    if "".join(rw) == "".join(hw) and len(rw) != len(hw):  # only the boundaries moved
                        merges += max(len(rw) - len(hw), 0)
                        splits += max(len(hw) - len(rw), 0)
                    else:
                        for c2, r2, h2 in run:
                            if c2 == "D":
                                dels += 1
                            elif c2 == "I":
                                ins += 1
                                inserted[h2] += 1
                            else:
                                subs += 1
                                if Levenshtein.normalized_similarity(r2, h2) < char_min_sim:
                                    continue
                                variants[r2][h2] += 1
                                n_chars += len(r2)
                                for ch in r2:
                                    char_out[ch][ch] += 1
                                for op, i, j in Levenshtein.editops(r2, h2):
                                    if op == "replace":
                                        char_out[r2[i]][r2[i]] -= 1
                                        char_out[r2[i]][h2[j]] += 1
                                    elif op == "delete":
                                        char_out[r2[i]][r2[i]] -= 1
                                        char_out[r2[i]][""] += 1
                                    else:
                                        char_ins[h2[j]] += 1
                    run = []
        return cls(sub_rate=subs / n_ref, del_rate=dels / n_ref, ins_rate=ins / n_ref, merge_rate=merges / n_ref,
                   split_rate=splits / n_ref, char_ins_rate=sum(char_ins.values()) / max(n_chars, 1),
                   variants={w: dict(c) for w, c in sorted(variants.items())},
                   char_out={ch: {k: v for k, v in c.items() if v > 0} for ch, c in sorted(char_out.items())},
                   char_ins=dict(char_ins), inserted_words=dict(inserted), variant_prob=variant_prob,
                   fitted_on={"pairs": len(pairs), "ref_words": n_ref, "wer": rep.wer.error_rate})

    # ------------------------------------------------------------------ sampling
    def misspell(self, word: str, rng: random.Random, tries: int = 5) -> str:
        """A new spelling of `word` from the character confusion model (never `word` itself
        unless the model cannot change any of its characters)."""
        for _ in range(tries):
            out = []
            for ch in word:
                dist = self.char_out.get(ch)
                out.append(_draw(rng, dist) if dist else ch)
                if self.char_ins and rng.random() < self.char_ins_rate:
                    out.append(_draw(rng, self.char_ins))
            new = "".join(out)
            if new and new != word:
                return new
        i = rng.randrange(len(word))  # force one change at a random character
        alt = {k: v for k, v in (self.char_out.get(word[i]) or {}).items() if k not in (word[i], "")}
        new = word[:i] + (_draw(rng, alt) if alt else "") + word[i + 1:]
        return new or word

    def corrupt(self, words: Sequence[str], rng: random.Random) -> list[str]:
        s = self.scale
        out: list[str] = []
        i = 0
        while i < len(words):
            w = words[i]
            r = rng.random()
            p_del, p_sub = self.del_rate * s, self.sub_rate * s
            p_merge, p_split = self.merge_rate * s, self.split_rate * s
            if r < p_del:
                pass
            elif r < p_del + p_sub:
                v = self.variants.get(w)
                out.append(_draw(rng, v) if v and rng.random() < self.variant_prob else self.misspell(w, rng))
            elif r < p_del + p_sub + p_merge and i + 1 < len(words):
                out.append(w + words[i + 1])
                i += 1
            elif r < p_del + p_sub + p_merge + p_split and len(w) > 1:
                k = rng.randrange(1, len(w))
                out += [w[:k], w[k:]]
            else:
                out.append(w)
            if self.inserted_words and rng.random() < self.ins_rate * s:
                out.append(_draw(rng, self.inserted_words))
            i += 1
        return out

    # ------------------------------------------------------------------ files
    def save(self, path: str | Path) -> None:
        with atomic_write(path) as f:
            json.dump(asdict(self), f, indent=1)
            f.write("\n")

    @classmethod
    def load(cls, path: str | Path) -> "ErrorModel":
        p = Path(path)
        if not p.is_file():
            raise NarspeechError("error model file not found", path=p)
        d = json.loads(p.read_text(encoding="utf-8"))
        unknown = set(d) - set(cls.__dataclass_fields__)
        if unknown:
            raise NarspeechError(f"not an error model (unknown keys {', '.join(sorted(unknown))})", path=p)
        return cls(**d)
