"""`bench asr` times the speed-ups a user could pick instead of NAR against the same AR beam search, and each
row names the decode dir that gives its quality (the trade-off report pairs them by that name)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from narspeech.asr.bench import Variant, benchmark_asr, decode_name
from narspeech.asr.recognize import DecodeOptions


@pytest.fixture(scope="module")
def recs(one_thread):
    from narspeech.asr.model import ASRModel
    from narspeech.asr.recognize import Recognizer
    from narspeech.asr.text import ASRTokenizer
    from narspeech.audio.features import FeatureConfig
    from narspeech.nets.quantize import quantize_linear
    from narspeech.text.vocab import TokenList

    toks = TokenList(["<blank>", "<unk>", "A", "B", "C", "<space>", "<mask>", "<sos/eos>"])
    out = {}
    for typ in ("mask_ctc", "ar"):
        torch.manual_seed(3)
        m = ASRModel({"type": typ, "d_model": 16, "n_heads": 2, "enc_layers": 1, "enc_ff": 32, "dec_layers": 1, "dec_ff": 32},
                     len(toks), 20).eval()
        name = "maskctc" if typ == "mask_ctc" else "ar"
        out[name] = Recognizer(m, toks, ASRTokenizer(), FeatureConfig.for_rate(16000), torch.device("cpu"), {"exp": f"exp/{name}"})
    out["ar_int8"] = Recognizer(quantize_linear(out["ar"].model), toks, ASRTokenizer(), FeatureConfig.for_rate(16000),
                                torch.device("cpu"), {"exp": "exp/ar", "quantize": "int8"})
    rng = np.random.default_rng(0)
    return out, [rng.standard_normal((n, 20)).astype(np.float32) for n in (40, 30, 50)]


def test_decode_names_follow_the_recipe_dirs():
    assert decode_name(DecodeOptions("ctc")) == "ctc"
    assert decode_name(DecodeOptions("beam", beam=10)) == "beam10"
    assert decode_name(DecodeOptions("beam", beam=10), "int8") == "beam10_int8"
    assert decode_name(DecodeOptions("greedy"), "none") == "greedy"
    assert decode_name(DecodeOptions("maskctc", threshold=0.999, iterations=5)) == "maskctc_th0.999_it5"
    assert decode_name(DecodeOptions("maskctc", threshold=0.5, iterations=10, length_adjust=True, ctc_fusion=1.0)) == \
        "maskctc_lp_th0.5_it10_fu1"


def test_variants_are_timed_against_the_fp32_beam(recs):
    r, mels = recs
    mask = DecodeOptions("maskctc", threshold=0.999, iterations=10)
    variants = [Variant("ar_greedy", r["ar"], DecodeOptions("greedy")),
                Variant("ar_beam3_int8", r["ar_int8"], DecodeOptions("beam", beam=3)),
                Variant("maskctc_it0", r["maskctc"], DecodeOptions("maskctc", threshold=0.999, iterations=0)),
                Variant("maskctc_it10", r["maskctc"], mask)]  # the main Mask-CTC row already times this decode
    res = benchmark_asr(r["maskctc"], r["ar"], mels, batch_sizes=[1], threshold=0.999, iterations=10, beam=3, variants=variants)
    rows = {x["system"]: x for x in res["rows"]}
    assert "maskctc_it10" not in rows  # each decode dir is timed once
    assert rows["ar_greedy"]["decode"] == "ar/greedy" and rows["ar_beam3_int8"]["decode"] == "ar/beam3_int8"
    assert rows["maskctc_it0"]["decode"] == "maskctc/maskctc_th0.999_it0" and rows["ar_beam3"]["decode"] == "ar/beam3"
    assert rows["ctc_greedy"]["decode"] == "maskctc/ctc" and rows["maskctc"]["decode"] == "maskctc/maskctc_th0.999_it10"
    base = rows["ar_beam3"]
    assert base["speedup_vs_ar"] == pytest.approx(1.0) and base["cpu_speedup_vs_ar"] == pytest.approx(1.0)
    for x in res["rows"]:
        assert x["batch_size"] == 1 and x["batches"] == 3 and x["cpu_seconds"] > 0
        assert x["speedup_vs_ar"] == pytest.approx(base["seconds"] / x["seconds"])
    assert set(res["variants"]) == {"ar_greedy", "ar_beam3_int8", "maskctc_it0"}


@pytest.mark.slow
def test_cli_bench_asr_variants(tiny_asr, tmp_path):
    """`bench asr` with every variant option: one row per system, each naming its decode dir."""
    import json

    from conftest import cli_ok

    root, dump = tiny_asr
    ar = tmp_path / "ar"
    cli_ok("asr", "train", "--config", root / "conf.yaml", "--tokens", root / "tokens.txt", "--train-data", root / "data",
           "--train-dump", dump, "--exp", ar, "--set", "model.type=ar")
    out = tmp_path / "speed_test.tradeoff.json"
    cli_ok("bench", "asr", "--maskctc", root / "exp", "--ar", ar, "--dump", dump, "--limit", "2", "--batch-sizes", "1",
           "--threshold", "0.999", "--iterations", "2", "--mask-iterations", "0,2", "--ar-greedy", "--ar-beams", "1",
           "--quantize", "int8", "--ar-variant", ar, "--beam", "2", "--checkpoint-name", "last.pt", "--device", "cpu", "--out", out)
    rows = {r["system"]: r["decode"] for r in json.loads(out.read_text())["rows"]}
    assert rows == {"ctc_greedy": "exp/ctc", "maskctc": "exp/maskctc_th0.999_it2", "ar_beam2": "ar/beam2", "ar_greedy": "ar/greedy",
                    "ar_beam1": "ar/beam1", "ar_beam2_int8": "ar/beam2_int8", "ar_greedy_int8": "ar/greedy_int8",
                    "ar_beam1_int8": "ar/beam1_int8", "maskctc_it0": "exp/maskctc_th0.999_it0"}, rows
