"""The aligner's quality signals per speaker, and how much two sets of durations differ per speaker.

A pooled aligner can serve one voice well and another badly while the set's means look fine: the
report splits its signals by speaker (``utt2spk``): the within-token spread and boundary contrast
(:mod:`narspeech.tts.durations.quality`), the log-likelihood per frame under the token models, the
share of sounded tokens given the fewest frames allowed (a phone squeezed out by its neighbours' models), and the
pauses: how many punctuation tokens hold one and how much quieter their frames are than the phones'.
"""
from __future__ import annotations

from typing import Mapping

import numpy as np

from narspeech.tts.durations.quality import spread_summary


def _speaker_groups(utts, utt2spk: Mapping[str, str]) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    for u in sorted(utts):
        groups.setdefault(utt2spk.get(u, u), []).append(u)
    return groups


def speaker_report(durations: Mapping[str, np.ndarray], tokens: Mapping[str, np.ndarray], mels: Mapping[str, np.ndarray],
                   utt2spk: Mapping[str, str], *, pause_ids: set[int], spread: Mapping[str, tuple[float, ...]],
                   log_likelihood: Mapping[str, tuple[float, int]] | None = None,
                   min_frames: int = 1) -> dict[str, dict[str, float]]:
    """Per speaker: `spread`/`contrast` and how often they beat the permuted durations (from `spread`, the
    per-utterance :func:`~narspeech.tts.durations.quality.duration_quality` rows), ``log_likelihood_per_frame``
    (from `log_likelihood`: utt → (sum, frames)), ``at_minimum`` (share of the sounded tokens with frames
    that have only `min_frames`, the fewest the aligner allows: one per HMM state), ``pause_share`` (share of `pause_ids` tokens given frames) and ``pause_level``
    (mean log-mel of the pauses' frames minus the phones', lower: pauses sit in quieter frames)."""
    out = {}
    for spk, us in _speaker_groups(durations, utt2spk).items():
        q = spread_summary([spread[u] for u in us])
        row = {"n": len(us), "spread": q["spread"], "spread_better_than_permuted": q["better_than_permuted"],
               "contrast": q["contrast"], "contrast_better_than_permuted": q["contrast_better_than_permuted"]}
        if log_likelihood:
            tot, n = (sum(log_likelihood[u][k] for u in us) for k in (0, 1))
            row["log_likelihood_per_frame"] = tot / max(n, 1)
        sounded, ones, pauses, held, pause_lv, phone_lv = 0, 0, 0, 0, [], []
        for u in us:
            d, t = np.asarray(durations[u]), np.asarray(tokens[u])
            is_pause = np.isin(t, list(pause_ids))
            sounded += int(((d > 0) & ~is_pause).sum())
            ones += int(((d == min_frames) & ~is_pause).sum())
            pauses += int(is_pause.sum())
            held += int((is_pause & (d > 0)).sum())
            level = np.asarray(mels[u]).mean(1)
            owner = np.repeat(is_pause, d)
            pause_lv.append(level[owner])
            phone_lv.append(level[~owner])
        row["at_minimum"] = ones / max(sounded, 1)
        row["pause_share"] = held / pauses if pauses else float("nan")
        p = np.concatenate(pause_lv)
        row["pause_level"] = float(p.mean() - np.concatenate(phone_lv).mean()) if len(p) else float("nan")
        out[spk] = row
    return out


def duration_change(old: Mapping[str, np.ndarray], new: Mapping[str, np.ndarray],
                    utt2spk: Mapping[str, str]) -> dict[str, dict[str, float]]:
    """Per speaker and ``all``: the mean |Δ| frames per token between two durations tables of the same
    tokens (utterances in both with the same token count), and the share of tokens whose duration changed."""
    common = [u for u in old if u in new and len(old[u]) == len(new[u])]
    groups = _speaker_groups(common, utt2spk)
    groups["all"] = sorted(common)
    out = {}
    for spk, us in groups.items():
        delta = np.abs(np.concatenate([np.asarray(new[u]) - np.asarray(old[u]) for u in us])) if us else np.zeros(0)
        out[spk] = {"n_utts": len(us), "n_tokens": int(len(delta)),
                    "mean_abs_delta": float(delta.mean()) if len(delta) else float("nan"),
                    "changed": float((delta > 0).mean()) if len(delta) else float("nan")}
    return out
