"""Import an existing Kaldi data dir: absolute audio paths, sorted tables, spk2utt regenerated.

Relative `wav.scp` paths are resolved against `base` (default: the first of the
dir itself and its parent where the files exist, e.g. ``arctic_fb/train`` whose
paths are relative to ``arctic_fb/``). Pipe commands (``… |``) are copied as they are.
Input tables may be unsorted; duplicated ids are an error. `segments` is not supported.
"""
from __future__ import annotations

from pathlib import Path

from narspeech.audio.io import guess_base
from narspeech.data.corpus import ImportResult, audio_problem, keep_or_skip
from narspeech.data.datadir import DataDir, ensure_speaker_order, is_spk_table, is_utt_table
from narspeech.errors import NarspeechError
from narspeech.fileio import read_table


def _read(path: Path, required: bool = True) -> dict[str, str] | None:
    if not path.is_file():
        if required:
            raise NarspeechError("file not found", path=path)
        return None
    return read_table(path, allow_empty_value=True, check_sorted=False)


def import_kaldi(src: str | Path, *, base: str | Path | None = None, skip_bad: bool = False) -> ImportResult:
    src = Path(src)
    if not src.is_dir():
        raise NarspeechError("data directory not found", path=src)
    if (src / "segments").exists():
        raise NarspeechError("segments files are not supported: cut the segments into audio files first", path=src / "segments")
    wav_scp, text = _read(src / "wav.scp"), _read(src / "text")
    utt2spk = _read(src / "utt2spk", required=False)
    if utt2spk is None:
        if not (src / "spk2utt").is_file():
            raise NarspeechError("file not found (nor spk2utt to derive it from); for no speaker information "
                                 "write `utt utt` lines", path=src / "utt2spk")
        utt2spk = {u: spk for spk, utts in _read(src / "spk2utt").items() for u in utts.split()}
    root = Path(base).absolute() if base is not None else guess_base(src, wav_scp).absolute()
    skipped, new_scp = [], {}
    for utt, entry in sorted(wav_scp.items()):
        if utt not in text:
            keep_or_skip(utt, src / "text", "utterance missing from text", skip_bad, skipped)
            continue
        if not text[utt].strip():
            keep_or_skip(utt, src / "text", "empty transcript", skip_bad, skipped)
            continue
        if utt not in utt2spk:
            keep_or_skip(utt, src / "utt2spk", "utterance missing from utt2spk", skip_bad, skipped)
            continue
        if not entry or entry.endswith("|"):
            if not entry:
                keep_or_skip(utt, src / "wav.scp", "empty wav.scp entry", skip_bad, skipped)
            else:
                new_scp[utt] = entry
            continue
        path = Path(entry) if Path(entry).is_absolute() else root / entry
        if keep_or_skip(utt, path, audio_problem(path), skip_bad, skipped):
            new_scp[utt] = str(path)
    extra_text = [u for u in text if u not in wav_scp]
    if extra_text and not skip_bad:
        raise NarspeechError(f"{len(extra_text)} utterance(s) in text have no wav.scp entry (first: {extra_text[0]})", utt=extra_text[0], path=src / "text")
    if not new_scp:
        raise NarspeechError("no usable utterances", path=src)
    keep = set(new_scp)
    dd = DataDir(new_scp, {u: " ".join(text[u].split()) for u in keep}, {u: utt2spk[u] for u in keep})
    for f in sorted(src.iterdir()):
        if not f.is_file() or f.name in ("wav.scp", "text", "utt2spk", "spk2utt"):
            continue
        if is_utt_table(f.name):
            dd.extra_utt[f.name] = {u: v for u, v in _read(f).items() if u in keep}
        elif is_spk_table(f.name):
            spks = set(dd.utt2spk.values())
            dd.extra_spk[f.name] = {s: v for s, v in _read(f).items() if s in spks}
    return ImportResult(ensure_speaker_order(dd), skipped)
