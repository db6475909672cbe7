"""LibriTTS / LibriTTS-R importer: ``<subset>/<spk>/<chapter>/<spk>_<chapter>_<para>_<sent>.wav`` with
``.normalized.txt`` beside each wav (``.original.txt`` is the unnormalised text; `text_kind` picks).

`src` is a subset folder (``LibriTTS_R/train-clean-100``) or the root (``LibriTTS``, ``LibriTTS_R`` or its
parent) with ``subsets``. Utterance ids are the file stems (they start with the speaker id; speakers are
prefixed when sorting would not group them). A wav without its text file is skipped and listed (LibriTTS-R
left out a few utterances it could not restore). ``speakers.tsv`` (READER, GENDER, …) gives ``spk2gender``.
"""
from __future__ import annotations

from pathlib import Path

from narspeech.data.corpus import ImportResult, audio_problem, keep_or_skip
from narspeech.data.datadir import ensure_speaker_order, make_data_dir
from narspeech.errors import NarspeechError, Skipped
from narspeech.fileio import read_text_lines

SUBSETS = ("dev-clean", "dev-other", "test-clean", "test-other", "train-clean-100", "train-clean-360", "train-other-500")
ROOTS = ("LibriTTS_R", "LibriTTS")


def _is_subset_dir(p: Path) -> bool:
    return p.is_dir() and any(p.glob("*/*/*.normalized.txt"))


def find_subset_dirs(src: str | Path, subsets: list[str] | None = None) -> list[Path]:
    """The subset folders to read: `src` itself, or `src[/LibriTTS_R|/LibriTTS]/<subset>` for each subset."""
    src = Path(src)
    root = next((src / r for r in ROOTS if (src / r).is_dir()), src)
    if subsets:
        dirs = []
        for name in subsets:
            if not _is_subset_dir(root / name):
                raise NarspeechError(f"LibriTTS subset {name!r} not found (no <spk>/<chapter>/*.normalized.txt)", path=root / name)
            dirs.append(root / name)
        return dirs
    if _is_subset_dir(src):
        return [src]
    found = [d for d in sorted(root.iterdir()) if _is_subset_dir(d)] if root.is_dir() else []
    if found:
        raise NarspeechError(f"this is a LibriTTS root with subsets {', '.join(d.name for d in found)}: pass one as SRC "
                             "or choose with --subset", path=src)
    raise NarspeechError("not a LibriTTS subset folder (no <spk>/<chapter>/*.normalized.txt)", path=src)


def _genders(subset_dir: Path) -> dict[str, str]:
    for cand in (subset_dir.parent / "speakers.tsv", subset_dir / "speakers.tsv"):
        if cand.is_file():
            out = {}
            for line in cand.read_text(encoding="utf-8", errors="replace").splitlines()[1:]:
                f = line.split("\t")
                if len(f) >= 2 and f[1].strip().upper() in ("M", "F"):
                    out[f[0].strip()] = f[1].strip().lower()
            return out
    return {}


def import_libritts(src: str | Path, *, subsets: list[str] | None = None, text_kind: str = "normalized",
                    skip_bad: bool = False) -> ImportResult:
    """Import LibriTTS or LibriTTS-R (`text_kind`: normalized | original)."""
    if text_kind not in ("normalized", "original"):
        raise NarspeechError(f"text kind must be normalized or original, got {text_kind!r}")
    rows, skipped, genders = [], [], {}
    for subset_dir in find_subset_dirs(src, subsets):
        genders.update(_genders(subset_dir))
        for wav in sorted(subset_dir.glob("*/*/*.wav")):
            spk, utt = wav.parent.parent.name, wav.stem
            if not utt.startswith(spk + "_"):
                raise NarspeechError(f"file name does not start with its speaker folder {spk}", utt=utt, path=wav)
            txt = wav.with_name(f"{utt}.{text_kind}.txt")
            if not txt.is_file():
                skipped.append(Skipped(utt, str(txt), f"no {text_kind} text (as released)"))
                continue
            text = " ".join(x.strip() for x in read_text_lines(txt) if x.strip())
            if not text:
                keep_or_skip(utt, txt, "empty transcript", skip_bad, skipped)
                continue
            if keep_or_skip(utt, wav, audio_problem(wav), skip_bad, skipped):
                rows.append((utt, str(wav.absolute()), text, spk))
    if not rows:
        raise NarspeechError("no usable utterances", path=src)
    dd = ensure_speaker_order(make_data_dir(rows))
    spks = set(dd.utt2spk.values())
    if genders and spks <= set(genders):
        dd.extra_spk["spk2gender"] = {s: genders[s] for s in spks}
    return ImportResult(dd, skipped)
