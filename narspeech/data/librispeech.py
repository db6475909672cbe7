"""LibriSpeech importer: ``<spk>/<chapter>/<spk>-<chapter>-<n>.flac`` + ``<spk>-<chapter>.trans.txt``.

`src` is a subset folder (``LibriSpeech/test-clean``) or the ``LibriSpeech`` root (or
its parent) with ``subsets=["train-clean-100", …]``. Utterance ids already start with
the speaker id. When ``SPEAKERS.TXT`` is found at the root, ``spk2gender`` is written too.
"""
from __future__ import annotations

from pathlib import Path

from narspeech.data.corpus import ImportResult, audio_problem, keep_or_skip
from narspeech.data.datadir import make_data_dir
from narspeech.errors import NarspeechError
from narspeech.fileio import read_text_lines

SUBSETS = ("dev-clean", "dev-other", "test-clean", "test-other", "train-clean-100", "train-clean-360", "train-other-500")


def _is_subset_dir(p: Path) -> bool:
    return p.is_dir() and any(p.glob("*/*/*.trans.txt"))


def find_subset_dirs(src: str | Path, subsets: list[str] | None = None) -> list[Path]:
    """The subset folders to read: `src` itself, or `src[/LibriSpeech]/<subset>` for each subset."""
    src = Path(src)
    if subsets:
        root = src / "LibriSpeech" if (src / "LibriSpeech").is_dir() else src
        dirs = []
        for name in subsets:
            d = root / name
            if not _is_subset_dir(d):
                raise NarspeechError(f"LibriSpeech subset {name!r} not found (no <spk>/<chapter>/*.trans.txt)", path=d)
            dirs.append(d)
        return dirs
    if _is_subset_dir(src):
        return [src]
    for root in (src, src / "LibriSpeech"):
        found = [d for d in sorted(root.iterdir()) if _is_subset_dir(d)] if root.is_dir() else []
        if found:
            names = ", ".join(d.name for d in found)
            raise NarspeechError(f"this is a LibriSpeech root with subsets {names}: pass one as SRC or choose with --subset", path=src)
    raise NarspeechError("not a LibriSpeech subset folder (no <spk>/<chapter>/*.trans.txt)", path=src)


def _speaker_genders(subset_dir: Path) -> dict[str, str]:
    for cand in (subset_dir.parent / "SPEAKERS.TXT", subset_dir / "SPEAKERS.TXT"):
        if cand.is_file():
            out = {}
            for line in cand.read_text(encoding="utf-8", errors="replace").splitlines():
                if line.startswith(";") or "|" not in line:
                    continue
                fields = [x.strip() for x in line.split("|")]
                if len(fields) >= 2 and fields[1].upper() in ("M", "F"):
                    out[fields[0]] = fields[1].lower()
            return out
    return {}


def import_librispeech(src: str | Path, *, subsets: list[str] | None = None, skip_bad: bool = False) -> ImportResult:
    rows, skipped, genders = [], [], {}
    for subset_dir in find_subset_dirs(src, subsets):
        genders.update(_speaker_genders(subset_dir))
        for trans in sorted(subset_dir.glob("*/*/*.trans.txt")):
            spk = trans.parent.parent.name
            for n, line in enumerate(read_text_lines(trans), 1):
                if not line.strip():
                    continue
                utt, _, text = line.strip().partition(" ")
                flac = (trans.parent / f"{utt}.flac").absolute()
                if not text.strip():
                    keep_or_skip(utt, trans, f"line {n}: empty transcript", skip_bad, skipped)
                    continue
                if not utt.startswith(spk + "-"):
                    raise NarspeechError(f"line {n}: utterance id does not start with speaker folder {spk}", utt=utt, path=trans)
                if keep_or_skip(utt, flac, audio_problem(flac), skip_bad, skipped):
                    rows.append((utt, str(flac), text, spk))
    if not rows:
        raise NarspeechError("no usable utterances", path=src)
    dd = make_data_dir(rows)
    spks = set(dd.utt2spk.values())
    if genders and spks <= set(genders):
        dd.extra_spk["spk2gender"] = {s: genders[s] for s in spks}
    return ImportResult(dd, skipped)
