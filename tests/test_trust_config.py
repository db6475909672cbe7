"""Class 3 of issue 36: typos and mismatches are errors, not defaults."""
from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
import soundfile as sf
import torch

from narspeech.errors import NarspeechError


@pytest.mark.parametrize("yaml_text,overrides,bad", [
    ("train:\n  max_step: 10\n", [], "train.max_step"),
    ("train: {}\n", ["train.optim.nmae=adam"], "train.optim.nmae"),
    ("train: {}\n", ["train.scheduler.warmup=10"], "train.scheduler.warmup"),
    ("trian:\n  max_steps: 10\n", [], "trian"),
    ("data:\n  speed_pertub: [0.9, 1.0]\n", [], "data.speed_pertub"),
    ("train:\n  groups:\n    generator: {optim: {lr: 1.0e-4}, clip: 1}\n", [], "train.groups.generator.clip"),
])
def test_unknown_config_keys_are_errors_listing_the_known_ones(tmp_path, yaml_text, overrides, bad):
    from narspeech.config import load_config
    from narspeech.train.defaults import resolve_config

    (tmp_path / "c.yaml").write_text(yaml_text)
    cfg = load_config(tmp_path / "c.yaml", overrides)
    with pytest.raises(NarspeechError, match=rf"unknown config key\(s\) {bad}; known") as e:
        resolve_config(cfg)
    assert "\n" not in str(e.value)


def test_known_keys_still_pass():
    from narspeech.train.defaults import resolve_config

    resolve_config({"train": {"max_steps": 3, "optim": {"lr": 1e-3}, "scheduler": {"name": "exponential", "halflife": 5}},
                    "data": {"speed_perturb": [1.0]}, "model": {"anything": 1}})


TOKENS = ["<blank>", "<unk>", "a", "b", "c", "d", "<sos/eos>"]


def _tts_exp(tmp_path):
    """A tiny FastSpeech 2 exp as training leaves it: best.pt, tokens.txt, inputs.json with the list's hash."""
    from narspeech.tts.models.build import build_tts_model

    exp = tmp_path / "exp"
    exp.mkdir()
    mcfg = {"type": "fastspeech2", "n_tokens": len(TOKENS), "n_mels": 8, "d_model": 16, "n_heads": 2, "enc_layers": 1,
            "dec_layers": 1, "d_ff": 32, "predictor_channels": 8}
    model = build_tts_model(mcfg)
    torch.save({"model": model.state_dict(), "config": {"model": mcfg, "text": {"kind": "char"}}, "step": 1}, exp / "best.pt")
    text = "\n".join(TOKENS) + "\n"
    (exp / "tokens.txt").write_text(text)
    rec = {"config": "x", "files": {"tokens": {"path": "tokens.txt", "sha256": hashlib.sha256(text.encode()).hexdigest()}}}
    (exp / "inputs.json").write_text(json.dumps(rec))
    return exp


def test_tts_token_list_is_checked_against_the_model(tmp_path):
    from narspeech.tts.models.build import load_tts_model

    exp = _tts_exp(tmp_path)
    load_tts_model(exp)
    swapped = TOKENS[:2] + ["b", "a"] + TOKENS[4:]  # same count, shifted ids
    (exp / "tokens.txt").write_text("\n".join(swapped) + "\n")
    with pytest.raises(NarspeechError, match="differs from the token list the model was trained on"):
        load_tts_model(exp)
    (exp / "tokens.txt").write_text("\n".join(TOKENS[:3] + TOKENS[4:]) + "\n")  # one line short
    with pytest.raises(NarspeechError, match="has 6 tokens, the model was trained with 7"):
        load_tts_model(exp)


@pytest.mark.parametrize("fmt,ext", [("WAV", "wav"), ("AIFF", "aiff"), ("AU", "au"), ("W64", "w64"), ("RF64", "wav")])
def test_truncated_audio_is_reported_by_validate_and_extract(tmp_path, fmt, ext):
    from narspeech.audio.extract import extract_dump
    from narspeech.data.validate import validate_data_dir

    data = tmp_path / "data"
    data.mkdir()
    t = np.arange(16000) / 16000
    for u in ("u1", "u2"):
        sf.write(tmp_path / f"{u}.{ext}", (0.3 * np.sin(2 * np.pi * 200 * t)).astype(np.float32), 16000, format=fmt)
    cut = tmp_path / f"u2.{ext}"
    cut.write_bytes(cut.read_bytes()[:20000])
    (data / "wav.scp").write_text(f"u1 {tmp_path}/u1.{ext}\nu2 {cut}\n")
    (data / "text").write_text("u1 a\nu2 b\n")
    (data / "utt2spk").write_text("u1 s\nu2 s\n")
    (data / "spk2utt").write_text("s u1 u2\n")
    for decode in (True, False):
        rep = validate_data_dir(data, decode=decode, jobs=1)
        assert any("truncated" in p and "u2" in p for p in rep.problems), rep.problems
    with pytest.raises(NarspeechError, match="truncated"):
        extract_dump(data, tmp_path / "dump", device="cpu", jobs=0)
    res = extract_dump(data, tmp_path / "dump", device="cpu", jobs=0, skip_bad=True)
    assert res.num_utts == 1 and "truncated" in res.skipped["u2"]


@pytest.mark.parametrize("key,value,want", [("batch_bins", "abc", "whole number"), ("grad_clip", float("nan"), "finite number"),
                                            ("max_steps", 2.5, "whole number")])
def test_train_numbers_are_checked(key, value, want):
    from narspeech.train.defaults import resolve_config

    with pytest.raises(NarspeechError, match=f"train.{key} must be a {want}"):
        resolve_config({"train": {key: value}})
