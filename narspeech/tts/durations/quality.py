"""How good a set of durations is without a reference: spread within tokens, contrast at boundaries, agreement."""
from __future__ import annotations

import numpy as np
import torch


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
    it separates real boundaries from the even split on speech too. NaN when no boundary qualifies."""
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
    correct boundaries (a flat-start HMM aligner can miss it). The permutation keeps the
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


def spread_summary(rows: list[tuple[float, ...]]) -> dict[str, float]:
    """Means of the per-utterance :func:`duration_quality` tuples and how often
    the durations beat each baseline (lower spread, higher boundary contrast)."""
    if not rows:
        return {}
    s = np.array(rows, dtype=np.float64)
    out = {"spread": float(s[:, 0].mean()), "even_split_spread": float(s[:, 1].mean()),
           "permuted_spread": float(s[:, 2].mean()), "better_than_even": float((s[:, 0] < s[:, 1]).mean()),
           "better_than_permuted": float((s[:, 0] < s[:, 2]).mean()), "n": len(rows)}
    ok = ~np.isnan(s[:, 3:6]).any(1)  # utterances too short for a boundary
    c = s[ok, 3:6] if ok.any() else np.full((1, 3), np.nan)
    out.update({"contrast": float(c[:, 0].mean()), "even_split_contrast": float(c[:, 1].mean()),
                "permuted_contrast": float(c[:, 2].mean()), "contrast_better_than_even": float((c[:, 0] > c[:, 1]).mean()),
                "contrast_better_than_permuted": float((c[:, 0] > c[:, 2]).mean())})
    return out


def format_spread(q: dict[str, float]) -> str:
    """The duration-quality lines of a report, with a warning when the durations ignore the audio:
    their boundary contrast no more than 10 % above their own permutation's."""
    s = (f"duration quality (share of mel variance left within tokens, lower is better): {q['spread']:.3f}; "
         f"the same durations shuffled {q['permuted_spread']:.3f} (beaten in {q['better_than_permuted']:.0%} of utterances); "
         f"an even split {q['even_split_spread']:.3f} (beaten in {q['better_than_even']:.0%})")
    s += ("\nboundary contrast (spectral change at the token boundaries / on average, higher is better): "
          f"{q['contrast']:.2f}; shuffled {q['permuted_contrast']:.2f} (beaten in {q['contrast_better_than_permuted']:.0%} "
          f"of utterances); an even split {q['even_split_contrast']:.2f} (beaten in {q['contrast_better_than_even']:.0%})")
    if not q["contrast"] > 1.1 * q["permuted_contrast"]:
        s += ("\nwarning: these durations barely follow the audio (no better than their own random permutation): "
              "train the teacher longer, trim edge silence, check its attention plots, or use `tts align`")
    return s
