"""Python half of benchmarks/gpu/prepare.sh (CPU machine): the corpus copy and the phoneme cache.

    python benchmarks/gpu/prepare.py data SRC_CORPUS OUT_CORPUS [--train N] [--dev N] [--test N]
    python benchmarks/gpu/prepare.py phonemes OUT.json DATA_DIR... [--language en-us]
    python benchmarks/gpu/prepare.py models OUT [--asr-maskctc EXP --asr-ar EXP --asr-dump DUMP]
                                           [--correct-fc EXP --correct-ar EXP --correct-hyp HYP]

`data` copies the first N utterances of each of SRC's train/dev/test Kaldi dirs (wav.scp
relative to the corpus folder, as in ../shared/data) and the audio files they name, in the
same layout, so that NARSPEECH_SHARED_DATA can point at the copy. `phonemes` records what
espeak-ng (through narspeech's own text frontend) gives for every transcript of the data
dirs: the GPU machine has no espeak-ng, and the run installs this table in place of it.
`models` carries trained ASR and corrector exp dirs for the run's `bench asr` / `bench correct`
steps: their speed depends on what a trained model decodes (how many tokens, when the AR search
stops), so random weights would not do. Each exp keeps what loading needs (tokens, units,
detector, config) and one checkpoint, its floating-point tensors stored as float16 to halve the
carry (they load into the float32 model); with the first N utterances of the ASR's feature dump
and the first N hypotheses to correct, so the GPU rows time the same inputs as the CPU rows.
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

SETS = ("train", "dev", "test")


def copy_corpus(src: Path, out: Path, sizes: dict[str, int | None], budget_mib: float | None = None) -> dict[str, int]:
    """Copy the first ``sizes[set]`` utterances (None: all) of each set and their audio; returns counts.
    With `budget_mib`, dev and test are copied first and train stops where its audio would pass the budget."""
    from narspeech.errors import NarspeechError
    from narspeech.fileio import read_table, spk2utt_from_utt2spk, write_table

    counts = {}
    budget = None if budget_mib is None else budget_mib * 2**20
    for name in ("dev", "test", "train"):
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
            if budget is not None:
                size = (src / rel).stat().st_size
                if name == "train" and size > budget:
                    break
                budget -= size
            dst.parent.mkdir(parents=True, exist_ok=True)
            if not dst.exists():
                shutil.copyfile(src / rel, dst)
            new_wav[utt] = rel
        keep = list(new_wav)
        sub_spk = {u: utt2spk[u] for u in keep}
        write_table(odir / "wav.scp", new_wav)
        write_table(odir / "text", {u: text[u] for u in keep})
        write_table(odir / "utt2spk", sub_spk)
        write_table(odir / "spk2utt", spk2utt_from_utt2spk(sub_spk))
        counts[name] = len(keep)
    if not counts["train"]:
        raise NarspeechError(f"a {budget_mib} MiB audio budget leaves no training utterance (carry less, or fewer dev/test)", path=src)
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


EXP_FILES = ("config.yaml", "tokens.txt", "subword.model", "detector.json", "stats.npz")


def copy_exp(src: Path, out: Path, checkpoint: str = "avg5.pt") -> dict:
    """EXP's loading files and its `checkpoint` (else best.pt / last.pt) as OUT/best.pt in float16."""
    import torch

    from narspeech.train.checkpoint import load_checkpoint, resolve_checkpoint

    ck = src / checkpoint if (src / checkpoint).is_file() else resolve_checkpoint(src)
    state = load_checkpoint(ck)
    keep = {k: v for k, v in state.items() if k in ("model", "config", "step", "epoch")}
    keep["model"] = {k: v.half() if v.is_floating_point() else v for k, v in state["model"].items()}
    keep["carried"] = {"from": str(ck), "dtype": "float16 (loads into the float32 model)"}
    out.mkdir(parents=True, exist_ok=True)
    for name in EXP_FILES:
        if (src / name).is_file():
            shutil.copyfile(src / name, out / name)
    torch.save(keep, out / "best.pt")
    return {"from": str(ck), "step": state.get("step"), "mib": round((out / "best.pt").stat().st_size / 2**20, 1)}


def copy_dump(src: Path, out: Path, n: int) -> int:
    """The first N utterances (scp order) of a feature dump as a dump of their own."""
    import kaldiio

    from narspeech.audio.dump import read_dump
    from narspeech.fileio import write_table

    d = read_dump(src)
    utts = d.utts[:n]
    out.mkdir(parents=True, exist_ok=True)
    for kind in ("feats", "f0", "energy"):
        table = getattr(d, kind)
        with kaldiio.WriteHelper(f"ark,scp:{out / (kind + '.ark')},{out / (kind + '.scp')}") as w:
            for u in utts:
                w(u, table[u])
    write_table(out / "utt2num_frames", {u: str(d.num_frames[u]) for u in utts})
    for name in ("feats.yaml", "stats.npz"):
        if (src / name).is_file():
            shutil.copyfile(src / name, out / name)
    d.close()
    return len(utts)


def copy_models(out: Path, a: argparse.Namespace) -> dict:
    """``OUT/asr/{maskctc,ar,dump}`` and ``OUT/correct/{fastcorrect,ar,hyp}`` (each pair only when fully given)."""
    from narspeech.errors import NarspeechError

    info: dict = {}
    asr = (a.asr_maskctc, a.asr_ar, a.asr_dump)
    if any(asr):
        if not all(asr):
            raise NarspeechError("give --asr-maskctc, --asr-ar and --asr-dump together")
        info["asr"] = {"maskctc": copy_exp(a.asr_maskctc, out / "asr" / "maskctc", a.checkpoint),
                       "ar": copy_exp(a.asr_ar, out / "asr" / "ar", a.checkpoint),
                       "dump": {"from": str(a.asr_dump), "utts": copy_dump(a.asr_dump, out / "asr" / "dump", a.asr_utts)},
                       "threshold": a.asr_threshold, "iterations": a.asr_iterations}
    cor = (a.correct_fc, a.correct_ar, a.correct_hyp)
    if any(cor):
        if not all(cor):
            raise NarspeechError("give --correct-fc, --correct-ar and --correct-hyp together")
        lines = [ln for ln in a.correct_hyp.read_text(encoding="utf-8").splitlines() if len(ln.split()) > 1][: a.correct_sentences]
        (out / "correct").mkdir(parents=True, exist_ok=True)
        (out / "correct" / "hyp").write_text("\n".join(lines) + "\n", encoding="utf-8")
        info["correct"] = {"fastcorrect": copy_exp(a.correct_fc, out / "correct" / "fastcorrect", a.checkpoint),
                           "ar": copy_exp(a.correct_ar, out / "correct" / "ar", a.checkpoint),
                           "hyp": {"from": str(a.correct_hyp), "sentences": len(lines)}}
    (out / "models.json").parent.mkdir(parents=True, exist_ok=True)
    (out / "models.json").write_text(json.dumps(info, indent=1) + "\n", encoding="utf-8")
    return info


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("data", help="copy a subset of a corpus (train/dev/test + audio)")
    d.add_argument("src", type=Path)
    d.add_argument("out", type=Path)
    for name in SETS:
        d.add_argument(f"--{name}", type=int, default=None, help=f"first N {name} utterances (default all)")
    d.add_argument("--budget-mib", type=float, default=None, help="audio budget: train gets what dev and test leave")
    p = sub.add_parser("phonemes", help="phoneme cache of the data dirs' transcripts")
    p.add_argument("out", type=Path)
    p.add_argument("data", type=Path, nargs="+")
    p.add_argument("--language", default="en-us")
    m = sub.add_parser("models", help="trained ASR / corrector exps (float16) and their inputs, for bench asr / correct")
    m.add_argument("out", type=Path)
    for flag in ("--asr-maskctc", "--asr-ar", "--asr-dump", "--correct-fc", "--correct-ar", "--correct-hyp"):
        m.add_argument(flag, type=Path, default=None)
    m.add_argument("--checkpoint", default="avg5.pt", help="checkpoint file in each exp (else best.pt / last.pt)")
    m.add_argument("--asr-utts", type=int, default=20)
    m.add_argument("--asr-threshold", type=float, default=0.5)
    m.add_argument("--asr-iterations", type=int, default=10)
    m.add_argument("--correct-sentences", type=int, default=200)
    a = ap.parse_args(argv)
    from narspeech.errors import NarspeechError

    try:
        if a.cmd == "data":
            counts = copy_corpus(a.src, a.out, {n: getattr(a, n) for n in SETS}, a.budget_mib)
            print(" ".join(f"{k}={counts[k]}" for k in SETS))
        elif a.cmd == "models":
            print(json.dumps(copy_models(a.out, a)))
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
