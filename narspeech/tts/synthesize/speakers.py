"""Which voice each synthesised line gets, for a multi-speaker model.

Sources, in order: ``--speaker-embedding`` (a ``.npy`` vector or a kaldiio scp/ark: one entry serves every
line, several are looked up by the line's id, then by its speaker), ``--reference-audio`` (zero-shot: the GE2E
d-vector of that audio, several files averaged), then the speaker's name (``--speaker``, else the line's
speaker in the data dir's ``utt2spk``) through the model's ``spk2sid`` and its training speakers' mean
embeddings (``EXP/spk_embed.scp``). Lines of different speakers share batches: the ids and embeddings travel
with each line.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from narspeech.audio.io import load_audio
from narspeech.audio.speaker_encoder import SAMPLE_RATE, embed_waveforms
from narspeech.errors import NarspeechError
from narspeech.tts.speakers import SPK2SID, SPK_EMBED, read_spk2sid
from narspeech.audio.spk_embed import read_embeddings
from narspeech.train.checkpoint import exp_dir_of


@dataclass
class SpeakerRequest:
    """What the user asked for (all optional)."""

    speaker: str | None = None
    embedding: Path | None = None
    reference_audio: Sequence[Path] = field(default_factory=list)

    @property
    def given(self) -> bool:
        return bool(self.speaker or self.embedding or self.reference_audio)


@dataclass
class Voice:
    """The speaker inputs of one line: a label (for OUT/utt2spk), a speaker id and/or an embedding."""

    label: str
    sid: int | None = None
    spemb: np.ndarray | None = None


@dataclass
class ModelSpeakers:
    """The speaker side of a trained model: its id table, its embedding size and its speakers' mean embeddings."""

    spk2sid: dict[str, int] | None
    spk_embed_dim: int
    means: dict[str, np.ndarray]
    model_dir: Path

    @property
    def multi(self) -> bool:
        return self.spk2sid is not None or self.spk_embed_dim > 0

    def known(self) -> list[str]:
        return sorted(self.spk2sid) if self.spk2sid is not None else sorted(self.means)

    @classmethod
    def of(cls, cfg: dict, model_dir: str | Path) -> "ModelSpeakers":
        m = cfg.get("model") or {}
        exp = exp_dir_of(model_dir)
        spk2sid = read_spk2sid(_need(exp / SPK2SID)) if int(m.get("spks") or 0) else None
        dim = int(m.get("spk_embed_dim") or 0)
        means = read_embeddings(exp / f"{SPK_EMBED}.scp") if dim and (exp / f"{SPK_EMBED}.scp").is_file() else {}
        return cls(spk2sid, dim, means, exp)


def _need(path: Path) -> Path:
    if not path.is_file():
        raise NarspeechError("multi-speaker model without its speaker table", path=path)
    return path


def assign_voices(ms: ModelSpeakers, utts: Sequence[str], request: SpeakerRequest,
                  utt2spk: Mapping[str, str] | None = None, device: str = "cpu") -> dict[str, Voice]:
    """utt → :class:`Voice` for every line (empty for a single-speaker model). One clear error for an unknown
    speaker (listing the known ones), an embedding of the wrong size, or a multi-speaker model given no voice."""
    if not ms.multi:
        if request.given:
            raise NarspeechError("this model has one speaker: --speaker, --speaker-embedding and --reference-audio "
                                 "need a multi-speaker model", path=ms.model_dir)
        return {}
    utt2spk = dict(utt2spk or {})
    table: dict[str, np.ndarray] | None = None
    if request.embedding is not None:
        if not ms.spk_embed_dim:
            raise NarspeechError("this model takes no speaker embeddings (it was trained with speaker ids only): use --speaker",
                                 path=ms.model_dir)
        table = read_embeddings(request.embedding)
        _check_size(next(iter(table.values())), ms.spk_embed_dim, request.embedding)
    ref = None
    if request.reference_audio:
        if not ms.spk_embed_dim:
            raise NarspeechError("zero-shot synthesis (--reference-audio) needs a model trained on speaker embeddings "
                                 "(--spk-embed); this one has speaker ids only: use --speaker", path=ms.model_dir)
        ref = reference_embedding(request.reference_audio, device)
        _check_size(ref, ms.spk_embed_dim, request.reference_audio[0])
    voices = {}
    for utt in utts:
        name = request.speaker or utt2spk.get(utt)
        emb = None
        if table is not None:
            emb = table.get(utt) if len(table) > 1 else next(iter(table.values()))
            if emb is None and name is not None:
                emb = table.get(name)
            if emb is None:
                raise NarspeechError("no embedding for this line (neither its id nor its speaker is a key)", utt=utt,
                                     path=request.embedding)
        elif ref is not None:
            emb = ref
        sid = None
        if ms.spk2sid is not None:
            sid = _sid(ms, name, utt)
        if ms.spk_embed_dim and emb is None:
            if name is None:
                raise NarspeechError(_choose(ms))
            if name not in ms.means:
                raise NarspeechError(f"unknown speaker {name!r}; known: {', '.join(ms.known())}"
                                     + ("" if request.speaker else " (or give --speaker-embedding / --reference-audio)"), utt=utt)
            emb = ms.means[name]
        label = name if name is not None else ("reference" if ref is not None else "embedding")
        voices[utt] = Voice(label, sid, None if emb is None else np.asarray(emb, dtype=np.float32))
    return voices


def _sid(ms: ModelSpeakers, name: str | None, utt: str) -> int:
    if name is None:
        raise NarspeechError(_choose(ms))
    if name not in ms.spk2sid:
        raise NarspeechError(f"unknown speaker {name!r}; known: {', '.join(ms.known())}", utt=utt)
    return ms.spk2sid[name]


def _choose(ms: ModelSpeakers) -> str:
    how = "--speaker NAME" + (", --speaker-embedding or --reference-audio" if ms.spk_embed_dim else "")
    return f"this model has several speakers: choose one with {how} (known: {', '.join(ms.known())})"


def _check_size(v: np.ndarray, dim: int, path) -> None:
    if v.shape[0] != dim:
        raise NarspeechError(f"speaker embedding has {v.shape[0]} values but the model takes {dim}", path=path)


def reference_embedding(paths: Sequence[Path], device: str = "cpu") -> np.ndarray:
    """The d-vector of reference recordings (each embedded, then averaged and normalised)."""
    wavs = []
    for p in paths:
        if not Path(p).is_file():
            raise NarspeechError("reference audio not found", path=p)
        wavs.append(load_audio(str(p), target_sr=SAMPLE_RATE)[0])
    v = embed_waveforms(wavs, SAMPLE_RATE, device).mean(axis=0)
    return (v / max(float(np.linalg.norm(v)), 1e-8)).astype(np.float32)
