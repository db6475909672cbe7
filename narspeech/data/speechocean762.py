"""Import speechocean762 (Zhang et al. 2021) from its public release layout.

The release (github.com/jimbozhang/speechocean762, openslr 101) is Kaldi-style already::

    speechocean762/
      WAVE/SPEAKER0001/000010011.WAV      audio, 16 kHz
      train/  wav.scp text utt2spk spk2utt spk2age spk2gender
      test/   (the same tables)
      resource/ …                          pronunciation scores (not used)

``wav.scp`` paths are relative to the corpus root. A split folder may lack ``spk2age`` /
``spk2gender`` when they sit at the root (as in ``../shared/data/speechocean762``, whose
splits are ``train`` and ``dev``); those are then taken from the root, restricted to the
split's speakers. Half of the speakers are children (``spk2age`` < 18): ``narspeech asr score
--by data/<set>/spk2age`` breaks WER down into adults and children.
"""
from __future__ import annotations

from pathlib import Path

from narspeech.data.corpus import ImportResult
from narspeech.data.kaldi import import_kaldi
from narspeech.errors import NarspeechError
from narspeech.fileio import read_table

SPK_TABLES = ("spk2age", "spk2gender")


def splits(root: str | Path) -> list[str]:
    """Split folders (holding a wav.scp) of a speechocean762 copy."""
    root = Path(root)
    return sorted(p.name for p in root.iterdir() if p.is_dir() and (p / "wav.scp").is_file())


def import_speechocean762(root: str | Path, split: str, *, skip_bad: bool = False) -> ImportResult:
    """One split (``train``, ``test``, or ``dev`` in a re-split copy) as a data dir with absolute audio
    paths and ``spk2age``/``spk2gender``. The transcripts are upper-case words, kept as they are."""
    root = Path(root)
    if not root.is_dir():
        raise NarspeechError("speechocean762 folder not found", path=root)
    src = root / split
    if not (src / "wav.scp").is_file():
        have = ", ".join(splits(root)) or "none"
        raise NarspeechError(f"no split {split!r} (splits here: {have})", path=src)
    res = import_kaldi(src, base=root, skip_bad=skip_bad)
    spks = set(res.data.utt2spk.values())
    for name in SPK_TABLES:
        if name in res.data.extra_spk:
            continue
        path = root / name
        if path.is_file():
            table = read_table(path, check_sorted=False)
            res.data.extra_spk[name] = {s: v for s, v in table.items() if s in spks}
    missing = sorted(spks - set(res.data.extra_spk.get("spk2age", {})))
    if "spk2age" in res.data.extra_spk and missing:
        raise NarspeechError(f"{len(missing)} speaker(s) without an age (first: {missing[0]})", path=root / "spk2age")
    return res
