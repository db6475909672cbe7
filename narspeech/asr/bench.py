"""Decoding speed of Mask-CTC against AR beam search (and CTC greedy) on the same utterances:
total seconds, real-time factor and latency per batch, at each batch size; the speed-up of
Mask-CTC over the AR beam search (`narspeech bench asr`).

The speed-ups a user could pick instead of NAR are timed in the same run, against the same AR beam
search: :class:`Variant` rows (AR greedy, an int8 AR copy, a smaller trained AR, Mask-CTC at other
iteration counts). Every row names in ``decode`` the scored decode dir that gives its quality,
``<exp dir name>/<decode name>`` (:func:`decode_name`: the names `asr.sh` and the trade-off recipe
give their decode dirs), which is how ``narspeech analyze tradeoff`` pairs speed with quality."""
from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from narspeech.asr.recognize import DecodeOptions, Recognizer
from narspeech.audio.dump import read_dump
from narspeech.batching import chunks
from narspeech.metrics.timing import Timer
from narspeech.nets.subsampling import FACTORS, min_frames


def time_decoding(rec: Recognizer, mels: list[np.ndarray], opts: DecodeOptions, batch_size: int, *, repeat: int = 1,
                  warmup: int = 1) -> dict:
    """Decode `mels` (sorted by length by the caller) in batches of `batch_size` (0 = all): the best of
    `repeat` timed runs after `warmup` untimed batches."""
    batches = chunks(len(mels), batch_size)

    cpu = []

    def run(idx):
        lens = torch.tensor([mels[i].shape[0] for i in idx])
        x = torch.zeros(len(idx), int(lens.max()), mels[0].shape[1])
        for k, i in enumerate(idx):
            x[k, : mels[i].shape[0]] = torch.tensor(mels[i])
        x, lens = x.to(rec.device), lens.to(rec.device)
        c0 = time.process_time()
        with Timer(rec.device) as t:
            rec.decode_feats(x, lens, opts)
        cpu.append(time.process_time() - c0)
        return t.seconds

    for _ in range(max(0, warmup)):
        run(batches[0])
    runs, cpus = [], []
    for _ in range(max(1, repeat)):
        cpu.clear()
        per = [run(b) for b in batches]
        runs.append(per)
        cpus.append(sum(cpu))
    k = min(range(len(runs)), key=lambda i: sum(runs[i]))
    best = runs[k]
    audio = sum(m.shape[0] for m in mels) * rec.feats.hop_length / rec.feats.sample_rate
    total = sum(best)
    # process CPU time: on a shared machine wall time includes waiting for a core, CPU time does not
    return {"method": opts.method, "batch_size": len(batches[0]), "batches": len(batches), "seconds": total,
            "rtf": total / audio, "latency_mean_s": float(np.mean(best)), "latency_max_s": float(np.max(best)),
            "audio_seconds": audio, "runs": len(runs), "cpu_seconds": cpus[k]}


def decode_name(opts: DecodeOptions, quantize: str | None = None) -> str:
    """The decode dir name of these options: ``ctc``, ``greedy``, ``beam10``,
    ``maskctc[_lp]_th0.999_it10[_fu1]``; ``_int8`` appended for an int8-quantized model."""
    if opts.method == "maskctc":
        name = (f"maskctc{'_lp' if opts.length_adjust else ''}_th{opts.threshold:g}_it{opts.iterations}"
                f"{f'_fu{opts.ctc_fusion:g}' if opts.ctc_fusion else ''}")
    elif opts.method == "beam":
        name = f"beam{opts.beam}"
    else:
        name = opts.method
    return name + (f"_{quantize}" if quantize and quantize != "none" else "")


@dataclass
class Variant:
    """One more system to time against the AR beam search: `rec` decoding with `opts`."""

    system: str
    rec: Recognizer
    opts: DecodeOptions

    @property
    def decode(self) -> str:
        return f"{Path(self.rec.info['exp']).name}/{decode_name(self.opts, self.rec.info.get('quantize'))}"


def benchmark_asr(maskctc: Recognizer, ar: Recognizer | None, mels: list[np.ndarray], *, batch_sizes: list[int],
                  threshold: float | None = None, iterations: int | None = None, beam: int = 10, ctc_weight: float = 0.3,
                  repeat: int = 1, variants: list[Variant] | None = None) -> dict:
    """Time greedy CTC, Mask-CTC (the model's settings tuned on dev unless `threshold`/`iterations` are given),
    AR beam and the `variants`; speed-ups are over the AR beam search at the same batch size."""
    mask = maskctc.default_options("maskctc", threshold=threshold, iterations=iterations)
    order = sorted(range(len(mels)), key=lambda i: mels[i].shape[0])
    mels = [mels[i] for i in order]
    base = f"ar_beam{beam}"
    systems = [Variant("ctc_greedy", maskctc, DecodeOptions("ctc")), Variant("maskctc", maskctc, mask)]
    if getattr(maskctc.model, "length_head", None) is not None:
        systems.append(Variant("maskctc_length_adjust", maskctc, replace(mask, length_adjust=True)))
    if ar is not None:
        systems.append(Variant(base, ar, DecodeOptions("beam", beam=beam, ctc_weight=ctc_weight)))
    extra = [v for v in variants or [] if v.decode not in {x.decode for x in systems}]  # each decode timed once
    systems += extra
    rows = []
    for bs in batch_sizes:
        for v in systems:
            rows.append({"system": v.system, "decode": v.decode, **time_decoding(v.rec, mels, v.opts, bs, repeat=repeat)})
    for r in rows:
        ref = next((x for x in rows if x["system"] == base and x["batch_size"] == r["batch_size"]), None) if ar else None
        r["speedup_vs_ar"] = ref["seconds"] / r["seconds"] if ref else None
        r["cpu_speedup_vs_ar"] = ref["cpu_seconds"] / r["cpu_seconds"] if ref and r["cpu_seconds"] > 0 else None
    return {"device": str(maskctc.device), "threads": torch.get_num_threads(), "utterances": len(mels),
            "options": {"threshold": mask.threshold, "iterations": mask.iterations, "ctc_fusion": mask.ctc_fusion, "beam": beam,
                        "ctc_weight": ctc_weight},
            "maskctc": maskctc.info, "ar": None if ar is None else ar.info,
            "variants": {v.system: v.rec.info for v in extra}, "rows": rows,
            "time": time.strftime("%Y-%m-%dT%H:%M:%S")}


def markdown_table(res: dict) -> str:
    lines = [f"ASR decoding speed on {res['device']} ({res['threads']} threads), {res['utterances']} utterances, "
             f"{res['rows'][0]['audio_seconds']:.1f} s of audio", "",
             "| system | batch | seconds | RTF | latency/batch (s) | speed-up vs AR | CPU s | CPU-time speed-up |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in res["rows"]:
        sp = "" if r["speedup_vs_ar"] is None else f"{r['speedup_vs_ar']:.1f}×"
        cs = "" if r.get("cpu_speedup_vs_ar") is None else f"{r['cpu_speedup_vs_ar']:.1f}×"
        cpu = "" if r.get("cpu_seconds") is None else f"{r['cpu_seconds']:.3f}"
        lines.append(f"| {r['system']} | {r['batch_size']} | {r['seconds']:.3f} | {r['rtf']:.4f} | {r['latency_mean_s']:.4f} | {sp} | {cpu} | {cs} |")
    return "\n".join(lines) + "\n"


def load_mels(dump_dir: str | Path, limit: int | None = None) -> list[np.ndarray]:
    d = read_dump(dump_dir)
    shortest = max(min_frames(f) for f in FACTORS)  # long enough for any model's subsampling
    utts = [u for u in d.num_frames if d.num_frames[u] >= shortest][: limit or None]
    return [np.asarray(d.feats[u], dtype=np.float32) for u in utts]
