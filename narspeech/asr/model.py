"""ASR models on one Conformer encoder: Mask-CTC (CTC + conditional masked LM decoder) and the
joint CTC/attention AR baseline (CTC + causal attention decoder).

``model.type``: ``mask_ctc`` | ``ar``. Both train with ``w·CTC + (1−w)·CE`` (``ctc_weight`` w),
CE label-smoothed; Mask-CTC's CE covers only the masked positions of a target in which a
uniformly drawn number 1..L of its L tokens was replaced by ``<mask>`` (Higuchi et al. 2020).
Losses are summed over tokens/frames and divided by the batch size (ESPnet's default).
"""
from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from narspeech.asr.specaug import spec_augment
from narspeech.nets.conformer import ConformerEncoder
from narspeech.nets.masks import causal_mask, pad_mask
from narspeech.nets.positional import PositionalEncoding
from narspeech.nets.subsampling import Conv2dSubsampling4
from narspeech.nets.transformer import DecoderLayer

MODEL_TYPES = ("mask_ctc", "ar")

MODEL_DEFAULTS: dict[str, Any] = {
    "type": "mask_ctc",
    "d_model": 256,
    "n_heads": 4,
    "enc_layers": 12,
    "enc_ff": 1024,
    "conv_kernel": 15,
    "conv_norm": "layer",
    "subsample_channels": 0,  # 0: d_model
    "dec_layers": 6,
    "dec_ff": 2048,
    "dec_embed_scale": True,  # token embeddings × sqrt(d_model) before the positional encoding (ESPnet); false keeps
    # positions strong relative to the embeddings, which a non-causal decoder needs to tell its masks apart
    "dropout": 0.1,
    "ctc_weight": 0.3,
    "lsm_weight": 0.1,
    "specaug": {"freq_masks": 2, "freq_width": 27, "time_masks": 2, "time_width": 0.05, "time_warp": 0},
}


class TokenDecoder(nn.Module):
    """Transformer decoder over token ids with cross-attention to the encoder; causal (AR) or not (CMLM)."""

    def __init__(self, n_tokens: int, d_model: int, n_heads: int, d_ff: int, n_layers: int, dropout: float, causal: bool,
                 embed_scale: bool = True):
        super().__init__()
        self.causal = causal
        self.embed = nn.Embedding(n_tokens, d_model)
        self.pos = PositionalEncoding(d_model, dropout, scaled=False)
        self.scale = math.sqrt(d_model) if embed_scale else 1.0
        self.layers = nn.ModuleList(DecoderLayer(d_model, n_heads, d_ff, dropout) for _ in range(n_layers))
        self.norm = nn.LayerNorm(d_model)
        self.out = nn.Linear(d_model, n_tokens)

    def forward(self, ys: torch.Tensor, ys_lengths: torch.Tensor, enc: torch.Tensor, enc_pad: torch.Tensor) -> torch.Tensor:
        """ys (B, L) ids, ys_lengths (B,), enc (B, T, D), enc_pad (B, T) True at padding → logits (B, L, V)."""
        x = self.pos(self.embed(ys) * self.scale)
        ypad = pad_mask(ys_lengths, ys.size(1))
        cm = causal_mask(ys.size(1), ys.device) if self.causal else None
        for layer in self.layers:
            x, _ = layer(x, enc, cm, enc_pad, None if self.causal else ypad)
        return self.out(self.norm(x))


class ASRModel(nn.Module):
    """Log-mel → global mean/variance normalisation → (SpecAugment) → conv2d ×4 → Conformer → CTC
    head, plus a token decoder (non-causal CMLM for ``mask_ctc``, causal for ``ar``).

    ``forward(batch) -> (loss, stats)`` for the engine; ``encode``, ``ctc_log_probs`` and
    ``decoder_log_probs`` for decoding (:mod:`narspeech.asr.decode`).
    """

    def __init__(self, cfg: dict, n_tokens: int, n_mels: int, mel_mean=None, mel_std=None):
        super().__init__()
        c = {**MODEL_DEFAULTS, **cfg}
        if c["type"] not in MODEL_TYPES:
            raise ValueError(f"model.type must be one of {MODEL_TYPES}, got {c['type']!r}")
        self.cfg = c
        self.type = c["type"]
        self.n_tokens = n_tokens
        self.blank, self.sos_eos, self.mask_id = 0, n_tokens - 1, n_tokens - 2
        d = c["d_model"]
        self.register_buffer("mel_mean", torch.zeros(n_mels) if mel_mean is None else torch.as_tensor(mel_mean, dtype=torch.float32))
        self.register_buffer("mel_std", torch.ones(n_mels) if mel_std is None else torch.as_tensor(mel_std, dtype=torch.float32))
        self.subsample = Conv2dSubsampling4(n_mels, d, c["subsample_channels"] or None)
        self.pos = PositionalEncoding(d, c["dropout"], scaled=False)
        self.scale = math.sqrt(d)
        self.encoder = ConformerEncoder(d, c["n_heads"], c["enc_ff"], c["enc_layers"], c["conv_kernel"], c["dropout"], c["conv_norm"])
        self.ctc = nn.Linear(d, n_tokens)
        self.decoder = TokenDecoder(n_tokens, d, c["n_heads"], c["dec_ff"], c["dec_layers"], c["dropout"], causal=self.type == "ar",
                                    embed_scale=bool(c["dec_embed_scale"]))

    # ---- encoder side
    def encode(self, feats: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """feats (B, T, n_mels) log-mel, lengths (B,) → (enc (B, T', D), enc_lengths (B,))."""
        x = (feats - self.mel_mean) / self.mel_std
        valid = torch.arange(x.size(1), device=x.device)[None, :] < lengths[:, None]
        x = x.masked_fill(~valid[..., None], 0.0)
        if self.training and self.cfg.get("specaug"):
            x = spec_augment(x, lengths, **self.cfg["specaug"])
        x, enc_len = self.subsample(x, lengths)
        x = self.pos(x * self.scale)
        pad = pad_mask(enc_len, x.size(1))
        return self.encoder(x, pad), enc_len

    def ctc_log_probs(self, enc: torch.Tensor) -> torch.Tensor:
        return torch.log_softmax(self.ctc(enc).float(), dim=-1)

    def decoder_log_probs(self, ys: torch.Tensor, ys_lengths: torch.Tensor, enc: torch.Tensor, enc_lengths: torch.Tensor) -> torch.Tensor:
        logits = self.decoder(ys, ys_lengths, enc, pad_mask(enc_lengths, enc.size(1)))
        return torch.log_softmax(logits.float(), dim=-1)

    # ---- training
    def forward(self, batch: dict) -> tuple[torch.Tensor, dict]:
        feats, flen = batch["feats"], batch["feat_lengths"]
        ys, ylen = batch["tokens"], batch["token_lengths"]
        enc, elen = self.encode(feats, flen)
        b = ys.size(0)
        lp = self.ctc_log_probs(enc)
        ctc = nn.functional.ctc_loss(lp.transpose(0, 1), ys, elen, ylen, blank=self.blank, reduction="sum",
                                     zero_infinity=True) / b
        valid = ~pad_mask(ylen, ys.size(1))
        if self.type == "mask_ctc":
            ys_in, target_mask = self.mask_targets(ys, ylen)
            dec_len, ys_out = ylen, ys
        else:
            sos = torch.full((b, 1), self.sos_eos, dtype=ys.dtype, device=ys.device)
            ys_in = torch.cat([sos, ys], 1)
            ys_out = torch.cat([ys, torch.zeros_like(sos)], 1)
            ys_out[torch.arange(b), ylen] = self.sos_eos
            dec_len = ylen + 1
            target_mask = ~pad_mask(dec_len, ys_in.size(1))
        logits = self.decoder(ys_in, dec_len, enc, pad_mask(elen, enc.size(1))).float()
        sel = target_mask
        ce = nn.functional.cross_entropy(logits[sel], ys_out[sel], label_smoothing=float(self.cfg["lsm_weight"]),
                                         reduction="sum") / b
        w = float(self.cfg["ctc_weight"])
        loss = w * ctc + (1 - w) * ce
        with torch.no_grad():
            acc = (logits[sel].argmax(-1) == ys_out[sel]).float().mean() if sel.any() else torch.zeros(())
        del valid
        return loss, {"loss": loss.detach(), "ctc": ctc.detach(), "att": ce.detach(), "acc": acc}

    def mask_targets(self, ys: torch.Tensor, ylen: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Replace a uniformly drawn number n ∈ 1..L of each target's L tokens (random positions) by
        ``<mask>``; returns (decoder input, bool mask of the masked positions)."""
        valid = ~pad_mask(ylen, ys.size(1))
        n = (torch.rand(ys.size(0), device=ys.device) * ylen.float()).floor().long() + 1  # 1..L
        n = torch.minimum(n, ylen)
        r = torch.rand(ys.shape, device=ys.device).masked_fill(~valid, 2.0)
        rank = r.argsort(1).argsort(1)  # rank of each position among the valid ones (random order)
        masked = (rank < n[:, None]) & valid
        return ys.masked_fill(masked, self.mask_id), masked


def build_asr_model(cfg: dict, stats: dict | None = None) -> ASRModel:
    """`cfg` is the resolved ``model`` section (with ``n_tokens`` and ``n_mels``); `stats` the dump's stats.npz."""
    mean = None if stats is None else stats["mel_mean"]
    std = None if stats is None else stats["mel_std"]
    opts = {k: v for k, v in cfg.items() if k not in ("n_tokens", "n_mels")}
    return ASRModel(opts, int(cfg["n_tokens"]), int(cfg["n_mels"]), mean, std)
