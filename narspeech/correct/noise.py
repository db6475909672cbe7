"""Text-only pretraining data for the corrector: sentences with synthetic ASR-like word errors.

FastCorrect pretrains on a large text corpus whose sentences are corrupted the way an ASR
system errs, then fine-tunes on real (hypothesis, reference) pairs. Here:

* substitution by a **phonetically similar** word: every vocabulary word is turned into
  phonemes with our frontend (``narspeech.text.tokenize(kind="phoneme")``, espeak-ng) and its
  nearest words by phoneme edit distance (normalised Levenshtein over phone sequences,
  rapidfuzz) are its candidates (homophones first);
* deletion of a word; insertion of a word (a phonetic neighbour of the word before, so the
  inserted word is one an ASR could hallucinate there, or a frequent short word);
* rates are per word and configurable; the default 10 % / 2.5 % / 2.5 % (≈ 15 %,
  substitution-heavy) follows the paper's setting.

The text is any plain-text file (one sentence per line) or an LJSpeech-style
``id|raw|normalized`` file (the last field is used); numbers and abbreviations go through
``narspeech.text.normalize`` and the words are upper-cased without punctuation (apostrophes
kept), the convention of ASR transcripts such as speechocean762's (`case` changes it).
"""
from __future__ import annotations

import json
import random
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

from narspeech.errors import NarspeechError
from narspeech.fileio import atomic_write
from narspeech.text.normalize import normalize as norm
from narspeech.text.tokenize import tokenize

_NOT_WORD = re.compile(r"[^\w']+")


def clean_sentence(text: str, *, case: str = "upper", normalize: bool = True) -> str:
    """Spoken-form words of `text`: normalised (numbers → words), punctuation removed, case set."""
    if normalize:
        text = norm(text)
    words = [w.strip("'") for w in _NOT_WORD.sub(" ", text.replace("_", " ")).split()]
    text = " ".join(w for w in words if w)
    return text.upper() if case == "upper" else text.lower() if case == "lower" else text


def read_text_corpus(path: str | Path, *, limit: int | None = None, case: str = "upper", normalize: bool = True) -> list[str]:
    """Sentences of a plain-text file (or the last ``|`` field of LJSpeech metadata), cleaned."""
    path = Path(path)
    if not path.is_file():
        raise NarspeechError("text file not found", path=path)
    out = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            raw = line.rstrip("\n").split("|")[-1]
            s = clean_sentence(raw, case=case, normalize=normalize)
            if s:
                out.append(s)
            if limit and len(out) >= limit:
                break
    if not out:
        raise NarspeechError("no sentences found", path=path)
    return out


def phonetic_neighbours(words: Sequence[str], *, k: int = 8, min_similarity: float = 0.5, language: str = "en-us") -> dict[str, list[str]]:
    """For each word, up to `k` other words whose phonemes are closest (normalised phoneme edit
    similarity ≥ `min_similarity`), most similar first (ties by word)."""
    from rapidfuzz import process
    from rapidfuzz.distance import Levenshtein


    words = list(dict.fromkeys(words))
    phones = tokenize([w.lower() for w in words], kind="phoneme", language=language)
    table: dict[str, str] = {}
    # one character per phone (stress marks dropped), so rapidfuzz compares phone sequences
    seqs = ["".join(table.setdefault(p, chr(0xE000 + len(table))) for p in ph if p not in ("ˈ", "ˌ", "<space>")) for ph in phones]
    sim = process.cdist(seqs, seqs, scorer=Levenshtein.normalized_similarity, workers=1, dtype=None)
    out: dict[str, list[str]] = {}
    for i, w in enumerate(words):
        row = sim[i]
        cand = [(-float(row[j]), words[j]) for j in range(len(words)) if j != i and row[j] >= min_similarity and words[j] != w]
        cand.sort()
        out[w] = [c for _, c in cand[:k]]
    return out


@dataclass
class NoiseConfig:
    """Per-word error rates and the vocabulary used for neighbours."""

    substitution: float = 0.10
    deletion: float = 0.025
    insertion: float = 0.025
    vocab_size: int = 4000
    neighbours: int = 8
    min_similarity: float = 0.5
    seed: int = 1

    @classmethod
    def from_dict(cls, d: dict | None) -> "NoiseConfig":
        d = dict(d or {})
        unknown = set(d) - set(cls.__dataclass_fields__)
        if unknown:
            raise NarspeechError(f"unknown noise option(s): {', '.join(sorted(unknown))}")
        c = cls(**d)
        if min(c.substitution, c.deletion, c.insertion) < 0 or c.substitution + c.deletion + c.insertion > 1:
            raise NarspeechError("noise rates must be >= 0 and sum to at most 1")
        return c


@dataclass
class Noiser:
    """Corrupts word sequences with the configured rates (deterministic given the seed)."""

    neighbours: dict[str, list[str]]
    config: NoiseConfig = field(default_factory=NoiseConfig)
    frequent: list[str] = field(default_factory=list)

    def corrupt(self, words: Sequence[str], rng: random.Random) -> list[str]:
        c = self.config
        out: list[str] = []
        pool = self.frequent or list(self.neighbours) or list(words)
        for w in words:
            r = rng.random()
            if r < c.substitution:
                cand = self.neighbours.get(w)
                out.append(rng.choice(cand) if cand else rng.choice(pool))
            elif r < c.substitution + c.deletion:
                continue
            elif r < c.substitution + c.deletion + c.insertion:
                cand = self.neighbours.get(w)
                out += [w, rng.choice(cand) if cand and rng.random() < 0.5 else rng.choice(pool)]
            else:
                out.append(w)
        return out

    def save(self, path: str | Path) -> None:
        with atomic_write(path) as f:
            json.dump({"config": self.config.__dict__, "frequent": self.frequent, "neighbours": self.neighbours}, f)

    @classmethod
    def load(cls, path: str | Path) -> "Noiser":
        d = json.loads(Path(path).read_text(encoding="utf-8"))
        return cls(d["neighbours"], NoiseConfig.from_dict(d["config"]), d["frequent"])


def build_noiser(sentences: Iterable[str], config: NoiseConfig | None = None, *, extra_words: Iterable[str] = ()) -> Noiser:
    """Neighbours over the `config.vocab_size` most frequent words (plus `extra_words`, e.g. the
    fine-tuning transcripts' words, so their confusions are modelled too)."""
    config = config or NoiseConfig()
    counts = Counter(w for s in sentences for w in s.split())
    vocab = [w for w, _ in sorted(counts.items(), key=lambda x: (-x[1], x[0]))[: config.vocab_size]]
    vocab = list(dict.fromkeys([*vocab, *extra_words]))
    neigh = phonetic_neighbours(vocab, k=config.neighbours, min_similarity=config.min_similarity)
    frequent = [w for w in vocab[:200] if len(w) <= 4] or vocab[:50]
    return Noiser(neigh, config, frequent)


def make_noisy_pairs(sentences: Sequence[str], noiser, *, copies: int = 1, prefix: str = "s", seed: int | None = None) -> tuple[dict[str, str], dict[str, str]]:
    """(hyps, refs) tables ``id -> text``: `copies` corrupted versions of each sentence by
    `noiser` (anything with ``corrupt(words, rng)``: a :class:`Noiser` or a learned
    :class:`narspeech.correct.errmodel.ErrorModel`). A corruption that deleted every word keeps
    the first word (an empty hypothesis has nothing to correct from)."""
    rng = random.Random((noiser.config.seed if hasattr(noiser, "config") else 1) if seed is None else seed)
    hyps, refs = {}, {}
    width = len(str(len(sentences)))
    for c in range(copies):
        for i, s in enumerate(sentences):
            words = s.split()
            noisy = noiser.corrupt(words, rng) or words[:1]
            key = f"{prefix}{i:0{width}d}" + (f"-{c}" if copies > 1 else "")
            hyps[key], refs[key] = " ".join(noisy), s
    return hyps, refs
