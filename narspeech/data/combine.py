"""Combine Kaldi data dirs and their feature dumps into one (Kaldi's ``utils/combine_data.sh``), e.g. a
corpus plus a synthetic espeak-ng corpus for training. Utterance ids must be unique across the inputs;
a per-utterance table that only some inputs have is dropped (and named), since it would not cover every
utterance; a speaker described differently by two inputs is an error."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from narspeech.audio.dump import read_dump
from narspeech.data.datadir import DataDir, read_data_dir
from narspeech.errors import NarspeechError
from narspeech.fileio import atomic_write, read_table, write_table


def _union(tables: Sequence[tuple[Path, dict[str, str]]], what: str, same_value_ok: bool = False) -> dict[str, str]:
    out: dict[str, str] = {}
    where: dict[str, Path] = {}
    for path, table in tables:
        for k, v in table.items():
            if k in out and not (same_value_ok and out[k] == v):
                raise NarspeechError(f"{what} {k} is in both {where[k]} and {path}" +
                                     (f" with different values ({out[k]!r} vs {v!r})" if same_value_ok else ""), path=path)
            out[k], where[k] = v, path
    return out


def combine_data_dirs(dirs: Sequence[str | Path]) -> tuple[DataDir, list[str]]:
    """One DataDir holding every utterance of `dirs`; returns it and the names of the per-utterance tables
    dropped because not every input has them."""
    if not dirs:
        raise NarspeechError("nothing to combine")
    dds = [(Path(d), read_data_dir(d)) for d in dirs]
    wav = _union([(p / "wav.scp", dd.wav_scp) for p, dd in dds], "utterance")
    text = {u: t for _, dd in dds for u, t in dd.text.items()}
    utt2spk = {u: s for _, dd in dds for u, s in dd.utt2spk.items()}
    names = set.union(*(set(dd.extra_utt) for _, dd in dds))
    common = sorted(n for n in names if all(n in dd.extra_utt for _, dd in dds))
    extra_utt = {n: {u: v for _, dd in dds for u, v in dd.extra_utt[n].items()} for n in common}
    spk_names = sorted(set.union(*(set(dd.extra_spk) for _, dd in dds)))
    extra_spk = {n: _union([(p / n, dd.extra_spk.get(n, {})) for p, dd in dds], "speaker", same_value_ok=True)
                 for n in spk_names}
    return DataDir(wav, text, utt2spk, extra_utt, extra_spk), sorted(names - set(common))


DUMP_TABLES = ("feats.scp", "f0.scp", "energy.scp", "utt2num_frames")


def combine_dumps(dumps: Sequence[str | Path], out: str | Path) -> int:
    """Write OUT's scp tables and utt2num_frames over the inputs' arks (nothing is copied) and their common
    feats.yaml; the feature configs must be identical. Returns the number of utterances. Normalisation
    statistics are the caller's (``narspeech feats stats OUT``)."""
    if not dumps:
        raise NarspeechError("nothing to combine")
    opened = [read_dump(d) for d in dumps]
    first = opened[0].config.to_dict()
    for d in opened[1:]:
        if d.config.to_dict() != first:
            diff = sorted(k for k in first if first[k] != d.config.to_dict().get(k))
            raise NarspeechError(f"feature config differs from {opened[0].path}'s ({', '.join(diff)})", path=d.path / "feats.yaml")
    for d in opened:
        d.close()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    n = 0
    for name in DUMP_TABLES:
        table = _union([(Path(d) / name, read_table(Path(d) / name)) for d in dumps], "utterance")
        write_table(out / name, table)
        n = len(table)
    with atomic_write(out / "feats.yaml") as f:
        f.write((Path(dumps[0]) / "feats.yaml").read_text(encoding="utf-8"))
    return n
