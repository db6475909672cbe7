"""Python half of tools/gpu/prepare.sh (CPU machine): the corpus copy and the phoneme cache.

    python tools/gpu/prepare.py data SRC_CORPUS OUT_CORPUS [--train N] [--dev N] [--test N]
    python tools/gpu/prepare.py phonemes OUT.json DATA_DIR... [--language en-us]

`data` copies the first N utterances of each of SRC's train/dev/test Kaldi dirs (wav.scp
relative to the corpus folder, as in ../shared/data) and the audio files they name, in the
same layout, so that NARSPEECH_SHARED_DATA can point at the copy. `phonemes` records what
espeak-ng (through narspeech's own text frontend) gives for every transcript of the data
dirs: the GPU machine has no espeak-ng, and the run installs this table in place of it.
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

SETS = ("train", "dev", "test")


def copy_corpus(src: Path, out: Path, sizes: dict[str, int | None]) -> dict[str, int]:
    """Copy the first ``sizes[set]`` utterances (None: all) of each set and their audio; returns counts."""
    from narspeech.errors import NarspeechError
    from narspeech.fileio import read_table, spk2utt_from_utt2spk, write_table

    counts = {}
    for name in SETS:
        sdir, odir = src / name, out / name
        wav = read_table(sdir / "wav.scp")
        keep = sorted(wav)[: sizes.get(name)] if sizes.get(name) is not None else sorted(wav)
        text, utt2spk = read_table(sdir / "text"), read_table(sdir / "utt2spk")
        odir.mkdir(parents=True, exist_ok=True)
        new_wav = {}
        for utt in keep:
            rel = wav[utt]
            if rel.endswith("|") or Path(rel).is_absolute():
                raise NarspeechError("expected a wav.scp path relative to the corpus folder", utt=utt, path=sdir / "wav.scp")
            dst = out / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            if not dst.exists():
                shutil.copyfile(src / rel, dst)
            new_wav[utt] = rel
        sub_spk = {u: utt2spk[u] for u in keep}
        write_table(odir / "wav.scp", new_wav)
        write_table(odir / "text", {u: text[u] for u in keep})
        write_table(odir / "utt2spk", sub_spk)
        write_table(odir / "spk2utt", spk2utt_from_utt2spk(sub_spk))
        counts[name] = len(keep)
    return counts


def build_phoneme_cache(data_dirs: list[Path], language: str) -> dict:
    """``{"language": {normalised text: tokens}}`` exactly as narspeech's frontend asks espeak-ng for them."""
    import narspeech.text.tokenize as tok
    from narspeech.fileio import read_table

    table: dict[str, dict[str, list[str]]] = {}
    real = tok.phonemize

    def recording(texts, lang="en-us"):
        out = real(texts, lang)
        for t, o in zip(texts, out):
            table.setdefault(lang, {})[t] = list(o)
        return out

    texts = [t for d in data_dirs for t in read_table(d / "text", allow_empty_value=True).values() if t.strip()]
    tok.phonemize = recording
    try:
        tok.tokenize(texts, "phoneme", language)
    finally:
        tok.phonemize = real
    try:
        version = subprocess.run(["espeak-ng", "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
    except OSError:
        version = "unknown"
    return {"espeak_ng": version, "entries": table}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("data", help="copy a subset of a corpus (train/dev/test + audio)")
    d.add_argument("src", type=Path)
    d.add_argument("out", type=Path)
    for name in SETS:
        d.add_argument(f"--{name}", type=int, default=None, help=f"first N {name} utterances (default all)")
    p = sub.add_parser("phonemes", help="phoneme cache of the data dirs' transcripts")
    p.add_argument("out", type=Path)
    p.add_argument("data", type=Path, nargs="+")
    p.add_argument("--language", default="en-us")
    a = ap.parse_args(argv)
    from narspeech.errors import NarspeechError

    try:
        if a.cmd == "data":
            counts = copy_corpus(a.src, a.out, {n: getattr(a, n) for n in SETS})
            print(" ".join(f"{k}={v}" for k, v in counts.items()))
        else:
            cache = build_phoneme_cache(a.data, a.language)
            a.out.parent.mkdir(parents=True, exist_ok=True)
            a.out.write_text(json.dumps(cache, ensure_ascii=False, indent=0), encoding="utf-8")
            print(f"{sum(len(v) for v in cache['entries'].values())} phonemised texts -> {a.out}")
    except NarspeechError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
