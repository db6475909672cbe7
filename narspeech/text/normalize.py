"""English text normalisation: write out what a reader would say.

Handles currency (``$3.50`` → three dollars fifty cents), percentages, times
(``3:30 pm``), dates (``March 16`` → March sixteenth), ordinals (``21st``), years
(``1908`` → nineteen oh eight, ``1990s``), decimals, numbers with thousands
separators, negative numbers, simple fractions, common abbreviations (Mr., Mrs.,
Dr., St., etc., e.g., vs.), Roman numerals after names and chapter-like words
(``Henry VIII`` → Henry the eighth, ``Chapter IV``), initials (``U.S.A.``, and 2–3
letter capitals such as ``FBI`` in mixed-case text) spelled as letters, a few symbols (&, %, +, @, °),
and typographic punctuation folded to ASCII. Order matters: each rule runs on
the output of the previous ones. Case is kept; spelled-out words are lower case.

>>> normalize("Dr. Smith paid $3.50 on March 16, 1908 at 3:30 p.m.")
'doctor Smith paid three dollars fifty cents on March sixteenth, nineteen oh eight at three thirty p m.'
"""
from __future__ import annotations

import re
import unicodedata

from narspeech.text.numbers import cardinal, digits, ordinal, plural, year

MONTHS = ("January|February|March|April|May|June|July|August|September|October|November|December|"
          "Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec")

# Abbreviations followed by a period: (regex, replacement). Titles come before names.
_ABBREVIATIONS = [
    (r"\bMrs\.", "missus"), (r"\bMr\.", "mister"), (r"\bMs\.", "miz"), (r"\bDr\.", "doctor"),
    (r"\bProf\.", "professor"), (r"\bRev\.", "reverend"), (r"\bHon\.", "honorable"), (r"\bGen\.", "general"),
    (r"\bGov\.", "governor"), (r"\bCapt\.", "captain"), (r"\bLt\.", "lieutenant"), (r"\bCol\.", "colonel"),
    (r"\bSgt\.", "sergeant"), (r"\bMaj\.", "major"), (r"\bJr\.", "junior"), (r"\bSr\.", "senior"),
    (r"\bMt\.", "mount"), (r"\bFt\.", "fort"), (r"\bvs\.", "versus"),
    (r"\bCo\.", "company"), (r"\bLtd\.", "limited"), (r"\bInc\.", "incorporated"),
    (r"\bapprox\.", "approximately"), (r"\bDept\.", "department"), (r"\bAve\.", "avenue"),
]
_SYMBOLS = {"&": " and ", "+": " plus ", "=": " equals ", "@": " at ", "°": " degrees ", "×": " times "}
_CURRENCY = {"$": ("dollar", "dollars", "cent", "cents"), "£": ("pound", "pounds", "penny", "pence"),
             "€": ("euro", "euros", "cent", "cents")}
_FRACTIONS = {2: ("half", "halves"), 3: ("third", "thirds"), 4: ("quarter", "quarters")}
_TYPOGRAPHY = {"“": '"', "”": '"', "„": '"', "«": '"', "»": '"', "‘": "'", "’": "'", "`": "'",
               "…": "...", "\u00a0": " "}


def _num(s: str) -> int:
    return int(s.replace(",", ""))


def _money(m: re.Match) -> str:
    one, many, sub_one, sub_many = _CURRENCY[m.group(1)]
    whole, frac, scale = m.group(2), m.group(3), m.group(4)
    if scale:  # $3.5 million → three point five million dollars
        amount = cardinal(_num(whole)) + (f" point {digits(frac)}" if frac else "")
        return f"{amount} {scale} {many}"
    n = _num(whole)
    cents = int((frac + "0")[:2]) if frac else 0
    parts = []
    if n or not cents:
        parts.append(f"{cardinal(n)} {one if n == 1 else many}")
    if cents:
        parts.append(f"{cardinal(cents)} {sub_one if cents == 1 else sub_many}")
    return " ".join(parts)


def _keep_stop(m: re.Match) -> str:
    """A period eaten by an abbreviation (``p.m.``) that also ended the sentence."""
    return "." if m.group(0).endswith(".") and re.match(r"\s*(?:$|[A-Z\"])", m.string[m.end():]) else ""


def _ampm(s: str) -> str:
    return " ".join(c for c in s.lower() if c.isalpha())


def _time(m: re.Match) -> str:
    h, mins, ampm = int(m.group(1)), int(m.group(2)), m.group(3)
    if mins == 0:
        words = cardinal(h) + ("" if ampm else " o'clock")
    elif mins < 10:
        words = f"{cardinal(h)} oh {cardinal(mins)}"
    else:
        words = f"{cardinal(h)} {cardinal(mins)}"
    if ampm:
        words += " " + _ampm(ampm)
    return words + _keep_stop(m)


def _fraction(m: re.Match) -> str:
    num, den = int(m.group(1)), int(m.group(2))
    if den in _FRACTIONS:
        name = _FRACTIONS[den][0 if num == 1 else 1]
    elif 5 <= den <= 20:
        name = ordinal(den) + ("" if num == 1 else "s")
    else:
        return f"{cardinal(num)} over {cardinal(den)}"
    return f"{cardinal(num)} {name}"


def _year(m: re.Match) -> str:
    words = year(int(m.group(1)))
    return plural(words) if m.group(2) else words


def _initials(m: re.Match) -> str:
    return " ".join(c for c in m.group(0) if c.isalpha())


_ROMAN = {"I": 1, "V": 5, "X": 10, "L": 50, "C": 100, "D": 500, "M": 1000}
_ROMAN_OK = re.compile(r"M{0,3}(CM|CD|D?C{0,3})(XC|XL|L?X{0,3})(IX|IV|V?I{0,3})")
_COUNTED = "Chapter|Part|Book|Volume|Vol|Act|Scene|Section|Article|Appendix|Psalm|Class|Phase|World War|Type"


def roman(s: str) -> int | None:
    """Value of a well-formed Roman numeral, else None."""
    if not s or not _ROMAN_OK.fullmatch(s):
        return None
    vals = [_ROMAN[c] for c in s]
    return sum(-v if i + 1 < len(vals) and v < vals[i + 1] else v for i, v in enumerate(vals))


def _roman_numerals(text: str) -> str:
    """``Chapter IV`` → Chapter four; ``Henry VIII`` → Henry the eighth (a capitalised name before it)."""
    text = re.sub(rf"\b({_COUNTED})\s+([IVXLCDM]+)\b",
                  lambda m: f"{m.group(1)} {cardinal(roman(m.group(2)))}" if roman(m.group(2)) else m.group(0), text)
    # after a name only I/V/X numerals (kings, popes), so "Washington DC" stays letters
    return re.sub(r"\b([A-Z][a-z]+)\s+([IVX]{2,})\b",
                  lambda m: f"{m.group(1)} the {ordinal(roman(m.group(2)))}" if roman(m.group(2)) else m.group(0), text)


def _spell_caps(text: str) -> str:
    """Spell 2–3 letter all-capital words (FBI, BBC) as letters, only in mixed-case text."""
    if not re.search(r"[a-z]", text):
        return text
    return re.sub(r"\b(?!(?:OK|AM|PM|TV)\b)[A-Z]{2,3}\b", lambda m: " ".join(m.group(0)), text)


def normalize(text: str) -> str:
    """Normalise English `text` for a speech frontend (see the module docstring)."""
    text = unicodedata.normalize("NFC", text)
    for a, b in _TYPOGRAPHY.items():
        text = text.replace(a, b)
    text = re.sub(r"\s*(?:--+|[—–])\s*", ", ", text)  # dashes used as pauses
    text = re.sub(r"[()\[\]{}]", ", ", text)
    text = re.sub(r"(?<=[A-Za-z]):(?=[A-Za-z])", " ", text)  # "nine:thirty"
    text = re.sub(r"\be\.g\.", "for example", text)
    text = re.sub(r"\bi\.e\.", "that is", text)
    # Initials with periods: U.S.A., J. F. K., p.m. (letters; a sentence-final period is kept).
    text = re.sub(r"\b(?:[A-Za-z]\.\s?){2,}(?=\s|$|[,;:!?\"])", lambda m: _initials(m) + _keep_stop(m) + " ", text)
    text = re.sub(r"\betc\.(?=\s*$)", "et cetera.", text)
    text = re.sub(r"\betc\.", "et cetera", text)
    text = re.sub(r"\bSt\.(?=\s+[A-Z])", "saint", text)
    text = re.sub(r"\bSt\.", "street", text)
    text = re.sub(r"\bNo\.\s*(?=\d)", "number ", text)
    for pat, rep in _ABBREVIATIONS:
        text = re.sub(pat, rep, text)
    # Currency, with an optional scale word.
    text = re.sub(r"([$£€])\s?(\d[\d,]*)(?:\.(\d+))?(?:\s(thousand|million|billion|trillion)\b)?", _money, text)
    text = re.sub(r"(\d[\d,]*)(?:\.(\d+))?\s?%",
                  lambda m: cardinal(_num(m.group(1))) + (f" point {digits(m.group(2))}" if m.group(2) else "") + " percent", text)
    text = re.sub(r"\b(\d{1,2}):(\d{2})(?:\s?([AaPp]\.?[Mm]\.?)(?=\W|$))?", _time, text)
    text = re.sub(r"\b(\d{1,2})\s?([AaPp]\.[Mm]\.|[AaPp][Mm]\b)", lambda m: f"{cardinal(int(m.group(1)))} {_ampm(m.group(2))}{_keep_stop(m)}", text)
    text = re.sub(rf"\b({MONTHS})\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?\b(?!:)",
                  lambda m: f"{m.group(1)} {ordinal(int(m.group(2)))}" if 1 <= int(m.group(2)) <= 31 else m.group(0), text)
    text = re.sub(r"\b(\d+)(?:st|nd|rd|th)\b", lambda m: ordinal(int(m.group(1))), text)
    text = re.sub(r"\b(\d{1,3}(?:,\d{3})+)(?:\.(\d+))?\b",
                  lambda m: cardinal(_num(m.group(1))) + (f" point {digits(m.group(2))}" if m.group(2) else ""), text)
    text = re.sub(r"\b(1\d{3}|20\d{2})(s)?\b(?![.,]\d)", _year, text)
    text = re.sub(r"\b(\d+)/(\d+)\b", _fraction, text)
    text = re.sub(r"(?:(?<=\s)|^)-(?=\d)", "minus ", text)
    text = re.sub(r"\b(\d+)\.(\d+)\b", lambda m: f"{cardinal(int(m.group(1)))} point {digits(m.group(2))}", text)
    text = re.sub(r"\b0\d+\b", lambda m: digits(m.group(0)), text)
    text = re.sub(r"\d+", lambda m: f" {cardinal(int(m.group(0)))} ", text)
    text = re.sub(r"#\s*(?=[a-z])", "number ", text)
    for a, b in _SYMBOLS.items():
        text = text.replace(a, b)
    if re.search(r"[a-z]", text):  # in all-capital text (LibriSpeech) capitals are just words
        text = _roman_numerals(text)
    text = _spell_caps(text)
    text = re.sub(r"\s+([,.;:!?])", r"\1", text)
    text = re.sub(r"([,;:])(?:\s*[,;:])+", r"\1", text)
    text = re.sub(r"[,;:]+(?=[.!?])", "", text)
    text = re.sub(r"^[\s,;:]+|[\s,;:]+$", "", text)
    return " ".join(text.split())
