"""Token durations from an AR teacher's encoder-decoder attention (FastSpeech, Ren et al. 2019).

Pure functions here; batched extraction over a data set is in :mod:`narspeech.tts.extract`.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from narspeech.errors import NarspeechError
from narspeech.fileio import read_table


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


def read_durations(path: str | Path) -> dict[str, np.ndarray]:
    """Read a `durations` file (``utt d1 … dN``) into int64 arrays, with errors naming the line's utt."""
    out = {}
    for utt, value in read_table(path).items():
        try:
            d = np.array([int(v) for v in value.split()], dtype=np.int64)
        except ValueError:
            raise NarspeechError(f"durations must be integers, got {value[:60]!r}", utt=utt, path=path) from None
        if (d < 0).any():
            raise NarspeechError("negative duration", utt=utt, path=path)
        out[utt] = d
    return out


def read_filtered(durations_path: str | Path) -> dict[str, float]:
    """Utterances the teacher's duration extraction dropped (``filtered`` beside `durations`)."""
    p = Path(durations_path).parent / "filtered"
    if not p.is_file():
        return {}
    return {u: float(v.split()[0]) for u, v in read_table(p, check_sorted=False).items()}


def check_durations(utt: str, d: np.ndarray, n_tokens: int, n_frames: int, path: str | Path) -> None:
    """Raise a NarspeechError naming the utt and file when durations disagree with tokens or frames."""
    if len(d) != n_tokens:
        raise NarspeechError(f"{len(d)} durations but {n_tokens} tokens (durations from another token file?)", utt=utt, path=path)
    if int(d.sum()) != n_frames:
        raise NarspeechError(f"durations sum to {int(d.sum())} frames but the features have {n_frames} "
                             "(durations from another dump or hop size?)", utt=utt, path=path)


def _mel_and_durations(mel: torch.Tensor | np.ndarray, durations: np.ndarray) -> tuple[torch.Tensor, np.ndarray]:
    """mel as float64 (T, M), durations as int64, checked to cover exactly its frames."""
    x = torch.as_tensor(mel, dtype=torch.float64)
    d = np.asarray(durations, dtype=np.int64)
    if int(d.sum()) != x.shape[0]:
        raise ValueError(f"durations sum to {int(d.sum())}, the mel has {x.shape[0]} frames")
    return x, d


def within_token_spread(mel: torch.Tensor | np.ndarray, durations: np.ndarray) -> float:
    """Share of the utterance's mel variance left inside the tokens' segments (lower is better).

    ``Σ_tokens Σ_frames ||x − mean(segment)||² / Σ_frames ||x − mean(utterance)||²`` for
    mel (T, M) cut into consecutive segments of `durations` frames (zero-length tokens own
    nothing). Durations that follow the audio put phone boundaries at spectral changes, so each
    segment is homogeneous; durations that ignore the audio leave as much spread as any cut."""
    x, d = _mel_and_durations(mel, durations)
    total = float(((x - x.mean(0)) ** 2).sum())
    if total <= 0.0:
        return 0.0
    seg = torch.repeat_interleave(torch.arange(len(d)), torch.as_tensor(d))
    n = torch.bincount(seg, minlength=len(d)).clamp(min=1).double()[:, None]
    means = torch.zeros(len(d), x.shape[1], dtype=torch.float64).index_add_(0, seg, x) / n
    return float(((x - means[seg]) ** 2).sum()) / total


def even_split(n_frames: int, n_tokens: int) -> np.ndarray:
    """The same frames cut into `n_tokens` segments as equal as possible: the no-information baseline."""
    d = np.full(n_tokens, n_frames // n_tokens, dtype=np.int64)
    d[: n_frames % n_tokens] += 1
    return d


def permuted(durations: np.ndarray, seed: int = 0) -> np.ndarray:
    """The same non-zero durations in a seeded random order (zeros stay where they are)."""
    d = np.asarray(durations, dtype=np.int64).copy()
    nz = d[d > 0]
    np.random.default_rng(seed).shuffle(nz)
    d[d > 0] = nz
    return d


CONTRAST_WIDTH = 2  # frames averaged on each side of a boundary


def boundary_contrast(mel: torch.Tensor | np.ndarray, durations: np.ndarray, width: int = CONTRAST_WIDTH) -> float:
    """Spectral change across the tokens' boundaries relative to the utterance's average (higher is better).

    The change at frame i is ``||mean(x[i:i+w]) − mean(x[i−w:i])||²``; the score is its mean over the
    distinct internal boundaries of `durations` (those with `width` frames on both sides) divided by its
    mean over every such frame position. About 1 for boundaries placed anywhere (an even split, a
    teacher marching through the text at a constant pace), above 1 for boundaries at the spectral changes
    that phone transitions make. Unlike the within-token spread it does not grow with segment length, so
    it separates real boundaries from the even split on speech too (arctic_fb train, 3-state aligner:
    1.26; the same durations shuffled 0.98, an even split 0.88). NaN when no boundary qualifies."""
    x, d = _mel_and_durations(mel, durations)
    return _contrast(_local_change(x, width), d, width)


def _local_change(x: torch.Tensor, w: int) -> torch.Tensor:
    """``||mean(x[i:i+w]) − mean(x[i−w:i])||²`` for i = w … T−w (entry i − w); empty when T < 2w + 1."""
    t = x.shape[0]
    if t < 2 * w + 1:
        return x.new_zeros(0)
    c = torch.cat([x.new_zeros(1, x.shape[1]), x.cumsum(0)])
    pos = torch.arange(w, t - w + 1)
    return (((c[pos + w] - c[pos]) - (c[pos] - c[pos - w])) / w).pow(2).sum(-1)


def _contrast(change: torch.Tensor, d: np.ndarray, w: int) -> float:
    """Mean `change` at the distinct internal boundaries of `d` over its mean everywhere (NaN: none usable)."""
    t = int(d.sum())
    b = np.unique(np.cumsum(d)[:-1])
    b = b[(b >= w) & (b <= t - w)]
    mean = float(change.mean()) if len(change) else 0.0
    if len(b) == 0 or mean <= 0.0:
        return float("nan")
    return float(change[torch.as_tensor(b - w)].mean()) / mean


def duration_quality(mel: torch.Tensor | np.ndarray, durations: np.ndarray) -> tuple[float, ...]:
    """``(spread, even, shuffled, contrast, contrast_even, contrast_shuffled)``: the within-token spread
    (:func:`within_token_spread`) and the boundary contrast (:func:`boundary_contrast`) of `durations`,
    of the even split over the tokens that got frames, and of the same durations in a random order.

    The even split carries no information about the audio, but it also has no long segments, and
    spread grows with segment length, so on slowly varying speech the spread is a hard bar even for
    correct boundaries (a flat-start HMM aligner misses it on arctic_fb). The permutation keeps the
    segment lengths and only destroys their placement. The boundary contrast does not depend on the
    segment lengths: durations that follow the audio must beat both baselines on it clearly."""
    x, d = _mel_and_durations(mel, durations)
    n_used = max(int((d > 0).sum()), 1)
    even, shuffled = even_split(int(d.sum()), n_used), permuted(d)
    w = CONTRAST_WIDTH
    change = _local_change(x, w)  # the utterance's change curve, once for all three
    return (within_token_spread(x, d), within_token_spread(x, even), within_token_spread(x, shuffled),
            _contrast(change, d, w), _contrast(change, even, w), _contrast(change, shuffled, w))


def boundary_agreement(durations: dict[str, np.ndarray], reference: dict[str, np.ndarray], tolerance: int = 2) -> dict[str, float]:
    """How close token boundaries (cumulative frame positions) are to a reference alignment's, over the
    utterances both have with the same token count: mean absolute offset in frames and the share of
    boundaries within `tolerance` frames (the usual forced-alignment score: within 20 ms)."""
    offsets = []
    for utt, d in durations.items():
        r = reference.get(utt)
        if r is None or len(r) != len(d) or int(r.sum()) != int(d.sum()):
            continue
        offsets.append(np.abs(np.cumsum(d)[:-1] - np.cumsum(r)[:-1]))
    if not offsets:
        return {"n_utts": 0}
    o = np.concatenate(offsets)
    return {"n_utts": len(offsets), "mean_offset_frames": float(o.mean()), f"within_{tolerance}_frames": float((o <= tolerance).mean())}
