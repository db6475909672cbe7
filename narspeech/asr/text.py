"""ASR transcripts ↔ token sequences: normalisation, characters or sentencepiece subwords, token lists.

The recogniser outputs what :func:`normalize_transcript` keeps: upper-case words of letters,
digits-as-words and apostrophes (the speechocean762 / LibriSpeech convention), so references
are normalised the same way before training and scoring. Token lists follow
``docs/interfaces.md`` (``<blank>`` 0, ``<unk>`` 1, …, ``<sos/eos>`` last) with ``<mask>`` just
before ``<sos/eos>`` for the Mask-CTC decoder. Character tokens use ``<space>`` between words.
"""
from __future__ import annotations

import re
import unicodedata
from pathlib import Path
from typing import Sequence

from narspeech.errors import NarspeechError
from narspeech.fileio import read_table, write_table
from narspeech.text.normalize import normalize
from narspeech.text.subword import SubwordModel, decode_pieces
from narspeech.text.tokenize import spell, unspell

SPACE, MASK = "<space>", "<mask>"
UNITS = ("char", "subword")
_DROP = re.compile(r"[^A-Z0-9' ]+")


def normalize_transcript(text: str) -> str:
    """Numbers, abbreviations etc. spoken as words (the TTS normaliser), accents folded to ASCII, upper
    case; other characters (punctuation, symbols, non-Latin letters) become word breaks."""
    t = normalize(text).replace("’", "'")
    t = unicodedata.normalize("NFKD", t).encode("ascii", "ignore").decode().upper()  # café -> CAFE
    t = _DROP.sub(" ", t)
    return " ".join(w.strip("'") for w in t.split() if w.strip("'"))


class ASRTokenizer:
    """Text ↔ token strings for one unit: ``char`` or ``subword`` (needs a sentencepiece model)."""

    def __init__(self, unit: str = "char", subword_model: str | Path | None = None):
        if unit not in UNITS:
            raise NarspeechError(f"ASR token unit must be one of {', '.join(UNITS)}, got {unit!r}")
        self.unit = unit
        self.sp = None
        if unit == "subword":
            if subword_model is None:
                raise NarspeechError("subword tokens need a sentencepiece model (--subword-model)")

            self.sp = SubwordModel(subword_model)

    def encode(self, text: str) -> list[str]:
        """Tokens of an already normalised transcript."""
        if self.sp is not None:
            return self.sp.encode(text)
        return spell(text)

    def decode(self, tokens: Sequence[str]) -> str:
        """Tokens → words (special tokens dropped)."""
        toks = [t for t in tokens if not (t.startswith("<") and t.endswith(">") and t != SPACE)]
        if self.sp is not None:
            return decode_pieces(toks)
        return unspell(toks)


def asr_token_list(tokens: Sequence[str]) -> list[str]:
    """A token list (``narspeech text vocab`` layout) with ``<mask>`` inserted before ``<sos/eos>`` if missing."""
    tokens = list(tokens)
    if MASK not in tokens:
        tokens.insert(len(tokens) - 1, MASK)
    return tokens


def tokenize_data_dir(data: str | Path, unit: str = "char", subword_model: str | Path | None = None) -> dict[str, int]:
    """Write ``DATA/text_asr`` (normalised transcripts: the references to score against) and
    ``DATA/token`` (their ASR tokens). An utterance whose transcript normalises to nothing is an
    error naming it. Returns counts (utterances, tokens)."""
    data = Path(data)
    texts = read_table(data / "text")
    tok = ASRTokenizer(unit, subword_model)
    norm, tokens = {}, {}
    for utt, t in texts.items():
        n = normalize_transcript(t)
        if not n:
            raise NarspeechError(f"transcript {t!r} has no words left after normalisation", utt=utt, path=data / "text")
        norm[utt] = n
        tokens[utt] = " ".join(tok.encode(n))
    write_table(data / "text_asr", norm)
    write_table(data / "token", tokens)
    return {"utterances": len(norm), "tokens": sum(len(v.split()) for v in tokens.values())}
