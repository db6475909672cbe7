"""int8 dynamic quantization (`--quantize int8` of the decode and bench commands): the linear layers are
quantized, the original model is left alone, decoding gives (nearly) the fp32 result, bad input is one line."""
from __future__ import annotations

import json

import pytest
import torch

from conftest import cli_ok
from narspeech.errors import NarspeechError
from narspeech.nets.quantize import check_quantize, count_quantized, quantize_linear


def _edits(a: list, b: list) -> int:
    """Levenshtein distance of two token lists."""
    row = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, y in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (x != y))
    return row[-1]


@pytest.fixture(scope="module")
def ar_recognizer(one_thread):
    from narspeech.asr.model import ASRModel
    from narspeech.asr.recognize import Recognizer
    from narspeech.asr.text import ASRTokenizer
    from narspeech.audio.features import FeatureConfig
    from narspeech.text.vocab import TokenList

    toks = TokenList(["<blank>", "<unk>", "A", "B", "C", "<space>", "<mask>", "<sos/eos>"])
    torch.manual_seed(3)
    m = ASRModel({"type": "ar", "d_model": 32, "n_heads": 2, "enc_layers": 2, "enc_ff": 64, "dec_layers": 2, "dec_ff": 64},
                 len(toks), 20).eval()
    rec = Recognizer(m, toks, ASRTokenizer(), FeatureConfig.for_rate(16000), torch.device("cpu"), {"exp": "exp/ar"})
    torch.manual_seed(4)
    return rec, torch.randn(3, 60, 20), torch.tensor([60, 41, 23])


def test_int8_quantizes_linears_and_leaves_the_model(ar_recognizer):
    rec, feats, lens = ar_recognizer
    n_linear = sum(isinstance(x, torch.nn.Linear) for x in rec.model.modules())
    q = quantize_linear(rec.model, "int8")
    assert count_quantized(q) == n_linear > 0
    assert count_quantized(rec.model) == 0 and q is not rec.model
    assert quantize_linear(rec.model, "none") is rec.model


def test_int8_decode_is_close_to_fp32(ar_recognizer):
    from narspeech.asr.recognize import DecodeOptions, Recognizer

    rec, feats, lens = ar_recognizer
    q = Recognizer(quantize_linear(rec.model, "int8"), rec.token_list, rec.tokenizer, rec.feats, rec.device, {"exp": "exp/ar"})
    with torch.no_grad():
        enc, elen = rec.model.encode(feats, lens)
        enc_q, _ = q.model.encode(feats, lens)
        lp, lp_q = rec.model.ctc_log_probs(enc), q.model.ctc_log_probs(enc_q)
    assert not torch.equal(lp, lp_q)  # it did change the arithmetic
    assert (lp.exp() - lp_q.exp()).abs().max() < 0.05  # posteriors within a few points
    for opts in (DecodeOptions("greedy"), DecodeOptions("beam", beam=3, ctc_weight=0.3), DecodeOptions("ctc")):
        fp, i8 = rec.decode_feats(feats, lens, opts), q.decode_feats(feats, lens, opts)
        assert any(fp)
        # an untrained model's posteriors are nearly flat, so a few near-ties may flip: a token error rate, not equality
        ter = sum(_edits(x, y) for x, y in zip(fp, i8)) / sum(len(x) for x in fp)
        assert ter <= 0.25, (opts.method, fp, i8)


def test_bad_quantize_input_is_one_clear_error():
    assert check_quantize(None, "cpu") == "none" and check_quantize("INT8", "cpu") == "int8"
    with pytest.raises(NarspeechError, match="one of none, int8"):
        check_quantize("int4", "cpu")
    with pytest.raises(NarspeechError, match="CPU only"):
        check_quantize("int8", "cuda")


def test_cli_decode_int8_on_a_tiny_model(tiny_asr, tmp_path):
    """`asr decode --quantize int8` records the quantization in decode.json and decodes as fp32 does."""
    root, dump = tiny_asr
    common = ["asr", "decode", "--model", root / "exp", "--dump", dump, "--method", "ctc", "--device", "cpu"]
    cli_ok(*common, "--out", tmp_path / "fp32")
    cli_ok(*common, "--out", tmp_path / "int8", "--quantize", "int8")
    info = json.loads((tmp_path / "int8" / "decode.json").read_text())
    assert info["model"]["quantize"] == "int8" and "quantize" not in json.loads((tmp_path / "fp32" / "decode.json").read_text())["model"]
    fp, i8 = ((tmp_path / d / "token_hyp").read_text().splitlines() for d in ("fp32", "int8"))
    assert [x.split()[0] for x in fp] == [x.split()[0] for x in i8]
    ter = sum(_edits(x.split()[1:], y.split()[1:]) for x, y in zip(fp, i8)) / sum(len(x.split()) - 1 for x in fp)
    assert ter <= 0.25
