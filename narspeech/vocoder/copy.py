"""Copy synthesis: recording → log-mel → vocoder → wav.

The ceiling every TTS score is read against: the acoustic model is replaced by the recording's own
mel. Output dir (like ``tts synthesize``'s): ``wav/<utt>.wav``, ``wav.scp``, ``failed`` (``utt reason``),
``synth_info.json``. Scoring it is :func:`narspeech.evaluate.copy_synthesis.score_copy`'s job.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import torch

from narspeech.audio.features import FeatureConfig, log_mel
from narspeech.audio.io import guess_base, load_audio, resample, resolve_entry, write_wav
from narspeech.device import resolve_device
from narspeech.errors import NarspeechError
from narspeech.fileio import atomic_write, read_table, write_table
from narspeech.progress import progress
from narspeech.vocoder.base import vocode_items
from narspeech.vocoder.pretrained import hifigan_features
from narspeech.vocoder.registry import is_griffin_lim, make_vocoder


def copy_synthesis(data_dir: str | Path, out_dir: str | Path, vocoder: str = "hifigan:universal", *,
                   feature_config: FeatureConfig | None = None, device: str | torch.device = "auto", batch_size: int = 8,
                   vocoder_options: dict | None = None, limit: int | None = None, warn=None) -> dict:
    """Vocode every recording of `data_dir` from its own log-mel into `out_dir`; return the info.

    Features: `feature_config`, else the neural vocoder's own, else (Griffin-Lim) the HiFi-GAN
    preset, so the two are compared on the same mels. Unreadable recordings and mels a vocoder
    refuses (NaN/inf, empty) are listed in ``failed`` and the rest is still written.
    """
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
    return info
