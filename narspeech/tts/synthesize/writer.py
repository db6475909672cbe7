"""The synthesis output directory: one call from ``(utt, text)`` items to files a later stage can trust.

* ``feats.scp`` + ``feats.ark`` — generated log-mels (T, n_mels), kaldiio; ``utt2num_frames``;
* ``wav/<utt>.wav`` (PCM16 at the feature sample rate), ``wav.scp`` (absolute paths),
  ``text`` (what was synthesised), ``token``;
* ``failed`` — ``utt reason`` for every input left out (empty file when none);
* ``utt2spk`` — the voice of every line (multi-speaker models);
* ``synth_info.json`` — model dir, checkpoint, config hash, controls, vocoder, timings:
  what ``narspeech tts evaluate`` copies into its results.

A rerun into the same folder removes the wavs the new run did not write (no stale files).
"""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator, Mapping, Sequence

import kaldiio
import numpy as np
import torch
import yaml

from narspeech.audio.dump import read_dump
from narspeech.audio.io import write_wav
from narspeech.errors import NarspeechError
from narspeech.fileio import atomic_path, atomic_write, write_table
from narspeech.tts.synthesize.frontend import MAX_CHARS, Encoded, split_items, stderr_warning
from narspeech.tts.synthesize.inference import Controls, LoadedModel, Synthesized, join_pieces, synthesize_batches
from narspeech.tts.synthesize.onnx_engine import check_engine, prepare_engine
from narspeech.tts.synthesize.speakers import Voice

def config_hash(cfg: dict) -> str:
    """Short SHA-256 of the resolved config (canonical YAML), to tell runs apart."""
    blob = yaml.safe_dump(cfg, sort_keys=True, default_flow_style=True).encode()
    return hashlib.sha256(blob).hexdigest()[:12]


@dataclass
class SynthesisResult:
    """What :func:`synthesize_to_dir` did."""

    out_dir: Path
    synthesized: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    info: dict = field(default_factory=dict)



def synthesize_to_dir(loaded: LoadedModel, items: Sequence[tuple[str, str]], out_dir: str | Path, *,
                      batch_size: int = 16, controls: Controls | None = None,
                      vocoder: str = "griffin-lim", vocoder_options: dict | None = None,
                      write_wavs: bool = True, source: str | None = None,
                      warn: Callable[[str, str], None] = stderr_warning, max_chars: int = MAX_CHARS,
                      teacher_dump: str | Path | None = None, seed: int | None = 0,
                      voices: Mapping[str, Voice] | None = None, engine: str = "torch",
                      onnx_dir: str | Path | None = None) -> SynthesisResult:
    """Synthesise `items` (``(utt, text)``) with a :func:`load_model` result into `out_dir`.

    See the module docstring for the files written. Inputs that cannot be synthesised are
    listed in ``out_dir/failed`` and passed to `warn` (one line each); the rest are written.
    Raises :class:`NarspeechError` when nothing at all could be synthesised. With `teacher_dump` (a
    feature dump of the same utterances) an AR teacher runs teacher-forced on the recorded mels: its
    spectrum without its own free-running errors, to tell a weak acoustic model from a failing attention.
    `seed` seeds torch's generators first: an AR teacher's prenet dropout stays on at inference, so without
    it two runs of the same checkpoint give different speech (and scores); None leaves them as they are.
    `voices`: utt → :class:`~narspeech.tts.synthesize.speakers.Voice` for a multi-speaker model
    (:func:`~narspeech.tts.synthesize.speakers.assign_voices`); lines of different voices share batches.
    `engine` ``onnx``: the model's ``narspeech export onnx`` files (`onnx_dir`, default ``EXP/onnx``) run through
    onnxruntime (:func:`~narspeech.tts.synthesize.onnx_engine.prepare_engine`; `loaded` keeps the ONNX model).
    """
    controls = controls or Controls()
    controls.check()
    if seed is not None:
        torch.manual_seed(int(seed))
    if not items:
        raise NarspeechError("no sentences to synthesize", path=source)
    dup = _first_duplicate(u for u, _ in items)
    if dup is not None:
        raise NarspeechError("duplicated utterance id", utt=dup, path=source)
    check_engine(engine)
    if engine == "onnx" and teacher_dump is not None:
        raise NarspeechError("--teacher-forcing runs the PyTorch teacher; leave out --engine onnx")
    if engine == "onnx" and voices:
        raise NarspeechError("--engine onnx: the ONNX export has no speaker inputs; synthesize a multi-speaker model with --engine torch")
    voc = prepare_engine(loaded, engine, vocoder if write_wavs else None, directory=onnx_dir, vocoder_options=vocoder_options)
    model, cfg, fcfg, frontend, dev = loaded.model, loaded.cfg, loaded.feats, loaded.frontend, loaded.device
    texts = dict(items)
    teacher_mels, tf_failed = None, {}
    if teacher_dump is not None:
        if not hasattr(model, "teacher_forced"):
            raise NarspeechError(f"teacher forcing needs an AR teacher (tacotron2 or transformer_tts), not {loaded.model_type}",
                                 path=loaded.model_dir)
        teacher_mels, items = _teacher_mels(teacher_dump, items, fcfg, tf_failed)
        max_chars = 0  # the recording is one piece
    split, parent_of = split_items(items, max_chars, warn)
    encoded, failed = frontend.encode(split)
    for e in encoded if voices else ():
        v = voices.get(parent_of[e.utt][0] if e.utt in parent_of else e.utt)
        if v is not None:
            e.sid, e.spemb = v.sid, v.spemb
    failed.update(tf_failed)
    for p in [p for p in failed if p in parent_of]:  # a piece the frontend refused: the whole line fails
        parent, k, n = parent_of[p]
        failed.setdefault(parent, f"piece {k} of {n}: {failed.pop(p)}")
    pieces = [e for e in encoded if e.utt in parent_of and parent_of[e.utt][0] not in failed]
    encoded = [e for e in encoded if e.utt not in parent_of]

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    wav_dir = out_dir / "wav"
    ark_path = (out_dir / "feats.ark").resolve()
    scp: dict[str, str] = {}
    frames: dict[str, str] = {}
    wav_scp: dict[str, str] = {}
    timings: dict[str, float] = {}
    audio_seconds = 0.0
    t0 = time.perf_counter()
    joined: dict[str, Encoded] = {}

    def results() -> Iterator[Synthesized]:
        yield from synthesize_batches(model, encoded, batch_size=batch_size, controls=controls, device=dev, vocoder=voc,
                                      failed=failed, timings=timings, teacher_mels=teacher_mels)
        for res, enc in join_pieces(model, pieces, parent_of, texts, batch_size=batch_size, controls=controls, device=dev,
                                     vocoder=voc, hop_seconds=fcfg.hop_length / fcfg.sample_rate, failed=failed, timings=timings):
            joined[res.utt] = enc
            yield res

    with atomic_path(ark_path) as tmp_ark, open(tmp_ark, "wb") as ark:
        for res in results():
            pos = ark.tell()
            kaldiio.save_ark(ark, {res.utt: res.mel.astype(np.float32)})
            scp[res.utt] = f"{ark_path}:{pos + len(res.utt.encode()) + 1}"
            frames[res.utt] = str(len(res.mel))
            if res.wav is not None:
                wav_path = (wav_dir / f"{res.utt}.wav").resolve()
                write_wav(wav_path, res.wav, voc.sample_rate)
                wav_scp[res.utt] = str(wav_path)
                audio_seconds += len(res.wav) / voc.sample_rate
        ark.flush()
    wall = time.perf_counter() - t0

    for utt in sorted(failed):
        warn(utt, failed[utt])
    by_utt = {e.utt: e for e in encoded} | joined
    _remove_stale_wavs(wav_dir, set(wav_scp.values()))
    for name in EVAL_OUTPUTS:  # scores of an earlier run's audio (`tts evaluate`) no longer describe this one
        (out_dir / name).unlink(missing_ok=True)
    if not write_wavs:
        (out_dir / "wav.scp").unlink(missing_ok=True)
    write_table(out_dir / "feats.scp", scp)
    write_table(out_dir / "utt2num_frames", frames)
    write_table(out_dir / "text", {u: by_utt[u].text for u in scp})
    write_table(out_dir / "token", {u: " ".join(by_utt[u].tokens) for u in scp})
    if voices:
        write_table(out_dir / "utt2spk", {u: voices[u].label for u in scp if u in voices})
    else:
        (out_dir / "utt2spk").unlink(missing_ok=True)
    if write_wavs:
        write_table(out_dir / "wav.scp", wav_scp)
    with atomic_write(out_dir / "failed") as f:
        for utt in sorted(failed):
            f.write(f"{utt} {failed[utt]}\n")

    info = {
        "model_dir": str(Path(loaded.model_dir).resolve()),
        "checkpoint": str(Path(loaded.checkpoint).resolve()),
        "model_type": loaded.model_type,
        "config_hash": config_hash(cfg),
        "controls": {"speed": controls.speed, "pitch_shift": controls.pitch_shift, "energy_scale": controls.energy_scale},
        "seed": seed,
        "teacher_forced": str(Path(teacher_dump).resolve()) if teacher_dump is not None else None,
        "vocoder": {"name": vocoder, **(vocoder_options or {})} if write_wavs else None,
        "feats": fcfg.to_dict(),
        "text": {"kind": frontend.kind, "language": frontend.language},
        "device": str(dev),
        "engine": engine,
        "batch_size": batch_size,
        "speakers": sorted({v.label for v in voices.values()}) if voices else None,
        "source": source,
        "inputs": len(items),
        "synthesized": len(scp),
        "failed": len(failed),
        "frames": int(sum(int(v) for v in frames.values())),
        "audio_seconds": round(audio_seconds, 3),
        "mel_seconds": round(timings.get("mel_seconds", 0.0), 4),
        "vocoder_seconds": round(timings.get("vocoder_seconds", 0.0), 4),
        "wall_seconds": round(wall, 4),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    with atomic_write(out_dir / "synth_info.json") as f:
        json.dump(info, f, indent=1)
    if not scp:
        raise NarspeechError(f"nothing could be synthesized ({len(failed)} inputs failed; reasons in {out_dir / 'failed'})", path=source)
    return SynthesisResult(out_dir, sorted(scp), failed, info)


def _teacher_mels(dump_dir: str | Path, items, fcfg, failed: dict[str, str]):
    """Recorded log-mels of `items` from a dump with the model's features; items the dump lacks fail."""
    dump = read_dump(dump_dir)
    try:
        if dump.config.to_dict() != fcfg.to_dict():
            raise NarspeechError("the dump's features differ from the model's", path=Path(dump_dir) / "feats.yaml")
        keep = []
        for utt, text in items:
            if utt in dump.num_frames:
                keep.append((utt, text))
            else:
                failed[utt] = f"not in the teacher-forcing dump {dump_dir}"
        return {u: np.asarray(dump.feats[u], dtype=np.float32) for u, _ in keep}, keep
    finally:
        dump.close()


EVAL_OUTPUTS = ("results.json", "utt_scores.json", "mcd", "f0_rmse", "hyp_synth", "hyp_ref", "text_scored", "spk_scores.json")


def _remove_stale_wavs(wav_dir: Path, keep: set[str]) -> None:
    """Delete wavs of earlier runs into the same folder (what this run did not write)."""
    if wav_dir.is_dir():
        for p in wav_dir.glob("*.wav"):
            if str(p.resolve()) not in keep:
                p.unlink(missing_ok=True)


def _first_duplicate(keys: Iterable[str]) -> str | None:
    seen: set[str] = set()
    for k in keys:
        if k in seen:
            return k
        seen.add(k)
    return None
