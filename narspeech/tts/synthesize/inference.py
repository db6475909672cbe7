"""Batch inference: encoded sentences → mels (acoustic model) → waveforms (vocoder), in length-sorted batches.

Items run in batches of similar length (the longest at most twice the shortest), so no short line is padded,
and vocoded, at the length of a long one. A batch that fails at inference is retried one utterance at a time
so one bad input never costs the others. Pieces of long lines are joined back with short pauses.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Mapping, Sequence

import numpy as np
import torch

from narspeech.audio.features import FeatureConfig
from narspeech.batching import make_batches
from narspeech.degenerate import array_problem, audio_problem
from narspeech.device import autocast, resolve_device
from narspeech.errors import NarspeechError
from narspeech.metrics.timing import Timer
from narspeech.progress import progress
from narspeech.train.checkpoint import resolve_checkpoint
from narspeech.tts.synthesize.frontend import PIECE_PAUSE_SECONDS, Encoded, TextFrontend
from narspeech.tts.models.build import load_tts_model
from narspeech.tts.models.stats import PAD_LOG_MEL
from narspeech.vocoder.base import pad_mels

@dataclass
class Controls:
    """FastSpeech 2 controls (the AR teacher ignores them)."""

    speed: float = 1.0
    pitch_shift: float = 0.0
    energy_scale: float = 1.0

    def check(self) -> None:
        if not self.speed > 0:
            raise NarspeechError(f"--speed must be > 0 (got {self.speed})")
        if not self.energy_scale > 0:
            raise NarspeechError(f"--energy-scale must be > 0 (got {self.energy_scale})")


@dataclass
class Synthesized:
    """One synthesised utterance: log-mel (T, n_mels) float32 and, with a vocoder, its waveform."""

    utt: str
    mel: np.ndarray
    wav: np.ndarray | None = None


def speaker_kwargs(batch: Sequence[Encoded], device: torch.device) -> dict:
    """``sids`` (B,) and/or ``spembs`` (B, D) of a batch whose lines carry speakers (none: {})."""
    out = {}
    if batch and batch[0].sid is not None:
        out["sids"] = torch.tensor([e.sid for e in batch], dtype=torch.long, device=device)
    if batch and batch[0].spemb is not None:
        out["spembs"] = torch.from_numpy(np.stack([np.asarray(e.spemb, dtype=np.float32) for e in batch])).to(device)
    return out


def pad_tokens(batch: Sequence[Encoded], device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, N) LongTensor padded with 0 (``<blank>``) and the lengths (B,)."""
    lengths = torch.tensor([len(e.ids) for e in batch], dtype=torch.long)
    tokens = torch.zeros(len(batch), int(lengths.max()), dtype=torch.long)
    for i, e in enumerate(batch):
        tokens[i, : len(e.ids)] = torch.tensor(e.ids, dtype=torch.long)
    return tokens.to(device), lengths.to(device)


LENGTH_RATIO = 2.0  # in a synthesis batch the longest item has at most twice the tokens of the shortest


def join_pieces(model, pieces: list[Encoded], parent_of: dict, texts: dict[str, str], *, batch_size, controls, device,
                 vocoder, hop_seconds: float, failed: dict[str, str], timings: dict) -> Iterator[tuple[Synthesized, Encoded]]:
    """Synthesise the pieces of long lines (batched by length with no vocoder), join each line's
    mels with pauses, vocode the joined mel; yield it with the joined :class:`Encoded`."""
    mels: dict[str, dict[int, np.ndarray]] = {}
    piece_failed: dict[str, str] = {}
    for r in synthesize_batches(model, pieces, batch_size=batch_size, controls=controls, device=device, vocoder=None,
                                failed=piece_failed, timings=timings, show_progress=False):
        parent, k, _ = parent_of[r.utt]
        mels.setdefault(parent, {})[k] = r.mel
    for p, why in piece_failed.items():
        parent, k, n = parent_of[p]
        failed.setdefault(parent, f"piece {k} of {n}: {why}")
    by_piece = {e.utt: e for e in pieces}
    pause = int(round(PIECE_PAUSE_SECONDS / hop_seconds))
    for parent in sorted(mels):
        if parent in failed:
            continue
        n = next(v[2] for v in parent_of.values() if v[0] == parent)
        parts = [mels[parent][k] for k in range(1, n + 1)]
        gap = np.full((pause, parts[0].shape[1]), PAD_LOG_MEL, dtype=np.float32)
        mel = np.concatenate([x for m in parts for x in (m, gap)][:-1], axis=0)
        wav = None
        if vocoder is not None:
            with Timer(device) as t:
                wav = vocode(vocoder, [mel])[0]
            timings["vocoder_seconds"] = timings.get("vocoder_seconds", 0.0) + t.seconds
        keys = [f"{parent}#{k:03d}" for k in range(1, n + 1)]
        enc = Encoded(parent, texts[parent], [t for key in keys for t in by_piece[key].tokens],
                      [i for key in keys for i in by_piece[key].ids])
        yield Synthesized(parent, mel, wav), enc


def generate_mels(model: torch.nn.Module, batch: Sequence[Encoded], controls: Controls, device: torch.device,
                  teacher_mels: Mapping[str, np.ndarray] | None = None) -> list[np.ndarray]:
    """Run the acoustic model on one batch → per-utterance float32 log-mels (T_i, n_mels). With
    `teacher_mels` (utt → recorded log-mel) an AR teacher runs teacher-forced on them instead of free."""
    tokens, lengths = pad_tokens(batch, device)
    spk = speaker_kwargs(batch, device)
    with torch.no_grad(), autocast(device):
        if teacher_mels is not None:
            mels, mel_lengths = _teacher_forced(model, tokens, lengths, [teacher_mels[e.utt] for e in batch], device, spk)
        else:
            mels, mel_lengths = model.inference(tokens, lengths, speed=controls.speed, pitch_shift=controls.pitch_shift,
                                                energy_scale=controls.energy_scale, **spk)
    mels = mels.float().cpu().numpy()
    return [np.ascontiguousarray(mels[i, : int(n)]) for i, n in enumerate(mel_lengths.cpu().tolist())]


def _teacher_forced(model, tokens: torch.Tensor, lengths: torch.Tensor, targets: Sequence[np.ndarray],
                    device: torch.device, spk: dict | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The AR teacher's postnet output when each step is fed the recorded previous frame (denormalised)."""
    pad, mel_lengths = pad_mels(targets, PAD_LOG_MEL)
    mel_lengths = mel_lengths.to(device)
    out = model.teacher_forced(tokens, lengths, pad.to(device), mel_lengths, **(spk or {}))
    return model.stats.denorm_mel(out["after"].float())[:, : pad.size(1)], mel_lengths


def vocode(vocoder, mels: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Waveforms of a list of log-mels, as one padded batch through `vocoder`."""
    return vocoder(*pad_mels(mels, PAD_LOG_MEL))


def batch_encoded(items: Sequence[Encoded], batch_size: int, max_ratio: float = 0.0) -> list[list[Encoded]]:
    """Encoded items in batches of at most `batch_size`, longest first (padding small, OOM early; ties by utt);
    with `max_ratio` a batch's longest item is at most that many times its shortest."""
    if batch_size < 1:
        raise NarspeechError(f"--batch-size must be >= 1 (got {batch_size})")
    items = sorted(items, key=lambda e: e.utt)
    return [[items[i] for i in b] for b in
            make_batches([len(e.ids) for e in items], max_items=batch_size, max_ratio=max_ratio or 0.0, longest_first=True)]


def synthesize_batches(model: torch.nn.Module, items: Sequence[Encoded], *, batch_size: int = 16, controls: Controls | None = None,
                       device: torch.device | str = "cpu", vocoder=None, failed: dict[str, str] | None = None,
                       timings: dict[str, float] | None = None, show_progress: bool = True,
                       teacher_mels: Mapping[str, np.ndarray] | None = None) -> Iterator[Synthesized]:
    """Yield one :class:`Synthesized` per item (batched, sorted by length).

    A batch whose inference raises is retried one item at a time; an item that still
    fails is recorded in `failed` (``utt -> reason``) and skipped. `timings` (if given)
    accumulates ``mel_seconds`` and ``vocoder_seconds``. `teacher_mels`: see :func:`generate_mels`.
    """
    controls = controls or Controls()
    controls.check()
    device = torch.device(device)
    failed = {} if failed is None else failed
    timings = {} if timings is None else timings
    timings.setdefault("mel_seconds", 0.0)
    timings.setdefault("vocoder_seconds", 0.0)
    batches = batch_encoded(items, batch_size, max_ratio=LENGTH_RATIO)
    bar = progress(total=len(items), desc="synthesize", unit="utt") if show_progress else None
    for batch in batches:
        results = _run_batch(model, batch, controls, device, vocoder, failed, timings, Timer, teacher_mels)
        for r in results:
            yield r
        if bar is not None:
            bar.update(len(batch))
    if bar is not None:
        bar.close()


def _run_batch(model, batch, controls, device, vocoder, failed, timings, Timer, teacher_mels=None) -> list[Synthesized]:
    try:
        with Timer(device) as t:
            mels = generate_mels(model, batch, controls, device, teacher_mels)
        timings["mel_seconds"] += t.seconds
    except Exception as e:  # bad input reaching the model, CUDA OOM on a long batch, …
        if len(batch) > 1:
            if device.type == "cuda":
                torch.cuda.empty_cache()
            out = []
            for item in batch:
                out.extend(_run_batch(model, [item], controls, device, vocoder, failed, timings, Timer, teacher_mels))
            return out
        failed[batch[0].utt] = f"acoustic model failed: {type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}"
        return []
    empty = [i for i, m in enumerate(mels) if len(m) < 2]
    for i in empty:
        failed[batch[i].utt] = f"acoustic model produced {len(mels[i])} frame(s)"
    why = {i: array_problem(m, "mel") for i, m in enumerate(mels) if i not in empty}
    bad = [i for i, w in why.items() if w is not None]
    for i in bad:  # NaN/inf or constant: a vocoder would refuse the whole batch, or speak nothing
        failed[batch[i].utt] = f"acoustic model output: {why[i]}"
    keep = [i for i in range(len(batch)) if i not in empty and i not in bad]
    if not keep:
        return []
    wavs: list[np.ndarray | None] = [None] * len(keep)
    if vocoder is not None:
        with Timer(device) as t:
            wavs = vocode(vocoder, [mels[i] for i in keep])
        timings["vocoder_seconds"] += t.seconds
    out = []
    for i, w in zip(keep, wavs):
        why = None if w is None else audio_problem(w)
        if why is not None:
            failed[batch[i].utt] = f"vocoder output: {why}"
        else:
            out.append(Synthesized(batch[i].utt, mels[i], w))
    return out



@dataclass
class LoadedModel:
    """A trained acoustic model with everything synthesis needs from its exp dir."""

    model: torch.nn.Module
    cfg: dict
    feats: "object"  # narspeech.audio.features.FeatureConfig
    frontend: TextFrontend
    model_dir: Path
    checkpoint: Path
    device: torch.device

    @property
    def model_type(self) -> str | None:
        return (self.cfg.get("model") or {}).get("type")


def load_model(model_dir: str | Path, *, checkpoint: str | Path | None = None, device: str | torch.device = "auto") -> LoadedModel:
    """Load the model of an exp dir (its best.pt, else last.pt; or `checkpoint`), its feature config and frontend."""
    model_dir = Path(model_dir)
    ckpt_path = resolve_checkpoint(checkpoint or model_dir)
    dev = resolve_device(device) if isinstance(device, str) else device
    model, cfg = load_tts_model(ckpt_path, dev)
    if not cfg.get("feats"):
        raise NarspeechError("model config has no feats section (feature config)", path=ckpt_path)
    feats = FeatureConfig.from_dict(cfg["feats"])
    return LoadedModel(model, cfg, feats, TextFrontend.for_model(model_dir, cfg), model_dir, Path(ckpt_path), dev)
