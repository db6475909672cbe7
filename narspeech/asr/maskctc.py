"""Batched Mask-CTC decoding (Higuchi et al. 2020): greedy CTC, mask the low-confidence tokens,
re-predict them with the conditional masked LM decoder in a few parallel passes.

All utterances of a batch go through each decoder pass together (padding masks keep them
apart); an utterance whose passes are done is left unchanged by the later ones, so a batch
gives exactly what one utterance at a time gives. The schedule follows ESPnet's
``MaskCTCInference``: with ``n`` masked tokens, ``k = min(K, n)`` passes; each of the first
``k − 1`` fills the ``n // k`` most confident masked positions, the last fills the rest.

With a length predictor (Improved Mask-CTC, Higuchi et al. 2021; ``length_fn``), each run of
masked tokens is first merged into one ``<mask>``, the decoder predicts how many tokens it stands
for (0 deletes it, more than the run inserts), and the run is re-expanded to that many masks
before they are filled: CTC's insertions and deletions become fixable, not only substitutions.

With ``frames`` (each token's CTC frame, for decoders that read the CTC-aligned encoder state,
``model.dec_align``), ``decoder_fn`` is called as ``decoder_fn(ys, lengths, frames)``; the frames
follow the tokens through length adjustment (a re-expanded run of masks spreads its tokens evenly
between its first frame and the next token's).
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


def _run_heads(ys: torch.Tensor, lengths: torch.Tensor, mask_id: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(positions kept when each run of consecutive masks is merged into its first, the masks, the non-padding) of `ys` (B, L)."""
    b, lmax = ys.shape
    valid = torch.arange(lmax, device=ys.device)[None, :] < lengths[:, None]
    is_mask = (ys == mask_id) & valid
    prev = torch.cat([torch.zeros(b, 1, dtype=torch.bool, device=ys.device), is_mask[:, :-1]], 1)
    return valid & ~(is_mask & prev), is_mask, valid


def merge_mask_runs(ys: torch.Tensor, lengths: torch.Tensor, mask_id: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Each run of consecutive ``mask_id`` in `ys` (B, L) becomes a single ``mask_id``; returns (ids,
    lengths, run lengths (B, L'): how many masks each merged one replaced, 1 at other tokens)."""
    keep, _, valid = _run_heads(ys, lengths, mask_id)
    out, new_len = _compact(ys, keep)
    slot = (torch.cumsum(keep.long(), 1) - 1).clamp(min=0)  # merged position of every input position
    runs = torch.zeros_like(out).scatter_add_(1, slot, valid.long())
    return out, new_len, runs


def expand_masks(ys: torch.Tensor, lengths: torch.Tensor, counts: torch.Tensor, mask_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Replace each ``mask_id`` of `ys` (B, L) by ``counts`` (B, L) copies of itself (0 removes it);
    other tokens stay single. Returns (ids padded with 0, lengths)."""
    b, lmax = ys.shape
    dev = ys.device
    valid = torch.arange(lmax, device=dev)[None, :] < lengths[:, None]
    reps = torch.where(ys == mask_id, counts.clamp(min=0), torch.ones_like(counts)) * valid
    new_len = reps.sum(1)
    out = torch.zeros(b, max(1, int(new_len.max()) if b else 1), dtype=ys.dtype, device=dev)
    rows = torch.arange(b, device=dev)[:, None].expand(b, lmax)
    flat_reps = reps[valid]
    rep_rows = torch.repeat_interleave(rows[valid], flat_reps)
    rep_vals = torch.repeat_interleave(ys[valid], flat_reps)
    offset = torch.cumsum(new_len, 0) - new_len
    pos = torch.arange(rep_vals.numel(), device=dev) - offset[rep_rows]
    out[rep_rows, pos] = rep_vals
    return out, new_len


def _compact(ys: torch.Tensor, keep: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Keep the `keep` positions of each row of `ys`, left-aligned, padded with 0."""
    b = ys.size(0)
    new_len = keep.sum(1)
    out = torch.zeros(b, max(1, int(new_len.max()) if b else 1), dtype=ys.dtype, device=ys.device)
    pos = torch.cumsum(keep.long(), 1) - 1
    rows = torch.arange(b, device=ys.device)[:, None].expand_as(ys)
    out[rows[keep], pos[keep]] = ys[keep]
    return out, new_len


def _carry_frames(ys: torch.Tensor, lengths: torch.Tensor, frames: torch.Tensor, mask_id: int, counts: torch.Tensor) -> torch.Tensor:
    """The frames of :func:`adjust_mask_lengths`' output: a run of masks re-expanded to m tokens spreads them
    evenly from the run's first frame up to the next token's (m copies of one frame would ask the decoder
    for the same sound m times)."""
    b, dev = ys.size(0), ys.device
    keep, is_mask, valid = _run_heads(ys, lengths, mask_id)
    mframes, mlen = _compact(frames, keep)
    merged, _ = _compact(ys, keep)
    slot = (torch.cumsum(keep.long(), 1) - 1).clamp(min=0)
    runs = torch.zeros_like(merged).scatter_add_(1, slot, valid.long())  # original tokens per merged position
    width = merged.size(1)
    mvalid = torch.arange(width, device=dev)[None, :] < mlen[:, None]
    nxt = torch.cat([mframes[:, 1:], mframes[:, -1:]], 1)
    last = torch.arange(width, device=dev)[None, :] == (mlen - 1).clamp(min=0)[:, None]
    end = torch.where(last, mframes + runs, nxt)
    end = torch.maximum(end, mframes + 1)
    reps = torch.where(merged == mask_id, counts.clamp(min=0), torch.ones_like(counts)) * mvalid
    new_len = reps.sum(1)
    out = torch.zeros(b, max(1, int(new_len.max()) if b else 1), dtype=frames.dtype, device=dev)
    rows = torch.arange(b, device=dev)[:, None].expand_as(merged)
    flat = reps[mvalid]
    rep_rows = torch.repeat_interleave(rows[mvalid], flat)
    rep_start = torch.repeat_interleave(mframes[mvalid], flat)
    rep_end = torch.repeat_interleave(end[mvalid], flat)
    rep_n = torch.repeat_interleave(flat, flat)
    first = torch.repeat_interleave(torch.cumsum(flat, 0) - flat, flat)  # flat index of each element's first copy
    j = torch.arange(rep_start.numel(), device=dev) - first  # copy index within its element
    vals = rep_start + torch.div(j * (rep_end - rep_start), rep_n.clamp(min=1), rounding_mode="floor")
    offset = torch.cumsum(new_len, 0) - new_len
    out[rep_rows, torch.arange(vals.numel(), device=dev) - offset[rep_rows]] = vals.to(frames.dtype)
    return out


def adjust_mask_lengths(ys: torch.Tensor, lengths: torch.Tensor, length_fn: DecoderFn, mask_id: int,
                        slack: int | None = 1, frames: torch.Tensor | None = None):
    """Merge mask runs, predict each merged mask's length with `length_fn` (log-probs over 0..K) and
    expand to that many masks; rows without masks come back unchanged. With `slack` k, a run of n
    masks may only become n−k … n+k tokens (the most likely length in that window): CTC's own count
    is a strong prior and the length head is there to fix its few insertions and deletions; None
    trusts the head alone. With `frames` (B, L), returns (ids, lengths, frames of the new positions)."""
    merged, mlen, runs = merge_mask_runs(ys, lengths, mask_id)
    lp = length_fn(merged, mlen)
    if slack is None:
        counts = lp.argmax(-1)
    else:
        k = torch.arange(lp.size(-1), device=lp.device)
        counts = lp.masked_fill((k - runs[..., None]).abs() > slack, float("-inf")).argmax(-1)
        counts = torch.where(runs - slack >= lp.size(-1), runs, counts)  # beyond the head's classes: CTC's count
    out, new_len = expand_masks(merged, mlen, counts, mask_id)
    if frames is None:
        return out, new_len
    return out, new_len, _carry_frames(ys, lengths, frames, mask_id, counts)


def mask_ctc_refine(tokens: torch.Tensor, conf: torch.Tensor, lengths: torch.Tensor, decoder_fn: DecoderFn, *,
                    mask_id: int, threshold: float = 0.999, iterations: int = 10,
                    length_fn: DecoderFn | None = None, length_slack: int | None = 1,
                    frames: torch.Tensor | None = None) -> MaskCTCResult:
    """Refine greedy-CTC `tokens` (B, L) with confidences `conf`: positions with ``conf < threshold``
    become ``mask_id`` and are filled by `decoder_fn` over `iterations` (K ≥ 1) passes at most.
    Threshold 0 masks nothing, and so does ``iterations=0``: the greedy CTC output comes back and the
    decoder never runs (the zero point of an iteration-count sweep).
    `length_fn` (Improved Mask-CTC) first re-sizes every run of masks (:func:`adjust_mask_lengths`,
    within ``length_slack`` of its CTC length). With `frames` (B, L) the decoder is called
    ``decoder_fn(ys, lengths, frames)``."""
    b, lmax = tokens.shape
    dev = tokens.device
    valid = torch.arange(lmax, device=dev)[None, :] < lengths[:, None]
    masked0 = (conf < threshold) & valid
    if int(iterations) <= 0:
        masked0 = torch.zeros_like(masked0)
    ys = tokens.masked_fill(masked0, mask_id)
    if lmax == 0 or not bool(masked0.any()):
        return MaskCTCResult(ys, lengths, masked0, 0)
    if length_fn is not None:
        if frames is None:
            ys, lengths = adjust_mask_lengths(ys, lengths, length_fn, mask_id, length_slack)
        else:
            ys, lengths, frames = adjust_mask_lengths(ys, lengths, length_fn, mask_id, length_slack, frames)
        lmax = ys.size(1)
        valid = torch.arange(lmax, device=dev)[None, :] < lengths[:, None]
    n_mask = ((ys == mask_id) & valid).sum(1)
    if int(n_mask.max()) == 0:
        return MaskCTCResult(ys, lengths, masked0, 0)
    k = torch.clamp(n_mask, max=max(1, int(iterations)))  # passes per utterance (0 if nothing masked)
    per_pass = torch.where(k > 0, n_mask // k.clamp(min=1), torch.zeros_like(n_mask))
    total = int(k.max())
    passes = 0
    if frames is not None:
        fr = frames

        def decoder_fn(ys_: torch.Tensor, len_: torch.Tensor, _inner=decoder_fn) -> torch.Tensor:
            return _inner(ys_, len_, fr)
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
                    blank: int = 0, threshold: float = 0.999, iterations: int = 10,
                    length_fn: DecoderFn | None = None, length_slack: int | None = 1) -> MaskCTCResult:
    """Greedy CTC over (B, T, V) log-probs, then :func:`mask_ctc_refine`."""
    tokens, conf, lengths = ctc_greedy(ctc_log_probs, enc_lengths, blank)
    return mask_ctc_refine(tokens, conf, lengths, decoder_fn, mask_id=mask_id, threshold=threshold, iterations=iterations,
                           length_fn=length_fn, length_slack=length_slack)
