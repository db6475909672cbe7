"""The synthesis text frontend: input sentences, the model's tokenizer and token list, long lines cut in pieces.

Inputs are ``(utt, text)`` pairs from a sentence file (:func:`read_sentences`) or a data dir's
``text`` (:func:`read_data_text`). Each text goes through the model's own frontend (``cfg["text"]``:
kind, language; the exp dir's ``tokens.txt``); a text that cannot be spoken (empty, nothing speakable
after normalisation, tokens the model never saw) is reported and left out. A line over ``max_chars``
characters is cut at sentence boundaries (:func:`split_long_text`) and synthesised in pieces.
"""
from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from narspeech.errors import NarspeechError
from narspeech.fileio import read_table, read_text_lines
from narspeech.text.foreign import POLICIES, describe, split_foreign
from narspeech.text.inventory import map_to_inventory
from narspeech.text.tokenize import has_content, tokenize
from narspeech.text.vocab import TokenList

MAX_CHARS = 400  # longer input lines are synthesised in sentence pieces and joined back
PIECE_PAUSE_SECONDS = 0.25


def stderr_warning(utt: str, reason: str) -> None:
    print(f"warning: utterance {utt}: {reason}", file=sys.stderr)


# --------------------------------------------------------------------------- inputs


def read_sentences(path: str | Path, *, with_ids: bool = False) -> list[tuple[str, str]]:
    """``(utt, text)`` from a sentence file.

    Plain: one sentence per line, ids ``line0001``… by line number (blank lines keep
    their number and come back with empty text, so they are reported, not silently
    dropped; blank lines at the end of the file are ignored). `with_ids`: ``id text``
    lines (Kaldi ``text`` style, any order), blank lines ignored.
    """
    path = Path(path)
    if not path.is_file():
        raise NarspeechError("text file not found", path=path)
    lines = read_text_lines(path)  # not UTF-8: one error naming the line; a BOM is dropped
    while lines and not lines[-1].strip():
        lines.pop()
    if not with_ids:
        width = max(4, len(str(len(lines))))
        return [(f"line{n:0{width}d}", line.strip()) for n, line in enumerate(lines, 1)]
    out: list[tuple[str, str]] = []
    seen: set[str] = set()
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        utt, _, text = line.strip().partition(" ")
        if utt in seen:
            raise NarspeechError(f"line {n}: duplicated id", utt=utt, path=path)
        seen.add(utt)
        out.append((utt, text.strip()))
    return out


def read_data_text(data_dir: str | Path) -> list[tuple[str, str]]:
    """``(utt, text)`` from ``DATA/text`` (empty transcripts are kept, to be reported)."""
    table = read_table(Path(data_dir) / "text", allow_empty_value=True)
    return list(table.items())


# --------------------------------------------------------------------------- frontend


@dataclass
class Encoded:
    """One input that survived the frontend: its id, text, tokens and token ids (and, for a multi-speaker
    model, its speaker id and/or embedding)."""

    utt: str
    text: str
    tokens: list[str]
    ids: list[int]
    sid: int | None = None
    spemb: "object" = None  # np.ndarray (spk_embed_dim,)


@dataclass
class TextFrontend:
    """The model's text frontend: ``cfg["text"]`` (kind, language) + its token list.

    Tokens the list lacks are mapped onto it (:func:`narspeech.text.inventory.map_to_inventory`:
    nearest phone, nearest punctuation mark or pause) with a warning; characters the language
    cannot speak follow `on_foreign` (:mod:`narspeech.text.foreign`: skip | spell | fail).
    Warnings go to `warn(utt, message)` (default: one line on stderr).
    """

    kind: str
    language: str
    token_list: "object"  # narspeech.text.vocab.TokenList
    append_eos: bool = False
    on_foreign: str = "skip"
    warn: Callable[[str, str], None] | None = None

    def _warn(self, utt: str, message: str) -> None:
        (self.warn or stderr_warning)(utt, message)

    @classmethod
    def for_model(cls, exp_dir: str | Path, cfg: dict) -> "TextFrontend":
        """Frontend of a trained model: ``EXP/tokens.txt`` (or ``cfg["text"]["token_list"]``)."""

        text_cfg = cfg.get("text") or {}
        exp_dir = Path(exp_dir)
        exp_dir = exp_dir if exp_dir.is_dir() else exp_dir.parent
        candidates = [Path(text_cfg["token_list"])] if text_cfg.get("token_list") else []
        candidates += [exp_dir / "tokens.txt", exp_dir.parent / "tokens.txt"]
        tok_path = next((p for p in candidates if p.is_file()), None)
        if tok_path is None:
            raise NarspeechError("no tokens.txt for this model (looked in the exp dir and config text.token_list)", path=exp_dir)
        return cls(kind=str(text_cfg.get("kind", "phoneme")), language=str(text_cfg.get("language", "en-us")),
                   token_list=TokenList(tok_path), append_eos=bool(text_cfg.get("append_eos", False)))

    def encode(self, items: Sequence[tuple[str, str]]) -> tuple[list[Encoded], dict[str, str]]:
        """Tokenise and encode `items` in one batched frontend call; returns (encoded, failed reasons)."""

        if self.on_foreign not in POLICIES:
            raise NarspeechError(f"--on-foreign must be one of {', '.join(POLICIES)} (got {self.on_foreign!r})")
        failed: dict[str, str] = {}
        todo = []
        for utt, text in items:
            found = split_foreign(text, self.language)[1]
            if not text.strip():
                failed[utt] = "empty text"
            elif any(c.isspace() for c in utt) or "/" in utt or utt in (".", ".."):
                failed[utt] = "id cannot be used as a file name"
            elif found and self.on_foreign == "fail":
                failed[utt] = describe(found, self.language, self.on_foreign)
            else:
                if found:
                    self._warn(utt, describe(found, self.language, self.on_foreign))
                todo.append((utt, text))
        token_seqs = self._tokenize([t for _, t in todo], [u for u, _ in todo], failed)
        out: list[Encoded] = []
        for (utt, text), toks in zip(todo, token_seqs):
            if toks is None:
                continue
            if not toks or not has_content(toks):
                failed[utt] = f"nothing speakable in {text[:60]!r} (the {self.kind} frontend gives no {self.kind}s)"
                continue
            try:
                toks, notes = map_to_inventory(toks, self.token_list)
            except NarspeechError as e:
                failed[utt] = e.message
                continue
            if notes:
                self._warn(utt, f"mapped onto the model's tokens: {', '.join(notes)}")
            if not has_content(toks):
                failed[utt] = f"nothing speakable in {text[:60]!r} with the model's tokens"
                continue
            ids = self.token_list.encode(toks, utt=utt)
            if self.append_eos:
                ids.append(self.token_list.sos_eos)
            out.append(Encoded(utt, text, list(toks), ids))
        return out, failed

    def _tokenize(self, texts: list[str], utts: list[str], failed: dict[str, str]) -> list[list[str] | None]:
        """Batched tokenize; if the batch call fails, redo one text at a time to find the culprit."""

        if not texts:
            return []
        policy = "spell" if self.on_foreign == "fail" else self.on_foreign  # failing texts are already out
        try:
            return [list(t) for t in tokenize(texts, self.kind, self.language, on_foreign=policy)]
        except Exception:
            pass
        seqs: list[list[str] | None] = []
        for utt, text in zip(utts, texts):
            try:
                seqs.append(list(tokenize([text], self.kind, self.language, on_foreign=policy)[0]))
            except Exception as e:  # the frontend (phonemizer, normaliser) rejects this text
                failed[utt] = f"text frontend failed: {str(e).splitlines()[0][:200] if str(e) else type(e).__name__}"
                seqs.append(None)
        return seqs




def split_long_text(text: str, max_chars: int = MAX_CHARS) -> list[str]:
    """Cut `text` into pieces of at most `max_chars` characters: after sentence ends (``. ! ? ; :``),
    else after commas, else at spaces (a single longer word is cut where it must be)."""
    text = " ".join(text.split())
    if len(text) <= max_chars:
        return [text]

    def pack(parts: list[str], finer) -> list[str]:
        out: list[str] = []
        for part in parts:
            if len(part) > max_chars:
                out.extend(finer(part))
            elif out and len(out[-1]) + 1 + len(part) <= max_chars:
                out[-1] += " " + part
            else:
                out.append(part)
        return out

    def by_chars(t: str) -> list[str]:
        return [t[i : i + max_chars] for i in range(0, len(t), max_chars)]

    def by_words(t: str) -> list[str]:
        return pack(t.split(" "), by_chars)

    def by_commas(t: str) -> list[str]:
        return pack(re.split(r"(?<=,)\s+", t), by_words)

    return pack(re.split(r"(?<=[.!?;:])\s+", text), by_commas)


def split_items(items: Sequence[tuple[str, str]], max_chars: int, warn: Callable[[str, str], None]):
    """Long items → piece items ``utt#001``…; returns (items to encode, piece → (parent, k, n))."""
    out, pieces = [], {}
    for utt, text in items:
        parts = split_long_text(text, max_chars) if max_chars and len(text) > max_chars else [text]
        if len(parts) == 1:
            out.append((utt, text))
            continue
        warn(utt, f"{len(text)} characters: synthesized in {len(parts)} pieces split at sentence boundaries "
                  f"(at most {max_chars} characters each) and joined with {PIECE_PAUSE_SECONDS:g} s pauses")
        for k, part in enumerate(parts, 1):
            pieces[f"{utt}#{k:03d}"] = (utt, k, len(parts))
            out.append((f"{utt}#{k:03d}", part))
    return out, pieces
