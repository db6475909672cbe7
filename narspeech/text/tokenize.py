"""Text → token sequences (phonemes, characters, words) and the `token` file of a data dir.

Kinds (all normalise the text first unless ``normalize=False``):

* ``phoneme`` — espeak-ng phones via phonemizer (see :mod:`narspeech.text.phonemes`);
* ``char`` — lower-cased characters, ``<space>`` between words, punctuation as tokens;
* ``word`` — lower-cased words, punctuation split off as its own tokens.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Callable, Literal

from narspeech.errors import NarspeechError, Skipped
from narspeech.fileio import atomic_write, read_table
from narspeech.text.foreign import DEFAULT_POLICY, apply_policy, describe, split_foreign
from narspeech.text.normalize import normalize as normalize_text
from narspeech.text.phonemes import PUNCTUATION, SPACE, is_phone, phonemize

KINDS = ("phoneme", "char", "word")
Kind = Literal["phoneme", "char", "word"]
DEFAULT_LANGUAGE = "en-us"
_WORD = re.compile(r"[^\s" + re.escape(PUNCTUATION) + r"]+|[" + re.escape(PUNCTUATION) + r"]")


def spell(text: str) -> list[str]:
    """Characters of the words as written, ``<space>`` between words (no case change)."""
    out: list[str] = []
    for word in text.split():
        if out:
            out.append(SPACE)
        out.extend(word)
    return out


def unspell(tokens) -> str:
    """The inverse of :func:`spell`: characters joined into words at ``<space>``."""
    return " ".join("".join(" " if t == SPACE else t for t in tokens).split())


def char_tokens(text: str) -> list[str]:
    return spell(text.lower())


def word_tokens(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def tokenize(texts: list[str], kind: Kind, language: str | list[str] = DEFAULT_LANGUAGE, *,
             normalize: bool = True, on_foreign: str = DEFAULT_POLICY) -> list[list[str]]:
    """Token sequences for `texts` (batched: one espeak-ng call per language for phonemes).

    `language` is an espeak-ng language (``en-us``, ``en-gb``…) for all texts, or one
    per text. The normaliser is English; it is skipped for other languages. Characters
    the language cannot speak (another script, emoji) are handled by `on_foreign`
    (:mod:`narspeech.text.foreign`: ``skip`` leaves them out, ``spell`` lets espeak-ng
    read their names, ``fail`` raises); callers that report per utterance check
    :func:`narspeech.text.foreign.split_foreign` first.
    """
    if kind not in KINDS:
        raise NarspeechError(f"unknown token kind {kind!r}; choose from {', '.join(KINDS)}")
    langs = [language] * len(texts) if isinstance(language, str) else list(language)
    if len(langs) != len(texts):
        raise NarspeechError(f"{len(langs)} languages for {len(texts)} texts")
    texts = [apply_policy(t, lang, on_foreign)[0] for t, lang in zip(texts, langs)]
    if normalize:
        texts = [normalize_text(t) if lang.startswith("en") else t for t, lang in zip(texts, langs)]
    if kind == "char":
        return [char_tokens(t) for t in texts]
    if kind == "word":
        return [word_tokens(t) for t in texts]
    out: list[list[str]] = [[] for _ in texts]
    for lang in sorted(set(langs)):
        idx = [i for i, l in enumerate(langs) if l == lang]
        for i, toks in zip(idx, phonemize([texts[i] for i in idx], lang)):
            out[i] = toks
    return out


def has_content(tokens: list[str]) -> bool:
    """At least one token that is not `<space>` or punctuation."""
    return any(is_phone(t) for t in tokens)


def tokenize_data_dir(data: str | Path, kind: Kind, language: str | None = None, *, skip_bad: bool = False,
                      normalize: bool = True, on_foreign: str = DEFAULT_POLICY,
                      warn: Callable[[str, str], None] | None = None) -> tuple[int, list[Skipped]]:
    """Write ``DATA/token`` from ``DATA/text`` (atomic); returns (utterances written, skipped).

    `language` None means: per utterance from ``DATA/utt2lang`` when present (the synthetic
    corpus writes it), else ``en-us``. An empty transcript, or one that yields no tokens,
    raises naming the utterance, or with `skip_bad` is left out of `token` and listed.
    Characters the language cannot speak follow `on_foreign` (see :func:`tokenize`): with
    ``skip``/``spell`` each such utterance is passed to `warn(utt, message)`; with ``fail``
    it is an error like an empty transcript.
    """
    data = Path(data)
    text_path = data / "text"
    text = read_table(text_path, allow_empty_value=True)
    utts = list(text)
    if language is None and (data / "utt2lang").is_file():
        u2l = read_table(data / "utt2lang")
        missing = [u for u in utts if u not in u2l]
        if missing:
            raise NarspeechError("utterance missing from utt2lang", utt=missing[0], path=data / "utt2lang")
        langs: str | list[str] = [u2l[u] for u in utts]
    else:
        langs = language or DEFAULT_LANGUAGE
    skipped: list[Skipped] = []
    keep = []
    for i, u in enumerate(utts):
        lang = langs if isinstance(langs, str) else langs[i]
        found = split_foreign(text[u], lang)[1] if text[u].strip() else ""
        if found and on_foreign == "fail":
            msg = describe(found, lang, on_foreign)
            if not skip_bad:
                raise NarspeechError(msg + "; or use --skip-bad to leave it out", utt=u, path=text_path)
            skipped.append(Skipped(u, str(text_path), msg))
            continue
        if found and warn is not None:
            warn(u, describe(found, lang, on_foreign))
        if text[u].strip():
            keep.append(i)
        elif skip_bad:
            skipped.append(Skipped(u, str(text_path), "empty transcript"))
        else:
            raise NarspeechError("empty transcript (use --skip-bad to leave it out)", utt=u, path=text_path)
    sub_langs = langs if isinstance(langs, str) else [langs[i] for i in keep]
    tokens = tokenize([text[utts[i]] for i in keep], kind, sub_langs, normalize=normalize,
                      on_foreign="spell" if on_foreign == "fail" else on_foreign)
    lines = []
    for i, toks in zip(keep, tokens):
        u = utts[i]
        if not has_content(toks):
            msg = f"text yields no {kind} tokens: {text[u][:60]!r}"
            if not skip_bad:
                raise NarspeechError(msg + " (use --skip-bad to leave it out)", utt=u, path=text_path)
            skipped.append(Skipped(u, str(text_path), msg))
            continue
        lines.append(f"{u} {' '.join(toks)}\n")
    with atomic_write(data / "token") as f:
        f.writelines(lines)  # `text` is read sorted, so is `token`
    return len(lines), skipped
