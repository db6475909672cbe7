"""Post-training int8 dynamic quantization of a model's linear layers (``--quantize int8`` of the decode
and bench commands): the cheap speed-up a user can pick instead of a non-autoregressive model.

Weights of every ``nn.Linear`` are stored as int8 and activations are quantized on the fly per batch
(``torch.ao.quantization.quantize_dynamic``); convolutions, embeddings and norms stay fp32. The
quantized kernels run on CPU only.
"""
from __future__ import annotations

import warnings

import torch
from torch import nn

from narspeech.errors import NarspeechError

QUANTIZE_MODES = ("none", "int8")


def check_quantize(mode: str | None, device: torch.device | str) -> str:
    """`mode` normalised (None -> "none"); one clear error for an unknown mode or int8 off the CPU."""
    m = (mode or "none").lower()
    if m not in QUANTIZE_MODES:
        raise NarspeechError(f"--quantize must be one of {', '.join(QUANTIZE_MODES)}, not {mode!r}")
    if m != "none" and torch.device(device).type != "cpu":
        raise NarspeechError(f"--quantize {m} runs on CPU only (dynamic quantization has no {torch.device(device).type} "
                             "kernels): add --device cpu")
    return m


def quantize_linear(model: nn.Module, mode: str | None = "int8") -> nn.Module:
    """A copy of `model` (eval mode) whose ``nn.Linear`` layers are int8 dynamically quantized; `model`
    itself is left as it was. ``mode`` "none" returns `model` unchanged."""
    m = check_quantize(mode, next(model.parameters()).device)
    if m == "none":
        return model
    with warnings.catch_warnings():  # torch.ao.quantization announces its move to torchao on every call
        warnings.simplefilter("ignore", DeprecationWarning)
        return torch.ao.quantization.quantize_dynamic(model, {nn.Linear}, dtype=torch.qint8, inplace=False).eval()


def count_quantized(model: nn.Module) -> int:
    """Dynamically quantized linear layers in `model` (0: nothing was quantized)."""
    return sum(1 for mod in model.modules() if type(mod).__name__ == "DynamicQuantizedLinear"
               or type(mod).__module__.startswith("torch.ao.nn.quantized.dynamic"))
