"""End-to-end speed as a user hears it (``narspeech bench e2e``): text → frontend → FastSpeech 2 → vocoder → audio.

* **Batch 1**, per CPU thread count: each sentence alone through ``tts speak``'s
  :class:`~narspeech.tts.synthesize.speak.Speaker` (frontend, mel, streamed vocoding; long
  sentences in clause pieces unless ``clauses=False``). Time to first audio = frontend + the first
  piece's mel + its first vocoder chunk; end-to-end RTF = all three stages / seconds of audio
  (the pauses between clause pieces included, as the listener hears them); each stage's share of the time.
  ``ttfa_20_words``: the time to first audio of the sentence closest to 20 words.
* **Throughput**: all sentences through ``synthesize_batches`` (length-sorted batches,
  batched frontend call, one padded vocoder call per batch) at the largest thread count;
  seconds of audio per wall second (× real time).

Clocks are wall time (CUDA synchronised) and, on CPU, the process's CPU time (all its threads),
which a loaded shared machine inflates less; warm-up passes run first. ``random:fastspeech2``
(:func:`random_fastspeech2_exp`) is a paper-size FastSpeech 2 with random weights whose
duration predictor is pinned to ``frames_per_token``: speed needs no training, only lengths
like real speech's.
"""
from __future__ import annotations

import math
import platform
import time
from pathlib import Path
from statistics import fmean
from typing import Callable, Sequence

import torch

from narspeech.errors import NarspeechError
from narspeech.text.tokenize import tokenize
from narspeech.tts.models.build import build_tts_model
from narspeech.tts.synthesize.inference import LoadedModel, load_model, synthesize_batches
from narspeech.tts.synthesize.onnx_engine import export_model, use_onnx
from narspeech.tts.synthesize.speak import SpeakStats, Speaker
from narspeech.vocoder.base import check_features
from narspeech.vocoder.bench import bench_vocoder_spec
from narspeech.vocoder.onnx import export_generator, load_onnx_vocoder
from narspeech.vocoder.pretrained import hifigan_features
from narspeech.vocoder.registry import is_griffin_lim

ARCTIC_FRAMES_PER_TOKEN = 6  # phoneme tokens of CMU ARCTIC at hop 256 / 22.05 kHz, rounded


def random_fastspeech2_exp(exp: str | Path, sentences: Sequence[str], feats, *, frames_per_token: int = ARCTIC_FRAMES_PER_TOKEN,
                           seed: int = 1, model: dict | None = None) -> Path:
    """Write an exp dir with a random paper-size FastSpeech 2 (phoneme frontend over `sentences`' phonemes)."""
    tokens = sorted({t for seq in tokenize(list(sentences), "phoneme", "en-us") for t in seq} - {"<blank>", "<unk>", "<sos/eos>"})
    symbols = ["<blank>", "<unk>", *tokens, "<sos/eos>"]
    torch.manual_seed(seed)
    mcfg = {"type": "fastspeech2", "n_tokens": len(symbols), "n_mels": int(feats.n_mels), **(model or {})}
    net = build_tts_model(mcfg)
    with torch.no_grad():
        net.duration_predictor.out.weight.zero_()
        net.duration_predictor.out.bias.fill_(math.log(frames_per_token + 1.0))
    exp = Path(exp)
    exp.mkdir(parents=True, exist_ok=True)
    cfg = {"model": mcfg, "text": {"kind": "phoneme", "language": "en-us"}, "feats": feats.to_dict(),
           "random_init": {"seed": seed, "frames_per_token": frames_per_token}}
    torch.save({"model": net.state_dict(), "config": cfg, "step": 0}, exp / "best.pt")
    (exp / "tokens.txt").write_text("\n".join(symbols) + "\n", encoding="utf-8")
    return exp


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def batch1(loaded: LoadedModel, vocoder, sentences: Sequence[str], *, warmup: int = 1, clauses: bool = True) -> dict:
    """Batch-1 latency over `sentences`, each alone as ``tts speak`` says it: first audio, RTF, stage shares."""
    dev = loaded.device
    speaker = Speaker(loaded, vocoder, clauses=clauses)
    rows = []
    for k in range(-max(0, warmup), len(sentences)):
        text = sentences[max(k, 0)]
        stats = SpeakStats()
        c0, t0 = time.process_time(), time.perf_counter()
        try:
            for _ in speaker.stream(text, stats):
                _sync(dev)
        except NarspeechError as e:
            raise NarspeechError(f"benchmark sentence {text[:50]!r} cannot be synthesized: {e}") from None
        t3 = time.perf_counter()
        if stats.failed:
            raise NarspeechError(f"benchmark sentence {text[:50]!r} cannot be synthesized: {next(iter(stats.failed.values()))}")
        if k >= 0:
            rows.append({"words": len(text.split()), "pieces": stats.pieces, "frontend": stats.frontend_seconds,
                         "acoustic": stats.mel_seconds, "vocoder": stats.vocoder_seconds,
                         "first_audio": stats.first_audio_seconds, "first_audio_cpu": stats.first_audio_cpu_seconds,
                         "audio_seconds": stats.samples / vocoder.sample_rate, "wall": t3 - t0, "cpu": time.process_time() - c0})
    total = {s: sum(r[s] for r in rows) for s in ("frontend", "acoustic", "vocoder")}
    wall, audio = sum(total.values()), sum(r["audio_seconds"] for r in rows)
    near20 = min(rows, key=lambda r: (abs(r["words"] - 20), -r["words"]))
    return {"sentences": len(rows), "audio_seconds": round(audio, 3), "rtf": wall / audio,
            "cpu_rtf": sum(r["cpu"] for r in rows) / audio if loaded.device.type == "cpu" else None,
            "first_audio_mean": fmean(r["first_audio"] for r in rows), "first_audio_max": max(r["first_audio"] for r in rows),
            "ttfa_20_words": near20["first_audio"], "ttfa_20_words_words": near20["words"],
            "ttfa_20_words_cpu": near20["first_audio_cpu"] if loaded.device.type == "cpu" else None,
            "clauses": clauses, "pieces": sum(r["pieces"] for r in rows), "share": {s: v / wall for s, v in total.items()}}


def throughput(loaded: LoadedModel, vocoder, sentences: Sequence[str], *, batch_size: int = 16, warmup: bool = True) -> dict:
    """All `sentences` through the batched synthesis path: × real time (audio seconds per wall second)."""
    items = [(f"s{i:05d}", s) for i, s in enumerate(sentences)]

    def run() -> tuple[float, float, float]:
        c0, t0 = time.process_time(), time.perf_counter()
        enc, _ = loaded.frontend.encode(items)
        samples = sum(len(r.wav) for r in synthesize_batches(loaded.model, enc, batch_size=batch_size, device=loaded.device,
                                                               vocoder=vocoder, show_progress=False))
        _sync(loaded.device)
        return time.perf_counter() - t0, samples / vocoder.sample_rate, time.process_time() - c0

    if warmup:
        n = min(len(items), batch_size)
        enc, _ = loaded.frontend.encode(items[:n])
        list(synthesize_batches(loaded.model, enc, batch_size=batch_size, device=loaded.device, vocoder=vocoder, show_progress=False))
    wall, audio, cpu = run()
    return {"sentences": len(items), "batch_size": batch_size, "audio_seconds": round(audio, 2), "wall": wall, "x_real_time": audio / wall,
            "cpu_seconds": cpu, "x_real_time_per_cpu_second": audio / cpu if loaded.device.type == "cpu" else None}


def bench_e2e(make: Callable[[int], tuple[LoadedModel, object]], sentences: Sequence[str], *, threads: Sequence[int] = (1, 2),
              batch1_sentences: int = 10, batch_size: int = 16, throughput_sentences: int | None = None,
              throughput_texts: Sequence[str] | None = None, clauses: bool = True) -> dict:
    """Rows per thread count (batch 1) and one throughput row at the largest count. `make(threads)` gives the
    loaded model and vocoder for that many threads (an ONNX session is built for a thread count). `clauses`:
    batch 1 speaks long sentences in clause pieces, as ``tts speak`` does by default."""
    if not sentences:
        raise NarspeechError("no benchmark sentences")
    rows, keep = [], torch.get_num_threads()
    loaded = None
    try:
        for n in threads:
            torch.set_num_threads(int(n))
            loaded, voc = make(int(n))
            rows.append({"threads": int(n), **batch1(loaded, voc, list(sentences[:batch1_sentences]), clauses=clauses)})
        many = list(throughput_texts or sentences)
        n = throughput_sentences or len(many)
        many = (many * -(-n // len(many)))[:n]  # fewer texts than asked: cycled
        tp = throughput(loaded, voc, many, batch_size=batch_size)
        tp["threads"] = int(threads[-1])
    finally:
        torch.set_num_threads(keep)
    dev = loaded.device
    return {"device": str(dev), "device_name": torch.cuda.get_device_name(dev) if dev.type == "cuda" else platform.processor() or platform.machine(),
            "torch": torch.__version__, "vocoder": getattr(voc, "name", type(voc).__name__), "batch1": rows, "throughput": tp}


def format_table(result: dict, engine: str = "torch") -> str:
    lines = [f"end to end on {result['device']} ({result['device_name']}, torch {result['torch']}), vocoder {result['vocoder']}, "
             f"engine {engine}, long sentences {'in clause pieces' if result['batch1'][0].get('clauses', True) else 'whole'}", "",
             "| threads | sentences | RTF (text → wav) | CPU-time RTF | first audio mean / max (ms) | first audio, ~20 words (ms) | same, CPU time (ms) | frontend / acoustic / vocoder |",
             "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
    for r in result["batch1"]:
        sh = r["share"]
        cpu = f"{r['cpu_rtf']:.4f}" if r.get("cpu_rtf") is not None else "-"
        lines.append(f"| {r['threads']} | {r['sentences']} ({r.get('pieces', r['sentences'])} pieces) | {r['rtf']:.4f} | {cpu} | {r['first_audio_mean'] * 1000:.0f} / "
                     f"{r['first_audio_max'] * 1000:.0f} | {r['ttfa_20_words'] * 1000:.0f} ({r['ttfa_20_words_words']} words) | "
                     f"{r['ttfa_20_words_cpu'] * 1000 if r.get('ttfa_20_words_cpu') is not None else float('nan'):.0f} | "
                     f"{sh['frontend']:.0%} / {sh['acoustic']:.0%} / {sh['vocoder']:.0%} |")
    t = result["throughput"]
    lines += ["", f"throughput: {t['sentences']} sentences, batch {t['batch_size']}, {t['threads']} thread(s): "
                  f"{t['audio_seconds']:.1f} s of audio in {t['wall']:.2f} s = {t['x_real_time']:.1f}x real time"
                  + (f" ({t['x_real_time_per_cpu_second']:.1f} s of audio per CPU second)" if t.get("x_real_time_per_cpu_second") else "")]
    return "\n".join(lines) + "\n"


def factory(model: str, vocoder: str, sentences: Sequence[str], *, device: str = "cpu", engine: str = "torch",
            workdir: str | Path, frames_per_token: int = ARCTIC_FRAMES_PER_TOKEN, feats=None):
    """``make(threads) -> (loaded, vocoder)`` for :func:`bench_e2e`.

    `model`: an exp dir or ``random:fastspeech2`` (written into `workdir`); `vocoder`: anything
    ``make_vocoder`` takes or ``random:SIZE``. ``engine="onnx"`` exports both into `workdir` once and
    runs them through onnxruntime sessions of the asked thread count (Griffin-Lim stays as it is).
    """
    if engine not in ("torch", "onnx"):
        raise NarspeechError(f"--engine must be torch or onnx (got {engine!r})")
    workdir = Path(workdir)
    if model.lower() == "random:fastspeech2":
        model = str(random_fastspeech2_exp(workdir / "fastspeech2", sentences, feats or hifigan_features(),
                                           frames_per_token=frames_per_token))
    dev = "cpu" if engine == "onnx" else device
    base = load_model(model, device=dev)
    voc_torch = bench_vocoder_spec(vocoder, base.device, {})
    if not str(vocoder).startswith("random:"):
        check_features(base.feats, voc_torch.feature_config, str(vocoder))
    if engine == "torch":
        return lambda threads: (base, voc_torch)

    onnx_dir = workdir / "onnx"
    export_model(base, onnx_dir)
    gl = is_griffin_lim(vocoder)
    if not gl:
        export_generator(voc_torch.generator, onnx_dir / "vocoder.onnx", source=str(vocoder), feats=voc_torch.feature_config.to_dict())

    def make(threads: int):
        loaded = use_onnx(load_model(model, device="cpu"), onnx_dir, threads)
        return loaded, voc_torch if gl else load_onnx_vocoder(onnx_dir / "vocoder.onnx", str(vocoder), None, threads)

    return make
