"""Subword units for ASR with sentencepiece (unigram or BPE), trained on a data dir's text.

The model files are sentencepiece's own (``PREFIX.model``, ``PREFIX.vocab``); pieces keep
sentencepiece's word-start marker ``▁``, so :func:`decode_pieces` turns a piece sequence back
into words exactly (no ``<space>`` token is needed).
"""
from __future__ import annotations

import io
from pathlib import Path
from typing import Iterable, Sequence

from narspeech.errors import NarspeechError
from narspeech.fileio import atomic_path

WORD_START = "\u2581"


def _spm():
    try:
        import sentencepiece as spm
    except ImportError:  # pragma: no cover - listed in tools/requirements.txt
        raise NarspeechError("sentencepiece is not installed (pip install sentencepiece)") from None
    return spm


def train_subword_model(sentences: Iterable[str], out_model: str | Path, *, vocab_size: int = 300,
                        model_type: str = "unigram", character_coverage: float = 1.0) -> Path:
    """Train a sentencepiece model on `sentences`; writes `out_model` (``*.model``) and the ``.vocab`` beside it.

    `vocab_size` counts sentencepiece's own ``<unk>`` only (no ``<s>``/``</s>``), so the ASR
    token list gets ``vocab_size - 1`` corpus pieces. A vocabulary too large for the text is an error.
    """
    spm = _spm()
    if model_type not in ("unigram", "bpe"):
        raise NarspeechError(f"subword model type must be unigram or bpe, got {model_type!r}")
    sents = [" ".join(s.split()) for s in sentences]
    sents = [s for s in sents if s]
    if not sents:
        raise NarspeechError("no text to train the subword model on")
    out_model = Path(out_model)
    if out_model.suffix != ".model":
        raise NarspeechError("subword model path must end in .model", path=out_model)
    buf = io.BytesIO()
    try:
        spm.SentencePieceTrainer.train(sentence_iterator=iter(sents), model_writer=buf, vocab_size=vocab_size,
                                       model_type=model_type, character_coverage=character_coverage,
                                       bos_id=-1, eos_id=-1, unk_id=0, unk_surface="<unk>", minloglevel=2,
                                       hard_vocab_limit=True, num_threads=1)
    except RuntimeError as e:
        raise NarspeechError(f"sentencepiece training failed: {str(e).splitlines()[-1]}") from None
    out_model.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out_model) as tmp:
        tmp.write_bytes(buf.getvalue())
    proc = spm.SentencePieceProcessor(model_file=str(out_model))
    with atomic_path(out_model.with_suffix(".vocab")) as tmp:
        tmp.write_text("".join(f"{proc.id_to_piece(i)}\t{proc.get_score(i)}\n" for i in range(proc.get_piece_size())),
                       encoding="utf-8")
    return out_model


class SubwordModel:
    """A trained sentencepiece model: ``encode(text) -> pieces``, ``decode(pieces) -> text``."""

    def __init__(self, path: str | Path):
        path = Path(path)
        if not path.is_file():
            raise NarspeechError("subword model not found", path=path)
        self.path = path
        self.proc = _spm().SentencePieceProcessor(model_file=str(path))

    def encode(self, text: str) -> list[str]:
        return list(self.proc.encode(" ".join(text.split()), out_type=str))

    def pieces(self) -> list[str]:
        """All pieces except sentencepiece's ``<unk>`` (id 0)."""
        return [self.proc.id_to_piece(i) for i in range(1, self.proc.get_piece_size())]

    @staticmethod
    def decode(pieces: Sequence[str]) -> str:
        return decode_pieces(pieces)


def decode_pieces(pieces: Sequence[str]) -> str:
    """Pieces → words: ``▁`` starts a word (no model needed)."""
    return " ".join("".join(pieces).replace(WORD_START, " ").split())
