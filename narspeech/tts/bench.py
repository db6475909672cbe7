"""TTS speed benchmark: FastSpeech 2 (student) against its autoregressive teacher.

For each model and batch size the same sentences are synthesised ``repeat`` times after
``warmup`` untimed passes over all of them (every batch shape once: on a GPU the first call
with a new shape picks and loads its kernels, which cost a batch-1 FastSpeech 2 pass 7× its
warm time on an H200 when only the first batch was warmed), and two clocks are read (CUDA
synchronised):

* **mel**: acoustic model only — padded token batches → log-mels (on the host);
* **end-to-end**: text → frontend → acoustic model → vocoder → waveforms, each batch
  from its raw sentences, as a user of ``narspeech tts synthesize`` would wait for it.

Reported per row: total seconds (mean over repeats, and min), latency per sentence,
real-time factor (compute seconds / seconds of audio produced; < 1 is faster than real
time) and the speed-up of the student over the teacher at the same batch size (teacher
seconds / student seconds, as in the FastSpeech papers' latency comparisons; also as a
ratio of RTFs, which stays fair when the two produce different lengths). Batch 1
gives the latency a single request sees; the full batch gives throughput.
"""
from __future__ import annotations

import platform
from statistics import fmean
from typing import Sequence

import torch

from narspeech.batching import make_batches
from narspeech.errors import NarspeechError
from narspeech.metrics.timing import Timer, real_time_factor, summarize
from narspeech.progress import progress
from narspeech.tts.synthesize.inference import Controls, LoadedModel, batch_encoded, generate_mels, load_model, vocode
from narspeech.tts.synthesize.speakers import ModelSpeakers, SpeakerRequest, assign_voices
from narspeech.vocoder.registry import make_vocoder


def _text_batches(items: Sequence[tuple[str, str]], batch_size: int) -> list[list[tuple[str, str]]]:
    items = sorted(items, key=lambda it: it[0])
    return [[items[i] for i in b] for b in make_batches([len(t) for _, t in items], max_items=batch_size, longest_first=True)]


def _set_voices(encoded, voices) -> list:
    for e in encoded if voices else ():
        e.sid, e.spemb = voices[e.utt].sid, voices[e.utt].spemb
    return encoded


def sentence_voices(loaded: LoadedModel, n: int, speakers: Sequence[str] | None) -> tuple[dict, list[str]]:
    """Voices of benchmark sentences ``s00000``…: round robin over `speakers` (default: every training speaker),
    so batches mix them; ({}, []) for a single-speaker model."""
    ms = ModelSpeakers.of(loaded.cfg, loaded.model_dir)
    if not ms.multi:
        return {}, []
    names = list(speakers) if speakers else ms.known()
    utts = [f"s{i:05d}" for i in range(n)]
    return assign_voices(ms, utts, SpeakerRequest(), {u: names[i % len(names)] for i, u in enumerate(utts)}), names


def benchmark_model(loaded: LoadedModel, sentences: Sequence[str], *, batch_sizes: Sequence[int], repeat: int = 3, warmup: int = 1,
                    vocoder=None, speakers: Sequence[str] | None = None) -> list[dict]:
    """Timing rows (one per batch size) for one model; sentences the frontend rejects are left out. A multi-speaker
    model speaks the sentences in turn as each of `speakers` (default: all its speakers), in mixed batches."""
    items = [(f"s{i:05d}", s) for i, s in enumerate(sentences)]
    voices, names = sentence_voices(loaded, len(items), speakers)
    encoded, failed = loaded.frontend.encode(items)
    _set_voices(encoded, voices)
    ok = {e.utt for e in encoded}
    items = [it for it in items if it[0] in ok]
    if not encoded:
        raise NarspeechError("no benchmark sentence can be synthesized by this model", path=str(loaded.model_dir))
    controls, dev, fcfg = Controls(), loaded.device, loaded.feats
    frame_seconds = fcfg.hop_length / fcfg.sample_rate

    rows = []
    for b in progress(list(batch_sizes), desc=f"bench {loaded.model_type}", unit="setting"):
        b = min(int(b), len(encoded))
        batches = batch_encoded(encoded, b)
        text_batches = _text_batches(items, b)

        def mel_pass(batches=batches) -> int:
            return sum(len(m) for batch in batches for m in generate_mels(loaded.model, batch, controls, dev))

        def e2e_pass(text_batches=text_batches) -> int:
            samples = 0
            for chunk in text_batches:
                enc, _ = loaded.frontend.encode(chunk)
                _set_voices(enc, voices)
                if not enc:
                    continue
                mels = generate_mels(loaded.model, enc, controls, dev)
                samples += sum(len(w) for w in vocode(vocoder, mels)) if vocoder is not None else 0
            return samples

        for _ in range(max(0, warmup)):
            mel_pass()
            if vocoder is not None:
                e2e_pass()
        mel_times, e2e_times, frames, samples = [], [], 0, 0
        for _ in range(max(1, repeat)):
            with Timer(dev) as t:
                frames = mel_pass()
            mel_times.append(t.seconds)
            if vocoder is not None:
                with Timer(dev) as t:
                    samples = e2e_pass()
                e2e_times.append(t.seconds)
        audio_mel = frames * frame_seconds
        row = {
            "model": None, "model_type": loaded.model_type, "batch_size": b, "sentences": len(encoded),
            "speakers": names or None,
            "batches": len(batches), "audio_seconds": round(audio_mel, 3),
            "mel": summarize(mel_times), "mel_rtf": real_time_factor(fmean(mel_times), audio_mel),
            "mel_latency_per_sentence": fmean(mel_times) / len(encoded),
        }
        if e2e_times:
            audio_wav = samples / fcfg.sample_rate
            row.update({"e2e": summarize(e2e_times), "e2e_rtf": real_time_factor(fmean(e2e_times), audio_wav),
                        "e2e_latency_per_sentence": fmean(e2e_times) / len(encoded),
                        "e2e_audio_seconds": round(audio_wav, 3)})
        rows.append(row)
    return rows


def benchmark_loaded(models: dict[str, LoadedModel], sentences: Sequence[str], *, batch_sizes: Sequence[int] = (1, 0),
                     repeat: int = 3, warmup: int = 1, vocoder_factory=None, speakers: Sequence[str] | None = None) -> dict:
    """Benchmark already-loaded models (e.g. ``{"student": …, "teacher": …}``) on the same sentences.

    A batch size of 0 means "all sentences in one batch". `vocoder_factory(loaded)` gives the
    vocoder for end-to-end timing (None: mel timing only). Speed-ups are filled in when both
    a ``student`` and a ``teacher`` are given.
    """
    sizes = sorted({len(sentences) if int(b) <= 0 else int(b) for b in batch_sizes})
    rows = []
    for name, loaded in models.items():
        voc = vocoder_factory(loaded) if vocoder_factory is not None else None
        for row in benchmark_model(loaded, sentences, batch_sizes=sizes, repeat=repeat, warmup=warmup, vocoder=voc,
                                   speakers=speakers):
            row["model"] = name
            rows.append(row)
    speedups = []
    if "student" in models and "teacher" in models:
        by = {(r["model"], r["batch_size"]): r for r in rows}
        for b in sorted({r["batch_size"] for r in rows}):
            s, t = by.get(("student", b)), by.get(("teacher", b))
            if s is None or t is None:
                continue
            # time ratio (the papers' latency speed-up) and RTF ratio (fair when output lengths differ)
            entry = {"batch_size": b, "mel": t["mel"]["mean"] / s["mel"]["mean"], "mel_rtf": t["mel_rtf"] / s["mel_rtf"]}
            if "e2e" in s and "e2e" in t:
                entry["e2e"] = t["e2e"]["mean"] / s["e2e"]["mean"]
                entry["e2e_rtf"] = t["e2e_rtf"] / s["e2e_rtf"]
            speedups.append(entry)
    dev = next(iter(models.values())).device
    return {
        "device": str(dev),
        "device_name": torch.cuda.get_device_name(dev) if dev.type == "cuda" else platform.processor() or platform.machine(),
        "torch": torch.__version__, "threads": torch.get_num_threads(),
        "autocast": "bf16" if dev.type == "cuda" else "off",
        "repeat": repeat, "warmup": warmup, "sentences": len(sentences),
        "models": {k: {"model_dir": str(v.model_dir), "checkpoint": str(v.checkpoint), "model_type": v.model_type}
                   for k, v in models.items()},
        "rows": rows, "speedup": speedups,
    }


def benchmark_tts(student: str, teacher: str | None, sentences: Sequence[str], *, device: str = "auto",
                  batch_sizes: Sequence[int] = (1, 0), repeat: int = 3, warmup: int = 1, vocoder: str | None = "griffin-lim",
                  vocoder_options: dict | None = None, speakers: Sequence[str] | None = None) -> dict:
    """Load the student (and teacher) exp dirs and :func:`benchmark_loaded` them; ``vocoder=None`` skips end-to-end.
    `speakers`: the voices of a multi-speaker model, in turn (default: all of them)."""
    models = {"student": load_model(student, device=device)}
    if teacher is not None:
        models["teacher"] = load_model(teacher, device=device)
    factory = None
    if vocoder is not None:
        def factory(m: LoadedModel):
            return make_vocoder(vocoder, m.feats, m.device, **(vocoder_options or {}))
    result = benchmark_loaded(models, sentences, batch_sizes=batch_sizes, repeat=repeat, warmup=warmup, vocoder_factory=factory,
                              speakers=speakers)
    result["vocoder"] = {"name": vocoder, **(vocoder_options or {})} if vocoder else None
    return result


def markdown_table(result: dict) -> str:
    """The benchmark as a markdown table (seconds are means over repeats)."""
    lines = [f"TTS speed on {result['device']} ({result['device_name']}, torch {result['torch']}, "
             f"{result['sentences']} sentences, mean of {result['repeat']} runs)", "",
             "| model | type | batch | audio s | mel s | mel RTF | mel ms/sent | e2e s | e2e RTF | e2e ms/sent |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in result["rows"]:
        e2e = (f"{r['e2e']['mean']:.3f} | {r['e2e_rtf']:.4f} | {1000 * r['e2e_latency_per_sentence']:.1f}"
               if "e2e" in r else "– | – | –")
        voices = f" ({'+'.join(r['speakers'])})" if r.get("speakers") else ""
        lines.append(f"| {r['model']}{voices} | {r['model_type']} | {r['batch_size']} | {r['audio_seconds']:.1f} | {r['mel']['mean']:.3f} | "
                     f"{r['mel_rtf']:.4f} | {1000 * r['mel_latency_per_sentence']:.1f} | {e2e} |")
    if result["speedup"]:
        lines += ["", "Speed-up of the student over the teacher (teacher / student; RTF ratio in brackets):", "",
                  "| batch | mel | end-to-end |", "| ---: | ---: | ---: |"]
        for s in result["speedup"]:
            e2e = f"{s['e2e']:.1f}× ({s['e2e_rtf']:.1f}×)" if "e2e" in s else "–"
            lines.append(f"| {s['batch_size']} | {s['mel']:.1f}× ({s['mel_rtf']:.1f}×) | {e2e} |")
    return "\n".join(lines) + "\n"
