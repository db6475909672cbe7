"""Copy synthesis: recording → log-mel → vocoder → wav, scored against the recording.

The ceiling every TTS score is read against: the acoustic model is replaced by the
recording's own mel. Scores: wide-band PESQ and STOI (time-aligned, :mod:`narspeech.metrics.quality`),
and MCD / F0 RMSE from :func:`narspeech.metrics.tts_eval.evaluate_synthesis`.

Output dir (like ``tts synthesize``'s): ``wav/<utt>.wav``, ``wav.scp``, ``failed`` (``utt reason``),
``synth_info.json``, ``results.json`` (MCD/F0 from ``tts evaluate`` plus ``pesq_wb``, ``stoi``
summaries) and ``quality`` (``utt pesq_wb stoi``).
"""
from __future__ import annotations

import json
import math
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from narspeech.audio.features import FeatureConfig, log_mel
from narspeech.errors import NarspeechError
from narspeech.fileio import atomic_write, read_table, write_table


def _summary(values: list[float]) -> dict[str, float]:
    vals = [v for v in values if v == v]
    if not vals:
        return {"mean": float("nan"), "std": float("nan"), "n": 0}
    return {"mean": statistics.fmean(vals), "std": statistics.pstdev(vals) if len(vals) > 1 else 0.0,
            "median": statistics.median(vals), "n": len(vals)}


def copy_synthesis(data_dir: str | Path, out_dir: str | Path, vocoder: str = "hifigan:universal", *,
                   feature_config: FeatureConfig | None = None, device: str | torch.device = "auto", batch_size: int = 8,
                   vocoder_options: dict | None = None, limit: int | None = None, score: bool = True,
                   trim_db: float | None = None, warn=None) -> dict:
    """Vocode every recording of `data_dir` from its own log-mel into `out_dir`; return the info (and scores).

    Features: `feature_config`, else the neural vocoder's own, else (Griffin-Lim) the HiFi-GAN
    preset, so the two are compared on the same mels. Unreadable recordings and mels a vocoder
    refuses (NaN/inf, empty) are listed in ``failed`` and the rest is still written.
    """
    from narspeech.audio.io import load_audio, resolve_entry, write_wav
    from narspeech.data.kaldi import guess_base
    from narspeech.device import resolve_device
    from narspeech.progress import progress
    from narspeech.vocoder.base import vocode_items
    from narspeech.vocoder.pretrained import hifigan_features
    from narspeech.vocoder.registry import is_griffin_lim, make_vocoder

    data_dir, out_dir = Path(data_dir), Path(out_dir)
    dev = resolve_device(device) if isinstance(device, str) else device
    scp = read_table(data_dir / "wav.scp")
    base = guess_base(data_dir, scp)
    if limit is not None and limit < 1:
        raise NarspeechError(f"--limit must be >= 1 (got {limit})")
    utts = list(scp)[:limit] if limit else list(scp)
    if batch_size < 1:
        raise NarspeechError(f"--batch-size must be >= 1 (got {batch_size})")
    if is_griffin_lim(vocoder):
        cfg = feature_config or hifigan_features()
        voc = make_vocoder(vocoder, cfg, dev, **(vocoder_options or {}))
    else:
        voc = make_vocoder(vocoder, feature_config, dev, **(vocoder_options or {}))
        cfg = voc.feature_config
    failed: dict[str, str] = {}
    refs: dict[str, tuple[np.ndarray, int]] = {}
    wav_scp: dict[str, str] = {}
    audio_seconds, voc_seconds = 0.0, 0.0
    bar = progress(total=len(utts), desc=f"copy {vocoder}", unit="utt")
    for s in range(0, len(utts), batch_size):
        chunk = utts[s : s + batch_size]
        items = []
        for u in chunk:
            try:
                wav, sr = load_audio(resolve_entry(scp[u], base), utt=u)
            except NarspeechError as e:
                failed[u] = e.message
                continue
            refs[u] = (wav, sr)
            from narspeech.audio.io import resample

            x = torch.from_numpy(resample(wav, sr, cfg.sample_rate))
            items.append((u, log_mel(x, cfg)))
        t0 = time.perf_counter()
        wavs = vocode_items(voc, items, failed=failed) if items else {}
        voc_seconds += time.perf_counter() - t0
        for u, w in wavs.items():
            path = (out_dir / "wav" / f"{u}.wav").resolve()
            write_wav(path, w, cfg.sample_rate)
            wav_scp[u] = str(path)
            audio_seconds += len(w) / cfg.sample_rate
        bar.update(len(chunk))
    bar.close()
    for u in sorted(failed):
        (warn or (lambda u, r: None))(u, failed[u])
    if not wav_scp:
        raise NarspeechError("copy synthesis wrote nothing (every utterance failed; see the warnings)", path=data_dir)
    write_table(out_dir / "wav.scp", wav_scp)
    with atomic_write(out_dir / "failed") as f:
        for u in sorted(failed):
            f.write(f"{u} {failed[u]}\n")
    info = {
        "model_type": "copy-synthesis", "data": str(data_dir.resolve()), "vocoder": {"name": vocoder, **(vocoder_options or {})},
        "vocoder_info": getattr(voc, "info", None), "feats": cfg.to_dict(), "device": str(dev), "threads": torch.get_num_threads(),
        "synthesized": len(wav_scp), "failed": len(failed), "audio_seconds": round(audio_seconds, 3),
        "vocoder_seconds": round(voc_seconds, 3), "vocoder_rtf": voc_seconds / max(audio_seconds, 1e-9),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    with atomic_write(out_dir / "synth_info.json") as f:
        json.dump(info, f, indent=1)
    if score:
        info["results"] = score_copy(out_dir, data_dir, refs, cfg, device=dev, trim_db=trim_db)
    return info


def score_copy(out_dir: Path, data_dir: Path, refs: dict[str, tuple[np.ndarray, int]], cfg: FeatureConfig, *,
               device: torch.device, trim_db: float | None = None) -> dict:
    """PESQ-wb and STOI per utterance (``OUT/quality``) + ``tts evaluate``'s MCD/F0 → ``OUT/results.json``."""
    from narspeech.audio.io import load_audio
    from narspeech.metrics.quality import quality_scores
    from narspeech.metrics.tts_eval import evaluate_synthesis
    from narspeech.progress import progress

    wav_scp = read_table(out_dir / "wav.scp")
    per = {}
    for u in progress(list(wav_scp), desc="pesq/stoi", unit="utt"):
        syn, sr = load_audio(wav_scp[u], utt=u)
        ref, ref_sr = refs[u]
        per[u] = quality_scores(ref, syn, ref_sr, sr, utt=u)
    write_table(out_dir / "quality", {u: f"{v['pesq_wb']:.4f} {v['stoi']:.4f}" for u, v in per.items()})
    results = evaluate_synthesis(out_dir, data_dir, out=out_dir / "results.json", device=device, trim_db=trim_db)
    results["pesq_wb"] = _summary([v["pesq_wb"] for v in per.values()])
    results["stoi"] = _summary([v["stoi"] for v in per.values()])
    results["quality_note"] = "PESQ wide-band (P.862.2) and STOI at 16 kHz on the time-aligned copy (pesq, pystoi packages)"
    with atomic_write(out_dir / "results.json") as f:
        json.dump(results, f, indent=1, default=lambda x: None if isinstance(x, float) and math.isnan(x) else str(x))
    return results
