"""Kaldi-style data directories in memory: read, write, restrict to a subset of utterances.

A data dir holds per-utterance tables (`wav.scp`, `text`, `utt2spk`, optional
`token`, `utt2dur`, `utt2lang`, any other `utt2*`) and per-speaker tables
(`spk2utt`, regenerated on write, and any other `spk2*`, e.g. `spk2gender`).
Everything is written sorted by id (C locale) through atomic writes, so the
files always agree with each other.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping

from narspeech.errors import NarspeechError
from narspeech.fileio import read_table, spk2utt_from_utt2spk, write_table

REQUIRED = ("wav.scp", "text", "utt2spk")
#: Optional per-utterance tables carried through subset/split/combine (besides any `utt2*`).
EXTRA_UTT_TABLES = ("token", "text_asr", "durations", "focus_rates")


def is_utt_table(name: str) -> bool:
    return name in REQUIRED or name in EXTRA_UTT_TABLES or (name.startswith("utt2") and "." not in name)


def is_spk_table(name: str) -> bool:
    return name.startswith("spk2") and name != "spk2utt" and "." not in name


@dataclass
class DataDir:
    """The tables of one data dir. `extra_utt` / `extra_spk` map file name -> table."""

    wav_scp: dict[str, str]
    text: dict[str, str]
    utt2spk: dict[str, str]
    extra_utt: dict[str, dict[str, str]] = field(default_factory=dict)
    extra_spk: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def utts(self) -> list[str]:
        return sorted(self.wav_scp)

    @property
    def spk2utt(self) -> dict[str, str]:
        return spk2utt_from_utt2spk(self.utt2spk)

    def __len__(self) -> int:
        return len(self.wav_scp)

    def subset(self, utts: Iterable[str]) -> "DataDir":
        """A new DataDir restricted to `utts` (ids absent from this dir are ignored)."""
        keep = set(utts) & set(self.wav_scp)
        pick = lambda t: {u: v for u, v in t.items() if u in keep}  # noqa: E731
        spks = {self.utt2spk[u] for u in keep if u in self.utt2spk}
        return DataDir(
            wav_scp=pick(self.wav_scp), text=pick(self.text), utt2spk=pick(self.utt2spk),
            extra_utt={n: pick(t) for n, t in self.extra_utt.items()},
            extra_spk={n: {s: v for s, v in t.items() if s in spks} for n, t in self.extra_spk.items()},
        )


def make_data_dir(rows: Iterable[tuple[str, str, str, str]], **extra_utt: Mapping[str, str]) -> DataDir:
    """Build a DataDir from ``(utt, wav_entry, transcript, spk)`` rows, checking ids are unique."""
    wav_scp: dict[str, str] = {}
    text: dict[str, str] = {}
    utt2spk: dict[str, str] = {}
    for utt, wav, txt, spk in rows:
        if utt in wav_scp:
            raise NarspeechError(f"duplicated utterance id (files {wav_scp[utt]} and {wav})", utt=utt, path=wav)
        if any(c.isspace() for c in utt) or any(c.isspace() for c in spk):
            raise NarspeechError(f"utterance/speaker ids may not contain whitespace (speaker {spk!r})", utt=utt, path=wav)
        wav_scp[utt], text[utt], utt2spk[utt] = wav, " ".join(txt.split()), spk
    return DataDir(wav_scp, text, utt2spk, extra_utt={k: dict(v) for k, v in extra_utt.items()})


def speaker_order_consistent(utt2spk: Mapping[str, str]) -> bool:
    """Kaldi's rule: utt2spk sorted by utterance must also be sorted by speaker."""
    spks = [utt2spk[u] for u in sorted(utt2spk)]
    return all(a <= b for a, b in zip(spks, spks[1:]))


def prefix_speakers(dd: DataDir, sep: str = "-") -> DataDir:
    """Rename every utterance to ``<spk><sep><utt>`` (unless it already starts so) in all tables."""
    def new(u: str) -> str:
        s = dd.utt2spk[u]
        return u if u.startswith(s + sep) else f"{s}{sep}{u}"
    ren = lambda t: {new(u): v for u, v in t.items()}  # noqa: E731
    return DataDir(ren(dd.wav_scp), ren(dd.text), ren(dd.utt2spk),
                   {n: ren(t) for n, t in dd.extra_utt.items()}, dict(dd.extra_spk))


def ensure_speaker_order(dd: DataDir) -> DataDir:
    """Prefix speaker ids into utterance ids when sorting by utterance would not group speakers."""
    return dd if speaker_order_consistent(dd.utt2spk) else prefix_speakers(dd)


def read_data_dir(path: str | Path, *, extras: bool = True) -> DataDir:
    """Load a data dir; raises NarspeechError on a missing, unsorted or duplicated table, or when
    wav.scp, text and utt2spk do not list the same utterances.

    Use :func:`narspeech.data.validate.validate_data_dir` for a full report of every problem.
    """
    path = Path(path)
    if not path.is_dir():
        raise NarspeechError("data directory not found", path=path)
    tables = {name: read_table(path / name, allow_empty_value=(name == "text")) for name in REQUIRED}
    ids = set(tables["wav.scp"])
    for name in ("text", "utt2spk"):
        diff = sorted(ids ^ set(tables[name]))
        if diff:
            raise NarspeechError(f"{len(diff)} utterance(s) not in both wav.scp and {name}; `narspeech data validate` "
                                 "lists them", utt=diff[0], path=path / name)
    dd = DataDir(tables["wav.scp"], tables["text"], tables["utt2spk"])
    if extras:
        for f in sorted(path.iterdir()):
            if f.is_file() and f.name not in REQUIRED and is_utt_table(f.name):
                dd.extra_utt[f.name] = read_table(f, allow_empty_value=True)
            elif f.is_file() and is_spk_table(f.name):
                dd.extra_spk[f.name] = read_table(f, allow_empty_value=True)
    return dd


def write_data_dir(path: str | Path, dd: DataDir) -> list[str]:
    """Write every table sorted (atomic per file) and regenerate `spk2utt`.

    Per-utterance/per-speaker tables already in `path` that `dd` lacks (e.g. a `token`
    file from an earlier run) would no longer match: they are removed; their names are returned.
    """
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    ours = set(REQUIRED) | {"spk2utt"} | set(dd.extra_utt) | set(dd.extra_spk)
    stale = sorted(f.name for f in path.iterdir()
                   if f.is_file() and f.name not in ours and (is_utt_table(f.name) or is_spk_table(f.name)))
    for name in stale:
        (path / name).unlink()
    write_table(path / "wav.scp", dd.wav_scp)
    write_table(path / "text", dd.text)
    write_table(path / "utt2spk", dd.utt2spk)
    write_table(path / "spk2utt", dd.spk2utt)
    for name, table in {**dd.extra_utt, **dd.extra_spk}.items():
        write_table(path / name, table)
    return stale
