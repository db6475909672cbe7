"""The English normaliser writes out what a reader says."""
from __future__ import annotations

import pytest

from narspeech.text.normalize import normalize
from narspeech.text.numbers import cardinal, ordinal, year


@pytest.mark.parametrize("n, words", [
    (0, "zero"), (7, "seven"), (13, "thirteen"), (40, "forty"), (99, "ninety nine"), (100, "one hundred"),
    (101, "one hundred one"), (13100, "thirteen thousand one hundred"),
    (2000000, "two million"), (1234567, "one million two hundred thirty four thousand five hundred sixty seven"),
])
def test_cardinal(n, words):
    assert cardinal(n) == words


def test_ordinal_and_year():
    assert [ordinal(n) for n in (1, 2, 3, 5, 12, 20, 21, 100, 103)] == [
        "first", "second", "third", "fifth", "twelfth", "twentieth", "twenty first", "one hundredth", "one hundred third"]
    assert [year(y) for y in (1908, 1900, 2000, 2005, 2019, 1066, 1776)] == [
        "nineteen oh eight", "nineteen hundred", "two thousand", "two thousand five", "twenty nineteen",
        "ten sixty six", "seventeen seventy six"]


@pytest.mark.parametrize("text, expected", [
    ("At sea, Monday, March 16, 1908", "At sea, Monday, March sixteenth, nineteen oh eight"),
    ("It cost $3.50.", "It cost three dollars fifty cents."),
    ("$1 or $0.99 or $2,500", "one dollar or ninety nine cents or two thousand five hundred dollars"),
    ("$3.5 million and £2.05", "three point five million dollars and two pounds five pence"),
    ("Up 50% or 3.5 %", "Up fifty percent or three point five percent"),
    ("We met at 3:30 p.m. Then at 10:00 and 7:05 AM.", "We met at three thirty p m. Then at ten o'clock and seven oh five a m."),
    ("the 21st and 2nd of 103rd", "the twenty first and second of one hundred third"),
    ("in the 1990s and 1800s", "in the nineteen nineties and eighteen hundreds"),
    ("pi is 3.14, it was -5 and 13,100 came", "pi is three point one four, it was minus five and thirteen thousand one hundred came"),
    ("1/2 of 3/4 and 2/3", "one half of three quarters and two thirds"),
    ("Mr. and Mrs. Smith met Dr. Jones", "mister and missus Smith met doctor Jones"),
    ("St. Paul lives on Main St.", "saint Paul lives on Main street"),
    ("apples, pears, etc.", "apples, pears, et cetera."),
    ("the U.S.A. and the FBI and NASA", "the U S A and the F B I and NASA"),
    ("No. 5 vs. e.g. the 2nd", "number five versus for example the second"),
    ("Tom & Jerry -- “quoted” (aside)", 'Tom and Jerry, "quoted", aside'),
    ("HE HOPED THERE WOULD BE STEW", "HE HOPED THERE WOULD BE STEW"),  # all-caps text: no spelling out
    ("about nine:thirty", "about nine thirty"),
    ("agent 007", "agent zero zero seven"),
    ("Henry VIII wrote Chapter IV in World War II", "Henry the eighth wrote Chapter four in World War two"),
    ("Louis XIV met the CIA in Washington DC", "Louis the fourteenth met the C I A in Washington D C"),
])
def test_normalize(text, expected):
    assert normalize(text) == expected


def test_normalize_is_idempotent_on_plain_text():
    s = "Printing, in the only sense with which we are at present concerned, differs from most."
    assert normalize(s) == s and normalize(normalize("Dr. Who paid $5 in 1999.")) == normalize("Dr. Who paid $5 in 1999.")
