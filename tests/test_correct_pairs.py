"""`narspeech correct pairs` (recipes/correct.sh stage 2) and `correct wer` (its stage-7 log line)."""
from __future__ import annotations

import json

import pytest

from conftest import cli_ok
from narspeech.correct.pairs import pool_pairs
from narspeech.errors import NarspeechError


def test_pairs_are_tagged_pooled_and_split_by_speaker(tmp_path):
    (tmp_path / "utt2spk").write_text("".join(f"u{i} s{i % 4}\n" for i in range(12)))
    (tmp_path / "ref").write_text("".join(f"u{i} REF {i}\n" for i in range(12)))
    (tmp_path / "h1").write_text("".join(f"u{i} HYP {i}\n" for i in range(12)))
    (tmp_path / "h12").write_text("".join(f"u{i} HYP {i}\n" for i in range(0, 12, 2)))
    out = tmp_path / "ft"
    # tag "best_sa1" is a prefix of "best_sa12": each key still finds its own utterance
    cli_ok("correct", "pairs", f"best_sa1={tmp_path / 'h1'}", f"best_sa12={tmp_path / 'h12'}", "--ref", tmp_path / "ref",
           "--utt2spk", tmp_path / "utt2spk", "--out", out, "--tune-every", "3")
    assert (out / "tune_speakers").read_text() == "s0\ns3\n"  # 1st and 4th of s0..s3
    tune = [line.split()[0] for line in (out / "hyp_tune").read_text().splitlines()]
    assert tune == ["best_sa1-u0", "best_sa1-u11", "best_sa1-u3", "best_sa1-u4", "best_sa1-u7", "best_sa1-u8",
                    "best_sa12-u0", "best_sa12-u4", "best_sa12-u8"]
    train = (out / "hyp_train").read_text().splitlines()
    assert len(train) + len(tune) == 18 and not {t.split()[0] for t in train} & set(tune)
    assert len((out / "text").read_text().splitlines()) == 24  # every tag gets the whole reference
    assert (out / "text_tune").read_text().splitlines()[0] == "best_sa1-u0 REF 0"


def test_a_tag_used_twice_is_an_error():
    with pytest.raises(NarspeechError, match="its own tag"):
        pool_pairs([("a", {"u": "x"}), ("a", {"u": "y"})], {"u": "x"})


def test_wer_prints_each_result_in_order(tmp_path):
    files = []
    for i, rate in enumerate((0.7141, 0.6063)):
        (tmp_path / f"r{i}.json").write_text(json.dumps({"wer": {"error_rate": rate}}))
        files.append(tmp_path / f"r{i}.json")
    assert cli_ok("correct", "wer", *files).strip() == "71.41 60.63"
    (tmp_path / "bad.json").write_text("{}")
    from typer.testing import CliRunner

    from narspeech.cli.main import app

    r = CliRunner().invoke(app, ["correct", "wer", str(tmp_path / "bad.json")])
    assert isinstance(r.exception, NarspeechError) and "no WER in" in str(r.exception)  # one line, no traceback
