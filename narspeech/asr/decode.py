"""Decode a feature dump (:func:`decode_dump`) or audio files (:func:`decode_audio`) with a loaded
:class:`Recognizer`, in length-sorted batches, to a decode dir.

Outputs (all written under a temporary name and renamed, only once every batch is done):
``hyp`` (``utt words…``, sorted, an empty hypothesis is ``utt`` alone), ``token_hyp`` (model
tokens), ``timing`` (``utt seconds audio_seconds batch_size``: the batch's wall time shared by
frames; exact at batch size 1), ``skipped`` (``utt reason``: too short for the subsampling),
``empty`` (decoded utterances with an empty hypothesis: degenerate output, flagged per item),
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
from narspeech.audio.dump import read_dump
from narspeech.audio.extract import probe
from narspeech.audio.io import load_audio
from narspeech.batching import make_batches
from narspeech.errors import NarspeechError
from narspeech.fileio import atomic_write
from narspeech.metrics.timing import Timer
from narspeech.progress import progress

log = logging.getLogger("narspeech.asr")


def decode_dump(rec: Recognizer, dump_dir: str | Path, out_dir: str | Path, opts: DecodeOptions, *, batch_size: int = 32,
                batch_frames: int = 0, utts: list[str] | None = None, limit: int | None = None) -> dict:
    """Decode every utterance of `dump_dir` (or `utts`); `batch_size` caps utterances per batch and
    `batch_frames` (0 = no cap) the padded frames. Returns the summary written to decode.json."""
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
    for u in names:
        if u not in dump.num_frames:
            raise NarspeechError("utterance not in the dump", utt=u, path=Path(dump_dir) / "feats.scp")

    def load(us: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        mels = [np.array(dump.feats[u], dtype=np.float32) for u in us]
        lens = torch.tensor([m.shape[0] for m in mels])
        x = torch.zeros(len(us), int(lens.max()), mels[0].shape[1])
        for i, m in enumerate(mels):
            x[i, : m.shape[0]] = torch.from_numpy(m)
        return x, lens

    res = _decode_batches(rec, {u: dump.num_frames[u] for u in names}, load, opts, batch_size, batch_frames)
    return _write_decode_dir(rec, out_dir, opts, res, {"dump": str(dump_dir), "batch_size": batch_size,
                                                       "batch_frames": batch_frames})


def decode_audio(rec: Recognizer, entries: dict[str, str], out_dir: str | Path | None, opts: DecodeOptions, *,
                 batch_size: int = 32, batch_seconds: float = 0.0, skip_bad: bool = False) -> tuple[dict[str, str], dict]:
    """Recognise audio (``utt -> path`` or Kaldi ``cmd |``, any rate: resampled to the model's) in
    length-sorted batches, computing the model's features on its device. Unreadable audio raises a
    one-line error naming the utterance and the file, or with `skip_bad` is listed in ``skipped``
    (empty hypothesis). Writes the decode dir of :func:`decode_dump` when `out_dir` is given; returns
    (``utt -> words``, summary)."""
    rec.check_method(opts)
    bad: dict[str, str] = {}
    found = {u.utt: u for u in probe(entries, skip_bad=skip_bad, skipped=bad)}
    hop, sr = rec.feats.hop_length, rec.sample_rate
    frames = {u: 1 + int(round(found[u].seconds * sr)) // hop for u in entries if u in found}  # for batching only

    def read(u: str) -> np.ndarray:
        try:
            return load_audio(found[u].entry, utt=u, target_sr=sr)[0]
        except NarspeechError as e:
            if not skip_bad:
                raise
            bad[u] = str(e)
            return np.zeros(0, dtype=np.float32)  # too short to decode; its reason is the error above

    def load(us: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        return rec.features([read(u) for u in us], sr)

    bins = int(batch_seconds * sr / hop) if batch_seconds > 0 else 0
    res = _decode_batches(rec, frames, load, opts, batch_size, bins)
    for u, why in bad.items():
        res["skipped"][u] = why
        res["hyps"][u] = res["tok_hyps"][u] = ""
    info = {"audio": len(entries), "batch_size": batch_size, "batch_seconds": batch_seconds}
    summary = _write_decode_dir(rec, out_dir, opts, res, info) if out_dir is not None else _summary(rec, opts, res, info)
    return res["hyps"], summary


def _decode_batches(rec: Recognizer, frames: dict[str, int], load, opts: DecodeOptions, batch_size: int,
                    batch_frames: int) -> dict:
    """Decode utterances with `frames` (utt -> frame count) in length-sorted batches; ``load(utts) ->
    (padded log-mels, frame counts)``. Too-short utterances are skipped (empty hypothesis)."""
    skipped: dict[str, str] = {}
    hyps: dict[str, str] = {}
    tok_hyps: dict[str, str] = {}
    timing: dict[str, tuple[float, float, int]] = {}

    def too_short(u: str, n: int) -> None:
        skipped[u] = rec.too_short(n)
        hyps[u] = tok_hyps[u] = ""

    todo = []
    for u, n in frames.items():
        if n < rec.min_frames:
            too_short(u, n)
        else:
            todo.append(u)
    lengths = [frames[u] for u in todo]
    bins = batch_frames if batch_frames > 0 else max(lengths, default=1) * max(1, batch_size)
    batches = make_batches(lengths, max_padded=bins, max_items=batch_size) if todo else []
    hop_s = rec.feats.hop_length / rec.feats.sample_rate
    t_total = 0.0
    for batch in progress(batches, total=len(batches), desc="decode"):
        us = [todo[i] for i in batch]
        x, lens = load(us)
        keep = [i for i, n in enumerate(lens.tolist()) if n >= rec.min_frames]
        for i in set(range(len(us))) - set(keep):
            too_short(us[i], int(lens[i]))
        if not keep:
            continue
        us, kept = [us[i] for i in keep], torch.tensor(keep)
        x, lens = x.index_select(0, kept)[:, : int(lens[kept].max())], lens[kept]
        with Timer(rec.device) as t:
            ids = rec.decode_feats(x.to(rec.device), lens.to(rec.device), opts)
        t_total += t.seconds
        tot = float(lens.sum())
        for u, seq, n in zip(us, ids, lens.tolist()):
            toks = rec.token_list.decode(seq)
            hyps[u] = rec.tokenizer.decode(toks)
            tok_hyps[u] = " ".join(toks)
            timing[u] = (t.seconds * n / tot, n * hop_s, len(us))
    return {"hyps": hyps, "tok_hyps": tok_hyps, "timing": timing, "skipped": skipped, "batches": len(batches),
            "decode_seconds": t_total}


def _summary(rec: Recognizer, opts: DecodeOptions, res: dict, info: dict) -> dict:
    audio_s = sum(a for _, a, _ in res["timing"].values())
    t_total = res["decode_seconds"]
    return {"model": rec.info, "options": asdict(opts), **info, "utterances": len(res["hyps"]),
            "decoded": len(res["timing"]), "skipped": len(res["skipped"]), "empty": len(empty_hypotheses(res)),
            "batches": res["batches"],
            "device": str(rec.device), "decode_seconds": t_total, "audio_seconds": audio_s,
            "rtf": t_total / audio_s if audio_s else None, "threads": torch.get_num_threads(),
            "time": time.strftime("%Y-%m-%dT%H:%M:%S")}


def _write_decode_dir(rec: Recognizer, out_dir: str | Path, opts: DecodeOptions, res: dict, info: dict) -> dict:
    """hyp, token_hyp, timing, skipped, decode.json under `out_dir`, each written atomically."""
    summary = _summary(rec, opts, res, info)
    hyps, tok_hyps, timing, skipped = res["hyps"], res["tok_hyps"], res["timing"], res["skipped"]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
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
    empty = empty_hypotheses(res)
    with atomic_write(out / "empty") as f:
        for u in empty:
            f.write(f"{u} empty hypothesis\n")
    if empty and len(empty) == summary["decoded"]:
        log.warning("every hypothesis is empty (%d utterances): the model has not learnt, or the features do not match "
                    "its training features; listed in %s", len(empty), out / "empty")
    elif empty:
        log.warning("%d empty hypotheses, listed in %s", len(empty), out / "empty")
    return summary


def empty_hypotheses(res: dict) -> list[str]:
    """Decoded (not skipped) utterances whose hypothesis is empty: degenerate output, flagged per item."""
    return sorted(u for u in res["timing"] if not str(res["hyps"].get(u, "")).strip() and u not in res["skipped"])
