"""Token durations from an AR teacher's encoder-decoder attention (FastSpeech, Ren et al. 2019).

Pure functions here; batched extraction over a data set is in :mod:`narspeech.tts.durations.extract`.
"""
from __future__ import annotations

import numpy as np
import torch


def focus_rate(attn: torch.Tensor | np.ndarray) -> float:
    """Mean over decoder steps of the largest attention weight: (T_dec, N) -> F in (0, 1].

    1.0 means every step attends to a single token (a sharp alignment); FastSpeech picks the
    head with the highest F and drops utterances whose F is low."""
    a = torch.as_tensor(attn, dtype=torch.float32)
    if a.numel() == 0:
        return 0.0
    return float(a.max(dim=-1).values.mean())


def focus_rates(attn: torch.Tensor, dec_lengths: torch.Tensor, tok_lengths: torch.Tensor) -> torch.Tensor:
    """Batched focus rate of every head: attn (B, ..., T_dec, N) -> (B, ...) over valid steps only."""
    t_ok = torch.arange(attn.size(-2), device=attn.device)[None, :] < dec_lengths[:, None]  # (B, T)
    n_ok = torch.arange(attn.size(-1), device=attn.device)[None, :] < tok_lengths[:, None]  # (B, N)
    extra = attn.dim() - 3
    shape_t = (attn.size(0),) + (1,) * extra + (attn.size(-2),)
    shape_n = (attn.size(0),) + (1,) * extra + (1, attn.size(-1))
    a = attn.float().masked_fill(~n_ok.view(shape_n), 0.0)
    peak = a.max(dim=-1).values * t_ok.view(shape_t)
    return peak.sum(-1) / dec_lengths.view((-1,) + (1,) * extra).float().clamp(min=1)


def durations_from_attention(attn: torch.Tensor | np.ndarray, n_frames: int, r: int = 1) -> np.ndarray:
    """Frames per token from one head's attention (T_dec, N_tok) of a teacher with reduction factor r.

    Each decoder step is given to the token it attends to most (argmax); step t covers
    frames [t·r, (t+1)·r), the last step only up to `n_frames`, so ``sum(d) == n_frames``.
    Tokens never chosen get 0 frames.
    """
    a = torch.as_tensor(attn, dtype=torch.float32)
    t_dec, n_tok = a.shape
    need = -(-n_frames // r)
    if t_dec < need:
        raise ValueError(f"attention has {t_dec} decoder steps, need {need} for {n_frames} frames at r={r}")
    a = a[:need]
    per_step = np.full(need, r, dtype=np.int64)
    per_step[-1] = n_frames - (need - 1) * r
    d = np.zeros(n_tok, dtype=np.int64)
    np.add.at(d, a.argmax(dim=-1).numpy(), per_step)
    return d


def monotonic_durations(attn: torch.Tensor | np.ndarray, n_frames: int, r: int = 1, max_skip: int = 1) -> np.ndarray:
    """Like :func:`durations_from_attention`, but the token sequence over decoder steps is forced to be
    monotonic: the path starts at token 0, ends at token N−1 and moves by 0…1+max_skip tokens per
    step, maximising the summed log attention (Viterbi). Leading/trailing silence then belongs to
    the first/last token, and a stray step attending far away cannot steal frames; a token is left
    at 0 frames only when skipped (at most `max_skip` in a row)."""
    a = torch.as_tensor(attn, dtype=torch.float64)
    need = -(-n_frames // r)
    if a.shape[0] < need:
        raise ValueError(f"attention has {a.shape[0]} decoder steps, need {need} for {n_frames} frames at r={r}")
    logp = torch.log(a[:need].clamp(min=1e-8)).numpy()
    t_dec, n_tok = logp.shape
    neg = -1e30
    score = np.full((t_dec, n_tok), neg)
    back = np.zeros((t_dec, n_tok), dtype=np.int64)
    score[0, 0] = logp[0, 0]
    for t in range(1, t_dec):
        best = score[t - 1].copy()
        arg = np.zeros(n_tok, dtype=np.int64)
        for k in range(1, 2 + max_skip):
            shifted = np.full(n_tok, neg)
            shifted[k:] = score[t - 1, :-k]
            better = shifted > best
            best = np.where(better, shifted, best)
            arg = np.where(better, k, arg)
        score[t] = best + logp[t]
        back[t] = arg
    end = n_tok - 1
    if score[-1, end] <= neg / 2:  # too few steps to reach the last token: end where reachable
        end = int(np.argmax(score[-1]))
    path = np.empty(t_dec, dtype=np.int64)
    path[-1] = end
    for t in range(t_dec - 1, 0, -1):
        path[t - 1] = path[t] - back[t, path[t]]
    per_step = np.full(t_dec, r, dtype=np.int64)
    per_step[-1] = n_frames - (t_dec - 1) * r
    d = np.zeros(n_tok, dtype=np.int64)
    np.add.at(d, path, per_step)
    return d
