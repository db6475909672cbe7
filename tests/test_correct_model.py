"""FastCorrect end to end on a tiny synthetic corpus (the recipe's quick variant: text-only
noising -> align -> train -> correct), the detector, bad input, batched == one at a time."""
from __future__ import annotations

import json
import math

import pytest
import torch
from typer.testing import CliRunner

from narspeech.cli.main import app

SENTENCES = """THE CAT SAT ON THE MAT
A DOG RAN IN THE PARK
SHE SELLS SEA SHELLS
WE CALL IT A BEAR
THREE TWO TWO SEVEN
THE RAIN IN SPAIN
HE READ A GOOD BOOK
MY FRIEND LIKES GREEN TEA
THEY WALK TO SCHOOL EVERY DAY
OPEN THE WINDOW PLEASE
THE SUN IS VERY HOT
I WANT TO GO HOME
"""

TINY = {"d_model": 64, "heads": 2, "d_ff": 128, "enc_layers": 2, "dec_layers": 2, "dropout": 0.0, "label_smoothing": 0.0}


def _run(*args: str) -> str:
    r = CliRunner().invoke(app, [str(a) for a in args])
    assert r.exit_code == 0, r.output + repr(r.exception)
    return r.output


def _config(path, kind: str, steps: int) -> None:
    import yaml

    path.write_text(yaml.safe_dump({
        "model": {"type": kind, **TINY},
        "train": {"max_steps": steps, "batch_bins": 400, "scheduler": {"name": "warmup", "warmup_steps": 10}, "optim": {"lr": 0.003},
                  "log_interval": 50, "valid_interval": 0, "num_workers": 0, "tensorboard": False, "device": "cpu",
                  "log_to_stderr": False, "keep_best": 1, "seed": 1},
    }))


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory, espeak, one_thread):
    d = tmp_path_factory.mktemp("ec_synth")
    (d / "sents.txt").write_text(SENTENCES)
    noise = ["--sub", "0.15", "--del", "0.05", "--ins", "0.05"]
    _run("correct", "noise", "--text", d / "sents.txt", "--out", d / "train", "--copies", "30", *noise)
    _run("correct", "noise", "--text", d / "sents.txt", "--out", d / "heldout", "--copies", "3", "--seed", "7",
         "--neighbours", d / "train" / "neighbours.json", *noise)
    _run("correct", "align", "--hyp", d / "train" / "hyp", "--ref", d / "train" / "text", "--out", d / "align")
    _config(d / "fc.yaml", "fastcorrect", 120)
    _run("correct", "train", "--config", d / "fc.yaml", "--train", d / "align", "--out", d / "fc")
    return d


def _wer(info_path) -> tuple[float, float]:
    i = json.loads(info_path.read_text())
    return i["wer_before"], i["wer_after"]


def test_fastcorrect_fixes_injected_errors(synthetic):
    d = synthetic
    _run("correct", "decode", "--model", d / "fc", "--hyp", d / "train" / "hyp", "--ref", d / "train" / "text", "--out", d / "dec_train")
    before, after = _wer(d / "dec_train" / "correct_info.json")
    assert before > 0.15 and after < 0.25 * before  # most injected errors it was trained on are fixed
    _run("correct", "decode", "--model", d / "fc", "--hyp", d / "heldout" / "hyp", "--ref", d / "heldout" / "text", "--out", d / "dec_held")
    before, after = _wer(d / "dec_held" / "correct_info.json")
    assert after < 0.7 * before  # new noise on the same sentences: still mostly fixed


def test_detector_tuning_never_worse_and_bad_lines_pass_through(synthetic):
    d = synthetic
    out = _run("correct", "tune", "--model", d / "fc", "--hyp", d / "heldout" / "hyp", "--ref", d / "heldout" / "text")
    det = json.loads((d / "fc" / "detector.json").read_text())
    assert det["wer_after"] <= det["wer_before"] and "threshold" in out
    # bad input: an empty hypothesis and a word outside the vocabulary
    (d / "bad_hyp").write_text("b1\nb2 THE CAT ZYZZYVA ON THE MAT\nb3 A DOG RAN IN THE PARK\n")
    _run("correct", "decode", "--model", d / "fc", "--hyp", d / "bad_hyp", "--out", d / "dec_bad", "--threshold", "0")
    lines = dict(line.split(" ", 1) if " " in line else (line, "") for line in (d / "dec_bad" / "hyp").read_text().splitlines())
    assert lines["b1"] == "" and lines["b2"] == "THE CAT ZYZZYVA ON THE MAT" and lines["b3"] == "A DOG RAN IN THE PARK"
    assert (d / "dec_bad" / "passed").read_text() == "b1 empty hypothesis\nb2 not in the vocabulary: ZYZZYVA\n"
    _run("correct", "decode", "--model", d / "fc", "--hyp", d / "bad_hyp", "--out", d / "dec_oov", "--threshold", "0", "--oov", "correct")
    assert (d / "dec_oov" / "passed").read_text() == "b1 empty hypothesis\n"
    _run("correct", "decode", "--model", d / "fc", "--hyp", d / "bad_hyp", "--out", d / "dec_long", "--max-tokens", "5", "--oov", "correct")
    assert (d / "dec_long" / "passed").read_text() == "b1 empty hypothesis\nb2 longer than 5 tokens\nb3 longer than 5 tokens\n"
    # a never-change threshold gives the input back
    _run("correct", "decode", "--model", d / "fc", "--hyp", d / "heldout" / "hyp", "--out", d / "dec_never", "--threshold", "1.01")
    assert (d / "dec_never" / "hyp").read_text() == (d / "heldout" / "hyp").read_text()
    # ids missing from the reference: one line naming the utterance and the file
    (d / "odd_hyp").write_text("zz9 THE CAT\n")
    r = CliRunner().invoke(app, ["correct", "decode", "--model", str(d / "fc"), "--hyp", str(d / "odd_hyp"),
                                 "--ref", str(d / "heldout" / "text"), "--out", str(d / "dec_odd")])
    assert r.exit_code != 0 and "zz9" in str(r.exception) and "odd_hyp" in str(r.exception)


def test_a_detector_per_asr_system(synthetic):
    """`tune --out` writes a second detector and leaves EXP/detector.json alone; `decode --detector` uses it.
    Tuned on an error-free "system" (the references as hypotheses) it must never change a sentence there."""
    d = synthetic
    _run("correct", "tune", "--model", d / "fc", "--hyp", d / "heldout" / "hyp", "--ref", d / "heldout" / "text")
    own = (d / "fc" / "detector.json").read_text()
    _run("correct", "tune", "--model", d / "fc", "--hyp", d / "heldout" / "text", "--ref", d / "heldout" / "text",
         "--out", d / "det_clean.json")
    assert (d / "fc" / "detector.json").read_text() == own
    clean = json.loads((d / "det_clean.json").read_text())
    assert clean["wer_after"] == clean["wer_before"] == 0
    _run("correct", "decode", "--model", d / "fc", "--hyp", d / "heldout" / "text", "--out", d / "dec_clean",
         "--detector", d / "det_clean.json")
    assert (d / "dec_clean" / "hyp").read_text() == (d / "heldout" / "text").read_text()
    r = CliRunner().invoke(app, ["correct", "decode", "--model", str(d / "fc"), "--hyp", str(d / "heldout" / "text"),
                                 "--out", str(d / "dec_x"), "--detector", str(d / "nope.json")])
    assert r.exit_code != 0 and "nope.json" in str(r.exception)


def test_batched_decode_equals_one_at_a_time(synthetic):
    from narspeech.correct.decode import correct_texts, load_corrector
    from narspeech.fileio import read_table

    d = synthetic
    items = list(read_table(d / "heldout" / "hyp").items())
    fc = load_corrector(d / "fc", device="cpu")
    batched = correct_texts(fc, items, batch_size=64)
    single = correct_texts(fc, items, batch_size=1)
    assert [c.text for c in batched] == [c.text for c in single]
    assert [c.confidence for c in batched] == pytest.approx([c.confidence for c in single], abs=1e-4)
    assert sum(c.changed for c in batched) > 0
    # the AR corrector's batched beam search too (a briefly trained model: many different outputs)
    _config(d / "ar.yaml", "ar", 25)
    _run("correct", "train", "--config", d / "ar.yaml", "--train", d / "align", "--out", d / "ar")
    ar = load_corrector(d / "ar", device="cpu")
    items = items[:12]
    batched = correct_texts(ar, items, batch_size=12, beam=3)
    single = correct_texts(ar, items, batch_size=1, beam=3)
    assert [c.text for c in batched] == [c.text for c in single]


def test_bench_correct_reports_both_models(synthetic, tmp_path):
    if not (synthetic / "ar" / "config.yaml").is_file():
        pytest.skip("needs the AR corrector of test_batched_decode_equals_one_at_a_time")
    out = _run("bench", "correct", "--fastcorrect", synthetic / "fc", "--ar", synthetic / "ar", "--hyp", synthetic / "heldout" / "hyp",
               "--limit", "6", "--batch-sizes", "1,all", "--beam", "2", "--device", "cpu", "--out", tmp_path / "speed.json")
    res = json.loads((tmp_path / "speed.json").read_text())
    assert {(r["model"], r["batch_size"]) for r in res["rows"]} == {("fastcorrect", 1), ("ar", 1), ("fastcorrect", 6), ("ar", 6)}
    assert set(res["speedup_fastcorrect_over_ar"]) == {"1", "6"} and "speed-up" in out
    assert all(r["cpu_seconds"] > 0 for r in res["rows"]) and set(res["cpu_time_speedup"]) == {"1", "6"}


def test_int8_corrector_decodes_like_fp32(synthetic, tmp_path):
    """`correct decode --quantize int8`: the quantized FastCorrect corrects (nearly) as the fp32 one does."""
    d = synthetic
    common = ["correct", "decode", "--model", d / "fc", "--hyp", d / "heldout" / "hyp", "--ref", d / "heldout" / "text", "--device", "cpu"]
    _run(*common, "--out", tmp_path / "fp32")
    _run(*common, "--out", tmp_path / "int8", "--quantize", "int8")
    fp, i8 = (json.loads((tmp_path / x / "correct_info.json").read_text()) for x in ("fp32", "int8"))
    assert (fp["quantize"], i8["quantize"]) == ("none", "int8")
    assert fp["wer_after"] < fp["wer_before"] and abs(i8["wer_after"] - fp["wer_after"]) <= 0.03
    same = sum(a == b for a, b in zip((tmp_path / "fp32" / "hyp").read_text().splitlines(), (tmp_path / "int8" / "hyp").read_text().splitlines()))
    assert same >= 0.9 * len((tmp_path / "fp32" / "hyp").read_text().splitlines())


def test_bench_correct_times_ar_variants_against_the_ar_beam(synthetic, tmp_path):
    if not (synthetic / "ar" / "config.yaml").is_file():
        pytest.skip("needs the AR corrector of test_batched_decode_equals_one_at_a_time")
    _run("bench", "correct", "--fastcorrect", synthetic / "fc", "--ar", synthetic / "ar", "--hyp", synthetic / "heldout" / "hyp",
         "--limit", "4", "--batch-sizes", "1", "--beam", "3", "--device", "cpu", "--ar-greedy", "--quantize", "int8",
         "--out", tmp_path / "speed.json")
    res = json.loads((tmp_path / "speed.json").read_text())
    rows = {r["decode"]: r for r in res["rows"]}
    assert set(rows) == {"fc", "ar", "ar_greedy", "ar_int8", "ar_greedy_int8"}
    assert (rows["ar_greedy"]["beam"], rows["ar_int8"]["beam"], rows["ar_greedy_int8"]["beam"]) == (1, 3, 1)
    assert rows["ar"]["speedup_vs_ar"] == pytest.approx(1.0)
    assert rows["fc"]["speedup_vs_ar"] == pytest.approx(res["speedup_fastcorrect_over_ar"]["1"])


class _ScriptedOut(torch.nn.Module):
    """The AR corrector's output layer replaced by a script: at step t the token t + 2 is the likeliest (p 0.3),
    six others follow (p 0.1), <sos/eos> has p 0.05 until step 5, where it is the likeliest (p 0.9)."""

    def __init__(self, vocab: int, eos: int):
        super().__init__()
        self.vocab, self.eos, self.t = vocab, eos, 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = torch.full((self.vocab,), 1e-4)
        if self.t < 5:
            p[self.t + 2], p[8:14], p[self.eos] = 0.3, 0.1, 0.05
        else:
            p[self.eos] = 0.9
        self.t += 1
        return (p / p.sum()).log().expand(*x.shape[:-1], self.vocab)


@pytest.mark.parametrize("beam", [1, 3])
def test_ar_search_ends_only_where_eos_wins_a_beam_slot(beam):
    # ending at step 0 sums fewer log-probabilities (log 0.05 > 5 x log 0.3), but there <sos/eos> ranks 8th:
    # a search that let every step's end compete with the finished ones returned the empty sentence
    from narspeech.correct.models import ARCorrector
    m = ARCorrector(20, d_model=16, heads=2, d_ff=32, enc_layers=1, dec_layers=1).eval()
    m.out = _ScriptedOut(20, m.eos)
    (seq, score), = m.beam_search(torch.tensor([[2, 3, 4, 5, 6]]), torch.tensor([5]), beam=beam)
    assert seq == [2, 3, 4, 5, 6]
    assert score == pytest.approx(5 * math.log(0.3 / (0.3 + 0.6 + 0.05 + 12e-4)) + math.log(0.9 / (0.9 + 19e-4)), abs=1e-3)
