"""Whose voice is it? Speaker similarity and identification of a synthesis against held-out recordings.

Every waveform is embedded with the GE2E speaker encoder (:mod:`narspeech.audio.speaker_encoder`). For an
utterance ``u`` of speaker ``s``, the speaker's *reference* is the mean embedding of s's held-out recordings
other than ``u`` (leave one out, so the recording of the same sentence never scores itself). Then:

* **similarity** — cosine(synthesis of u, reference); the **ceiling** is the same score for the recording of
  u (recordings vs recordings), the **floor** the recording of u against the other speakers' references
  (or, with a one-speaker test set, the training centroids of the other speakers). ``position`` =
  (similarity − floor) / (ceiling − floor): 1 is as close as another recording of the voice, 0 as close as
  someone else;
* **identification** — the nearest (cosine) of the training speakers' centroids (``spk_embed.scp`` of
  ``narspeech feats spk-embed`` on the training set), for the synthesis and for the recordings;
* **F0** — each speaker's mean F0 over voiced frames, synthesis against recordings (``f0`` per utterance given
  by the caller).

Per speaker and overall (means over utterances; ``speakers_mean`` averages the per-speaker figures, so a
speaker with more test sentences does not weigh more).
"""
from __future__ import annotations

import statistics
from typing import Mapping

import numpy as np

from narspeech.errors import NarspeechError
from narspeech.metrics.speaker import cosine, nearest_centroid, unit


def _mean(xs) -> float | None:
    xs = [x for x in xs if x is not None and x == x]
    return statistics.fmean(xs) if xs else None


def _position(sim, floor, ceil) -> float | None:
    if sim is None or floor is None or ceil is None or ceil - floor <= 1e-9:
        return None
    return (sim - floor) / (ceil - floor)


def speaker_scores(syn_emb: Mapping[str, np.ndarray], ref_emb: Mapping[str, np.ndarray], utt2spk: Mapping[str, str],
                   centroids: Mapping[str, np.ndarray] | None = None,
                   f0: Mapping[str, tuple[float | None, float | None]] | None = None) -> dict:
    """Scores from embeddings (keyed by utterance): see the module docstring. `utt2spk`: the speaker each line
    was synthesised as (= the speaker of its recording). `f0`: utt → (recording's, synthesis's) mean voiced F0."""
    utts = sorted(u for u in syn_emb if u in ref_emb and u in utt2spk)
    if not utts:
        raise NarspeechError("speaker scoring: no utterance has a synthesis, a recording and a speaker")
    by_spk: dict[str, list[str]] = {}
    for u in utts:
        by_spk.setdefault(utt2spk[u], []).append(u)
    sums = {s: np.sum([unit(ref_emb[u]) for u in us], axis=0) for s, us in by_spk.items()}
    means = {s: unit(v) for s, v in sums.items()}
    wrong_refs = dict(means)
    if len(means) < 2 and centroids:  # one test speaker: the other voices come from the training centroids
        wrong_refs.update({s: unit(v) for s, v in centroids.items() if s not in means})
    per_utt = {}
    for u in utts:
        s = utt2spk[u]
        n = len(by_spk[s])
        ref = unit(sums[s] - unit(ref_emb[u])) if n > 1 else means[s]
        others = [r for name, r in wrong_refs.items() if name != s]
        row = {"speaker": s, "similarity": cosine(syn_emb[u], ref), "ceiling": cosine(ref_emb[u], ref) if n > 1 else None,
               "floor": _mean([cosine(ref_emb[u], r) for r in others]) if others else None,
               "synth_wrong": _mean([cosine(syn_emb[u], r) for r in others]) if others else None}
        if centroids:
            row["id_synth"] = nearest_centroid(syn_emb[u], centroids)[0]
            row["id_ref"] = nearest_centroid(ref_emb[u], centroids)[0]
        if f0 is not None and u in f0:
            row["f0_ref"], row["f0_synth"] = f0[u]
        per_utt[u] = row

    def summary(us: list[str]) -> dict:
        rows = [per_utt[u] for u in us]
        out = {"utterances": len(us)}
        for k in ("similarity", "ceiling", "floor", "synth_wrong"):
            out[k] = _mean(r[k] for r in rows)
        out["position"] = _position(out["similarity"], out["floor"], out["ceiling"])
        if centroids:
            known = [r for r in rows if r["speaker"] in centroids]
            out["id_acc_synth"] = _mean(float(r["id_synth"] == r["speaker"]) for r in known) if known else None
            out["id_acc_ref"] = _mean(float(r["id_ref"] == r["speaker"]) for r in known) if known else None
            out["id_ratio"] = (out["id_acc_synth"] / out["id_acc_ref"]) if known and out["id_acc_ref"] else None
            out["nearest_synth"] = dict(sorted(_count(r["id_synth"] for r in rows).items()))
        if f0 is not None:
            out["f0_ref_hz"] = _mean(r.get("f0_ref") for r in rows)
            out["f0_synth_hz"] = _mean(r.get("f0_synth") for r in rows)
        return out

    per_spk = {s: summary(us) for s, us in sorted(by_spk.items())}
    overall = summary(utts)
    keys = ("similarity", "ceiling", "floor", "position", "id_acc_synth", "id_acc_ref")
    overall["speakers_mean"] = {k: _mean(p.get(k) for p in per_spk.values()) for k in keys}
    overall["speakers_mean"]["position"] = _position(overall["speakers_mean"]["similarity"],
                                                     overall["speakers_mean"]["floor"], overall["speakers_mean"]["ceiling"])
    return {"overall": overall, "per_speaker": per_spk, "per_utterance": per_utt,
            "centroids": sorted(centroids) if centroids else None}


def _count(xs) -> dict[str, int]:
    out: dict[str, int] = {}
    for x in xs:
        out[x] = out.get(x, 0) + 1
    return out


def mean_voiced_f0(f0: np.ndarray) -> float | None:
    """Mean F0 (Hz) over the voiced frames (> 0); None with no voiced frame."""
    v = np.asarray(f0)[np.asarray(f0) > 0]
    return float(v.mean()) if len(v) else None


def format_speaker_table(sp: Mapping, intel: Mapping | None = None) -> str:
    """One row per speaker, one overall and the mean over speakers: similarity on the floor→ceiling scale,
    identification accuracy, mean F0 and (with `intel`, the ``intelligibility`` results) the WER ratio."""
    def f(x, fmt=".2f"):
        return "n/a" if x is None or x != x else format(x, fmt)

    per_wer = (intel or {}).get("per_speaker") or {}
    wer = {name: r.get("wer_ratio") for name, r in per_wer.items()}
    wer["all"] = (intel or {}).get("wer_ratio")
    wer["spk-mean"] = _mean(r.get("wer_ratio") for r in per_wer.values())
    head = (f"{'speaker':<10} {'n':>3} {'sim':>6} {'ceil':>6} {'floor':>6} {'pos':>6} {'ID syn':>7} {'ID rec':>7} "
            f"{'F0 syn':>7} {'F0 rec':>7} {'WERx':>6}")
    lines = [head]
    m = dict(sp["overall"]["speakers_mean"], utterances="")
    rows = list(sp["per_speaker"].items()) + [("all", sp["overall"]), ("spk-mean", m)]
    for name, r in rows:
        lines.append(f"{name:<10} {r['utterances']:>3} {f(r['similarity']):>6} {f(r['ceiling']):>6} {f(r['floor']):>6} "
                     f"{f(r['position']):>6} {f(r.get('id_acc_synth')):>7} {f(r.get('id_acc_ref')):>7} "
                     f"{f(r.get('f0_synth_hz'), '.0f'):>7} {f(r.get('f0_ref_hz'), '.0f'):>7} {f(wer.get(name)):>6}")
    return "\n".join(lines)
