"""FastCorrect edit alignment: the paper's example, tie rules, properties over random pairs, the CLI."""
from __future__ import annotations

import functools
import json
import random

import pytest
from rapidfuzz.distance import Levenshtein

from narspeech.correct.align import align, align_many, reconstruct
from narspeech.correct.alignfiles import align_files
from narspeech.correct.units import Units
from narspeech.errors import NarspeechError


def test_paper_example():
    a = align("B B D E F".split(), "A B C D F".split())
    assert a.durations == [2, 1, 1, 0, 1]
    assert a.ops == "CSCDC" and a.flags == ["C+", "S", "C", "D", "C"]
    assert (a.matches, a.substitutions, a.deletions, a.insertions) == (3, 1, 1, 1)
    assert a.edited == [1, 1, 0, 1, 0]
    assert reconstruct("B B D E F".split(), "A B C D F".split(), a) == "A B C D F".split()


def test_most_matches_among_min_edit_paths():
    # "A B" -> "B A": two substitutions or delete+insert, both 2 edits; the latter keeps a match
    a = align(["A", "B"], ["B", "A"])
    assert a.matches == 1 and a.edits == 2 and sum(a.durations) == 2


def test_insertion_attaches_to_substituted_neighbour():
    # X is inserted between A (kept) and Q->C (substituted): it goes to the substituted side
    a = align("A Q".split(), "A X C".split())
    assert a.durations == [1, 2] and a.ins_before == [0, 1]
    # the traceback puts the insertion first (C inserted, Q->X): still on the substituted token
    a = align("Q A".split(), "C X A".split())
    assert a.durations == [2, 1] and a.ops == "SC"


def test_insertion_tie_goes_to_more_similar_neighbour_else_left():
    # both neighbours kept: THE is closer in characters to THEY than to CAT
    a = align("THEY CAT".split(), "THEY THE CAT".split())
    assert a.durations == [2, 1]
    a = align("CAT THEY".split(), "CAT THE THEY".split())
    assert a.durations == [1, 2]
    a = align("AB CD".split(), "AB XY CD".split())  # equally dissimilar: left
    assert a.durations == [2, 1]
    # sentence edges: only one neighbour
    assert align(["A"], ["A", "B", "C"]).durations == [3]
    assert align(["C"], ["A", "B", "C"]).durations == [3]


def _best(s, t):
    """Brute-force (min edits, max matches) by recursion: the rule the DP must reach."""
    @functools.lru_cache(None)
    def f(i, j):
        if i == 0 or j == 0:
            return (i + j, 0)
        e, h = f(i - 1, j - 1)
        diag = (e, h - 1) if s[i - 1] == t[j - 1] else (e + 1, h)
        up, left = f(i - 1, j), f(i, j - 1)
        return min(diag, (up[0] + 1, up[1]), (left[0] + 1, left[1]))
    e, h = f(len(s), len(t))
    return e, -h


@pytest.mark.parametrize("seed", [0, 1])
def test_properties_over_random_pairs(seed):
    rng = random.Random(seed)
    pairs = []
    for _ in range(1500):
        alpha = "abcdef"[: rng.randint(2, 6)]
        s = [rng.choice(alpha) for _ in range(rng.randint(1, 12))]
        t = [rng.choice(alpha) for _ in range(rng.randint(0, 12))]
        pairs.append((s, t))
    batched = align_many(pairs, max_batch=97)
    for (s, t), a in zip(pairs, batched):
        assert sum(a.durations) == len(t)
        assert len(a.durations) == len(s) == len(a.ops)
        assert reconstruct(s, t, a) == t
        assert a.edits == Levenshtein.distance(s, t)
        assert (a.edits, a.matches) == _best(s, t)
        # a deleted token never carries inserted ones; kept/substituted carry 1 + attached
        for op, d, n in zip(a.ops, a.durations, a.inserted):
            assert d == (op != "D") + n and not (op == "D" and n)
    # the result does not depend on the batch it was aligned in
    singles = [align(s, t) for s, t in pairs[:200]]
    assert singles == batched[:200]


def test_align_files_outputs_and_bad_input(tmp_path):
    (tmp_path / "text").write_text("u1 A B C D F\nu2 X Y\nu3 HELLO THE WORLD\nu4 Z\n")
    (tmp_path / "hyp").write_text("u1 B B D E F\nu2\nu3 HELLO WORLD\n")
    s = align_files(tmp_path / "hyp", tmp_path / "text", tmp_path / "al")
    assert (tmp_path / "al" / "durations").read_text() == "u1 2 1 1 0 1\nu3 2 1\n"  # THE is closer to HELLO than to WORLD
    assert (tmp_path / "al" / "edits").read_text().splitlines()[0] == "u1 C+ S C D C"
    assert (tmp_path / "al" / "skipped").read_text() == "u2 empty hypothesis\n"
    assert s["pairs"] == 2 and s["insertions"] == 2 and s["refs_without_hyp"] == 1
    assert json.loads((tmp_path / "al" / "summary.json").read_text())["deletions"] == 1
    (tmp_path / "hyp2").write_text("u1 A\nu9 B\n")
    with pytest.raises(NarspeechError) as e:
        align_files(tmp_path / "hyp2", tmp_path / "text", tmp_path / "al2")
    assert "u9" in str(e.value) and "hyp2" in str(e.value)
    (tmp_path / "text3").write_text("u1 A\nu2\n")
    with pytest.raises(NarspeechError, match="empty value"):
        align_files(tmp_path / "hyp", tmp_path / "text3", tmp_path / "al3")
    # characters
    s = align_files(tmp_path / "hyp", tmp_path / "text", tmp_path / "alc", units=Units("char"))
    src = (tmp_path / "alc" / "src_tokens").read_text().splitlines()[0].split()[1:]
    assert src[:3] == ["B", "<space>", "B"]
    dur = [int(x) for x in (tmp_path / "alc" / "durations").read_text().splitlines()[0].split()[1:]]
    assert len(dur) == len(src) and sum(dur) == len("A B C D F")


def test_cli_align(tmp_path):
    from typer.testing import CliRunner

    from narspeech.cli.main import app

    (tmp_path / "text").write_text("u1 A B C D F\n")
    (tmp_path / "hyp").write_text("u1 B B D E F\n")
    r = CliRunner().invoke(app, ["correct", "align", "--hyp", str(tmp_path / "hyp"), "--ref", str(tmp_path / "text"), "--out", str(tmp_path / "o")])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "o" / "durations").read_text() == "u1 2 1 1 0 1\n"
