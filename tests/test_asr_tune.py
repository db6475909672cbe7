"""Mask-CTC settings chosen on dev and stored with the model: `asr tune` picks the best scored Mask-CTC decode
(threshold 0 = greedy CTC when none beats it), writes EXP/decode_defaults.json, and `asr decode` /
`load_recognizer` use it whenever an option is not given; an explicit option still wins."""
from __future__ import annotations

import json
import shutil

import pytest

from narspeech.errors import NarspeechError
from conftest import cli_ok


def _row(decode, method, wer, cer, threshold=None, iterations=10, length_adjust=False):
    return {"decode": decode, "method": method, "threshold": threshold, "iterations": iterations,
            "length_adjust": length_adjust, "length_slack": 1, "wer": wer, "cer": cer, "exp": None}


def test_choose_decode_picks_the_best_and_falls_back_to_greedy_ctc():
    from narspeech.asr.tune import choose_decode

    rows = [_row("ctc", "ctc", 20.0, 5.0), _row("a", "maskctc", 19.0, 4.8, 0.9), _row("b", "maskctc", 18.0, 4.5, 0.99, 5, True),
            _row("c", "maskctc", 25.0, 7.0, 0.999)]
    rec = choose_decode(rows)
    assert (rec["threshold"], rec["iterations"], rec["length_adjust"], rec["refines"]) == (0.99, 5, True, True)
    assert [r["decode"] for r in rec["curve"]] == ["b", "a", "c"]
    assert choose_decode(rows, "wer")["threshold"] == 0.99
    worse = [rows[0], rows[3]]
    rec = choose_decode(worse)
    assert rec["threshold"] == 0.0 and rec["length_adjust"] is False and not rec["refines"]
    assert rec["chosen"]["cer"] == 5.0
    with pytest.raises(NarspeechError, match="greedy-CTC"):
        choose_decode(rows[1:])
    with pytest.raises(NarspeechError, match="--metric"):
        choose_decode(rows, "ser")


def test_tune_stores_defaults_that_decode_and_recognizer_use(tiny_asr, tmp_path):
    from narspeech.asr.recognize import load_recognizer

    root, dump = tiny_asr
    exp = tmp_path / "exp"
    shutil.copytree(root / "exp", exp)
    ref = root / "data" / "text_asr"
    dec = tmp_path / "decode_dev"
    for name, opts in (("ctc", ["--method", "ctc"]), ("m05", ["--method", "maskctc", "--threshold", "0.5", "--iterations", "2"]),
                       ("m0999", ["--method", "maskctc", "--threshold", "0.999", "--iterations", "3"])):
        cli_ok("asr", "decode", "--model", exp, "--dump", dump, "--out", dec / name, "--device", "cpu", *opts)
        cli_ok("asr", "score", ref, dec / name / "hyp")
    assert load_recognizer(exp, "cpu").default_options().threshold == 0.999  # untuned: the built-in default
    out = cli_ok("asr", "tune", "--model", exp, *sorted(dec.iterdir()), "--out", tmp_path / "curve.md")
    stored = json.loads((exp / "decode_defaults.json").read_text())
    assert "chosen" in out and (tmp_path / "curve.md").read_text().startswith("| decode |")
    assert len(stored["curve"]) == 2 and stored["threshold"] in (0.0, 0.5, 0.999)
    # the tiny model decides nothing: force a known choice to check that it is what decoding uses
    stored.update(threshold=0.25, iterations=4)
    (exp / "decode_defaults.json").write_text(json.dumps(stored))
    rec = load_recognizer(exp, "cpu")
    assert (rec.default_options().threshold, rec.default_options().iterations) == (0.25, 4)
    assert cli_ok("asr", "tune", "--model", exp, "--show").strip() == "--threshold 0.25 --iterations 4"
    assert rec.default_options("ctc").method == "ctc"
    cli_ok("asr", "decode", "--model", exp, "--dump", dump, "--out", tmp_path / "d1", "--device", "cpu")
    opts = json.loads((tmp_path / "d1" / "decode.json").read_text())["options"]
    assert (opts["method"], opts["threshold"], opts["iterations"]) == ("maskctc", 0.25, 4)
    cli_ok("asr", "decode", "--model", exp, "--dump", dump, "--out", tmp_path / "d2", "--device", "cpu", "--threshold", "0.7")
    opts = json.loads((tmp_path / "d2" / "decode.json").read_text())["options"]
    assert (opts["threshold"], opts["iterations"]) == (0.7, 4)  # the explicit option wins, the rest stays tuned


def test_threshold_zero_default_is_exactly_greedy_ctc(tiny_asr, tmp_path):
    root, dump = tiny_asr
    exp = tmp_path / "exp"
    shutil.copytree(root / "exp", exp)
    rec = {"method": "maskctc", "threshold": 0.0, "iterations": 10, "length_adjust": False, "length_slack": 1}
    (exp / "decode_defaults.json").write_text(json.dumps(rec))
    cli_ok("asr", "decode", "--model", exp, "--dump", dump, "--out", tmp_path / "ctc", "--device", "cpu", "--method", "ctc")
    cli_ok("asr", "decode", "--model", exp, "--dump", dump, "--out", tmp_path / "def", "--device", "cpu")
    assert (tmp_path / "def" / "token_hyp").read_text() == (tmp_path / "ctc" / "token_hyp").read_text()
    (exp / "decode_defaults.json").write_text("{not json")
    from narspeech.asr.recognize import load_recognizer

    with pytest.raises(NarspeechError, match="unreadable decoding defaults"):
        load_recognizer(exp, "cpu")
