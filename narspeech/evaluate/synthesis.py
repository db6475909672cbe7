"""Objective TTS evaluation of a synthesis directory against held-out recordings.

For every utterance present in both ``SYNTH/wav.scp`` and ``REF/wav.scp``, both waveforms
are resampled to the synthesis feature rate and analysed with the **same**
:class:`~narspeech.audio.features.FeatureConfig` (the model's, from
``SYNTH/synth_info.json``; batched log-mel + F0 by :func:`compute_features`). Then:

* MCD (dB) along the DTW path between mel-cepstra 1..24 (SPTK scale) — see :mod:`narspeech.metrics.mcd`
  for why these absolute values are not comparable with SPTK-``mcep`` MCDs in papers
  (system comparisons under the same vocoder and config are);
* F0 RMSE (Hz, cents) over frame pairs of that path voiced in both, and the voicing
  decision error — :mod:`narspeech.metrics.f0`;
* MCD including c0 (the level), on its own DTW path (with c0 the alignment also
  follows loudness), and along that path: voiced-frame precision/recall/F1 against the
  recording, the correlation of the frame levels (loud and quiet at the right places) and
  the near-floor ("silence") decision error — :mod:`narspeech.metrics.spectral`;
* silence fractions (frames more than `floor_db` dB below the recording's peak) and the
  temporal variance ratio of the mel (a stationary blur is << 1);
* the duration ratio (synthesis frames / recording frames);
* intelligibility: WER/CER of an ASR on the synthesis and on the recordings, and their
  ratio — :mod:`narspeech.evaluate.intelligibility` (per-utterance ``hyp_synth``/``hyp_ref``);
* for several voices (a synthesis with ``utt2spk``, or training-speaker centroids given): speaker similarity
  on the wrong-speaker → recordings scale, speaker identification and mean F0, per speaker and overall, and
  the WER ratio per speaker — :mod:`narspeech.evaluate.speaker` (per-utterance ``spk_scores.json``).

Summary statistics are means (and std) over utterances; voicing and WER are corpus-level
(summed counts). ``results["headline"]`` holds the numbers a report leads with
(:mod:`narspeech.evaluate.headline`). The results name the model,
checkpoint, config hash, controls and vocoder that produced the synthesis.
"""
from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from narspeech.audio.features import FeatureConfig, compute_features
from narspeech.audio.io import audio_info, guess_base, load_audio, resolve_entry
from narspeech.audio.speaker_encoder import embed_waveforms
from narspeech.audio.spk_embed import read_embeddings
from narspeech.device import resolve_device
from narspeech.errors import NarspeechError
from narspeech.evaluate.headline import headline
from narspeech.evaluate.intelligibility import intelligibility
from narspeech.evaluate.speaker import mean_voiced_f0, speaker_scores
from narspeech.fileio import atomic_write, read_table, write_table
from narspeech.metrics.f0 import f0_errors, voicing_f1
from narspeech.metrics.mcd import DEFAULT_ORDER, mcd_dtw, mel_cepstrum, speech_span
from narspeech.metrics.spectral import DEFAULT_FLOOR_DB, level_scores
from narspeech.progress import progress

METHOD_NOTE = ("MCD from the cosine-series cepstrum (SPTK scale: DCT-II / 2N) of the natural-log magnitude mel "
               "spectrum (coefficients 1..order, no c0), DTW-aligned; not SPTK mcep: absolute values differ from papers, comparisons between systems "
               "under the same vocoder and feature config are valid")


def summary_stats(values: Sequence[float]) -> dict[str, float]:
    """mean / std / median / n of the values that are not NaN (NaN fields when none)."""
    vals = [v for v in values if v == v]  # drop NaN (e.g. no voiced frame pairs)
    if not vals:
        return {"mean": float("nan"), "std": float("nan"), "median": float("nan"), "n": 0}
    return {"mean": statistics.fmean(vals), "std": statistics.pstdev(vals) if len(vals) > 1 else 0.0,
            "median": statistics.median(vals), "n": len(vals)}


def _ref_base(ref_dir: Path, scp: dict[str, str]) -> Path:
    return guess_base(ref_dir, scp)


def analyse(wavs: Sequence[np.ndarray], cfg, device: torch.device, batch_size: int = 16) -> list[tuple[np.ndarray, np.ndarray]]:
    """(log-mel (T, n_mels), F0 (T,)) of each waveform, computed in padded batches on `device`."""
    out: list[tuple[np.ndarray, np.ndarray]] = [None] * len(wavs)  # type: ignore[list-item]
    order = sorted(range(len(wavs)), key=lambda i: -len(wavs[i]))
    for s in range(0, len(order), batch_size):
        idx = order[s : s + batch_size]
        lengths = torch.tensor([len(wavs[i]) for i in idx], dtype=torch.long)
        pad = torch.zeros(len(idx), int(lengths.max()))
        for k, i in enumerate(idx):
            pad[k, : len(wavs[i])] = torch.from_numpy(np.asarray(wavs[i], dtype=np.float32))
        feats = compute_features(pad.to(device), lengths.to(device), cfg)
        for i, (mel, f0, _) in zip(idx, feats.unbatch()):
            out[i] = (mel, f0)
    return out


def evaluate_synthesis(synth_dir: str | Path, ref_dir: str | Path, *, out: str | Path | None = None, order: int = DEFAULT_ORDER,
                       band: int | None = None, device: str | torch.device = "cpu", batch_size: int = 16,
                       skip_bad: bool = False, trim_db: float | None = None, asr=None,
                       floor_db: float = DEFAULT_FLOOR_DB, asr_cache: str | Path | None = None,
                       spk_centroids: str | Path | None = None) -> dict:
    """Score ``synth_dir`` against the recordings of data dir ``ref_dir``; write results and per-utterance scores.

    Writes `out` (default ``SYNTH/results.json``) and, beside it, ``mcd`` (``utt dB``) and
    ``f0_rmse`` (``utt hz cents vde voiced_pairs``). A missing or unreadable wav raises,
    naming the utterance and file, unless `skip_bad` (then it is listed under ``skipped``).
    `trim_db`: cut leading/trailing silence (frames more than `trim_db` dB below each
    utterance's loudest) from both sides before scoring, so long pauses in the recordings
    do not dominate; the duration ratio is then of the trimmed lengths.
    `asr`: a :class:`~narspeech.evaluate.intelligibility.Recognizer` (None: no intelligibility);
    it transcribes the untrimmed synthesis and recordings, scored against ``REF/text``.
    `floor_db`: a frame is "near the floor" when more than this many dB below the recording's peak.
    `asr_cache`: a folder keeping transcripts by audio content (the recordings are decoded once per recipe).
    `spk_centroids`: the training speakers' mean embeddings (``spk_embed.scp``) for speaker identification;
    speaker scores run with it or when the synthesis has an ``utt2spk`` (a multi-speaker model).
    """
    synth_dir, ref_dir = Path(synth_dir), Path(ref_dir)
    out = Path(out) if out is not None else synth_dir / "results.json"
    dev = resolve_device(device) if isinstance(device, str) else device
    syn_scp = read_table(synth_dir / "wav.scp")
    ref_scp = read_table(ref_dir / "wav.scp")
    base = _ref_base(ref_dir, ref_scp)
    info_path = synth_dir / "synth_info.json"
    info = json.loads(info_path.read_text(encoding="utf-8")) if info_path.is_file() else {}
    if info.get("feats"):
        cfg = FeatureConfig.from_dict(info["feats"])
    else:  # a synthesis from elsewhere: default features at its own rate
        first = next(iter(syn_scp))
        cfg = FeatureConfig.for_rate(audio_info(resolve_entry(syn_scp[first], synth_dir), utt=first)[0])
    common = [u for u in syn_scp if u in ref_scp]
    if not common:
        raise NarspeechError(f"no utterance id is in both {synth_dir / 'wav.scp'} and {ref_dir / 'wav.scp'}")
    missing_synth = sorted(set(ref_scp) - set(syn_scp))
    no_ref = sorted(set(syn_scp) - set(ref_scp))

    skipped: dict[str, str] = {}
    pairs: list[tuple[str, np.ndarray, np.ndarray]] = []
    for utt in progress(common, desc="load audio", unit="utt"):
        try:
            syn, _ = load_audio(resolve_entry(syn_scp[utt], synth_dir), utt=utt, target_sr=cfg.sample_rate)
            ref, _ = load_audio(resolve_entry(ref_scp[utt], base), utt=utt, target_sr=cfg.sample_rate)
        except NarspeechError as e:
            if not skip_bad:
                raise
            skipped[utt] = str(e)
            continue
        pairs.append((utt, ref, syn))
    if not pairs:
        raise NarspeechError("no utterance could be read for evaluation", path=synth_dir)

    feats = analyse([p[1] for p in pairs] + [p[2] for p in pairs], cfg, dev, batch_size)
    n = len(pairs)
    per_utt: dict[str, dict] = {}
    mean_f0: dict[str, tuple] = {}
    for k, (utt, _, _) in enumerate(progress(pairs, desc="score", unit="utt")):
        (ref_mel, ref_f0), (syn_mel, syn_f0) = feats[k], feats[n + k]
        if trim_db is not None:
            rs, ss = speech_span(ref_mel, trim_db), speech_span(syn_mel, trim_db)
            ref_mel, ref_f0, syn_mel, syn_f0 = ref_mel[rs], ref_f0[rs], syn_mel[ss], syn_f0[ss]
        mean_f0[utt] = (mean_voiced_f0(ref_f0), mean_voiced_f0(syn_f0))
        mcd, path = mcd_dtw(mel_cepstrum(ref_mel, order), mel_cepstrum(syn_mel, order), band=band)
        mcd_c0, path0 = mcd_dtw(mel_cepstrum(ref_mel, order, with_c0=True), mel_cepstrum(syn_mel, order, with_c0=True), band=band)
        v = f0_errors(ref_f0, syn_f0, path0)
        per_utt[utt] = {"mcd": mcd, **f0_errors(ref_f0, syn_f0, path), "duration_ratio": len(syn_mel) / len(ref_mel),
                        "mcd_c0": mcd_c0, "voicing": {"both": v["voiced_pairs"], "ref": v["ref_voiced"], "syn": v["syn_voiced"]},
                        **level_scores(ref_mel, syn_mel, path0, floor_db)}

    utt2spk = _speakers_of(synth_dir, ref_dir) if (spk_centroids is not None or (synth_dir / "utt2spk").is_file()) else None
    spk = None
    if utt2spk is not None:
        utts = [p[0] for p in pairs]
        syn_e = embed_waveforms([p[2] for p in pairs], cfg.sample_rate, str(dev), pad_short=True)
        ref_e = embed_waveforms([p[1] for p in pairs], cfg.sample_rate, str(dev))
        spk = speaker_scores(dict(zip(utts, syn_e)), dict(zip(utts, ref_e)), utt2spk,
                             read_embeddings(spk_centroids) if spk_centroids is not None else None, mean_f0)

    intel = None
    if asr is not None:
        text_path = ref_dir / "text"
        if not text_path.is_file():
            raise NarspeechError("intelligibility needs the references' text (or use --asr none)", path=text_path)
        texts = read_table(text_path)
        intel = intelligibility(texts, {p[0]: p[2] for p in pairs}, {p[0]: p[1] for p in pairs},
                                cfg.sample_rate, asr, out_dir=out.parent, cache_dir=asr_cache, utt2spk=utt2spk)

    write_table(out.parent / "mcd", {u: f"{s['mcd']:.4f}" for u, s in per_utt.items()})
    write_table(out.parent / "f0_rmse", {u: f"{s['f0_rmse_hz']:.3f} {s['f0_rmse_cents']:.2f} {s['vde']:.4f} {s['voiced_pairs']}"
                                         for u, s in per_utt.items()})
    scores = list(per_utt.values())
    counts = {k: sum(s["voicing"][k] for s in scores) for k in ("both", "ref", "syn")}
    results = {
        "synth_dir": str(synth_dir.resolve()),
        "ref_dir": str(ref_dir.resolve()),
        "utterances": len(per_utt),
        "mcd_db": summary_stats([s["mcd"] for s in scores]),
        "f0_rmse_hz": summary_stats([s["f0_rmse_hz"] for s in scores]),
        "f0_rmse_cents": summary_stats([s["f0_rmse_cents"] for s in scores]),
        "vde": summary_stats([s["vde"] for s in scores]),
        "duration_ratio": summary_stats([s["duration_ratio"] for s in scores]),
        "mcd_c0_db": summary_stats([s["mcd_c0"] for s in scores]),
        "voiced_pairs": sum(s["voiced_pairs"] for s in scores),
        "utterances_without_voiced_pairs": sum(s["voiced_pairs"] == 0 for s in scores),
        "voicing": {**voicing_f1(counts["both"], counts["ref"], counts["syn"]), "both_voiced": counts["both"],
                    "ref_voiced": counts["ref"], "syn_voiced": counts["syn"]},
        "silence": {"synth": summary_stats([s["silence_synth"] for s in scores]), "ref": summary_stats([s["silence_ref"] for s in scores]),
                    "floor_db": floor_db},
        "floor_error": summary_stats([s["floor_error"] for s in scores]),
        "level_corr": summary_stats([s["level_corr"] for s in scores]),
        "variance_ratio": summary_stats([s["variance_ratio"] for s in scores]),
        "intelligibility": intel,
        "speaker": None if spk is None else {k: v for k, v in spk.items() if k != "per_utterance"},
        "missing_synth": missing_synth,
        "synth_without_ref": no_ref,
        "skipped": skipped,
        "model": {k: info.get(k) for k in ("model_dir", "checkpoint", "model_type", "config_hash", "controls", "vocoder")},
        "method": {"note": METHOD_NOTE, "order": order, "dtw_band": band, "trim_db": trim_db, "sample_rate": cfg.sample_rate,
                   "feats": cfg.to_dict(), "floor_db": floor_db,
                   "per_utterance": ["mcd", "f0_rmse", "utt_scores.json"] + (["hyp_synth", "hyp_ref", "text_scored"] if intel else [])},
    }
    results["headline"] = headline(results)
    with atomic_write(out.parent / "utt_scores.json") as f:
        json.dump(_no_nan(per_utt), f, indent=0)
    if spk is not None:
        with atomic_write(out.parent / "spk_scores.json") as f:
            json.dump(_no_nan(spk["per_utterance"]), f, indent=0)
    with atomic_write(out) as f:
        json.dump(_no_nan(results), f, indent=1)
    return results


def _speakers_of(synth_dir: Path, ref_dir: Path) -> dict[str, str]:
    """The voice each line was synthesised as: SYNTH/utt2spk where it names a speaker of the recordings,
    else the recording's speaker (REF/utt2spk)."""
    if not (ref_dir / "utt2spk").is_file():
        raise NarspeechError("speaker scores need the recordings' speakers", path=ref_dir / "utt2spk")
    ref = read_table(ref_dir / "utt2spk")
    syn = read_table(synth_dir / "utt2spk") if (synth_dir / "utt2spk").is_file() else {}
    known = set(ref.values())
    return {u: (syn[u] if syn.get(u) in known else s) for u, s in ref.items()}


def _no_nan(x):
    """NaN (no voiced pairs, …) and infinities (a ratio over a zero) → null, so the file is strict JSON."""
    if isinstance(x, float) and (x != x or x in (float("inf"), float("-inf"))):
        return None
    if isinstance(x, dict):
        return {k: _no_nan(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_no_nan(v) for v in x]
    return x
