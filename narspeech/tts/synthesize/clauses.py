"""Long sentences cut into clause pieces, so that ``tts speak`` makes (and plays) the first piece's audio early.

FastSpeech 2 makes a sentence's whole mel in one pass, so the first audio of a long sentence
waits for all of it. :func:`split_clauses` cuts only a sentence of more than `long_words` words:
after clause punctuation (``, ; :`` and dashes), where a speaker pauses anyway, then a piece that
is still long before a conjunction (``while``, ``because``, ``and``…), the one nearest its middle.
No piece has fewer than `min_words` words (a short one stays with its neighbour), so lists and
short openers ("Yes, …") are not chopped. The pieces keep their punctuation and join back into
the sentence with single spaces.
"""
from __future__ import annotations

import re

LONG_WORDS = 12  # a sentence (and a piece) longer than this is cut
MIN_WORDS = 3  # no piece shorter than this
# words that open a clause; not the ones as often prepositions or adverbs (so, yet, since, after, before, until)
CONJUNCTIONS = frozenset({
    "and", "but", "or", "nor", "while", "whereas", "because", "although", "though", "unless", "if",
    "when", "whenever", "where", "wherever", "which", "who", "whom", "whose",
})
_CLAUSE_END = re.compile(r"(?:[,;:]|[\u2013\u2014]|--?)$")  # a word ending a clause: comma, semicolon, colon, dash
_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")


def _bare(word: str) -> str:
    m = _WORD.search(word)
    return m.group(0).lower() if m else ""


def _at_punctuation(words: list[str], min_words: int) -> list[list[str]]:
    pieces: list[list[str]] = [[]]
    for w in words:
        pieces[-1].append(w)
        if _CLAUSE_END.search(w):
            pieces.append([])
    pieces = [p for p in pieces if p]
    merged: list[list[str]] = []
    for p in pieces:  # a short piece joins the next one (the last one, the one before)
        if merged and len(merged[-1]) < min_words:
            merged[-1] = merged[-1] + p
        else:
            merged.append(p)
    if len(merged) > 1 and len(merged[-1]) < min_words:
        merged[-2:] = [merged[-2] + merged[-1]]
    return merged


def _at_conjunction(words: list[str], long_words: int, min_words: int) -> list[list[str]]:
    if len(words) <= long_words:
        return [words]
    cuts = [i for i in range(min_words, len(words) - min_words + 1) if _bare(words[i]) in CONJUNCTIONS]
    if not cuts:
        return [words]
    i = min(cuts, key=lambda k: (abs(2 * k - len(words)), k))
    return _at_conjunction(words[:i], long_words, min_words) + _at_conjunction(words[i:], long_words, min_words)


def split_clauses(sentence: str, *, long_words: int = LONG_WORDS, min_words: int = MIN_WORDS) -> list[str]:
    """`sentence` as clause pieces (itself alone when it has at most `long_words` words)."""
    words = sentence.split()
    if len(words) <= long_words:
        return [" ".join(words)] if words else []
    return [" ".join(p) for piece in _at_punctuation(words, min_words) for p in _at_conjunction(piece, long_words, min_words)]
