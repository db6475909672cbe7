"""Token units of the corrector: words (default), characters, or sentencepiece subwords.

Words are split on whitespace and kept as written (the corrector maps ASR text to text in
the same convention: speechocean762 transcripts are upper-case words without punctuation).
Characters use ``<space>`` between words, as the token lists do. A sentencepiece model gives
the ASR's own subword units (``▁`` marks a word start; decoding joins and restores spaces).
"""
from __future__ import annotations

from pathlib import Path

from narspeech.errors import NarspeechError
from narspeech.text.subword import SubwordModel
from narspeech.text.tokenize import spell, unspell

UNITS = ("word", "char")


class Units:
    """``encode(text) -> tokens`` and ``decode(tokens) -> text`` for one unit kind."""

    def __init__(self, unit: str = "word", spm_model: str | Path | None = None):
        if spm_model is None and unit not in UNITS:
            raise NarspeechError(f"unknown unit {unit!r}; use word, char, or give a sentencepiece model")
        self.unit = "spm" if spm_model is not None else unit
        self.spm_model = None if spm_model is None else str(spm_model)
        self._sp = None
        if spm_model is not None:
            self._sp = SubwordModel(spm_model)

    def encode(self, text: str) -> list[str]:
        if self.unit == "word":
            return text.split()
        if self.unit == "char":
            return spell(text)
        return self._sp.encode(text)

    def decode(self, tokens: list[str]) -> str:
        if self.unit == "word":
            return " ".join(tokens)
        if self.unit == "char":
            return unspell(tokens)
        return self._sp.decode(tokens)

    def to_dict(self) -> dict:
        return {"unit": self.unit, "spm_model": self.spm_model}

    @classmethod
    def from_dict(cls, d: dict) -> "Units":
        spm_model = d.get("spm_model")
        return cls("word" if spm_model else d.get("unit", "word"), spm_model)
