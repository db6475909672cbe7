"""Who speaks each utterance, as a multi-speaker model takes it: a speaker id and/or an external embedding.

Files (Kaldi/ESPnet conventions):

* ``EXP/spk2sid`` — ``speaker id`` lines, ids 0..S-1, built from the training set's ``utt2spk``
  (sorted speaker names) when ``model.spks`` is on; synthesis reads names through it.
* an embedding scp (kaldiio, e.g. from ``narspeech feats spk-embed``), keyed by utterance (``utt_embed.scp``)
  or by speaker (``spk_embed.scp``): an utterance takes its own vector if the table has one, else its
  speaker's (through the data dir's ``utt2spk``).
* ``EXP/spk_embed.scp`` + ``.ark`` — the training speakers' mean embeddings (L2-normalised), so
  ``--speaker NAME`` works with an embedding-only model too.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

import numpy as np

from narspeech.audio.spk_embed import read_embeddings
from narspeech.errors import NarspeechError
from narspeech.fileio import read_table

SPK2SID = "spk2sid"
SPK_EMBED = "spk_embed"  # EXP/spk_embed.scp + .ark


def build_spk2sid(utt2spk: Mapping[str, str]) -> dict[str, int]:
    """Speaker name → id 0..S-1 in sorted order of the names."""
    return {s: i for i, s in enumerate(sorted(set(utt2spk.values())))}


def read_spk2sid(path: str | Path) -> dict[str, int]:
    try:
        return {s: int(i) for s, i in read_table(path).items()}
    except ValueError:
        raise NarspeechError("spk2sid lines must be `speaker integer-id`", path=path) from None


def read_utt2spk(data_dir: str | Path, *, required: bool = True) -> dict[str, str]:
    path = Path(data_dir) / "utt2spk"
    if not path.is_file():
        if required:
            raise NarspeechError("a multi-speaker model needs the data dir's utt2spk", path=path)
        return {}
    return read_table(path)


@dataclass
class SpeakerInputs:
    """The speaker side of a data set for a multi-speaker model: `spk2sid` (None: no id table), `embeddings`
    (utt- or speaker-keyed table; None: no external embeddings) and the set's `utt2spk`."""

    spk2sid: dict[str, int] | None = None
    embeddings: dict[str, np.ndarray] | None = None
    utt2spk: dict[str, str] = field(default_factory=dict)
    source: str | None = None  # the embedding file, for messages

    def get(self, utt: str) -> tuple[int | None, np.ndarray | None]:
        """(sid, embedding) of `utt`; a clear error when either is missing."""
        spk = self.utt2spk.get(utt)
        sid = None
        if self.spk2sid is not None:
            if spk is None:
                raise NarspeechError("utterance has no speaker in utt2spk", utt=utt)
            if spk not in self.spk2sid:
                raise NarspeechError(f"speaker {spk!r} is not in the model's spk2sid (known: {', '.join(sorted(self.spk2sid))})", utt=utt)
            sid = self.spk2sid[spk]
        emb = None
        if self.embeddings is not None:
            emb = self.embeddings.get(utt)
            if emb is None and spk is not None:
                emb = self.embeddings.get(spk)
            if emb is None:
                raise NarspeechError("no speaker embedding for this utterance or its speaker", utt=utt, path=self.source)
        return sid, emb


def speaker_inputs_for(cfg: dict, exp: str | Path, data_dir: str | Path, spk_embed: str | Path | None):
    """The :class:`~narspeech.tts.speakers.SpeakerInputs` of a data set for the model of `cfg` (None: one speaker).
    `spk_embed`: the set's embedding table (utt- or speaker-keyed); without one, the exp dir's speaker means."""
    m = cfg["model"]
    if not (m.get("spks") or m.get("spk_embed_dim")):
        return None
    exp = Path(exp)
    spk2sid = read_spk2sid(exp / SPK2SID) if m.get("spks") else None
    emb = None
    if m.get("spk_embed_dim"):
        src = Path(spk_embed) if spk_embed is not None else exp / f"{SPK_EMBED}.scp"
        emb = read_embeddings(src)
        d = next(iter(emb.values())).shape[0]
        if d != int(m["spk_embed_dim"]):
            raise NarspeechError(f"speaker embeddings have {d} values, the model takes {m['spk_embed_dim']}", path=src)
    return SpeakerInputs(spk2sid, emb, read_utt2spk(data_dir), str(spk_embed) if spk_embed is not None else None)
