"""Phoneme tokens from espeak-ng (through phonemizer), one token per espeak phoneme, batched.

How espeak's IPA is split into tokens (the same inventory the engine speaks with):

* one token per **espeak phoneme**, as phonemizer's phone separator delimits them:
  diphthongs and affricates stay whole (``oʊ``, ``aɪ``, ``tʃ``, ``dʒ``), and so do
  espeak's r-coloured vowels (``ɑːɹ``, ``ɔːɹ``, ``ɪɹ``) and syllabic ``əl``;
* stress marks (``ˈ`` primary, ``ˌ`` secondary) are **tokens of their own**, placed
  before the vowel they mark (``l ˈ oʊ``, ``ˌ ɔː``): a vowel is one token whatever its
  stress, so a small training set covers every stressed/unstressed combination (attached, a rare
  stressed vowel may be missing from a small training set);
* the length mark ``ː`` stays with its phone (``iː`` vs ``i``, ``ɔː`` vs ``ɔ``): in
  English espeak-ng's long vowels are distinct phonemes, and splitting ``ː`` off gains
  no coverage while lengthening every sequence;
  foreign long vowels are handled by :mod:`narspeech.text.inventory`;
* word boundaries are ``<space>``; punctuation (``, . ? ! ; :``) is kept as its own
  token, placed before the following ``<space>``. espeak merges some unstressed
  function words with their neighbour (``in the`` → ``ɪnðə``); we keep its words.

Text is normalised first (:mod:`narspeech.text.normalize`) so numbers and
abbreviations are spoken as words. All texts of one language go to espeak in one
call: phonemizer is slow per call, fast per sentence.
"""
from __future__ import annotations

import functools
import logging

from narspeech.errors import NarspeechError

SPACE = "<space>"
STRESS = ("ˈ", "ˌ")  # primary, secondary: tokens of their own
# Quotes are not split off: phonemizer would phonemize the quoted words apart from their
# context (``a "private bank"`` → the letter name for ``a``); espeak itself ignores them.
PUNCTUATION = ";:,.!?"
_PHONE_SEP, _WORD_SEP = "|", " _ "


def _quiet_logger() -> logging.Logger:
    """phonemizer warns about espeak merging words ("words count mismatch"): expected, not news."""
    log = logging.getLogger("narspeech.phonemizer")
    log.setLevel(logging.ERROR)
    return log


@functools.lru_cache(maxsize=8)
def _backend(language: str):
    try:
        from phonemizer.backend import EspeakBackend
    except ImportError as e:  # pragma: no cover - phonemizer is a dependency
        raise NarspeechError(f"phonemizer is not installed ({e}); run tools/install.sh") from None
    if not EspeakBackend.is_available():
        raise NarspeechError("espeak-ng library not found; install espeak-ng (tools/install.sh does)")
    try:
        return EspeakBackend(language, preserve_punctuation=True, punctuation_marks=PUNCTUATION, with_stress=True,
                             language_switch="remove-flags", words_mismatch="ignore",
                             logger=_quiet_logger())
    except RuntimeError as e:
        raise NarspeechError(f"espeak-ng does not support language {language!r} ({e})") from None


def split_phonemized(s: str) -> list[str]:
    """Tokens from phonemizer output with ``|`` between phones and `` _ `` between words."""
    tokens: list[str] = []
    for w, word in enumerate(s.strip().split(_WORD_SEP)):
        if w and tokens and tokens[-1] != SPACE:
            tokens.append(SPACE)
        for piece in word.split(_PHONE_SEP):
            phone = ""
            for ch in piece.strip():
                if ch in PUNCTUATION or ch in STRESS:
                    if phone:
                        tokens.append(phone)
                        phone = ""
                    tokens.append(ch)
                elif not ch.isspace():
                    phone += ch
            if phone:
                tokens.append(phone)
    while tokens and tokens[-1] == SPACE:
        tokens.pop()
    return tokens


def phonemize(texts: list[str], language: str = "en-us") -> list[list[str]]:
    """Phoneme tokens for already-normalised `texts`, in one espeak-ng batch."""
    from phonemizer.separator import Separator

    if not texts:
        return []
    sep = Separator(phone=_PHONE_SEP, word=_WORD_SEP, syllable=None)
    # phonemizer works per line and drops empty lines: either would shift every later result.
    lines = [" ".join(t.split()) for t in texts]
    idx = [i for i, line in enumerate(lines) if line]
    backend = _backend(language)
    out = backend.phonemize([lines[i] for i in idx], separator=sep, strip=True, njobs=1) if idx else []
    if len(out) != len(idx):  # some other line vanished: slow but aligned, one call per text
        out = [(backend.phonemize([lines[i]], separator=sep, strip=True, njobs=1) or [""])[0] for i in idx]
    result: list[list[str]] = [[] for _ in texts]
    for i, s in zip(idx, out):
        result[i] = split_phonemized(s)
    return result


def is_phone(token: str) -> bool:
    """True for a phone token (not `<space>`, punctuation or a stress mark)."""
    return token != SPACE and token not in STRESS and not all(c in PUNCTUATION for c in token)
