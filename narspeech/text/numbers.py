"""English number words: cardinals, ordinals, years, digit strings.

>>> cardinal(1234567)
'one million two hundred thirty four thousand five hundred sixty seven'
>>> ordinal(22), year(1908), year(2000), year(2019)
('twenty second', 'nineteen oh eight', 'two thousand', 'twenty nineteen')
"""
from __future__ import annotations

ONES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
        "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"]
TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
SCALES = [(10**12, "trillion"), (10**9, "billion"), (10**6, "million"), (1000, "thousand")]
_ORDINAL_WORDS = {"one": "first", "two": "second", "three": "third", "five": "fifth", "eight": "eighth",
                  "nine": "ninth", "twelve": "twelfth"}


def _below_1000(n: int) -> list[str]:
    words = []
    if n >= 100:
        words += [ONES[n // 100], "hundred"]
        n %= 100
    if n >= 20:
        words.append(TENS[n // 10])
        n %= 10
        if n:
            words.append(ONES[n])
    elif n or not words:
        words.append(ONES[n])
    return words


def cardinal(n: int) -> str:
    """Words for an integer (American style, no "and"); beyond trillions, digit by digit."""
    if n < 0:
        return "minus " + cardinal(-n)
    if n >= 10**15:
        return digits(str(n))
    if n < 1000:
        return " ".join(_below_1000(n))
    words = []
    for value, name in SCALES:
        if n >= value:
            words += _below_1000(n // value) + [name]
            n %= value
    if n:
        words += _below_1000(n)
    return " ".join(words)


def ordinal(n: int) -> str:
    """``21`` → ``twenty first``."""
    words = cardinal(n).split()
    last = words[-1]
    if last in _ORDINAL_WORDS:
        words[-1] = _ORDINAL_WORDS[last]
    elif last.endswith("y"):
        words[-1] = last[:-1] + "ieth"
    else:
        words[-1] = last + "th"
    return " ".join(words)


def year(n: int) -> str:
    """How a year is read: 1908 → nineteen oh eight, 1900 → nineteen hundred, 2005 → two thousand five."""
    if not 1000 <= n <= 9999:
        return cardinal(n)
    hi, lo = divmod(n, 100)
    if 2000 <= n <= 2009:
        return cardinal(n)
    if lo == 0:
        return cardinal(n) if n % 1000 == 0 else f"{cardinal(hi)} hundred"
    if lo < 10:
        return f"{cardinal(hi)} oh {ONES[lo]}"
    return f"{cardinal(hi)} {cardinal(lo)}"


def plural(words: str) -> str:
    """``nineteen ninety`` → ``nineteen nineties``; ``eighteen hundred`` → ``eighteen hundreds``."""
    head, _, last = words.rpartition(" ")
    last = last[:-1] + "ies" if last.endswith("y") else last + ("es" if last.endswith("x") else "s")
    return f"{head} {last}".strip()


def digits(s: str) -> str:
    """Read a digit string one digit at a time: ``"05"`` → ``zero five``."""
    return " ".join(ONES[int(c)] for c in s if c.isdigit())
