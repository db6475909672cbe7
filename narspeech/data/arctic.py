"""CMU ARCTIC importer: ``cmu_us_<spk>_arctic/wav/<id>.wav`` + ``etc/txt.done.data``.

`src` is one speaker folder or a folder holding several ``cmu_us_*_arctic`` folders.
Prompt lines look like ``( arctic_a0001 "Author of the danger trail, Philip Steels, etc." )``.
Utterance ids are ``<spk>-<id>`` (e.g. ``slt-arctic_a0001``) so several speakers stay
unique and sorted by speaker. Transcripts are kept as written (digits, punctuation):
the text frontend normalises them.
"""
from __future__ import annotations

import re
from pathlib import Path

from narspeech.data.corpus import ImportResult, audio_problem, keep_or_skip
from narspeech.data.datadir import make_data_dir
from narspeech.errors import NarspeechError
from narspeech.fileio import read_text_lines

_LINE = re.compile(r'^\(\s*(\S+)\s+"(.*)"\s*\)\s*$')
_SPK = re.compile(r"^cmu_[a-z]+_([a-z0-9]+)_arctic")


def speaker_dirs(src: str | Path) -> list[Path]:
    src = Path(src)
    if (src / "etc" / "txt.done.data").is_file():
        return [src]
    dirs = sorted(d for d in src.glob("cmu_*_arctic*") if (d / "etc" / "txt.done.data").is_file()) if src.is_dir() else []
    if not dirs:
        raise NarspeechError("not a CMU ARCTIC folder (no etc/txt.done.data here or in cmu_*_arctic*/)", path=src)
    return dirs


def speaker_id(spk_dir: Path) -> str:
    m = _SPK.match(spk_dir.name)
    return m.group(1) if m else spk_dir.name


def parse_prompts(path: Path) -> list[tuple[str, str]]:
    """``(id, text)`` pairs from a festival ``txt.done.data`` file (escaped quotes unescaped)."""
    out = []
    for n, line in enumerate(read_text_lines(path), 1):
        if not line.strip():
            continue
        m = _LINE.match(line.strip())
        if not m:
            raise NarspeechError(f"line {n}: expected ( id \"text\" ), got {line.strip()[:60]!r}", path=path)
        out.append((m.group(1), m.group(2).replace('\\"', '"')))
    return out


def import_arctic(src: str | Path, *, skip_bad: bool = False) -> ImportResult:
    rows, skipped = [], []
    for d in speaker_dirs(src):
        spk = speaker_id(d)
        prompts = d / "etc" / "txt.done.data"
        for utt_id, text in parse_prompts(prompts):
            utt = f"{spk}-{utt_id}"
            wav = (d / "wav" / f"{utt_id}.wav").absolute()
            if not text.strip():
                keep_or_skip(utt, prompts, "empty transcript", skip_bad, skipped)
                continue
            if keep_or_skip(utt, wav, audio_problem(wav), skip_bad, skipped):
                rows.append((utt, str(wav), text, spk))
    if not rows:
        raise NarspeechError("no usable utterances", path=src)
    return ImportResult(make_data_dir(rows), skipped)
