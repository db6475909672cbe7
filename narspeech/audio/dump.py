"""Reading a feature dump (`narspeech feats extract`): lazy per-utterance access, checked.

>>> d = read_dump("dump/train")                      # doctest: +SKIP
>>> d.feats["arctic_a0001"].shape, d.num_frames["arctic_a0001"], d.config.hop_length   # doctest: +SKIP
((436, 80), 436, 200)
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from narspeech.audio.features import FeatureConfig
from narspeech.errors import NarspeechError
from narspeech.fileio import read_table


class ArkTable(Mapping):
    """``utt -> np.ndarray`` read lazily from an scp (``utt ark_path:offset``).

    An ark path that no longer exists but whose file name is inside the scp's folder
    (the dump was moved or copied) is read from there. Open arks are cached per table.
    """

    def __init__(self, scp_path: str | Path):
        self.path = Path(scp_path)
        self._entries = read_table(self.path)
        self._files: dict[str, object] = {}

    def __getitem__(self, utt: str) -> np.ndarray:
        import kaldiio

        try:
            entry = self._entries[utt]
        except KeyError:
            raise KeyError(utt) from None
        ark, sep, offset = entry.rpartition(":")
        if not sep or not offset.isdigit():
            raise NarspeechError(f"bad scp entry {entry!r} (expected ark_path:offset)", utt=utt, path=self.path)
        ark_path = Path(ark)
        if not ark_path.is_file() and (self.path.parent / ark_path.name).is_file():
            ark_path = self.path.parent / ark_path.name
        if not ark_path.is_file():
            raise NarspeechError(f"ark file {ark} not found", utt=utt, path=self.path)
        try:
            return kaldiio.load_mat(f"{ark_path}:{offset}", fd_dict=self._files)
        except Exception as e:
            raise NarspeechError(f"cannot read features from {ark_path}:{offset} ({type(e).__name__}: {e})", utt=utt, path=self.path) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def close(self) -> None:
        for f in self._files.values():
            f.close()  # type: ignore[attr-defined]
        self._files.clear()

    def __getstate__(self):  # picklable for DataLoader workers: reopen files there
        return {"path": self.path, "_entries": self._entries, "_files": {}}


@dataclass
class Dump:
    """A feature dump: `feats` (T, n_mels), `f0` (T,), `energy` (T,) per utterance, read
    lazily; `num_frames` utt → T; `config` the FeatureConfig that made it."""

    path: Path
    feats: ArkTable
    f0: ArkTable
    energy: ArkTable
    num_frames: dict[str, int]
    config: FeatureConfig

    @property
    def utts(self) -> list[str]:
        return list(self.feats)

    def __len__(self) -> int:
        return len(self.feats)

    def close(self) -> None:
        for t in (self.feats, self.f0, self.energy):
            t.close()


def read_feature_config(dump_dir: str | Path) -> FeatureConfig:
    path = Path(dump_dir) / "feats.yaml"
    if not path.is_file():
        raise NarspeechError("feats.yaml not found: not a feature dump (run `narspeech feats extract`)", path=path)
    try:
        d = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as e:
        raise NarspeechError(f"cannot parse: {e}", path=path) from None
    try:
        return FeatureConfig.from_dict(d)
    except NarspeechError as e:
        raise NarspeechError(e.message, path=path) from None


def read_dump(dump_dir: str | Path) -> Dump:
    """Open DUMP (feats/f0/energy.scp, utt2num_frames, feats.yaml) and check that every
    utterance of feats.scp is in f0.scp, energy.scp and utt2num_frames (and no other)."""
    d = Path(dump_dir)
    if not d.is_dir():
        raise NarspeechError("dump directory not found", path=d)
    for name in ("feats.scp", "f0.scp", "energy.scp", "utt2num_frames"):
        if not (d / name).is_file():
            raise NarspeechError(f"{name} missing: incomplete dump (re-run `narspeech feats extract`)", path=d / name)
    config = read_feature_config(d)
    feats, f0, energy = ArkTable(d / "feats.scp"), ArkTable(d / "f0.scp"), ArkTable(d / "energy.scp")
    raw_frames = read_table(d / "utt2num_frames")
    want = set(feats)
    for table, path in ((f0, d / "f0.scp"), (energy, d / "energy.scp"), (raw_frames, d / "utt2num_frames")):
        missing = sorted(want - set(table))
        extra = sorted(set(table) - want)
        if missing:
            raise NarspeechError(f"{len(missing)} utterance(s) of feats.scp missing here", utt=missing[0], path=path)
        if extra:
            raise NarspeechError(f"{len(extra)} utterance(s) not in feats.scp", utt=extra[0], path=path)
    num_frames = {}
    for utt, v in raw_frames.items():
        if not v.isdigit():
            raise NarspeechError(f"bad frame count {v!r}", utt=utt, path=d / "utt2num_frames")
        num_frames[utt] = int(v)
    return Dump(d, feats, f0, energy, num_frames, config)
