"""Correctors: FastCorrect (non-autoregressive, Leng et al. 2021) and an AR transformer baseline.

FastCorrect: transformer encoder over the hypothesis tokens; on the encoder a duration
predictor (classes 0..max_duration: how many target tokens each source token becomes) and an
edit-detection head (does this token need changing); a length regulator repeats each encoder
state by its duration (ground truth in training, predicted at inference); a non-causal
transformer decoder predicts every corrected token in one pass.

ARCorrector: the same encoder with a causal transformer decoder (cross-attention), trained
with teacher forcing and decoded by batched beam search (with per-layer caches), the
speed/quality baseline.

Both take the batch dict of :func:`narspeech.correct.data.collate` and return
``(loss, stats)`` for the training engine.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from narspeech.nets.masks import causal_mask, pad_mask
from narspeech.nets.positional import PositionalEncoding
from narspeech.nets.transformer import DecoderLayer, EncoderLayer, decode_last
from narspeech.nets.length_regulator import regulate_length

MODEL_DEFAULTS = {
    "type": "fastcorrect",  # fastcorrect | ar
    "d_model": 256,
    "heads": 4,
    "d_ff": 1024,
    "enc_layers": 4,
    "dec_layers": 4,
    "dropout": 0.1,
    "max_duration": 4,
    "duration_weight": 1.0,
    "detect_weight": 0.5,
    "label_smoothing": 0.1,
}


class _Encoder(nn.Module):
    def __init__(self, vocab: int, d: int, heads: int, d_ff: int, layers: int, dropout: float):
        super().__init__()
        self.d = d
        self.embed = nn.Embedding(vocab, d, padding_idx=0)
        nn.init.normal_(self.embed.weight, std=d ** -0.5)
        self.pos = PositionalEncoding(d, dropout, scaled=False)
        self.layers = nn.ModuleList(EncoderLayer(d, heads, d_ff, 1, dropout) for _ in range(layers))
        self.norm = nn.LayerNorm(d)

    def forward(self, src: torch.Tensor, src_len: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        pad = pad_mask(src_len, src.size(1))
        x = self.pos(self.embed(src) * math.sqrt(self.d))
        for layer in self.layers:
            x, _ = layer(x, pad)
        return self.norm(x).masked_fill(pad[..., None], 0.0), pad


def _ce(logits: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, smoothing: float = 0.0) -> torch.Tensor:
    """Mean cross-entropy over the positions where `mask` is True."""
    loss = F.cross_entropy(logits.float().transpose(1, 2), target, reduction="none", label_smoothing=smoothing)
    return (loss * mask).sum() / mask.sum().clamp(min=1)


class FastCorrect(nn.Module):
    """Encoder + duration predictor + edit detector + length regulator + NAR decoder."""

    kind = "fastcorrect"

    def __init__(self, vocab_size: int, *, d_model: int = 256, heads: int = 4, d_ff: int = 1024, enc_layers: int = 4,
                 dec_layers: int = 4, dropout: float = 0.1, max_duration: int = 4, duration_weight: float = 1.0,
                 detect_weight: float = 0.5, label_smoothing: float = 0.1, **_: object):
        super().__init__()
        self.max_duration, self.duration_weight, self.detect_weight, self.smoothing = max_duration, duration_weight, detect_weight, label_smoothing
        self.encoder = _Encoder(vocab_size, d_model, heads, d_ff, enc_layers, dropout)
        self.duration = nn.Sequential(nn.Linear(d_model, d_model), nn.ReLU(), nn.Dropout(dropout), nn.Linear(d_model, max_duration + 1))
        self.detect = nn.Linear(d_model, 1)
        self.dec_pos = PositionalEncoding(d_model, dropout, scaled=False)
        self.decoder = nn.ModuleList(EncoderLayer(d_model, heads, d_ff, 1, dropout) for _ in range(dec_layers))
        self.dec_norm = nn.LayerNorm(d_model)
        self.out = nn.Linear(d_model, vocab_size)

    def heads(self, src: torch.Tensor, src_len: torch.Tensor):
        h, pad = self.encoder(src, src_len)
        return h, pad, self.duration(h), self.detect(h).squeeze(-1)

    def decode(self, h: torch.Tensor, durations: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Expand encoder states by `durations` (B, N) and predict all tokens: (logits (B, T, V), lengths)."""
        x, lengths = regulate_length(h, durations)
        pad = pad_mask(lengths, x.size(1))
        x = self.dec_pos(x)
        for layer in self.decoder:
            x, _ = layer(x, pad)
        return self.out(self.dec_norm(x)), lengths

    def forward(self, batch: dict) -> tuple[torch.Tensor, dict]:
        src, src_len, tgt, tgt_len = batch["src"], batch["src_len"], batch["tgt"], batch["tgt_len"]
        dur, edited = batch["durations"], batch["edited"]
        h, pad, dur_logits, det_logits = self.heads(src, src_len)
        logits, lengths = self.decode(h, dur)
        valid_t = ~pad_mask(tgt_len, tgt.size(1))
        tok_loss = _ce(logits[:, : tgt.size(1)], tgt, valid_t, self.smoothing)
        valid_s = ~pad
        dur_loss = _ce(dur_logits, dur.clamp(max=self.max_duration), valid_s)
        det = F.binary_cross_entropy_with_logits(det_logits.float(), edited.float(), reduction="none")
        det_loss = (det * valid_s).sum() / valid_s.sum().clamp(min=1)
        loss = tok_loss + self.duration_weight * dur_loss + self.detect_weight * det_loss
        with torch.no_grad():
            tok_acc = ((logits[:, : tgt.size(1)].argmax(-1) == tgt) & valid_t).sum() / valid_t.sum().clamp(min=1)
            dur_acc = ((dur_logits.argmax(-1) == dur.clamp(max=self.max_duration)) & valid_s).sum() / valid_s.sum().clamp(min=1)
        return loss, {"loss": loss.detach(), "token_loss": tok_loss.detach(), "duration_loss": dur_loss.detach(),
                      "detect_loss": det_loss.detach(), "token_acc": tok_acc, "duration_acc": dur_acc}

    @torch.no_grad()
    def infer(self, src: torch.Tensor, src_len: torch.Tensor) -> dict:
        """One parallel pass: predicted durations (B, N), tokens (B, T) with their probabilities,
        the source index of every output position (B, T), output lengths and p(edit) (B, N)."""
        h, pad, dur_logits, det_logits = self.heads(src, src_len)
        dur_p = dur_logits.float().softmax(-1)
        dur_prob, dur = dur_p.max(-1)
        dur = dur.masked_fill(pad, 0)
        logits, lengths = self.decode(h, dur)
        tok_prob, tokens = logits.float().softmax(-1).max(-1)
        ends = dur.cumsum(1)
        t = torch.arange(tokens.size(1), device=src.device)[None].expand_as(tokens).contiguous()
        src_index = torch.searchsorted(ends, t, right=True).clamp(max=src.size(1) - 1)
        return {"durations": dur, "duration_prob": dur_prob, "tokens": tokens, "token_prob": tok_prob,
                "src_index": src_index, "lengths": lengths, "p_edit": torch.sigmoid(det_logits.float()).masked_fill(pad, 0.0)}


class ARCorrector(nn.Module):
    """Transformer encoder-decoder corrector (teacher forcing; batched beam search)."""

    kind = "ar"

    def __init__(self, vocab_size: int, *, d_model: int = 256, heads: int = 4, d_ff: int = 1024, enc_layers: int = 4,
                 dec_layers: int = 4, dropout: float = 0.1, label_smoothing: float = 0.1, **_: object):
        super().__init__()
        self.vocab_size, self.smoothing, self.d = vocab_size, label_smoothing, d_model
        self.sos = self.eos = vocab_size - 1  # <sos/eos> is the last token of the list
        self.encoder = _Encoder(vocab_size, d_model, heads, d_ff, enc_layers, dropout)
        self.dec_pos = PositionalEncoding(d_model, dropout, scaled=False)
        self.decoder = nn.ModuleList(DecoderLayer(d_model, heads, d_ff, dropout) for _ in range(dec_layers))
        self.dec_norm = nn.LayerNorm(d_model)
        self.out = nn.Linear(d_model, vocab_size)

    def _embed(self, ys: torch.Tensor, offset: int = 0) -> torch.Tensor:
        return self.dec_pos(self.encoder.embed(ys) * math.sqrt(self.d), offset=offset)

    def forward(self, batch: dict) -> tuple[torch.Tensor, dict]:
        src, src_len, tgt, tgt_len = batch["src"], batch["src_len"], batch["tgt"], batch["tgt_len"]
        mem, mpad = self.encoder(src, src_len)
        B = tgt.size(0)
        sos = torch.full((B, 1), self.sos, dtype=tgt.dtype, device=tgt.device)
        ys_in = torch.cat([sos, tgt], 1)
        ys_out = torch.cat([tgt, torch.zeros_like(sos)], 1)
        ys_out[torch.arange(B), tgt_len] = self.eos
        in_pad = pad_mask(tgt_len + 1, ys_in.size(1))
        x = self._embed(ys_in)
        cm = causal_mask(x.size(1), x.device)
        for layer in self.decoder:
            x, _ = layer(x, mem, cm, mpad, in_pad)
        logits = self.out(self.dec_norm(x))
        loss = _ce(logits, ys_out, ~in_pad, self.smoothing)
        with torch.no_grad():
            acc = ((logits.argmax(-1) == ys_out) & ~in_pad).sum() / (~in_pad).sum()
        return loss, {"loss": loss.detach(), "token_acc": acc}

    @torch.no_grad()
    def beam_search(self, src: torch.Tensor, src_len: torch.Tensor, *, beam: int = 5, max_len: int | None = None) -> list[tuple[list[int], float]]:
        """Best hypothesis (token ids without <sos/eos>) and its log-probability per utterance.

        All utterances and beams decode together; each decoder layer keeps the inputs it has
        seen (a cache), so one step costs one new position per layer. Scores are plain sums of
        log-probabilities; a hypothesis ends where <sos/eos> is among the `beam` best expansions
        (beam 1 is greedy search); search stops when no live beam can beat the best finished one.
        """
        mem, mpad = self.encoder(src, src_len)
        B, dev = src.size(0), src.device
        max_len = int(src_len.max()) * 2 + 5 if max_len is None else max_len
        mem, mpad = mem.repeat_interleave(beam, 0), mpad.repeat_interleave(beam, 0)
        scores = torch.full((B, beam), float("-inf"), device=dev)
        scores[:, 0] = 0.0
        seqs = torch.full((B * beam, 1), self.sos, dtype=torch.long, device=dev)
        best_score = torch.full((B,), float("-inf"), device=dev)
        best_seq: list[list[int]] = [[] for _ in range(B)]
        caches: list[torch.Tensor | None] = [None] * len(self.decoder)
        for t in range(max_len):
            x, _ = decode_last(self.decoder, self._embed(seqs[:, -1:], offset=t), caches, mem, mpad)
            logp = self.out(self.dec_norm(x[:, -1])).float().log_softmax(-1).view(B, beam, -1)
            total = scores[..., None] + logp  # (B, beam, V)
            total[..., 0] = float("-inf")  # padding/<blank> is never produced
            # <sos/eos> competes with the other tokens: a hypothesis ends only where its end is among the `beam`
            # best expansions (beam 1: where it is the argmax), never because ending early sums fewer log-probabilities
            cand_top, cand_idx = total.view(B, -1).topk(2 * beam, dim=1)
            is_eos = cand_idx % self.vocab_size == self.eos
            ends = cand_top.masked_fill(~is_eos, float("-inf"))
            ends[:, beam:] = float("-inf")
            cand, k_best = ends.max(1)
            better = cand > best_score
            if better.any():
                for b in better.nonzero().flatten().tolist():
                    best_score[b] = cand[b]
                    best_seq[b] = seqs[b * beam + int(cand_idx[b, k_best[b]]) // self.vocab_size, 1:].tolist()
            top, pos = cand_top.masked_fill(is_eos, float("-inf")).topk(beam, dim=1)  # at most `beam` of 2 * beam end
            idx = cand_idx.gather(1, pos)
            if bool((top.max(1).values <= best_score).all()):
                break
            src_beam = idx // self.vocab_size
            tok = idx % self.vocab_size
            rows = (torch.arange(B, device=dev)[:, None] * beam + src_beam).flatten()
            seqs = torch.cat([seqs[rows], tok.flatten()[:, None]], 1)
            caches = [c[rows] for c in caches]  # type: ignore[index]
            scores = top
        for b in range(B):  # nothing finished within max_len: the best live beam
            if best_score[b] == float("-inf"):
                k = int(scores[b].argmax())
                best_seq[b], best_score[b] = seqs[b * beam + k, 1:].tolist(), scores[b, k]
        return [(best_seq[b], float(best_score[b])) for b in range(B)]


def build_model(vocab_size: int, cfg: dict) -> nn.Module:
    """FastCorrect or ARCorrector from the ``model`` config section."""
    m = {**MODEL_DEFAULTS, **(cfg or {})}
    if m["type"] == "fastcorrect":
        return FastCorrect(vocab_size, **{k: v for k, v in m.items() if k != "type"})
    if m["type"] == "ar":
        return ARCorrector(vocab_size, **{k: v for k, v in m.items() if k != "type"})
    raise ValueError(f"unknown corrector type {m['type']!r} (fastcorrect | ar)")
