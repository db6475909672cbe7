"""Decode a feature dump with a loaded :class:`Recognizer`, in length-sorted batches, to a decode dir.

Outputs (all written under a temporary name and renamed, only once every batch is done):
``hyp`` (``utt words…``, sorted, an empty hypothesis is ``utt`` alone), ``token_hyp`` (model
tokens), ``timing`` (``utt seconds audio_seconds batch_size``: the batch's wall time shared by
frames; exact at batch size 1), ``skipped`` (``utt reason``: too short for the subsampling),
``decode.json`` (model, checkpoint step, options, totals, RTF).
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from narspeech.asr.recognize import DecodeOptions, Recognizer
from narspeech.errors import NarspeechError
from narspeech.fileio import atomic_write
from narspeech.nets.subsampling import MIN_FRAMES

log = logging.getLogger("narspeech.asr")


def decode_dump(rec: Recognizer, dump_dir: str | Path, out_dir: str | Path, opts: DecodeOptions, *, batch_size: int = 32,
                batch_frames: int = 0, utts: list[str] | None = None, limit: int | None = None) -> dict:
    """Decode every utterance of `dump_dir` (or `utts`); `batch_size` caps utterances per batch and
    `batch_frames` (0 = no cap) the padded frames. Returns the summary written to decode.json."""
    from narspeech.audio.dump import read_dump
    from narspeech.data.batching import make_batches
    from narspeech.metrics.timing import Timer
    from narspeech.progress import progress

    rec.check_method(opts)
    dump = read_dump(dump_dir)
    if dump.config.sample_rate != rec.feats.sample_rate or dump.config.n_mels != rec.feats.n_mels or \
            dump.config.hop_length != rec.feats.hop_length:
        raise NarspeechError(f"dump features ({dump.config.sample_rate} Hz, {dump.config.n_mels} mels, hop "
                             f"{dump.config.hop_length}) differ from the model's ({rec.feats.sample_rate} Hz, "
                             f"{rec.feats.n_mels} mels, hop {rec.feats.hop_length})", path=Path(dump_dir) / "feats.yaml")
    names = list(dump.num_frames) if utts is None else utts
    if limit:
        names = names[:limit]
    skipped: dict[str, str] = {}
    todo = []
    for u in names:
        if u not in dump.num_frames:
            raise NarspeechError("utterance not in the dump", utt=u, path=Path(dump_dir) / "feats.scp")
        n = dump.num_frames[u]
        if n < MIN_FRAMES:
            skipped[u] = f"too short: {n} frames, the x4 subsampling needs at least {MIN_FRAMES}"
        else:
            todo.append(u)
    lengths = [dump.num_frames[u] for u in todo]
    bins = batch_frames if batch_frames > 0 else max(lengths, default=1) * max(1, batch_size)
    batches = make_batches(lengths, bins, batch_size) if todo else []
    hyps: dict[str, str] = {u: "" for u in skipped}
    tok_hyps: dict[str, str] = {u: "" for u in skipped}
    timing: dict[str, tuple[float, float, int]] = {}
    hop_s = rec.feats.hop_length / rec.feats.sample_rate
    t_total = 0.0
    for batch in progress(batches, total=len(batches), desc="decode"):
        us = [todo[i] for i in batch]
        mels = [np.array(dump.feats[u], dtype=np.float32) for u in us]
        lens = torch.tensor([m.shape[0] for m in mels])
        x = torch.zeros(len(us), int(lens.max()), mels[0].shape[1])
        for i, m in enumerate(mels):
            x[i, : m.shape[0]] = torch.from_numpy(m)
        with Timer(rec.device) as t:
            ids = rec.decode_feats(x.to(rec.device), lens.to(rec.device), opts)
        t_total += t.seconds
        tot = float(lens.sum())
        for u, seq, n in zip(us, ids, lens.tolist()):
            toks = rec.token_list.decode(seq)
            hyps[u] = rec.tokenizer.decode(toks)
            tok_hyps[u] = " ".join(toks)
            timing[u] = (t.seconds * n / tot, n * hop_s, len(us))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    audio_s = sum(a for _, a, _ in timing.values())
    summary = {
        "model": rec.info, "options": asdict(opts), "dump": str(dump_dir), "utterances": len(hyps),
        "decoded": len(timing), "skipped": len(skipped), "batch_size": batch_size, "batch_frames": batch_frames,
        "batches": len(batches), "device": str(rec.device), "decode_seconds": t_total, "audio_seconds": audio_s,
        "rtf": t_total / audio_s if audio_s else None, "threads": torch.get_num_threads(),
        "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    with atomic_write(out / "hyp") as f:
        for u in sorted(hyps):
            f.write(f"{u} {hyps[u]}".rstrip() + "\n")
    with atomic_write(out / "token_hyp") as f:
        for u in sorted(tok_hyps):
            f.write(f"{u} {tok_hyps[u]}".rstrip() + "\n")
    with atomic_write(out / "timing") as f:
        for u in sorted(timing):
            s, a, bs = timing[u]
            f.write(f"{u} {s:.6f} {a:.3f} {bs}\n")
    with atomic_write(out / "skipped") as f:
        for u in sorted(skipped):
            f.write(f"{u} {skipped[u]}\n")
    with atomic_write(out / "decode.json") as f:
        json.dump(summary, f, indent=1)
    for u, why in sorted(skipped.items()):
        log.warning("skipped %s: %s", u, why)
    return summary
