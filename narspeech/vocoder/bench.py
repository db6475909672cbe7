"""Vocoder speed: real-time factor at batch 1 and full batch (``narspeech bench vocoder``).

Mels are the log-mels of real recordings (a data dir), so lengths are realistic. For each
vocoder and batch size the utterances are sorted by length, cut into batches of that size
and vocoded ``repeat`` times after a warm-up; the clocks are wall time (CUDA synchronised)
and, on CPU, this process's CPU time, which a loaded shared machine inflates less.
RTF = seconds / seconds of audio produced (< 1 is faster than real time).

Vocoder specs: anything ``make_vocoder`` takes, plus ``random:v1`` / ``random:v2`` / ``random:v3`` /
``random:istft`` (a generator of that size with random weights, for speed only: there are no
released V2/V3 weights here).
"""
from __future__ import annotations

import math
import platform
import time
from pathlib import Path
from statistics import fmean
from typing import Sequence

import torch

from narspeech.audio.features import log_mel
from narspeech.audio.io import guess_base, load_audio, resolve_entry
from narspeech.device import resolve_device
from narspeech.errors import NarspeechError
from narspeech.fileio import read_table
from narspeech.metrics.timing import Timer
from narspeech.vocoder.base import pad_mels
from narspeech.vocoder.hifigan import Generator
from narspeech.vocoder.istft import IstftGenerator, is_istft
from narspeech.vocoder.neural import GeneratorVocoder
from narspeech.vocoder.pretrained import hifigan_features
from narspeech.vocoder.registry import make_vocoder


def bench_vocoder_spec(spec: str, device: torch.device | str, options: dict | None = None):
    """The vocoder of a bench spec: anything ``make_vocoder`` takes, or ``random:SIZE`` (speed only)."""
    options = dict(options or {})

    if spec.startswith("random:"):
        torch.manual_seed(0)
        size = spec.split(":", 1)[1]
        gen = IstftGenerator(size) if is_istft(size) else Generator(size).remove_weight_norm()
        return GeneratorVocoder(gen, hifigan_features(), device, name=spec, **options)
    return make_vocoder(spec, hifigan_features(), device, **options)


def load_mels(data_dir, feature_config, limit: int | None = None) -> list[torch.Tensor]:
    """Log-mels of the first `limit` recordings of a data dir, at the feature rate."""
    scp = read_table(Path(data_dir) / "wav.scp")
    base = guess_base(Path(data_dir), scp)
    utts = list(scp)[:limit] if limit else list(scp)
    return [log_mel(torch.from_numpy(load_audio(resolve_entry(scp[u], base), utt=u, target_sr=feature_config.sample_rate)[0]),
                    feature_config) for u in utts]


def bench_vocoder(data_dir, vocoders: Sequence[str] = ("hifigan:universal", "random:v3"), *, batch_sizes: Sequence[int] = (1, 0),
                  device: str = "auto", limit: int | None = 8, repeat: int = 2, warmup: int = 1, options: dict | None = None) -> dict:
    """Rows ``{vocoder, batch_size, audio_seconds, wall: {mean,min}, rtf, cpu_rtf}`` (batch size 0 = all utterances)."""
    dev = resolve_device(device)
    mels = load_mels(data_dir, hifigan_features(), limit)
    if not mels:
        raise NarspeechError("no recordings to benchmark", path=data_dir)
    order = sorted(mels, key=lambda m: -len(m))
    rows = []
    for spec in vocoders:
        voc = bench_vocoder_spec(spec, dev, options)
        pad = math.log(voc.feature_config.mel_floor)
        for b in batch_sizes:
            b = len(order) if int(b) <= 0 else min(int(b), len(order))
            batches = [pad_mels(order[i : i + b], pad) for i in range(0, len(order), b)]

            def run() -> int:
                return sum(len(w) for x, n in batches for w in voc(x.to(dev), n))

            for _ in range(max(0, warmup)):
                voc(*batches[0])
            walls, cpus, samples = [], [], 0
            for _ in range(max(1, repeat)):
                c0 = time.process_time()
                with Timer(dev) as t:
                    samples = run()
                walls.append(t.seconds)
                cpus.append(time.process_time() - c0)
            audio = samples / voc.sample_rate
            rows.append({"vocoder": spec, "batch_size": b, "batches": len(batches), "utterances": len(order),
                         "audio_seconds": round(audio, 3), "wall": {"mean": fmean(walls), "min": min(walls)},
                         "rtf": fmean(walls) / audio, "rtf_min": min(walls) / audio,
                         "cpu_rtf": fmean(cpus) / audio if dev.type == "cpu" else None,
                         "max_batch_frames": getattr(voc, "max_batch_frames", None), "precision": getattr(voc, "precision", None)})
    return {"device": str(dev), "device_name": torch.cuda.get_device_name(dev) if dev.type == "cuda" else platform.processor() or platform.machine(),
            "threads": torch.get_num_threads(), "torch": torch.__version__, "repeat": repeat, "rows": rows}


def format_table(result: dict) -> str:
    lines = [f"vocoder speed on {result['device']} ({result['device_name']}, {result['threads']} threads, torch {result['torch']}, "
             f"mean of {result['repeat']} runs)", "",
             "| vocoder | batch | audio s | wall s | RTF | RTF (min) | CPU-time RTF |", "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in result["rows"]:
        cpu = f"{r['cpu_rtf']:.3f}" if r["cpu_rtf"] is not None else "-"
        lines.append(f"| {r['vocoder']} | {r['batch_size']} | {r['audio_seconds']:.1f} | {r['wall']['mean']:.3f} | {r['rtf']:.4f} | "
                     f"{r['rtf_min']:.4f} | {cpu} |")
    return "\n".join(lines) + "\n"
