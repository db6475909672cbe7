"""Characters a language's frontend cannot speak (another script, emoji), and what to do with them.

espeak-ng reads a character outside its voice's script by its Unicode name in the voice's
language: ``中`` becomes "chinese letter", ``😀`` "grinning face". That is never what the
writer meant, so the frontend finds such characters first and applies a policy
(``--on-foreign``):

* ``skip`` (default) — leave them out, warn naming the utterance and the characters, and
  speak the rest. One emoji in a batch of a thousand sentences should neither stop the
  run nor be read aloud as its name, and the warning keeps it visible;
* ``spell`` — keep them: espeak-ng reads them by name (the old behaviour), with the warning;
* ``fail`` — the utterance fails (reported like any unspeakable input; the others go on).

Foreign means, after folding compatibility forms (full-width ``Ａ`` → ``A``, ligature
``ﬁ`` → ``fi``, ``²`` → ``2``, full-width punctuation):

* a letter, mark or digit of a script the language is not written in (the
  language's script from :data:`SCRIPTS`, Latin for languages not listed; Latin letters are
  accepted in every language, since espeak-ng spells or switches to them);
* a pictographic symbol: Unicode "other symbol" (So) or modifier (Sk) from U+2000 on
  (emoji, dingbats, skin-tone modifiers, flags), except letter-like signs a reader
  says (™ ℃ №…). Currency, maths and Latin-1 symbols (``€ ± © °``) are read as words
  and stay.

Invisible format characters (zero-width joiner, BOM, variation selectors) carry no sound
and are removed in every mode (a zero-width space becomes a space).
"""
from __future__ import annotations

import re
import unicodedata
from typing import Literal

from narspeech.errors import NarspeechError

POLICIES = ("skip", "spell", "fail")
Policy = Literal["skip", "spell", "fail"]
DEFAULT_POLICY: Policy = "skip"

# espeak-ng language (the part before the first "-") -> scripts it reads besides Latin.
_CYRILLIC = ("CYRILLIC",)
_ARABIC = ("ARABIC",)
_DEVANAGARI = ("DEVANAGARI",)
SCRIPTS: dict[str, tuple[str, ...]] = {
    "ru": _CYRILLIC, "uk": _CYRILLIC, "be": _CYRILLIC, "bg": _CYRILLIC, "mk": _CYRILLIC, "sr": _CYRILLIC,
    "kk": _CYRILLIC, "ky": _CYRILLIC, "tt": _CYRILLIC, "ba": _CYRILLIC, "cv": _CYRILLIC, "nog": _CYRILLIC,
    "el": ("GREEK",), "grc": ("GREEK",),
    "cmn": ("CJK",), "yue": ("CJK",), "hak": ("CJK",), "ja": ("CJK", "HIRAGANA", "KATAKANA"),
    "ko": ("HANGUL", "CJK"),
    "ar": _ARABIC, "fa": _ARABIC, "ur": _ARABIC, "sd": _ARABIC, "ug": _ARABIC, "ku": _ARABIC,
    "he": ("HEBREW",), "hi": _DEVANAGARI, "mr": _DEVANAGARI, "ne": _DEVANAGARI, "kok": _DEVANAGARI,
    "bn": ("BENGALI",), "as": ("BENGALI",), "bpy": ("BENGALI",), "gu": ("GUJARATI",), "pa": ("GURMUKHI",),
    "or": ("ORIYA",), "ta": ("TAMIL",), "te": ("TELUGU",), "kn": ("KANNADA",), "ml": ("MALAYALAM",),
    "si": ("SINHALA",), "th": ("THAI",), "my": ("MYANMAR",), "shn": ("MYANMAR",), "ka": ("GEORGIAN",),
    "hy": ("ARMENIAN",), "hyw": ("ARMENIAN",), "am": ("ETHIOPIC",), "chr": ("CHEROKEE",),
}
# Script words as they appear in Unicode character names ("CJK UNIFIED IDEOGRAPH-4E2D",
# "HALFWIDTH KATAKANA LETTER A", "ARABIC-INDIC DIGIT THREE"); a name with none of them
# (MICRO SIGN, MODIFIER LETTER …) is not foreign.
ALL_SCRIPTS = frozenset({s for v in SCRIPTS.values() for s in v} | {
    "LATIN", "LAO", "TIBETAN", "KHMER", "MONGOLIAN", "SYRIAC", "THAANA", "BOPOMOFO", "YI", "RUNIC", "OGHAM",
    "COPTIC", "GLAGOLITIC", "TIFINAGH", "NKO", "CANADIAN", "JAVANESE", "BALINESE", "SUNDANESE", "BUGINESE",
    "TAGALOG", "HANUNOO", "BUHID", "TAGBANWA", "LIMBU", "LEPCHA", "VAI", "SAMARITAN", "MANDAIC", "CHAM",
    "KAYAH", "REJANG", "SAURASHTRA", "GOTHIC", "DESERET", "SHAVIAN", "OSMANYA", "CUNEIFORM", "EGYPTIAN",
    "IDEOGRAPHIC", "KANGXI"})
# Signs a reader says although they are "other symbols" above U+2000.
_SPOKEN_SIGNS = set("™℃℉№℗℠℞℮")


def scripts_for(language: str) -> tuple[str, ...]:
    """Scripts a language's frontend speaks (always Latin, plus its own)."""
    return ("LATIN",) + SCRIPTS.get(language.split("-")[0].lower(), ())


def fold_compat(text: str) -> str:
    """Full-width letters/digits/punctuation, ligatures and super/subscript digits → ASCII."""
    out = []
    for ch in text:
        if ord(ch) < 128 or unicodedata.category(ch)[0] not in "LNPZ":
            out.append(ch)
            continue
        k = unicodedata.normalize("NFKC", ch)
        out.append(k if k != ch and k.isascii() and k.strip() else ch)
    return "".join(out)


def _script(ch: str) -> str | None:
    """The script word of a character's Unicode name (CJK for ideographs), or None."""
    words = unicodedata.name(ch, "").replace("-", " ").split()[:2]
    for w in words:
        if w in ALL_SCRIPTS:
            return "CJK" if w in ("IDEOGRAPHIC", "KANGXI") else w
    return None


def _is_invisible(ch: str) -> bool:
    return unicodedata.category(ch) == "Cf" or 0xFE00 <= ord(ch) <= 0xFE0F or 0xE0100 <= ord(ch) <= 0xE01EF


def _is_foreign(ch: str, allowed: tuple[str, ...], prev_foreign: bool) -> bool:
    if ord(ch) < 128:
        return False
    cat = unicodedata.category(ch)
    if cat[0] == "M":  # a combining mark belongs to the character it sits on
        return prev_foreign
    if cat[0] in "LN":  # a letter or digit of a script the language is not written in
        script = _script(ch)
        return script is not None and script not in allowed
    if cat in ("So", "Sk"):
        return ord(ch) >= 0x2000 and ch not in _SPOKEN_SIGNS
    if cat == "Po" and _script(ch) == "CJK":  # 、。 belong to the CJK script
        return "CJK" not in allowed
    return False


def split_foreign(text: str, language: str) -> tuple[str, str]:
    """(text with compatibility forms folded and invisible format characters removed,
    the distinct foreign characters of it in order of appearance)."""
    allowed = scripts_for(language)
    text = "".join(" " if ch == "\u200b" else ch for ch in fold_compat(text) if ch == "\u200b" or not _is_invisible(ch))
    found: dict[str, None] = {}
    prev = False
    for ch in text:
        prev = _is_foreign(ch, allowed, prev) if not ch.isspace() else False
        if prev:
            found[ch] = None
    return text, "".join(found)


def strip_foreign(text: str, language: str) -> str:
    """`text` with every run of foreign characters replaced by one space."""
    allowed = scripts_for(language)
    out, prev = [], False
    for ch in text:
        f = _is_foreign(ch, allowed, prev) if not ch.isspace() else False
        if f:
            if not prev:
                out.append(" ")
        else:
            out.append(ch)
        prev = f
    return re.sub(r"\s+([,.;:!?])", r"\1", " ".join("".join(out).split()))


def apply_policy(text: str, language: str, policy: str = DEFAULT_POLICY) -> tuple[str, str]:
    """(text to hand to the frontend, foreign characters found). `fail` raises when any are found."""
    if policy not in POLICIES:
        raise NarspeechError(f"--on-foreign must be one of {', '.join(POLICIES)} (got {policy!r})")
    text, found = split_foreign(text, language)
    if found and policy == "fail":
        raise NarspeechError(describe(found, language, policy))
    if found and policy == "skip":
        text = strip_foreign(text, language)
    return text, found


def describe(found: str, language: str, policy: str) -> str:
    """One line for a warning or an error about the foreign characters `found`."""
    what = {"skip": "left out", "spell": "read out by name by espeak-ng",
            "fail": "cannot be spoken (--on-foreign skip leaves them out)"}[policy]
    return f"characters the {language} frontend cannot speak, {what}: {found}"
