"""Randomly initialised TTS exp dirs for `narspeech bench tts`, made to produce reference-length mels.

Speed needs no training, but an untrained model decides its own output length badly: the
AR teacher's stop token fires anywhere (or never) and FastSpeech 2's duration predictor
gives ~0 frames. Both are made to produce exactly ``R`` frames per input token, R the
corpus' own mean (frames / tokens of the training dump), so the two models synthesise the
same number of frames and the speed-up compares like with like:

* teacher (transformer_tts): ``stop_threshold`` above 1 (the sigmoid never reaches it) and
  ``max_len_ratio = R``: decoding runs to ``ceil(R × tokens)`` frames, as a trained teacher
  runs to the end of the utterance;
* FastSpeech 2: the duration predictor's output layer is set to the constant ``log(R + 1)``
  (weights 0), i.e. R frames for every token; everything else stays random.

The exp dirs have what ``narspeech.tts.synthesize.inference.load_model`` reads: ``best.pt`` (model state,
full config), ``config.yaml``, ``tokens.txt``, ``stats.npz``.
"""
from __future__ import annotations

import math
from pathlib import Path


def frames_per_token(data_dir: str | Path, dump_dir: str | Path) -> float:
    """Total frames / total tokens over the utterances of DATA/token and DUMP/utt2num_frames."""
    from narspeech.fileio import read_table

    tokens = read_table(Path(data_dir) / "token")
    frames = read_table(Path(dump_dir) / "utt2num_frames")
    utts = [u for u in tokens if u in frames]
    n_tok = sum(len(tokens[u].split()) for u in utts)
    return sum(int(frames[u]) for u in utts) / max(n_tok, 1)


def make_random_exp(conf: str | Path, model_type: str, *, tokens: str | Path, train_data: str | Path, train_dump: str | Path,
                    exp: str | Path, ratio: int, overrides: list[str] | None = None, seed: int = 1) -> dict:
    """Write a random `model_type` (transformer_tts | fastspeech2) exp dir from `conf`; returns a summary."""
    import torch

    from narspeech.config import load_config, save_config
    from narspeech.fileio import atomic_path
    from narspeech.train.rng import seed_everything
    from narspeech.tts.models.build import build_tts_model
    from narspeech.tts.train import prepare_experiment

    if ratio < 1:
        raise ValueError(f"frames per token must be >= 1, got {ratio}")
    cfg = load_config(conf, list(overrides or []))
    cfg.setdefault("model", {})["type"] = model_type
    cfg.setdefault("text", {}).update(kind="phoneme", language="en-us")
    cfg, _, stats = prepare_experiment(cfg, model_type, tokens=tokens, train_data=train_data, train_dump=train_dump, exp=exp)
    if model_type == "transformer_tts":
        cfg["model"].update(stop_threshold=1.5, max_len_ratio=float(ratio), min_len_ratio=0.0)
    seed_everything(seed)
    model = build_tts_model(cfg["model"], stats)
    if model_type != "transformer_tts":
        with torch.no_grad():
            model.duration_predictor.out.weight.zero_()
            model.duration_predictor.out.bias.fill_(math.log(ratio + 1.0))
    cfg["random_init"] = {"seed": seed, "frames_per_token": ratio,
                          "note": "randomly initialised for speed; output length forced to frames_per_token × tokens"}
    exp = Path(exp)
    with atomic_path(exp / "best.pt") as tmp:
        torch.save({"model": model.state_dict(), "config": cfg, "step": 0}, tmp)
    save_config(cfg, exp / "config.yaml")
    return {"exp": str(exp), "type": model_type, "params_m": round(sum(p.numel() for p in model.parameters()) / 1e6, 2),
            "frames_per_token": ratio}
