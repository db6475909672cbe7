"""The feature benchmark (`narspeech bench feats`): the full dump in × real time, beside a
plain librosa loop (load + melspectrogram + pyin) on a few utterances of the same data."""
from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch

from narspeech.audio.extract import default_jobs, extract_dump, read_wav_scp
from narspeech.audio.features import FeatureConfig
from narspeech.audio.io import guess_base
from narspeech.device import resolve_device
from narspeech.fileio import read_table
from narspeech.progress import progress


def machine_info(dev: torch.device) -> dict[str, Any]:
    info: dict[str, Any] = {
        "cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "loadavg": [round(x, 2) for x in os.getloadavg()],
        "device": str(dev),
    }
    if dev.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(dev)
    return info


def librosa_loop(entries: list[str], cfg: FeatureConfig) -> dict[str, float]:
    """Time librosa.load + log-mel (+ energy) and pyin per file, as a researcher's plain script would."""
    import librosa

    # numba compiles pyin's helpers on first use: keep that out of the timing
    librosa.pyin(np.zeros(cfg.sample_rate // 2, dtype=np.float32) + 1e-3, fmin=cfg.f0_min, fmax=cfg.f0_max, sr=cfg.sample_rate,
                 frame_length=cfg.f0_frame, hop_length=cfg.hop_length)
    audio = t_mel = t_f0 = 0.0
    for entry in progress(entries, desc="librosa loop", unit="utt"):
        t = time.perf_counter()
        y, sr = librosa.load(entry, sr=cfg.sample_rate)
        spec = np.abs(librosa.stft(y, n_fft=cfg.n_fft, hop_length=cfg.hop_length, win_length=cfg.win_length, center=True, pad_mode="reflect"))
        mel = librosa.feature.melspectrogram(S=spec, sr=sr, n_mels=cfg.n_mels, fmin=cfg.fmin, fmax=cfg.fmax, power=1.0, htk=False, norm="slaney")
        np.log(np.maximum(mel, cfg.mel_floor))
        np.linalg.norm(spec, axis=0)
        t_mel += time.perf_counter() - t
        t = time.perf_counter()
        librosa.pyin(y, fmin=cfg.f0_min, fmax=cfg.f0_max, sr=sr, frame_length=cfg.f0_frame, hop_length=cfg.hop_length)
        t_f0 += time.perf_counter() - t
        audio += len(y) / sr
    return {
        "utts": len(entries),
        "audio_seconds": audio,
        "mel_seconds": t_mel,
        "pyin_seconds": t_f0,
        "total_seconds": t_mel + t_f0,
        "mel_xrt": audio / max(t_mel, 1e-9),
        "xrt": audio / max(t_mel + t_f0, 1e-9),
    }


def bench_feats(
    data_dir: str | Path,
    *,
    base: str | Path | None = None,
    device: str = "auto",
    jobs: int | None = None,
    limit: int | None = None,
    librosa_limit: int = 5,
    batch_seconds: float | None = None,
    options: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Dump DATA (first `limit` utterances) into a temporary folder and time it end to end
    (probe, decode, resample, log-mel, F0, energy, write); then time the librosa loop on
    the first `librosa_limit` utterances. Returns a JSON-able dict."""
    data_dir = Path(data_dir)
    base = Path(base) if base is not None else guess_base(data_dir, read_table(data_dir / "wav.scp"))
    dev = resolve_device(device)
    jobs = default_jobs() if jobs is None else jobs
    before = machine_info(dev)
    with tempfile.TemporaryDirectory(prefix="narspeech-bench-feats-") as tmp:
        res = extract_dump(data_dir, Path(tmp) / "dump", options, device=device, jobs=jobs, batch_seconds=batch_seconds, base=base, limit=limit)
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
    out: dict[str, Any] = {
        "data": str(data_dir),
        "machine": before,
        "narspeech": {
            "utts": res.num_utts,
            "audio_seconds": round(res.audio_seconds, 2),
            "wall_seconds": round(res.wall_seconds, 3),
            "xrt": round(res.realtime_factor, 1),
            "device": str(dev),
            "jobs": jobs,
            "batch_seconds": batch_seconds,
            "sample_rate": res.config.sample_rate,
        },
    }
    if librosa_limit > 0:
        entries = [e for e in read_wav_scp(data_dir, base, librosa_limit).values() if not e.endswith("|")]
        lib = librosa_loop(entries, res.config)
        out["librosa"] = {k: round(v, 3) if isinstance(v, float) else v for k, v in lib.items()}
        out["speedup_vs_librosa"] = round(res.realtime_factor / max(lib["xrt"], 1e-9), 1)
    out["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    return out


def format_table(r: dict[str, Any]) -> str:
    """A small plain-text table of a :func:`bench_feats` result."""
    n = r["narspeech"]
    rows = [("pipeline", "utts", "audio s", "wall s", "x real time"),
            (f"narspeech dump ({n['device']}, jobs {n['jobs']})", n["utts"], f"{n['audio_seconds']:.1f}", f"{n['wall_seconds']:.2f}", f"{n['xrt']:.0f}")]
    if "librosa" in r:
        lib = r["librosa"]
        rows.append(("librosa load+mel+energy", lib["utts"], f"{lib['audio_seconds']:.1f}", f"{lib['mel_seconds']:.2f}", f"{lib['mel_xrt']:.0f}"))
        rows.append(("librosa load+mel+energy+pyin", lib["utts"], f"{lib['audio_seconds']:.1f}", f"{lib['total_seconds']:.2f}", f"{lib['xrt']:.1f}"))
    widths = [max(len(str(row[i])) for row in rows) for i in range(5)]
    lines = ["  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in enumerate(zip(row, widths))) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    m = r["machine"]
    lines.append(f"machine: {m['cpus']} CPUs, torch threads {m['torch_threads']}, load average before {m['loadavg']} after {r['loadavg_after']}"
                 + (f", GPU {m['gpu']}" if "gpu" in m else ""))
    if "speedup_vs_librosa" in r:
        lines.append(f"speed-up over the librosa loop (with pyin): {r['speedup_vs_librosa']:.0f}x")
    return "\n".join(lines) + "\n"
