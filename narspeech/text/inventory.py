"""Map any token sequence onto a model's token list, so every sentence of the language is speakable.

A model only knows the tokens of its training set; espeak-ng can produce phones the set
never had (``x`` in *Mannlicher*, ``r`` in *Messrs.*, nasal vowels, other languages'
phones), and text can hold punctuation the set lacked (``!`` in ARCTIC). Instead of
failing the sentence, :func:`map_to_inventory` replaces each unknown token by the nearest
token(s) of the list and says what it did (``notes``: ``"x -> k"``). In order:

1. a token in the list is kept;
2. **stress marks** (``ˈ`` ``ˌ``, tokens of their own since the stress split): a missing
   ``ˌ`` is dropped, a missing ``ˈ`` becomes ``ˌ`` or is dropped. A token list of the
   older format (stress attached to the vowel, ``ˈoʊ``) gets them re-attached;
3. **punctuation** goes to the nearest mark the list has (``!``/``?`` → ``.`` → ``;`` →
   ``,``; ``:``/``;`` → ``,``), else to the pause ``,``, else it is dropped;
   a missing ``<space>`` is dropped;
4. a **phone** (or a letter of a character list: ``é`` → ``e`` first) is cleaned (espeak-ng's
   ASCII mnemonics such as ``tS`` → ``tʃ``, tone digits and tie bars removed), then split
   into list tokens if it is a sequence of them (``ɔːɹ`` → ``ɔː ɹ``, ``ts`` → ``t s``),
   then a conventional substitute is tried (:data:`PREFERRED`: ``x`` → ``k``, ``ɐ`` →
   ``ə``, ``r`` → ``ɹ``, ``ɲ`` → ``n j``, ``ʔ`` dropped…), and otherwise each segment
   goes to the **nearest phone by phonetic features** (:func:`segment_distance`):
   vowels by height, backness, rounding, r-colour, length and nasality (so ``ã`` → a
   plain open vowel, ``aː`` → ``ɑː``, ``y`` → ``i``); consonants by place, manner,
   voicing and rhoticity (``ç`` → ``ʃ``, ``ɣ`` → ``ɡ``, ``β`` → ``v``, ``ʈ`` → ``t``,
   ``ħ`` → ``h``). A vowel never becomes a consonant or the reverse; a diphthong or
   affricate of the list counts as its (long) first segment plus 0.8 (``eː`` → ``eɪ``), and an
   unknown diphthong goes to a list diphthong close segment by segment (``ai`` → ``aɪ``).

Only a token with no counterpart at all (a letter of another script in a character
list, a list without a single vowel) raises :class:`NarspeechError`: the text is then
truly unspeakable with this model.
"""
from __future__ import annotations

import functools
import unicodedata
from dataclasses import dataclass
from typing import Sequence

from narspeech.errors import NarspeechError
from narspeech.text.phonemes import SPACE, STRESS

# --------------------------------------------------------------------------- features

# Vowels: (height 0 close … 6 open, backness 0 front … 2 back, rounded, r-coloured).
VOWELS: dict[str, tuple[float, float, int, int]] = {
    "i": (0, 0, 0, 0), "y": (0, 0, 1, 0), "ɨ": (0, 1, 0, 0), "ʉ": (0, 1, 1, 0), "ɯ": (0, 2, 0, 0), "u": (0, 2, 1, 0),
    "ɪ": (1, 0.5, 0, 0), "ʏ": (1, 0.5, 1, 0), "ᵻ": (1, 1, 0, 0), "ᵿ": (1, 1, 1, 0), "ʊ": (1, 1.5, 1, 0),
    "e": (2, 0, 0, 0), "ø": (2, 0, 1, 0), "ɘ": (2, 1, 0, 0), "ɵ": (2, 1, 1, 0), "ɤ": (2, 2, 0, 0), "o": (2, 2, 1, 0),
    "ə": (3, 1, 0, 0), "ɚ": (3, 1, 0, 1),
    "ɛ": (4, 0, 0, 0), "œ": (4, 0, 1, 0), "ɜ": (4, 1, 0, 0), "ɝ": (4, 1, 0, 1), "ɞ": (4, 1, 1, 0),
    "ʌ": (4, 2, 0, 0), "ɔ": (4, 2, 1, 0),
    "æ": (5, 0, 0, 0), "ɐ": (5, 1, 0, 0),
    "a": (6, 0.5, 0, 0), "ɶ": (6, 0, 1, 0), "ä": (6, 1, 0, 0), "ɑ": (6, 2, 0, 0), "ɒ": (6, 2, 1, 0),
}

# Consonants: (place, manner, voiced). Places: 0 bilabial, 1 labiodental, 2 dental, 3 alveolar,
# 4 postalveolar, 4.5 retroflex, 5 alveolo-palatal, 6 palatal, 7 velar, 8 uvular, 9 pharyngeal,
# 10 glottal.
CONSONANTS: dict[str, tuple[float, str, int]] = {
    "p": (0, "plosive", 0), "b": (0, "plosive", 1), "t": (3, "plosive", 0), "d": (3, "plosive", 1),
    "ʈ": (4.5, "plosive", 0), "ɖ": (4.5, "plosive", 1), "c": (6, "plosive", 0), "ɟ": (6, "plosive", 1),
    "k": (7, "plosive", 0), "ɡ": (7, "plosive", 1), "q": (8, "plosive", 0), "ɢ": (8, "plosive", 1),
    "ʔ": (10, "plosive", 0),
    "ɓ": (0, "implosive", 1), "ɗ": (3, "implosive", 1), "ʄ": (6, "implosive", 1), "ɠ": (7, "implosive", 1),
    "m": (0, "nasal", 1), "ɱ": (1, "nasal", 1), "n": (3, "nasal", 1), "ɳ": (4.5, "nasal", 1),
    "ɲ": (6, "nasal", 1), "ŋ": (7, "nasal", 1), "ɴ": (8, "nasal", 1),
    "ʙ": (0, "trill", 1), "r": (3, "trill", 1), "ʀ": (8, "trill", 1),
    "ⱱ": (1, "tap", 1), "ɾ": (3, "tap", 1), "ɽ": (4.5, "tap", 1),
    "ɸ": (0, "fricative", 0), "β": (0, "fricative", 1), "f": (1, "fricative", 0), "v": (1, "fricative", 1),
    "θ": (2, "fricative", 0), "ð": (2, "fricative", 1), "s": (3, "fricative", 0), "z": (3, "fricative", 1),
    "ʃ": (4, "fricative", 0), "ʒ": (4, "fricative", 1), "ʂ": (4.5, "fricative", 0), "ʐ": (4.5, "fricative", 1),
    "ɕ": (5, "fricative", 0), "ʑ": (5, "fricative", 1), "ɧ": (5, "fricative", 0),
    "ç": (6, "fricative", 0), "ʝ": (6, "fricative", 1), "x": (7, "fricative", 0), "ɣ": (7, "fricative", 1),
    "χ": (8, "fricative", 0), "ʁ": (8, "fricative", 1), "ħ": (9, "fricative", 0), "ʕ": (9, "fricative", 1),
    "h": (10, "fricative", 0), "ɦ": (10, "fricative", 1),
    "ɬ": (3, "lateral-fricative", 0), "ɮ": (3, "lateral-fricative", 1),
    "ʋ": (1, "approximant", 1), "ɹ": (3, "approximant", 1), "ɻ": (4.5, "approximant", 1),
    "j": (6, "approximant", 1), "ɥ": (6, "approximant", 1), "ɰ": (7, "approximant", 1),
    "w": (7, "approximant", 1), "ʍ": (7, "approximant", 0),
    "l": (3, "lateral", 1), "ɫ": (3.5, "lateral", 1), "ɭ": (4.5, "lateral", 1), "ʎ": (6, "lateral", 1),
    "ʟ": (7, "lateral", 1),
    "ʘ": (0, "click", 0), "ǀ": (2, "click", 0), "ǃ": (3, "click", 0), "ǂ": (6, "click", 0), "ǁ": (3, "click", 0),
}
RHOTICS = frozenset("rʀɾɽɹɻʁ")

_MANNER_COST = {
    frozenset({"plosive", "affricate"}): 0.5, frozenset({"fricative", "affricate"}): 0.5,
    frozenset({"plosive", "implosive"}): 0.3, frozenset({"plosive", "click"}): 1.0,
    frozenset({"plosive", "fricative"}): 1.0, frozenset({"plosive", "tap"}): 1.0,
    frozenset({"trill", "tap"}): 0.5, frozenset({"tap", "approximant"}): 0.5, frozenset({"trill", "approximant"}): 0.7,
    frozenset({"fricative", "approximant"}): 1.0, frozenset({"trill", "fricative"}): 1.0,
    frozenset({"lateral", "lateral-fricative"}): 1.0, frozenset({"fricative", "lateral-fricative"}): 1.0,
    frozenset({"lateral", "approximant"}): 1.0,
}

LONG = "ːˑ"
NASAL = "\u0303"
TIES = "\u0361\u035c"
# espeak-ng's ASCII / non-IPA spellings of some phonemes (where a voice has no IPA for them).
MNEMONICS = {"tS": "tʃ", "dZ": "dʒ", "ʧ": "tʃ", "ʤ": "dʒ", "ʦ": "ts", "ʣ": "dz", "ʨ": "tɕ", "ʥ": "dʑ",
             "A": "ɑ", "S": "ʃ", "Z": "ʒ", "X": "x", "T": "θ", "D": "ð", "N": "ŋ", "E": "ɛ", "O": "ɔ",
             "I": "ɪ", "U": "ʊ", "V": "ʌ", "@": "ə", "g": "ɡ", "ε": "ɛ", "Φ": "ɸ", "φ": "ɸ", "ɩ": "ɪ", "ʚ": "ɞ"}
_RECOMPOSE = {"c\u0327": "ç", "a\u0308": "ä"}
# Characters that only annotate a phone for espeak (tones, syllable/length marks of some voices).
_ANNOTATIONS = set("0123456789-#[]^`\"_'|") | set(STRESS)

# Conventional substitutes tried before the feature distance (first option fully in the list wins;
# "" drops the phone). Chosen where a listener's expectation differs from the nearest features.
PREFERRED: dict[str, list[str]] = {
    "x": ["k", "h"], "χ": ["h", "k"], "ç": ["ʃ", "h"], "ɐ": ["ə", "ʌ"], "ᵻ": ["ɪ", "ə"], "ɨ": ["ᵻ", "ɪ"],
    "r": ["ɹ", "ɾ"], "ʀ": ["ɹ"], "ʁ": ["ɹ"], "ɾ": ["ɹ", "d"], "ɻ": ["ɹ"],
    "ɲ": ["n j", "n"], "ʎ": ["l j", "j"], "ʔ": [""], "ɫ": ["l"], "l̩": ["əl", "ə l", "l"],
    "n̩": ["ə n", "n"], "m̩": ["ə m", "m"], "ʍ": ["w"], "ɥ": ["j", "w"], "ʝ": ["j"], "ɰ": ["w"],
    "ɚ": ["ə ɹ", "ə"], "ɝ": ["ɜː ɹ", "ɚ"], "ts": ["t s"], "dz": ["d z"], "ʋ": ["v", "w"],
    "œ": ["ɜː", "ɛ"], "ø": ["ɜː", "eɪ"], "øː": ["ɜː"], "y": ["uː", "iː"], "yː": ["uː", "iː"],
    "ɣ": ["ɡ"], "aː": ["ɑː"], "ɒ": ["ɑː", "ɔ"],
    # other accents' diphthongs (en-gb and others) onto their usual en-us counterparts
    "əʊ": ["oʊ"], "ɑɪ": ["aɪ"], "ɑʊ": ["aʊ"], "ɛɪ": ["eɪ"], "ɔʊ": ["oʊ"], "eə": ["ɛɹ", "ɛ ə"],
    "ɪə": ["ɪɹ", "iə"], "ʊə": ["ʊɹ", "ʊ ə"],
}

PUNCT_FALLBACK: dict[str, list[str]] = {
    "!": [".", ";", ","], "?": [".", ";", ","], ".": [";", "!", "?", ","], ";": [",", ".", ":"],
    ":": [",", ";", "."], ",": [";", ":", "."],
}
PAUSE = ","


@dataclass(frozen=True)
class Segment:
    """One phone segment: base character + length/nasality + other modifier characters."""

    base: str
    long: bool = False
    nasal: bool = False
    mods: str = ""

    @property
    def text(self) -> str:
        return self.base + self.mods + (NASAL if self.nasal else "") + ("ː" if self.long else "")

    @property
    def is_vowel(self) -> bool:
        return self.base in VOWELS

    @property
    def known(self) -> bool:
        return self.base in VOWELS or self.base in CONSONANTS


def clean(token: str) -> str:
    """`token` without espeak annotations (tones, ties, stress), its mnemonics spelled in IPA, NFD."""
    s = unicodedata.normalize("NFD", token)
    for a, b in _RECOMPOSE.items():  # IPA letters that NFD would take apart
        s = s.replace(a, b)
    for a, b in MNEMONICS.items():
        if len(a) > 1:
            s = s.replace(a, b)
    out = []
    for ch in s:
        if ch in _ANNOTATIONS or ch in TIES:
            continue
        out.append(MNEMONICS.get(ch, ch))
    return "".join(out)


def segments(token: str) -> list[Segment]:
    """Segments of a (cleaned) phone token; identical neighbours (espeak's geminates) merge into one."""
    segs: list[Segment] = []
    for ch in clean(token):
        cat = unicodedata.category(ch)
        is_base = (cat.startswith("L") and cat != "Lm") or ch in VOWELS or ch in CONSONANTS
        if is_base:
            segs.append(Segment(ch))
            continue
        if not segs or not (cat == "Lm" or cat.startswith("M")):
            continue  # a modifier with nothing to modify, or a symbol
        s = segs[-1]
        if ch in LONG:
            segs[-1] = Segment(s.base, True, s.nasal, s.mods)
        elif ch == NASAL:
            segs[-1] = Segment(s.base, s.long, True, s.mods)
        else:
            segs[-1] = Segment(s.base, s.long, s.nasal, s.mods + ch)
    merged: list[Segment] = []
    for s in segs:
        if merged and merged[-1].base == s.base and merged[-1].mods == s.mods:
            p = merged[-1]
            merged[-1] = Segment(p.base, True, p.nasal or s.nasal, p.mods)
        else:
            merged.append(s)
    return merged


def segment_distance(a: Segment, b: Segment) -> float:
    """Phonetic distance between two segments (inf between a vowel and a consonant or unknown bases)."""
    if not (a.known and b.known) or a.is_vowel != b.is_vowel:
        return float("inf")
    d = 0.5 * (a.long != b.long) + 0.3 * (a.nasal != b.nasal) + 0.2 * (a.mods != b.mods)
    if a.is_vowel:
        (h1, b1, r1, rh1), (h2, b2, r2, rh2) = VOWELS[a.base], VOWELS[b.base]
        return d + 0.5 * abs(h1 - h2) + 1.5 * abs(b1 - b2) + 1.0 * abs(r1 - r2) + 1.0 * abs(rh1 - rh2)
    (p1, m1, v1), (p2, m2, v2) = CONSONANTS[a.base], CONSONANTS[b.base]
    manner = 0.0 if m1 == m2 else _MANNER_COST.get(frozenset({m1, m2}), 2.0)
    rhotic = 2.0 * ((a.base in RHOTICS) != (b.base in RHOTICS))
    return d + 0.4 * abs(p1 - p2) + manner + 0.5 * abs(v1 - v2) + rhotic


# --------------------------------------------------------------------------- the mapper


def _is_punct(token: str) -> bool:
    """Punctuation or a symbol (a lone tone digit is not: it is an annotation, dropped)."""
    return bool(token) and all(unicodedata.category(c)[0] in "PS" for c in token) and not token.startswith("<")


class InventoryMap:
    """Maps tokens onto one token list (unknown phones cached); see the module docstring."""

    def __init__(self, tokens: Sequence[str]):
        self.tokens = list(tokens)
        self.inv = {t for t in self.tokens if not (t.startswith("<") and t.endswith(">") and t != SPACE)}
        self.stress_sep = any(s in self.inv for s in STRESS)
        self.stress_attached = not self.stress_sep and any(t[:1] in STRESS and len(t) > 1 for t in self.inv)
        # candidates for the nearest-phone search: (token, its segments), in list order (most frequent first)
        self._cands = []
        for t in self.tokens:
            if t not in self.inv or _is_punct(t) or t == SPACE or t in STRESS or t[:1] in STRESS:
                continue
            segs = segments(t)
            if segs and all(s.known for s in segs):
                self._cands.append((t, segs))
        # a character list (no IPA-only letters): a letter with an accent is first its plain letter
        self.ipa = any(c in t for t in self.inv for c in "əɪʊɛɔæʌɑʃʒθðŋɹɾːˈˌ")
        self._cache: dict[str, list[str]] = {}

    # -- phones
    def phone(self, token: str) -> list[str]:
        """List tokens for one stress-free phone token (raises when it has no counterpart)."""
        if token in self.inv:
            return [token]
        if token not in self._cache:
            self._cache[token] = self._map_phone(token)
        return self._cache[token]

    def _option(self, key: str) -> list[str] | None:
        for opt in PREFERRED.get(key, []):
            parts = opt.split()
            if all(p in self.inv for p in parts):
                return parts
        return None

    def _map_phone(self, token: str) -> list[str]:
        if not self.ipa:
            plain = "".join(c for c in unicodedata.normalize("NFD", token) if not unicodedata.combining(c))
            if plain in self.inv:
                return [plain]
        for key in (token, clean(token)):
            opt = self._option(key)
            if opt is not None:
                return opt
        segs = segments(token)
        if not segs:
            return []  # only annotations (a tone digit, a syllable mark): nothing to say
        cleaned = "".join(s.text for s in segs)
        if cleaned in self.inv:
            return [cleaned]
        opt = self._option(cleaned)
        if opt is not None:
            return opt
        exact = self._cover(segs)
        if exact is not None:
            return exact
        whole = self._whole(segs)
        if whole is not None:
            return [whole]
        out: list[str] = []
        i = 0
        while i < len(segs):
            for j in range(len(segs), i + 1, -1):  # longest run of segments that is a list token
                piece = "".join(s.text for s in segs[i:j])
                if piece in self.inv:
                    out.append(piece)
                    i = j
                    break
            else:
                out.extend(self._segment(segs[i], token))
                i += 1
        return out

    def _cover(self, segs: list[Segment]) -> list[str] | None:
        """Fewest list tokens whose concatenation is exactly `segs` (``ɔːɹ`` → ``ɔː ɹ``), or None."""
        n = len(segs)
        best: list[list[str] | None] = [None] * (n + 1)
        best[0] = []
        for j in range(1, n + 1):
            for i in range(j):
                piece = "".join(s.text for s in segs[i:j])
                if best[i] is not None and piece in self.inv and (best[j] is None or len(best[i]) + 1 < len(best[j])):
                    best[j] = best[i] + [piece]
        return best[n]

    def _whole(self, segs: list[Segment]) -> str | None:
        """A list token with as many segments, close segment by segment (``ai`` → ``aɪ``, ``tʃʰ`` → ``tʃ``):
        total distance ≤ 1.5 for a vowel sequence (a diphthong beats two syllables), ≤ 0.5 otherwise."""
        if len(segs) < 2 or not all(s.known for s in segs):
            return None
        limit = 1.5 if all(s.is_vowel for s in segs) else 0.5
        best, cost = None, float("inf")
        for t, csegs in self._cands:
            if len(csegs) == len(segs):
                c = sum(segment_distance(a, b) for a, b in zip(segs, csegs))
                if c < cost:
                    best, cost = t, c
        return best if cost <= limit else None

    def _segment(self, seg: Segment, token: str) -> list[str]:
        """One segment that is not itself a list token: simpler spellings, substitutes, then the nearest phone."""
        for variant in (Segment(seg.base, seg.long, seg.nasal), Segment(seg.base, seg.long), Segment(seg.base)):
            if variant.text in self.inv:
                return [variant.text]
            opt = self._option(variant.text)
            if opt is not None:
                return opt
        stripped = "".join(c for c in unicodedata.normalize("NFD", seg.base) if not unicodedata.combining(c))
        if stripped and stripped != seg.base and stripped in self.inv:
            return [stripped]
        best, cost = None, float("inf")
        for t, csegs in self._cands:
            first = csegs[0] if len(csegs) == 1 else Segment(csegs[0].base, True, csegs[0].nasal, csegs[0].mods)
            c = segment_distance(seg, first) + 0.8 * (len(csegs) - 1)  # a diphthong is long
            if c < cost:
                best, cost = t, c
        if best is None:
            raise NarspeechError(f"phone {token!r} has no counterpart in the model's token list (unspeakable)")
        return [best]

    # -- sequences
    def map(self, tokens: Sequence[str]) -> tuple[list[str], list[str]]:
        """(tokens all in the list, notes ``"src -> dst"`` in order of first use). See the module docstring."""
        src = _split_stress(tokens)
        out: list[str] = []
        notes: dict[str, None] = {}

        def note(a: str, b: list[str]) -> None:
            notes[f"{a} -> {' '.join(b) if b else '(dropped)'}"] = None

        i = 0
        while i < len(src):
            t = src[i]
            i += 1
            if t in self.inv:
                out.append(t)
            elif t in STRESS:
                if self.stress_attached and i < len(src) and src[i] not in STRESS and src[i] != SPACE and not _is_punct(src[i]):
                    nxt = src[i]
                    i += 1
                    got = self._attach(t, nxt)
                    if got != [t + nxt]:
                        note(t + nxt, got)
                    out.extend(got)
                else:
                    alt = [s for s in (["ˌ"] if t == "ˈ" else []) if s in self.inv]
                    note(t, alt)
                    out.extend(alt)
            elif t == SPACE:
                note(t, [])
            elif _is_punct(t):
                alt = next(([m] for m in PUNCT_FALLBACK.get(t, [PAUSE]) if m in self.inv), [])
                note(t, alt)
                out.extend(alt)
            else:
                got = self.phone(t)
                note(t, got)
                out.extend(got)
        return out, list(notes)

    def _attach(self, stress: str, phone: str) -> list[str]:
        """Old-format lists (``ˈoʊ``): stress re-attached to its vowel, else the other stress, else none."""
        other = "ˌ" if stress == "ˈ" else "ˈ"
        for cand in (stress + phone, other + phone):
            if cand in self.inv:
                return [cand]
        mapped = self.phone(phone)
        if mapped:
            for s in (stress, other):
                if s + mapped[0] in self.inv:
                    return [s + mapped[0], *mapped[1:]]
        return mapped


def _split_stress(tokens: Sequence[str]) -> list[str]:
    """Stress marks as tokens of their own (token files of the attached format are accepted)."""
    out: list[str] = []
    for t in tokens:
        if len(t) > 1 and any(c in STRESS for c in t) and not t.startswith("<"):
            buf = ""
            for c in t:
                if c in STRESS:
                    if buf:
                        out.append(buf)
                        buf = ""
                    out.append(c)
                else:
                    buf += c
            if buf:
                out.append(buf)
        else:
            out.append(t)
    return out


@functools.lru_cache(maxsize=16)
def inventory_map(tokens: tuple[str, ...]) -> InventoryMap:
    """The (cached) :class:`InventoryMap` of a token list."""
    return InventoryMap(tokens)


def map_to_inventory(tokens: Sequence[str], token_list) -> tuple[list[str], list[str]]:
    """`tokens` mapped onto `token_list` (a :class:`~narspeech.text.vocab.TokenList` or a list of tokens).

    Returns (mapped tokens, notes like ``"x -> k"``; empty when nothing changed). Raises
    :class:`NarspeechError` only for a token with no counterpart at all.
    """
    toks = token_list.tokens if hasattr(token_list, "tokens") else token_list
    return inventory_map(tuple(toks)).map(tokens)
