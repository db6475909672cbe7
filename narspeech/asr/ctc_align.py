"""Where CTC puts each token: the frame of its first emission, from a forced (Viterbi) alignment of a
known target (training) or from the greedy CTC path (decoding).

The CTC-aligned decoder input (``model.dec_align``) adds the encoder state at that frame to each
decoder position, so the conditional masked LM knows which stretch of audio a ``<mask>`` stands for
instead of having to learn where its neighbours are.
"""
from __future__ import annotations

import torch


def ctc_forced_frames(log_probs: torch.Tensor, lengths: torch.Tensor, ys: torch.Tensor, ylens: torch.Tensor,
                      blank: int = 0) -> torch.Tensor:
    """Viterbi alignment of targets `ys` (B, L) to CTC log-probs (B, T, V) with `lengths` frames →
    (B, L) frame of each token's first emission (0 at padding). An impossible alignment (fewer frames
    than the target needs) spreads the tokens evenly instead."""
    b, t, _ = log_probs.shape
    lmax = ys.size(1)
    dev = log_probs.device
    s = 2 * lmax + 1
    ext = torch.full((b, s), blank, dtype=torch.long, device=dev)
    ext[:, 1::2] = ys
    emit = log_probs.float().gather(2, ext[:, None, :].expand(b, t, s))  # (B, T, S)
    neg = float("-inf")
    sidx = torch.arange(s, device=dev)
    valid_s = sidx[None, :] < (2 * ylens[:, None] + 1)
    skip_ok = torch.zeros(b, s, dtype=torch.bool, device=dev)  # s-2 -> s allowed: a token differing from the one before
    skip_ok[:, 2:] = (ext[:, 2:] != blank) & (ext[:, 2:] != ext[:, :-2])
    alpha = torch.full((b, s), neg, device=dev)
    alpha[:, 0] = emit[:, 0, 0]
    if s > 1:
        alpha[:, 1] = torch.where(ylens > 0, emit[:, 0, 1], torch.full_like(emit[:, 0, 1], neg))
    alpha = alpha.masked_fill(~valid_s, neg)
    back = torch.zeros(b, t, s, dtype=torch.int8, device=dev)
    for i in range(1, t):
        a1 = torch.cat([torch.full((b, 1), neg, device=dev), alpha[:, :-1]], 1)
        a2 = torch.cat([torch.full((b, 2), neg, device=dev), alpha[:, :-2]], 1).masked_fill(~skip_ok, neg)
        best, arg = torch.stack([alpha, a1, a2], -1).max(-1)
        new = (best + emit[:, i]).masked_fill(~valid_s, neg)
        live = (i < lengths)[:, None]
        alpha = torch.where(live, new, alpha)
        back[:, i] = torch.where(live, arg, torch.zeros_like(arg)).to(torch.int8)
    end_b = 2 * ylens
    fin_b = alpha.gather(1, end_b[:, None])[:, 0]
    fin_t = alpha.gather(1, (end_b - 1).clamp(min=0)[:, None])[:, 0]
    state = torch.where((fin_t > fin_b) & (ylens > 0), end_b - 1, end_b)
    ok = torch.isfinite(torch.maximum(fin_b, torch.where(ylens > 0, fin_t, fin_b)))
    frames = torch.full((b, lmax + 1), t, dtype=torch.long, device=dev)  # +1: a sink for blank states
    rows = torch.arange(b, device=dev)
    for i in range(t - 1, -1, -1):
        tok = torch.where(state % 2 == 1, (state - 1) // 2, torch.full_like(state, lmax))
        frames[rows, tok] = torch.minimum(frames[rows, tok], torch.full_like(tok, i))
        state = state - back[rows, i, state.clamp(max=s - 1)].long()
    frames = frames[:, :lmax]
    spread = (torch.arange(lmax, device=dev)[None, :].float() + 0.5) * lengths[:, None].float() / ylens.clamp(min=1)[:, None].float()
    frames = torch.where(ok[:, None], frames, spread.long())
    frames = torch.minimum(frames, (lengths - 1).clamp(min=0)[:, None])
    return frames.masked_fill(torch.arange(lmax, device=dev)[None, :] >= ylens[:, None], 0)


def ctc_greedy_frames(log_probs: torch.Tensor, lengths: torch.Tensor, blank: int = 0) -> torch.Tensor:
    """(B, L) frame where each token of the greedy CTC output (:func:`narspeech.asr.ctc_decode.ctc_greedy`)
    starts, 0 at padding."""
    b, t, _ = log_probs.shape
    dev = log_probs.device
    best = log_probs.argmax(-1)
    valid = torch.arange(t, device=dev)[None, :] < lengths[:, None]
    prev = torch.cat([torch.full((b, 1), -1, dtype=best.dtype, device=dev), best[:, :-1]], 1)
    start = (best != prev) & valid & (best != blank)
    idx = torch.cumsum(start.long(), 1) - 1
    lmax = max(1, int(start.sum(1).max()) if b else 1)
    frames = torch.zeros(b, lmax, dtype=torch.long, device=dev)
    rows = torch.arange(b, device=dev)[:, None].expand(b, t)
    tt = torch.arange(t, device=dev)[None, :].expand(b, t)
    frames[rows[start], idx[start]] = tt[start]
    return frames
