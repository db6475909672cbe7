"""Building a TTS acoustic model from the `model` section of a config, and loading a trained one."""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from narspeech.device import resolve_device
from narspeech.errors import NarspeechError
from narspeech.train.checkpoint import exp_dir_of, load_checkpoint
from narspeech.train.fingerprint import check_token_file
from narspeech.tts.models import fastspeech, tacotron2, transformer_tts

TYPES = ("transformer_tts", "tacotron2", "fastspeech", "fastspeech2")
TEACHERS = ("transformer_tts", "tacotron2")  # autoregressive, with attention for duration extraction


def model_defaults(model_type: str) -> dict:
    """Every option of a model type with its default (merged into the saved config so it is complete)."""
    modules = {"transformer_tts": transformer_tts, "tacotron2": tacotron2, "fastspeech": fastspeech, "fastspeech2": fastspeech}
    if model_type not in modules:
        raise NarspeechError(f"model.type must be one of {', '.join(TYPES)}, got {model_type!r}")
    return dict(modules[model_type].DEFAULTS)


def build_tts_model(model_cfg: dict, stats: dict | None = None) -> nn.Module:
    """Model from ``cfg["model"]`` (needs `type`, `n_tokens`, `n_mels`); `stats` fills the normalisation buffers."""
    c = dict(model_cfg)
    kind = c.pop("type", None)
    try:
        n_tokens, n_mels = int(c.pop("n_tokens")), int(c.pop("n_mels"))
    except KeyError as e:
        raise NarspeechError(f"model config lacks {e.args[0]}") from None
    try:
        if kind == "transformer_tts":
            return transformer_tts.TransformerTTS(n_tokens, n_mels, stats, **c)
        if kind == "tacotron2":
            return tacotron2.Tacotron2(n_tokens, n_mels, stats, **c)
        if kind in ("fastspeech", "fastspeech2"):
            return fastspeech.FastSpeech(n_tokens, n_mels, stats, variance=kind == "fastspeech2", **c)
    except ValueError as e:
        raise NarspeechError(f"model config: {e}") from None
    raise NarspeechError(f"model.type must be one of {', '.join(TYPES)}, got {kind!r}")


def load_tts_model(path_or_exp_dir: str | Path, device: str | torch.device = "cpu") -> tuple[nn.Module, dict]:
    """Load a trained acoustic model (exp dir → best.pt, else last.pt; or a checkpoint file) in eval mode.

    Returns ``(model, cfg)``; ``cfg["model"]["type"]`` is transformer_tts | tacotron2 | fastspeech | fastspeech2,
    ``cfg["feats"]`` the feature config and ``cfg["text"]`` the text frontend the model was trained with.
    """
    dev = resolve_device(device) if isinstance(device, str) else device
    ckpt = load_checkpoint(path_or_exp_dir, map_location="cpu")
    cfg = ckpt.get("config") or {}
    if "model" not in cfg:
        raise NarspeechError("checkpoint has no model config", path=path_or_exp_dir)
    mcfg = dict(cfg["model"])
    if mcfg.get("type") == "fastspeech2" and "pitch_bins" in mcfg:
        mcfg.setdefault("variance_embedding", "bins")  # saved before the option existed: trained with bins
    model = build_tts_model(mcfg)
    state = ckpt["model"]
    state = {k[len("module."):] if k.startswith("module.") else k: v for k, v in state.items()}
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        raise NarspeechError(f"checkpoint does not fit its config: {str(e).splitlines()[0]}", path=path_or_exp_dir) from None

    check_token_file(exp_dir_of(path_or_exp_dir), cfg)  # an edited or short tokens.txt would shift every id
    return model.to(dev).eval(), cfg
