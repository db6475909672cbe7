"""ASR models on one Conformer encoder: Mask-CTC (CTC + conditional masked LM decoder) and the
joint CTC/attention AR baseline (CTC + causal attention decoder).

``model.type``: ``mask_ctc`` | ``ar``. Both train with ``w·CTC + (1−w)·CE`` (``ctc_weight`` w),
CE label-smoothed; Mask-CTC's CE covers only the masked positions of a target in which a
uniformly drawn number 1..L of its L tokens was replaced by ``<mask>`` (Higuchi et al. 2020).
Losses are summed over tokens/frames and divided by the batch size (ESPnet's default).

``length_predictor: true`` adds the dynamic length prediction of Improved Mask-CTC (Higuchi et al.
2021): each run of masked tokens is merged into one ``<mask>`` (and a few ``<mask>`` are inserted
where nothing is missing), and a head on the decoder predicts how many tokens each such mask
stands for (0 … ``length_max``), so decoding can delete and insert tokens around CTC's errors.

``interctc_layers`` adds self-conditioned CTC (Nozaki & Komatsu 2021): after each listed encoder layer
the shared CTC head predicts tokens, an extra CTC loss trains that prediction, and its posteriors,
projected back to the model width, are added to what the next layer reads (in training and decoding),
so the final CTC is conditioned on an earlier guess and is less conditionally independent.

``dec_align: true`` (Mask-CTC) adds to each CMLM decoder input the encoder state at the frame where CTC
emits that token (a forced alignment of the target in training, the greedy CTC path in decoding;
:mod:`narspeech.asr.ctc_align`), through a projection that starts at zero: a ``<mask>`` then comes with
the sound it stands for, and the decoder need not first learn to locate its neighbours in the audio,
which a small CMLM on long character sequences barely learns in a CPU schedule.
"""
from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from narspeech.asr.ctc_align import ctc_forced_frames
from narspeech.asr.specaug import spec_augment
from narspeech.errors import NarspeechError
from narspeech.nets.conformer import ConformerEncoder
from narspeech.nets.masks import causal_mask, pad_mask
from narspeech.nets.positional import PositionalEncoding
from narspeech.nets.subsampling import Conv2dSubsampling, check_factor, min_frames
from narspeech.nets.transformer import DecoderLayer, decode_last

MODEL_TYPES = ("mask_ctc", "ar")

MODEL_DEFAULTS: dict[str, Any] = {
    "type": "mask_ctc",
    "d_model": 256,
    "n_heads": 4,
    "enc_layers": 12,
    "enc_ff": 1024,
    "conv_kernel": 15,
    "conv_norm": "layer",
    "subsample": 4,  # time subsampling of the conv front-end: 4 (ESPnet's Conv2dSubsampling) or 2 (Conv2dSubsampling2)
    "subsample_channels": 0,  # 0: d_model
    "dec_layers": 6,
    "dec_ff": 2048,
    "dec_embed_scale": None,  # token embeddings × sqrt(d_model) (ESPnet); None: only for the causal AR decoder. The
    # non-causal CMLM needs its positions visible beside the embeddings: scaled, it sat at unigram accuracy on real speech
    "length_predictor": False,  # Improved Mask-CTC: predict how many tokens each merged <mask> stands for
    "length_max": 12,  # longest span the length head classifies (longer spans are left out of its loss)
    "length_weight": 1.0,  # weight of the length loss beside the masked-token CE (both times 1 - ctc_weight)
    "length_insert_prob": 0.1,  # training: chance of a <mask> with length 0 in each unmasked gap (teaches deletion)
    "dec_align": False,  # Mask-CTC: each decoder input also gets the encoder state at its token's CTC frame
    "interctc_layers": [],  # self-conditioned CTC after these encoder layers (1-based, below the last), e.g. [3]
    "interctc_weight": 0.5,  # CTC loss = (1 - w)·final + w·mean(intermediate)
    "interctc_condition": True,  # False: intermediate CTC losses only (InterCTC, Lee & Watanabe 2021)
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

    def hidden(self, ys: torch.Tensor, ys_lengths: torch.Tensor, enc: torch.Tensor, enc_pad: torch.Tensor,
               extra: torch.Tensor | None = None) -> torch.Tensor:
        """ys (B, L) ids, ys_lengths (B,), enc (B, T, D), enc_pad (B, T) True at padding → states (B, L, D);
        `extra` (B, L, D) is added to the embedded input (the CTC-aligned encoder states)."""
        x = self.pos(self.embed(ys) * self.scale)
        if extra is not None:
            x = x + extra
        ypad = pad_mask(ys_lengths, ys.size(1))
        cm = causal_mask(ys.size(1), ys.device) if self.causal else None
        for layer in self.layers:
            x, _ = layer(x, enc, cm, enc_pad, None if self.causal else ypad)
        return self.norm(x)

    def forward(self, ys: torch.Tensor, ys_lengths: torch.Tensor, enc: torch.Tensor, enc_pad: torch.Tensor,
                extra: torch.Tensor | None = None) -> torch.Tensor:
        """→ token logits (B, L, V)."""
        return self.out(self.hidden(ys, ys_lengths, enc, enc_pad, extra))

    def step(self, ys: torch.Tensor, enc: torch.Tensor, enc_pad: torch.Tensor, cache: list[torch.Tensor | None]) -> torch.Tensor:
        """Incremental causal decoding: logits (N, V) of the next token after `ys` (N, l) (no padding),
        computing only the last position; ``cache[i]`` holds layer i's inputs at the first l − 1
        positions (None at l = 1) and is extended in place. Same as ``forward(ys)[:, -1]``."""
        x = self.pos(self.embed(ys[:, -1:]) * self.scale, offset=ys.size(1) - 1)
        x, _ = decode_last(self.layers, x, cache, enc, enc_pad)
        return self.out(self.norm(x[:, -1]))


class ASRModel(nn.Module):
    """Log-mel → global mean/variance normalisation → (SpecAugment) → conv2d ×4 or ×2 (``subsample``) → Conformer → CTC
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
        self.subsample_factor = check_factor(c["subsample"], "model.subsample")
        self.min_frames = min_frames(self.subsample_factor)  # shorter input gives no encoder frame
        self.subsample = Conv2dSubsampling(n_mels, d, c["subsample_channels"] or None, self.subsample_factor)
        self.pos = PositionalEncoding(d, c["dropout"], scaled=False)
        self.scale = math.sqrt(d)
        self.encoder = ConformerEncoder(d, c["n_heads"], c["enc_ff"], c["enc_layers"], c["conv_kernel"], c["dropout"], c["conv_norm"])
        self.ctc = nn.Linear(d, n_tokens)
        self.inter_layers = tuple(int(i) for i in c["interctc_layers"] or ())
        if any(not 1 <= i < c["enc_layers"] for i in self.inter_layers):
            raise ValueError(f"model.interctc_layers must lie in 1..{c['enc_layers'] - 1} (below the last encoder layer), "
                             f"got {list(self.inter_layers)}")
        self.inter_cond = None
        if self.inter_layers and c["interctc_condition"]:
            # posteriors → model width; zero at the start, so a model started from an encoder trained
            # without it (--init-modules encoder) begins exactly where that encoder was
            self.inter_cond = nn.Linear(n_tokens, d)
            nn.init.zeros_(self.inter_cond.weight)
            nn.init.zeros_(self.inter_cond.bias)
        self.decoder = TokenDecoder(n_tokens, d, c["n_heads"], c["dec_ff"], c["dec_layers"], c["dropout"], causal=self.type == "ar",
                                    embed_scale=self.type == "ar" if c["dec_embed_scale"] is None else bool(c["dec_embed_scale"]))
        self.length_head = nn.Linear(d, int(c["length_max"]) + 1) if c["length_predictor"] and self.type == "mask_ctc" else None
        self.align_proj = None
        if c["dec_align"] and self.type == "mask_ctc":
            self.align_proj = nn.Linear(d, d)  # zero at the start: a model without it loads and begins unchanged
            nn.init.zeros_(self.align_proj.weight)
            nn.init.zeros_(self.align_proj.bias)

    # ---- encoder side
    def encode(self, feats: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """feats (B, T, n_mels) log-mel, lengths (B,) → (enc (B, T', D), enc_lengths (B,))."""
        enc, enc_len, _ = self.encode_with_intermediate(feats, lengths, keep_intermediate=False)
        return enc, enc_len

    def encode_with_intermediate(self, feats: torch.Tensor, lengths: torch.Tensor, *, keep_intermediate: bool = True
                                 ) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
        """As :meth:`encode`, plus the CTC logits (B, T', V) after each of ``interctc_layers`` (an empty list
        with ``keep_intermediate=False``: then they are computed only where they condition the next layer)."""
        x = (feats - self.mel_mean) / self.mel_std
        valid = torch.arange(x.size(1), device=x.device)[None, :] < lengths[:, None]
        x = x.masked_fill(~valid[..., None], 0.0)
        if self.training and self.cfg.get("specaug"):
            x = spec_augment(x, lengths, **self.cfg["specaug"])
        x, enc_len = self.subsample(x, lengths)
        x = self.pos(x * self.scale)
        pad = pad_mask(enc_len, x.size(1))
        inter: list[torch.Tensor] = []

        def tap(i: int, h: torch.Tensor) -> torch.Tensor:
            if i not in self.inter_layers:
                return h
            logits = self.ctc(h)
            if keep_intermediate:
                inter.append(logits)
            if self.inter_cond is None:
                return h
            return (h + self.inter_cond(torch.softmax(logits, dim=-1))).masked_fill(pad[..., None], 0.0)

        needs_tap = bool(self.inter_layers) and (keep_intermediate or self.inter_cond is not None)
        return self.encoder(x, pad, tap if needs_tap else None), enc_len, inter

    def ctc_log_probs(self, enc: torch.Tensor) -> torch.Tensor:
        return torch.log_softmax(self.ctc(enc).float(), dim=-1)

    def aligned(self, enc: torch.Tensor, frames: torch.Tensor | None) -> torch.Tensor | None:
        """The decoder's extra input for ``dec_align``: projected encoder states at `frames` (B, L); None without it."""
        if self.align_proj is None or frames is None:
            return None
        idx = frames.clamp(0, enc.size(1) - 1)[..., None].expand(-1, -1, enc.size(2))
        return self.align_proj(enc.gather(1, idx))

    def decoder_log_probs(self, ys: torch.Tensor, ys_lengths: torch.Tensor, enc: torch.Tensor, enc_lengths: torch.Tensor,
                          frames: torch.Tensor | None = None) -> torch.Tensor:
        """`frames` (B, L): each position's CTC frame (``dec_align`` models; ignored otherwise)."""
        logits = self.decoder(ys, ys_lengths, enc, pad_mask(enc_lengths, enc.size(1)), self.aligned(enc, frames))
        return torch.log_softmax(logits.float(), dim=-1)

    def length_log_probs(self, ys: torch.Tensor, ys_lengths: torch.Tensor, enc: torch.Tensor, enc_lengths: torch.Tensor) -> torch.Tensor:
        """Log-probabilities (B, L, length_max + 1) of how many tokens each position of `ys` stands for
        (meaningful at ``<mask>`` positions of a merged-mask sequence)."""
        if self.length_head is None:
            raise ValueError("this model has no length predictor (train with model.length_predictor: true)")
        h = self.decoder.hidden(ys, ys_lengths, enc, pad_mask(enc_lengths, enc.size(1)))
        return torch.log_softmax(self.length_head(h).float(), dim=-1)

    # ---- training
    def forward(self, batch: dict) -> tuple[torch.Tensor, dict]:
        feats, flen = batch["feats"], batch["feat_lengths"]
        ys, ylen = batch["tokens"], batch["token_lengths"]
        enc, elen, inter = self.encode_with_intermediate(feats, flen)
        b = ys.size(0)

        def ctc_loss(logits: torch.Tensor) -> torch.Tensor:
            lp = torch.log_softmax(logits.float(), dim=-1)
            return nn.functional.ctc_loss(lp.transpose(0, 1), ys, elen, ylen, blank=self.blank, reduction="sum",
                                          zero_infinity=True) / b

        ctc = ctc_loss(self.ctc(enc))
        stats = {}
        ctc_all = ctc
        if inter:
            ctc_inter = torch.stack([ctc_loss(x) for x in inter]).mean()
            wi = float(self.cfg["interctc_weight"])
            ctc_all = (1 - wi) * ctc + wi * ctc_inter
            stats["ctc_inter"] = ctc_inter.detach()
        extra = None
        if self.type == "mask_ctc":
            ys_in, target_mask = self.mask_targets(ys, ylen)
            dec_len, ys_out = ylen, ys
            if self.align_proj is not None:
                with torch.no_grad():
                    frames = ctc_forced_frames(torch.log_softmax(self.ctc(enc).float(), -1), elen, ys, ylen, self.blank)
                extra = self.aligned(enc, frames)
        else:
            sos = torch.full((b, 1), self.sos_eos, dtype=ys.dtype, device=ys.device)
            ys_in = torch.cat([sos, ys], 1)
            ys_out = torch.cat([ys, torch.zeros_like(sos)], 1)
            ys_out[torch.arange(b), ylen] = self.sos_eos
            dec_len = ylen + 1
            target_mask = ~pad_mask(dec_len, ys_in.size(1))
        logits = self.decoder(ys_in, dec_len, enc, pad_mask(elen, enc.size(1)), extra).float()
        sel = target_mask
        ce = nn.functional.cross_entropy(logits[sel], ys_out[sel], label_smoothing=float(self.cfg["lsm_weight"]),
                                         reduction="sum") / b
        w = float(self.cfg["ctc_weight"])
        att = ce
        if self.length_head is not None:
            lp_in, lp_len, lp_target = merge_masked_spans(ys, ylen, target_mask, self.mask_id,
                                                          insert_prob=float(self.cfg["length_insert_prob"]),
                                                          max_length=int(self.cfg["length_max"]))
            h = self.decoder.hidden(lp_in, lp_len, enc, pad_mask(elen, enc.size(1)))
            lsel = lp_target >= 0
            len_logits = self.length_head(h[lsel]).float()
            lp_loss = nn.functional.cross_entropy(len_logits, lp_target[lsel], reduction="sum") / b
            att = ce + float(self.cfg["length_weight"]) * lp_loss
            with torch.no_grad():
                stats["len_acc"] = (len_logits.argmax(-1) == lp_target[lsel]).float().mean() if lsel.any() else torch.zeros(())
                stats["len_loss"] = lp_loss.detach()
        loss = w * ctc_all + (1 - w) * att
        with torch.no_grad():
            acc = (logits[sel].argmax(-1) == ys_out[sel]).float().mean() if sel.any() else torch.zeros(())
        return loss, {"loss": loss.detach(), "ctc": ctc.detach(), "att": ce.detach(), "acc": acc, **stats}

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


def merge_masked_spans(ys: torch.Tensor, ylen: torch.Tensor, masked: torch.Tensor, mask_id: int, *,
                       insert_prob: float = 0.0, max_length: int = 12,
                       generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Training input of the length predictor: every run of `masked` positions of `ys` (B, L) becomes
    one ``mask_id`` whose target is the run's length; with `insert_prob` a ``mask_id`` of target 0 is
    put into each gap between two unmasked tokens (or at an end) that touches no masked run.
    Returns (ids (B, L'), lengths (B,), targets (B, L') with -1 where no length is predicted, at
    unmasked tokens, padding and runs longer than `max_length`)."""
    b, lmax = ys.shape
    dev = ys.device
    valid = torch.arange(lmax, device=dev)[None, :] < ylen[:, None]
    masked = masked & valid
    prev = torch.cat([torch.zeros(b, 1, dtype=torch.bool, device=dev), masked[:, :-1]], 1)
    run_start = masked & ~prev
    run_id = torch.cumsum(run_start.long(), 1) - 1
    # length of the run each masked position belongs to
    n_runs = max(1, int(run_start.sum(1).max()) if b else 1)
    run_len = torch.zeros(b, n_runs, dtype=torch.long, device=dev)
    run_len.scatter_add_(1, run_id.clamp(min=0), masked.long())
    # gaps 0..L (before token i; gap L after the last): an insertion is allowed where neither side is masked
    left_ok = torch.cat([torch.ones(b, 1, dtype=torch.bool, device=dev), ~masked], 1)  # token i-1 not masked
    right_ok = torch.cat([~masked, torch.ones(b, 1, dtype=torch.bool, device=dev)], 1)  # token i not masked
    gap_valid = torch.arange(lmax + 1, device=dev)[None, :] <= ylen[:, None]
    ins = left_ok & right_ok & gap_valid
    ins &= torch.rand(b, lmax + 1, device=dev, generator=generator) < insert_prob
    # interleave: slot 2i = gap before token i, slot 2i+1 = token i
    keep_tok = valid & (~masked | run_start)
    slots_keep = torch.zeros(b, 2 * lmax + 1, dtype=torch.bool, device=dev)
    slots_keep[:, 0::2] = ins
    slots_keep[:, 1::2] = keep_tok
    slot_ids = torch.full((b, 2 * lmax + 1), mask_id, dtype=ys.dtype, device=dev)
    slot_ids[:, 1::2] = ys.masked_fill(masked, mask_id)
    slot_tgt = torch.full((b, 2 * lmax + 1), -1, dtype=torch.long, device=dev)
    slot_tgt[:, 0::2] = 0
    tok_tgt = torch.where(run_start, run_len.gather(1, run_id.clamp(min=0)), torch.full_like(run_id, -1))
    slot_tgt[:, 1::2] = tok_tgt
    slot_tgt = slot_tgt.masked_fill(slot_tgt > max_length, -1)
    new_len = slots_keep.sum(1)
    lnew = int(new_len.max()) if b else 0
    pos = torch.cumsum(slots_keep.long(), 1) - 1
    out_ids = torch.zeros(b, max(lnew, 1), dtype=ys.dtype, device=dev)
    out_tgt = torch.full((b, max(lnew, 1)), -1, dtype=torch.long, device=dev)
    rows = torch.arange(b, device=dev)[:, None].expand_as(pos)
    out_ids[rows[slots_keep], pos[slots_keep]] = slot_ids[slots_keep]
    out_tgt[rows[slots_keep], pos[slots_keep]] = slot_tgt[slots_keep]
    return out_ids, new_len, out_tgt


def subsample_factor(cfg: dict) -> int:
    """The conv front-end's time subsampling of the ``model`` section `cfg` (4 where it names none)."""
    try:
        return check_factor({**MODEL_DEFAULTS, **cfg}["subsample"], "model.subsample")
    except ValueError as e:
        raise NarspeechError(f"model config: {e}") from None


def build_asr_model(cfg: dict, stats: dict | None = None) -> ASRModel:
    """`cfg` is the resolved ``model`` section (with ``n_tokens`` and ``n_mels``); `stats` the dump's stats.npz."""
    mean = None if stats is None else stats["mel_mean"]
    std = None if stats is None else stats["mel_std"]
    opts = {k: v for k, v in cfg.items() if k not in ("n_tokens", "n_mels")}
    try:
        return ASRModel(opts, int(cfg["n_tokens"]), int(cfg["n_mels"]), mean, std)
    except ValueError as e:  # a bad option is a one-line error, not a traceback
        raise NarspeechError(f"model config: {e}") from None
