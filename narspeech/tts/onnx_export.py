"""FastSpeech 2 as one ONNX graph: tokens → log-mels, with dynamic batch, token and frame axes.

:class:`ExportableFastSpeech` wraps a trained :class:`~narspeech.tts.models.fastspeech.FastSpeech`
and re-states its inference with ops whose shapes follow the data in the exported graph:

* the length regulator without ``repeat_interleave`` / ``searchsorted``: frame ``t`` takes the
  token ``#{n : end_n <= t}`` (a comparison and a sum), gathered; frames past an utterance's
  length are masked;
* the ``bins`` pitch/energy embedding without ``torch.bucketize`` (the trap that froze
  ming024's export to the bins of the example): the bin is ``#{edges < value}``;
* no ``int(tensor)`` anywhere (tracing would freeze the padded lengths); the controls
  (speed, pitch shift, energy scale) are graph inputs.

:func:`export_fastspeech` writes the file with metadata (``narspeech_kind``, the model's config
hash, its checkpoint's hash and the feature config) that :mod:`narspeech.tts.synthesize.onnx_engine`
checks before use.
"""
from __future__ import annotations

import hashlib
import json
import warnings
from pathlib import Path

import torch
from torch import nn

from narspeech.errors import NarspeechError
from narspeech.tts.models.stats import PAD_LOG_MEL

KIND = "narspeech-fastspeech"
OPSET = 17
INPUTS = ("tokens", "token_lengths", "speed", "pitch_shift", "energy_scale")
OUTPUTS = ("mels", "mel_lengths")


def file_sha(path: str | Path) -> str:
    """First 16 hex digits of a file's SHA-256 (names the checkpoint an export came from)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]


def _mask(lengths: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """(B, T) True at valid positions, T = like.size(1), without reading a length into Python."""
    return torch.arange(like.size(1), device=lengths.device)[None] < lengths[:, None]


class ExportableFastSpeech(nn.Module):
    """``forward(tokens (B, N) int64, token_lengths (B,), speed, pitch_shift, energy_scale (1,) float)``
    → ``(mels (B, T, n_mels), mel_lengths (B,))``: the wrapped model's ``inference``, traceable."""

    def __init__(self, model: nn.Module):
        super().__init__()
        if not hasattr(model, "duration_predictor") or not hasattr(model, "encode"):
            raise NarspeechError(f"ONNX export covers FastSpeech / FastSpeech 2, not {type(model).__name__}")
        self.m = model.eval()

    def _embed(self, kind: str, value: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        m = self.m
        table = m.pitch_embed if kind == "pitch" else m.energy_embed
        if m.c["variance_embedding"] == "bins":
            edges = m.pitch_bins if kind == "pitch" else m.energy_bins
            idx = (value.float()[..., None] > edges).long().sum(-1)  # = torch.bucketize(value, edges)
            return table(idx)
        v = value.float().masked_fill(~valid, 0.0)[:, None]
        return table(v).transpose(1, 2)

    def _durations(self, logd: torch.Tensor, valid: torch.Tensor, speed: torch.Tensor) -> torch.Tensor:
        d = torch.round(torch.exp(logd.float()) - 1.0).clamp(min=0).masked_fill(~valid, 0.0)
        scaled = torch.round(d / speed).clamp(min=1.0)
        d = torch.where(d > 0, scaled, torch.zeros_like(d))  # speed 1: round(d) / 1 = d, as scale_durations
        first = torch.where(d.sum(1, keepdim=True) == 0, d[:, :1].clamp(min=1.0), d[:, :1])  # never zero frames
        return torch.cat([first, d[:, 1:]], dim=1).long()

    def forward(self, tokens: torch.Tensor, token_lengths: torch.Tensor, speed: torch.Tensor, pitch_shift: torch.Tensor,
                energy_scale: torch.Tensor):
        m = self.m
        x, tpad = m.encode(tokens, token_lengths)
        valid = ~tpad
        logd = m.duration_predictor(x, valid)
        if m.variance:
            st = m.stats
            p = m.pitch_predictor(x, valid)
            shifted = m.norm_pitch((p * st.f0_std + st.f0_mean) * torch.pow(2.0, pitch_shift / 12.0))
            p = torch.where(pitch_shift != 0, shifted, p)
            x = x + self._embed("pitch", p, valid)
            e = m.energy_predictor(x, valid)
            scaled = m.norm_energy((e * st.energy_std + st.energy_mean) * energy_scale)
            e = torch.where(energy_scale != 1, scaled, e)
            x = (x + self._embed("energy", e, valid)).masked_fill(tpad[..., None], 0.0)
        d = self._durations(logd, valid, speed)
        ends = d.cumsum(1)  # (B, N)
        lengths = ends[:, -1]
        frames = torch.arange(lengths.max(), device=x.device)  # (T,): the graph's data-dependent frame axis
        idx = (ends[:, None, :] <= frames[None, :, None]).long().sum(-1).clamp(max=x.size(1) - 1)  # (B, T)
        h = torch.gather(x, 1, idx[..., None].expand(-1, -1, x.size(2)))
        fvalid = frames[None] < lengths[:, None]
        h = h * fvalid[..., None].to(h.dtype)
        _, after = m.decode(h, lengths)
        mels = m.stats.denorm_mel(after).masked_fill(~fvalid[..., None], PAD_LOG_MEL)
        return mels, lengths


def example_inputs(n_tokens: int = 12, batch: int = 2) -> tuple[torch.Tensor, ...]:
    """Dummy inputs for tracing: token ids 1..n_tokens-1 (no padding id) of two lengths."""
    tokens = torch.arange(1, batch * n_tokens + 1).reshape(batch, n_tokens) % 20 + 2
    lengths = torch.tensor([n_tokens] + [max(2, n_tokens - 3)] * (batch - 1))
    one = torch.ones(1)
    return tokens, lengths, one, torch.zeros(1), one.clone()


def export_fastspeech(model: nn.Module, path: str | Path, *, metadata: dict[str, str], max_frames: int = 4000) -> Path:
    """Write the ONNX graph of `model` (FastSpeech / FastSpeech 2) to `path` with `metadata` added."""
    import onnx

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    wrapper = ExportableFastSpeech(model).eval()  # export restores the mode it found: eval, or dropout stays on after
    for pos in (model.enc_pos, model.dec_pos):  # positional tables grown in advance: no Python branch on the length
        pos(torch.zeros(1, max_frames, int(model.c["d_model"])))
    dyn = {"tokens": {0: "batch", 1: "tokens"}, "token_lengths": {0: "batch"}, "mels": {0: "batch", 1: "frames"},
           "mel_lengths": {0: "batch"}}
    tmp = path.with_suffix(".tmp.onnx")
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings about Python values: the graph's shapes are checked by the parity test
        torch.onnx.export(wrapper, example_inputs(), str(tmp), input_names=list(INPUTS), output_names=list(OUTPUTS),
                          dynamic_axes=dyn, opset_version=OPSET, dynamo=False)
    proto = onnx.load(str(tmp))
    for k, v in {"narspeech_kind": KIND, **metadata}.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = k, str(v)
    onnx.save(proto, str(tmp))
    tmp.replace(path)
    return path


def model_metadata(cfg: dict, checkpoint: str | Path) -> dict[str, str]:
    """What ties an export to its model: the checkpoint's hash, the model and feature configs."""
    return {"checkpoint_sha": file_sha(checkpoint), "model_config": json.dumps(cfg.get("model") or {}, sort_keys=True),
            "feats": json.dumps(cfg.get("feats") or {}, sort_keys=True)}
