"""Lexicon snapping: each hypothesis word outside a lexicon becomes its most similar lexicon word.

A character-level ASR writes many non-words (``ELEFANT``); most are a letter or two from the
word meant. Snapping replaces a non-word by the lexicon word with the highest normalised
character Levenshtein similarity (at least `min_similarity`; ties: the more frequent word),
without context and without a model. It is a reference point for the correctors (how much of
the error plain spelling correction removes) and an optional front end: a corrector trained
and run on snapped hypotheses starts from real words.
"""
from __future__ import annotations

from collections import Counter
from typing import Iterable, Mapping

from rapidfuzz import process
from rapidfuzz.distance import Levenshtein


class LexiconSnapper:
    """``snap(text) -> text`` with a lexicon of word counts (any iterable of sentences builds one)."""

    def __init__(self, counts: Mapping[str, int], *, min_similarity: float = 0.5):
        self.counts = dict(counts)
        self.words = sorted(self.counts, key=lambda w: (-self.counts[w], w))
        self.min_similarity = min_similarity
        self._cache: dict[str, str] = {}

    @classmethod
    def from_sentences(cls, sentences: Iterable[str], **kw) -> "LexiconSnapper":
        return cls(Counter(w for s in sentences for w in s.split()), **kw)

    def word(self, w: str) -> str:
        """`w` itself when known, else its nearest lexicon word (or `w` when none is similar enough)."""
        if w in self.counts:
            return w
        if w not in self._cache:
            best = process.extract(w, self.words, scorer=Levenshtein.normalized_similarity, limit=8,
                                   score_cutoff=self.min_similarity)
            self._cache[w] = max(best, key=lambda m: (m[1], self.counts[m[0]]))[0] if best else w
        return self._cache[w]

    def snap(self, text: str) -> str:
        return " ".join(self.word(w) for w in text.split())
