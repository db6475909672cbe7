"""VCTK 0.92 importer: ``wav48_silence_trimmed/<spk>/<spk>_<nnn>_<mic>.flac`` + ``txt/<spk>/<spk>_<nnn>.txt``.

`src` is the corpus root (``VCTK-Corpus-0.92``). One microphone per utterance (``mic1``, the omni-directional
DPA 4035, or ``mic2``, the small-diaphragm Sennheiser MKH 800; ESPnet's recipe takes mic2), or ``both`` (ids get
the ``_mic1``/``_mic2`` suffix). Utterance ids are ``<spk>_<nnn>`` and start with the speaker id. Recordings
without a transcript (all of p315, a few others) and transcripts without a recording (p280 and p362 lack some
mic2 files) are listed as skipped, not errors: the release is like that. ``speaker-info.txt`` gives ``spk2gender``.
"""
from __future__ import annotations

from pathlib import Path

from narspeech.data.corpus import ImportResult, audio_problem, keep_or_skip
from narspeech.data.datadir import make_data_dir
from narspeech.errors import NarspeechError, Skipped
from narspeech.fileio import read_text_lines

MICS = ("mic1", "mic2", "both")
AUDIO_DIRS = ("wav48_silence_trimmed", "wav48")


def _genders(root: Path) -> dict[str, str]:
    path = root / "speaker-info.txt"
    out: dict[str, str] = {}
    if not path.is_file():
        return out
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        f = line.split()
        if len(f) >= 3 and f[0] != "ID" and f[2].upper() in ("M", "F"):
            spk = f[0] if f[0].startswith(("p", "s")) else f"p{f[0]}"  # 0.80 writes 225, 0.92 p225
            out[spk] = f[2].lower()
    return out


def import_vctk(src: str | Path, *, mic: str = "mic2", speakers: list[str] | None = None, skip_bad: bool = False) -> ImportResult:
    """Import VCTK 0.92 (`mic`: mic1 | mic2 | both; `speakers`: only these)."""
    root = Path(src)
    if mic not in MICS:
        raise NarspeechError(f"--mic must be one of {', '.join(MICS)}, got {mic!r}")
    audio_root = next((root / d for d in AUDIO_DIRS if (root / d).is_dir()), None)
    if audio_root is None or not (root / "txt").is_dir():
        raise NarspeechError("not a VCTK 0.92 folder (no wav48_silence_trimmed/ and txt/)", path=root)
    mics = ("mic1", "mic2") if mic == "both" else (mic,)
    rows, skipped = [], []
    spk_dirs = sorted(d for d in audio_root.iterdir() if d.is_dir())
    if speakers:
        missing = sorted(set(speakers) - {d.name for d in spk_dirs})
        if missing:
            raise NarspeechError(f"speakers not in the corpus: {', '.join(missing)}", path=audio_root)
        spk_dirs = [d for d in spk_dirs if d.name in set(speakers)]
    for spk_dir in spk_dirs:
        spk = spk_dir.name
        txt_dir = root / "txt" / spk
        for txt in sorted(txt_dir.glob("*.txt")) if txt_dir.is_dir() else []:
            lines = [x for x in read_text_lines(txt) if x.strip()]
            if not lines:
                keep_or_skip(txt.stem, txt, "empty transcript", skip_bad, skipped)
                continue
            for m in mics:
                flac = spk_dir / f"{txt.stem}_{m}.flac"
                utt = txt.stem if mic != "both" else f"{txt.stem}_{m}"
                if not flac.is_file():
                    skipped.append(Skipped(utt, str(flac), "transcript without a recording (as released)"))
                    continue
                if keep_or_skip(utt, flac, audio_problem(flac), skip_bad, skipped):
                    rows.append((utt, str(flac.absolute()), " ".join(lines), spk))
        have_text = {t.stem for t in txt_dir.glob("*.txt")} if txt_dir.is_dir() else set()
        for flac in sorted(spk_dir.glob(f"*_{mics[0]}.flac")):
            stem = flac.name[: -len(f"_{mics[0]}.flac")]
            if stem not in have_text:
                skipped.append(Skipped(stem, str(flac), "recording without a transcript (as released)"))
    if not rows:
        raise NarspeechError("no usable utterances", path=root)
    dd = make_data_dir(rows)
    genders = _genders(root)
    spks = set(dd.utt2spk.values())
    if genders and spks <= set(genders):
        dd.extra_spk["spk2gender"] = {s: genders[s] for s in spks}
    return ImportResult(dd, skipped)
