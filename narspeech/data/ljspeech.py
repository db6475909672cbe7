"""LJSpeech-1.1 importer: ``metadata.csv`` (``id|text|normalized text``) + ``wavs/<id>.wav``.

The normalized column is the transcript (numbers, abbreviations already spelled out).
Only ``wavs/<id>.wav`` is taken, as the corpus defines it, whatever else lies in wavs/.
One speaker, ``LJ``: LJSpeech ids (``LJ001-0001``) already start with it.
"""
from __future__ import annotations

from pathlib import Path

from narspeech.data.corpus import ImportResult, audio_problem, keep_or_skip, require_dir
from narspeech.data.datadir import make_data_dir
from narspeech.errors import NarspeechError
from narspeech.fileio import read_text_lines

SPEAKER = "LJ"


def find_root(src: str | Path) -> Path:
    """Accept the LJSpeech-1.1 folder itself or a folder that contains it."""
    src = Path(src)
    for cand in (src, src / "LJSpeech-1.1"):
        if (cand / "metadata.csv").is_file():
            return cand
    raise NarspeechError("not an LJSpeech folder (no metadata.csv here or in LJSpeech-1.1/)", path=src)


def import_ljspeech(src: str | Path, *, skip_bad: bool = False) -> ImportResult:
    root = find_root(src)
    wavs = require_dir(root / "wavs", "LJSpeech wavs/ folder")
    meta = root / "metadata.csv"
    rows, skipped = [], []
    for n, line in enumerate(read_text_lines(meta), 1):  # UTF-8 checked (error names the line), BOM dropped
        if not line.strip():
            continue
        fields = line.split("|")
        if len(fields) != 3:
            raise NarspeechError(f"line {n}: expected 3 fields id|text|normalized text, got {len(fields)}", path=meta)
        utt, raw, norm = (x.strip() for x in fields)
        text = norm or raw
        wav = (wavs / f"{utt}.wav").absolute()
        if not text:
            keep_or_skip(utt, meta, f"line {n}: empty transcript", skip_bad, skipped)
            continue
        if keep_or_skip(utt, wav, audio_problem(wav), skip_bad, skipped):
            rows.append((utt, str(wav), text, SPEAKER))
    if not rows:
        raise NarspeechError("no usable utterances", path=meta)
    return ImportResult(make_data_dir(rows), skipped)

