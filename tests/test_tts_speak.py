"""`narspeech tts speak`: sentences streamed through the vocoder to a wav or raw PCM16; bad input is one line."""
from __future__ import annotations

import math
import string

import numpy as np
import pytest
import torch
import yaml
from typer.testing import CliRunner

from narspeech.audio.io import load_audio
from narspeech.cli.main import app
from narspeech.errors import NarspeechError
from narspeech.text.vocab import TokenList
from narspeech.tts.synthesize.speak import SENTENCE_PAUSE_SECONDS, split_sentences
from narspeech.vocoder.istft import IstftGenerator
from narspeech.vocoder.pretrained import hifigan_features

FEATS = hifigan_features()
TOKENS = TokenList(["<blank>", "<unk>", *string.ascii_lowercase, "<space>", ",", ".", "!", "?", "'", "<sos/eos>"])
FPT = 6  # frames per token of the pinned duration predictor


def _fs2_exp(root, feats=FEATS, seed=0, **options):
    """A tiny untrained FastSpeech 2 saved as the trainer saves one, FPT frames per token."""
    from narspeech.tts.models.build import build_tts_model

    torch.manual_seed(seed)
    mcfg = {"type": "fastspeech2", "n_tokens": len(TOKENS), "n_mels": 80, "d_model": 32, "n_heads": 2, "enc_layers": 1,
            "dec_layers": 1, "d_ff": 64, "predictor_channels": 16, **options}
    model = build_tts_model(mcfg)
    with torch.no_grad():
        model.duration_predictor.out.weight.zero_()
        model.duration_predictor.out.bias.fill_(math.log(FPT + 1))
    exp = root / "fs2"
    exp.mkdir(parents=True)
    cfg = {"model": mcfg, "text": {"kind": "char", "language": "en-us"}, "feats": feats.to_dict()}
    torch.save({"model": model.state_dict(), "config": cfg, "step": 1}, exp / "best.pt")
    (exp / "tokens.txt").write_text("\n".join(TOKENS.tokens) + "\n", encoding="utf-8")
    return exp


def _voc_exp(root):
    """A tiny iSTFT vocoder saved as `narspeech vocoder train` saves one."""
    torch.manual_seed(0)
    gen = IstftGenerator("istft-small")
    exp = root / "voc"
    exp.mkdir()
    cfg = {"vocoder": {"generator": "istft-small"}, "feats": FEATS.to_dict()}
    (exp / "config.yaml").write_text(yaml.safe_dump(cfg), encoding="utf-8")
    torch.save({"model": {f"generator.{k}": v for k, v in gen.state_dict().items()}, "config": cfg, "step": 1}, exp / "best.pt")
    return exp


@pytest.fixture(scope="module")
def exps(tmp_path_factory):
    root = tmp_path_factory.mktemp("speak")
    return _fs2_exp(root), _voc_exp(root)


def _speak(*args, input=None):
    return CliRunner().invoke(app, ["tts", "speak", *[str(a) for a in args]], input=input)


def test_split_sentences_keeps_paragraphs():
    text = "Hello there. How are you?\nFine!\n\n  \nA new paragraph"
    assert split_sentences(text) == [["Hello there.", "How are you?", "Fine!"], ["A new paragraph"]]
    assert split_sentences(" \n\n ") == []


def test_speak_wav_and_raw_stream_are_the_same_audio(exps, tmp_path):
    fs2, voc = exps
    text = "hi there. ok\n\nbye"
    r = _speak("--model", fs2, "--vocoder", voc, "--out", tmp_path / "a.wav", input=text)
    assert r.exit_code == 0, (r.output, r.exception)
    wav, sr = load_audio(str(tmp_path / "a.wav"))
    assert sr == FEATS.sample_rate
    frames = [len(s) * FPT for s in ("hi there.", "ok", "bye")]  # char tokens, FPT frames each
    pauses = 2 * SENTENCE_PAUSE_SECONDS  # + the paragraph pause, longer
    expected_speech = sum((t - 1) * FEATS.hop_length for t in frames)
    assert len(wav) > expected_speech + pauses * sr

    r = _speak("--model", fs2, "--vocoder", voc, "--out", "-", input=text)
    assert r.exit_code == 0, (r.output, r.exception)
    pcm = np.frombuffer(r.stdout_bytes, dtype="<i2")
    assert len(pcm) == len(wav)
    assert np.abs(pcm / 32768.0 - wav).max() < 2 / 32768  # the pipe carries the audio the file holds


def test_text_argument_and_griffin_lim(exps, tmp_path):
    fs2, _ = exps
    r = _speak("hello", "--model", fs2, "--gl-iters", "2", "--out", tmp_path / "b.wav")
    assert r.exit_code == 0, (r.output, r.exception)
    assert len(load_audio(str(tmp_path / "b.wav"))[0]) == (5 * FPT - 1) * FEATS.hop_length


@pytest.mark.parametrize("case", ["empty stdin", "vocoder mismatch", "speaker", "nothing speakable"])
def test_bad_input_is_one_line(exps, tmp_path, case):
    fs2, voc = exps
    args = {"empty stdin": (["--model", fs2, "--vocoder", voc], "  \n\n"),
            "vocoder mismatch": (["hello", "--model", _fs2_exp(tmp_path, FEATS.replace(hop_length=200)), "--vocoder", voc], None),
            "speaker": (["hello", "--model", fs2, "--vocoder", voc, "--speaker", "bdl"], None),
            "nothing speakable": (["--model", fs2, "--vocoder", voc], "... ?!")}[case]
    r = _speak(*args[0], "--out", tmp_path / "c.wav", input=args[1])
    assert r.exit_code != 0 and isinstance(r.exception, NarspeechError), (r.output, r.exception)
    assert "\n" not in str(r.exception)
    assert not (tmp_path / "c.wav").exists()
