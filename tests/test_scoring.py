"""Scoring library (`narspeech asr score`): hand-counted errors, alignment rows, groups, bad input."""
from __future__ import annotations

import json

import pytest

from narspeech.errors import NarspeechError
from narspeech.metrics.scoring import make_grouping, normalize_text, score, score_files, utt_groups, write_report

REFS = {"a": "WE CALL IT BEAR", "b": "ZERO THREE FIVE ONE", "c": "THREE TWO"}
HYPS = {"a": "WE CAL IT", "b": "ZERO THREE THREE FIVE ONE", "c": ""}


def test_hand_counted_words_and_chars():
    r = score(REFS, HYPS)
    w = r.wer
    # a: C S C D; b: one inserted THREE; c: empty hypothesis = 2 deletions
    assert (w.hits, w.substitutions, w.deletions, w.insertions) == (6, 1, 3, 1)
    assert w.ref_units == 10 and w.error_rate == pytest.approx(5 / 10)
    assert w.utterances == 3 and w.utterances_with_errors == 3
    # chars (spaces count): a loses "L" and " BEAR" (6 D), b gains "THREE " (6 I), c loses all 9
    c = r.cer
    assert c.ref_units == 15 + 19 + 9
    assert c.errors == 6 + 6 + 9 and c.error_rate == pytest.approx(21 / 43)
    assert r.empty_hyps == ["c"] and r.missing_hyps == []


def test_per_utterance_alignment_rows():
    r = score(REFS, HYPS)
    a = r.utts[0]
    assert [op for op, _, _ in a.ops] == ["C", "S", "C", "D"]
    assert a.format().splitlines() == [
        "a ref  WE CALL IT BEAR",
        "a hyp  WE CAL  IT ***",
        "a op   C  S    C  D",
        "a #csid 2 1 0 1",
    ]
    b = r.utts[1]
    assert sum(op == "I" for op, _, _ in b.ops) == 1 and b.counts.insertions == 1
    assert r.utts[2].format().splitlines()[-1] == "c #csid 0 0 0 2"


def test_missing_hypothesis_counts_as_deletions():
    r = score(REFS, {"a": "WE CALL IT BEAR"})
    assert r.missing_hyps == ["b", "c"]
    assert r.wer.deletions == 6 and r.wer.errors == 6 and r.wer.ref_units == 10


def test_hyp_id_missing_from_ref_names_utt_and_file():
    with pytest.raises(NarspeechError) as e:
        score(REFS, {"a": "x", "zz9": "y"}, ref_path="data/dev/text", hyp_path="exp/decode/hyp")
    msg = str(e.value)
    assert "zz9" in msg and "exp/decode/hyp" in msg
    with pytest.raises(NarspeechError, match="empty reference"):
        score({"a": "  "}, {"a": "x"})
    with pytest.raises(NarspeechError, match="empty reference after normalisation"):
        score({"a": "?!"}, {"a": "x"}, strip_punct=True)


def test_normalisation_options():
    assert normalize_text("Don't  STOP, now!", lowercase=True, strip_punct=True) == "don't stop now"
    assert normalize_text("'quoted' rock-n-roll") == "'quoted' rock-n-roll"
    assert normalize_text("'quoted' rock-n-roll", strip_punct=True) == "quoted rock n roll"
    refs, hyps = {"u": "Don't stop, now."}, {"u": "don't STOP now"}
    assert score(refs, hyps).wer.errors == 3
    assert score(refs, hyps, lowercase=True).wer.errors == 2  # "stop," vs "stop", "now." vs "now"
    assert score(refs, hyps, lowercase=True, strip_punct=True).wer.errors == 0


def test_breakdown_by_spk2age_adults_children(tmp_path):
    (tmp_path / "text").write_text("".join(f"{k} {v}\n" for k, v in REFS.items()))
    (tmp_path / "hyp").write_text("".join(f"{k} {v}\n" for k, v in HYPS.items()))
    (tmp_path / "utt2spk").write_text("a s1\nb s1\nc s2\n")
    (tmp_path / "spk2age").write_text("s1\t30\ns2\t8\n")
    r = score_files(tmp_path / "text", tmp_path / "hyp", by=tmp_path / "spk2age", grouping="adult_child")
    assert set(r.groups) == {"adult", "child"}
    assert r.groups["adult"]["wer"].errors == 3 and r.groups["adult"]["wer"].ref_units == 8
    assert r.groups["child"]["wer"].deletions == 2 and r.groups["child"]["wer"].error_rate == 1.0
    assert r.groups["child"]["cer"].ref_units == 9
    raw = score_files(tmp_path / "text", tmp_path / "hyp", by=tmp_path / "spk2age")  # values as groups
    assert set(raw.groups) == {"30", "8"}
    paths = write_report(r, tmp_path / "score")
    d = json.loads(paths["result.json"].read_text())
    assert d["wer"]["error_rate"] == pytest.approx(0.5) and d["groups"]["child"]["wer"]["deletions"] == 2
    assert "a #csid 2 1 0 1" in paths["per_utt"].read_text()
    assert paths["utt2wer"].read_text().splitlines()[0] == "a 2 4"
    summary = paths["result.txt"].read_text()
    assert "adult" in summary and "50.00" in summary


def test_utt2x_table_and_groupings():
    g = utt_groups(["a", "b", "c"], {"a": "m", "b": "f"})
    assert g == {"a": "m", "b": "f", "c": "unknown"}
    with pytest.raises(NarspeechError, match="utt2spk"):
        utt_groups(["a"], {"s1": "30"})
    with pytest.raises(NarspeechError, match="cannot group"):
        utt_groups(["a"], {"a": "old"}, grouping="adult_child")
    bins = make_grouping("bins:12,18")
    assert [bins(v) for v in ("7", "12", "17.5", "18", "40")] == ["<12", "12-18", "12-18", ">=18", ">=18"]
    assert make_grouping("adult_child:16")("16") == "adult"
    with pytest.raises(NarspeechError):
        make_grouping("decades")
