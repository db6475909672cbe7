"""FastCorrect's detector: edit regions are whole words (adjacent changed words merge), each
region applied on its own at `region` granularity, all or nothing at `sentence`; tuning picks
the granularity and never makes the tuning set worse."""
from __future__ import annotations

from narspeech.correct.decode import Correction, apply_detector, edit_regions, tune_threshold, word_starts
from narspeech.correct.units import Units

W = "\u2581"


def _correction(src, segs, conf, unit="spm"):
    join = Units("word").decode if unit == "word" else (lambda toks: "".join(toks).replace(W, " ").strip())
    regions = edit_regions(src, segs, conf, word_starts(src, unit))
    out = [t for s in segs for t in s]
    return Correction("u", join(src), join(out), min((r.confidence for r in regions), default=1.0), 1.0, out != src,
                      regions=regions, source_tokens=list(src), join=join), regions


def test_regions_are_whole_words_and_merge_when_adjacent():
    src = [W + "IN", W + "TO", W + "THE", W + "HO", "US", W + "NOW"]
    segs = [[W + "INTO"], [], [W + "THE"], [W + "HO"], ["USE"], [W + "NOW"]]
    conf = [0.9, 0.8, 1.0, 0.99, 0.3, 1.0]
    c, regions = _correction(src, segs, conf)
    assert [(r.start, r.end, r.tokens, r.confidence) for r in regions] == [(0, 2, [W + "INTO"], 0.8), (3, 5, [W + "HO", "USE"], 0.3)]
    assert c.text == "INTO THE HOUSE NOW"
    assert apply_detector(c, 0.5, granularity="region") == "INTO THE HOUS NOW"  # the confident region only
    assert apply_detector(c, 0.5, granularity="sentence") == "IN TO THE HOUS NOW"  # the least confident edit decides
    assert apply_detector(c, 0.2, granularity="sentence") == apply_detector(c, 0.2, granularity="region") == "INTO THE HOUSE NOW"
    assert apply_detector(c, 0.2, detect_threshold=1.5, granularity="region") == c.source  # nothing looked wrong to the edit head
    # words next to each other form one region: a merge is never half applied
    src = ["IN", "TO", "IT"]
    c, regions = _correction(src, [["INTO"], [], ["IT"]], [0.9, 0.1, 1.0], unit="word")
    assert [(r.start, r.end) for r in regions] == [(0, 2)]
    assert apply_detector(c, 0.5, granularity="region") == "IN TO IT"


def test_char_word_starts():
    assert word_starts(list("AB") + ["<space>"] + list("C"), "char") == [True, False, False, True]


def test_tuning_picks_region_and_never_worse():
    src = [W + "A", W + "CAT", W + "SAD"]
    good, _ = _correction(src, [[W + "A"], [W + "CAT"], [W + "SAT"]], [1, 1, 0.9])
    mixed, _ = _correction(src, [[W + "THE"], [W + "CAT"], [W + "SAT"]], [0.2, 1, 0.9])  # one bad edit, unsure of it
    refs = {"u1": "A CAT SAT", "u2": "A CAT SAT"}
    good.utt, mixed.utt = "u1", "u2"
    t = tune_threshold([good, mixed], refs, granularities=("sentence", "region"))
    assert t["granularity"] == "region" and 0.2 < t["threshold"] <= 0.9 and t["wer_after"] == 0.0
    bad, _ = _correction(src, [[W + "THE"], [W + "CAT"], [W + "SAD"]], [0.99, 1, 1])
    bad.utt = "u1"
    t = tune_threshold([bad], {"u1": "A CAT SAD"}, granularities=("sentence", "region"))
    assert t["threshold"] > 1 and t["wer_after"] == t["wer_before"]  # nothing helps: never change
