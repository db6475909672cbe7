"""Batched Mask-CTC decoding (Higuchi et al. 2020): greedy CTC, mask the low-confidence tokens,
re-predict them with the conditional masked LM decoder in a few parallel passes.

All utterances of a batch go through each decoder pass together (padding masks keep them
apart); an utterance whose passes are done is left unchanged by the later ones, so a batch
gives exactly what one utterance at a time gives. The schedule follows ESPnet's
``MaskCTCInference``: with ``n`` masked tokens, ``k = min(K, n)`` passes; each of the first
``k − 1`` fills the ``n // k`` most confident masked positions, the last fills the rest.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from narspeech.asr.ctc_decode import ctc_greedy

# decoder_fn(ys (B, L), ys_lengths (B,)) -> log-probs (B, L, V)
DecoderFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass
class MaskCTCResult:
    tokens: torch.Tensor  # (B, L) padded with blank
    lengths: torch.Tensor  # (B,)
    masked: torch.Tensor  # (B, L) bool: positions masked after CTC
    passes: int  # decoder passes run for the batch


def mask_ctc_refine(tokens: torch.Tensor, conf: torch.Tensor, lengths: torch.Tensor, decoder_fn: DecoderFn, *,
                    mask_id: int, threshold: float = 0.999, iterations: int = 10) -> MaskCTCResult:
    """Refine greedy-CTC `tokens` (B, L) with confidences `conf`: positions with ``conf < threshold``
    become ``mask_id`` and are filled by `decoder_fn` over `iterations` (K ≥ 1) passes at most.
    Threshold 0 masks nothing (the greedy CTC output comes back and the decoder never runs)."""
    b, lmax = tokens.shape
    dev = tokens.device
    valid = torch.arange(lmax, device=dev)[None, :] < lengths[:, None]
    masked0 = (conf < threshold) & valid
    ys = tokens.masked_fill(masked0, mask_id)
    n_mask = masked0.sum(1)
    if lmax == 0 or int(n_mask.max()) == 0:
        return MaskCTCResult(ys, lengths, masked0, 0)
    k = torch.clamp(n_mask, max=max(1, int(iterations)))  # passes per utterance (0 if nothing masked)
    per_pass = torch.where(k > 0, n_mask // k.clamp(min=1), torch.zeros_like(n_mask))
    total = int(k.max())
    passes = 0
    for p in range(total - 1):
        active = p < (k - 1)  # utterances still in their partial passes
        if not bool(active.any()):
            continue
        lp = decoder_fn(ys, lengths)
        passes += 1
        score, pred = lp.max(-1)
        still = ys == mask_id
        score = score.masked_fill(~still, float("-inf"))
        order = torch.sort(score, dim=1, descending=True, stable=True).indices
        rank = order.argsort(1)
        fill = still & (rank < per_pass[:, None]) & active[:, None]
        ys = torch.where(fill, pred, ys)
    still = ys == mask_id
    if bool(still.any()):
        lp = decoder_fn(ys, lengths)
        passes += 1
        ys = torch.where(still, lp.argmax(-1), ys)
    return MaskCTCResult(ys, lengths, masked0, passes)


def mask_ctc_decode(ctc_log_probs: torch.Tensor, enc_lengths: torch.Tensor, decoder_fn: DecoderFn, *, mask_id: int,
                    blank: int = 0, threshold: float = 0.999, iterations: int = 10) -> MaskCTCResult:
    """Greedy CTC over (B, T, V) log-probs, then :func:`mask_ctc_refine`."""
    tokens, conf, lengths = ctc_greedy(ctc_log_probs, enc_lengths, blank)
    return mask_ctc_refine(tokens, conf, lengths, decoder_fn, mask_id=mask_id, threshold=threshold, iterations=iterations)
