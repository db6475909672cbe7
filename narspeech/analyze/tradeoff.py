"""The AR-vs-NAR trade-off across tasks, gathered from the recipes' results files (nothing is re-run).

For each task, the NAR system(s) and the AR counterpart of one recipe dir: the quality gap to AR and the
speed-up over AR at batch 1 on GPU, full batch on GPU and batch 1 on CPU (``None`` = not measured: no
speed file for that device / batch). An AR system whose own quality is degenerate (it does not speak /
recognise / correct) is marked, and no speed-up over it is reported.

Files read (recipe conventions, under the recipe dir):
  tts      exp/<nar>/synth/<set>/results.json, exp/<ar>/synth/<set>/results.json (`tts evaluate`);
           exp/speed_<set>*.json (`bench tts`)
  asr      exp/<nar>/decode_<set>/*/result.json, exp/<ar>/decode_<set>/beam<N>/result.json (`asr score`);
           AR variants: exp/<ar>/decode_<set>/<other>/ and exp/<ar>_*/decode_<set>/*/ (greedy, beam10_int8,
           a smaller trained AR); exp/speed_<set>*.json (`bench asr`; a row's ``decode`` names its decode dir)
  correct  exp/score_<set>/<hyps>/{asr,<nar>,<ar>}/result.json (`asr score`); exp/speed_<set>*.json (`bench correct`)
"""
from __future__ import annotations

import fnmatch
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from narspeech.errors import NarspeechError
from narspeech.fileio import atomic_path

SPEED_COLUMNS = ("gpu_b1", "gpu_full", "cpu_b1")
DEGENERATE_TTS_WER = 0.9        # the AR teacher's ASR-WER on its own synthesis: at or above, it does not speak
DEGENERATE_ASR_WER = 0.9        # the AR recogniser's WER


@dataclass
class System:
    task: str
    name: str
    role: str                        # nar | ar
    quality: dict                    # metric -> value (lower is better for all)
    gap: float | None = None         # primary metric minus the AR's
    speedup: dict = field(default_factory=lambda: dict.fromkeys(SPEED_COLUMNS))
    sources: list = field(default_factory=list)
    speed_sources: dict = field(default_factory=dict)  # speed column -> the speed file it came from
    cpu_speedup: dict = field(default_factory=dict)    # speed column -> the speed-up in process CPU time, where recorded
    degenerate: str | None = None


def _json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise NarspeechError(f"cannot read results ({type(e).__name__})", path=path) from None


def _speed_files(recipe: Path, test_set: str) -> list[tuple[Path, dict]]:
    """``exp/speed_<set>*.json`` (``speed_<set>.<tag>.json``: more timings of the same set), but not
    another set's file (``speed_test_unseen.json`` when ``data/test_unseen`` exists). Only the exp dir's top
    level, where the recipes' bench stages write: a copy kept in a subfolder (an old run) is not this run's."""
    def other_set(p: Path) -> bool:
        stem = p.name[len("speed_"):].split(".")[0]
        return stem != test_set and (recipe / "data" / stem).is_dir()

    return [(p, _json(p)) for p in sorted((recipe / "exp").glob(f"speed_{test_set}*.json")) if not other_set(p)]


def _column(device: str, batch: int, full: int) -> str | None:
    gpu = str(device).startswith("cuda")
    if batch == 1:
        return "gpu_b1" if gpu else "cpu_b1"
    if gpu and batch == full:
        return "gpu_full"
    return None


def _need(path: Path, what: str) -> Path:
    if not path.is_file():
        raise NarspeechError(f"no {what} (expected {path.name})", path=path)
    return path


def gather_tts(recipe: str | Path, test_set: str = "test", nar: str = "fastspeech2", ar: str = "teacher") -> list[System]:
    """FastSpeech 2 against its AR teacher: ASR-WER ratio to the recordings (primary) and MCD."""
    recipe = Path(recipe)
    nar_p = _need(recipe / "exp" / nar / "synth" / test_set / "results.json", "NAR results (run the TTS recipe's stage 8)")
    ar_p = recipe / "exp" / ar / "synth" / test_set / "results.json"
    if not ar_p.is_file():
        raise NarspeechError(f"exp/{nar} has no AR counterpart: {ar_p} is missing (train and evaluate the teacher)", path=recipe)
    out = []
    for role, name, p in (("nar", nar, nar_p), ("ar", ar, ar_p)):
        r = _json(p)
        intel = r.get("intelligibility") or {}
        q = {"wer_ratio": intel.get("wer_ratio"), "asr_wer": (intel.get("synth") or {}).get("wer"),
             "mcd_db": (r.get("mcd_db") or {}).get("mean")}
        out.append(System("tts", name, role, q, sources=[str(p)]))
    sysar = out[1]
    if sysar.quality["asr_wer"] is not None and sysar.quality["asr_wer"] >= DEGENERATE_TTS_WER:
        sysar.degenerate = f"AR ASR-WER {100 * sysar.quality['asr_wer']:.0f} %: it does not speak"
    if out[0].quality["wer_ratio"] is not None and sysar.quality["wer_ratio"] is not None:
        out[0].gap = out[0].quality["wer_ratio"] - sysar.quality["wer_ratio"]
    for p, res in _speed_files(recipe, test_set):
        full = max((s["batch_size"] for s in res.get("speedup", [])), default=0)
        for s in res.get("speedup", []):
            col = _column(res.get("device", "cpu"), s["batch_size"], full)
            if col:
                out[0].speedup[col] = s.get("e2e", s.get("mel"))
                out[0].sources.append(str(p))
    return out


def _asr_quality(p: Path) -> dict:
    r = _json(p)
    return {"wer": r["wer"]["error_rate"], "cer": (r.get("cer") or {}).get("error_rate")}


def _selected(name: str, decodes: list[str] | None) -> bool:
    return decodes is None or any(fnmatch.fnmatchcase(name, pat) for pat in decodes)


def gather_asr(recipe: str | Path, test_set: str = "test", nar: str = "maskctc", ar: str = "ar",
               decodes: list[str] | None = None) -> list[System]:
    """Mask-CTC decodes (and CTC greedy) against the AR beam search: WER (primary).

    The AR baseline is ``exp/<ar>/decode_<set>/beam<N>`` (the largest N); every other scored decode of ``exp/<ar>``
    (greedy, beam1, ``*_int8``, …) and of ``exp/<ar>_*`` (trained smaller ARs, e.g. ``ar_dec1``) is an
    ``ar-variant``: a speed-up a user could pick instead of NAR. `decodes`: shell patterns on
    ``<exp>/<decode>`` names keeping only those systems (the baseline always stays). A speed file row
    with ``decode`` gives that system its speed-up; older rows are matched by their system name."""
    recipe = Path(recipe)
    exp = recipe / "exp"
    nar_dirs = sorted((exp / nar / f"decode_{test_set}").glob("*/result.json"))
    if not nar_dirs:
        raise NarspeechError(f"no scored decodes under exp/{nar}/decode_{test_set} (run the ASR recipe's stages 6-7)", path=recipe)
    ar_dirs = sorted((p for p in (exp / ar / f"decode_{test_set}").glob("beam*/result.json") if re.fullmatch(r"beam\d+", p.parent.name)),
                     key=lambda p: -int(p.parent.name[4:]))  # the widest beam is the baseline; narrower ones are variants
    if not ar_dirs:
        raise NarspeechError(f"exp/{nar} has no AR counterpart: no exp/{ar}/decode_{test_set}/beam*/result.json", path=recipe)
    base = ar_dirs[0]
    ar_sys = System("asr", f"{ar}/{base.parent.name}", "ar", _asr_quality(base), sources=[str(base)])
    if ar_sys.quality["wer"] >= DEGENERATE_ASR_WER:
        ar_sys.degenerate = f"AR WER {100 * ar_sys.quality['wer']:.0f} %: it does not recognise"
    variant_dirs = [p for e in [exp / ar, *sorted(exp.glob(f"{ar}_*"))] if e.is_dir()
                    for p in sorted((e / f"decode_{test_set}").glob("*/result.json")) if p != base]
    out = []
    for role, dirs in (("nar", nar_dirs), ("ar-variant", variant_dirs)):
        for p in dirs:
            name = f"{p.parent.parent.parent.name}/{p.parent.name}"
            if not _selected(name, decodes):
                continue
            q = _asr_quality(p)
            s = System("asr", name, role, q, gap=q["wer"] - ar_sys.quality["wer"], sources=[str(p)])
            if role == "ar-variant" and q["wer"] >= DEGENERATE_ASR_WER:
                s.degenerate = f"WER {100 * q['wer']:.0f} %: it does not recognise"
            out.append(s)
    files = _speed_files(recipe, test_set)
    for keyed in (False, True):  # rows naming their decode dir override older rows matched by system name
        for p, res in files:
            opts = res.get("options", {})
            rows = res.get("rows", [])
            full = max((r["batch_size"] for r in rows), default=0)
            names = {"ctc_greedy": "ctc", "maskctc": f"maskctc_th{opts.get('threshold')}_it{opts.get('iterations')}"}
            for r in rows:
                col = _column(res.get("device", "cpu"), r["batch_size"], full)
                if not col or r.get("speedup_vs_ar") is None or ("decode" in r) != keyed:
                    continue
                for s in out:
                    hit = s.name == r["decode"] if keyed else \
                        bool(names.get(r["system"])) and s.role == "nar" and s.name.endswith("/" + names[r["system"]])
                    if hit:
                        s.speedup[col] = r["speedup_vs_ar"]
                        s.speed_sources[col] = str(p)
                        s.cpu_speedup.pop(col, None)
                        if r.get("cpu_speedup_vs_ar") is not None:
                            s.cpu_speedup[col] = r["cpu_speedup_vs_ar"]
    for s in out:
        s.sources += sorted(set(s.speed_sources.values()))
    return out + [ar_sys]


CORRECT_VARIANTS = ("_greedy", "_int8", "_greedy_int8")  # score dirs <ar><suffix> beside <ar>: AR speed-ups


def gather_correct(recipe: str | Path, test_set: str = "dev", nar: str = "fc", ar: str = "ar") -> list[System]:
    """FastCorrect against the AR corrector on the first scored hypothesis set: WER after correction (primary).
    Score dirs ``<ar>_greedy``, ``<ar>_int8``, ``<ar>_greedy_int8`` beside ``<ar>`` are AR variants; a speed
    row with ``decode`` (`bench correct`) gives that system its speed-up over the AR corrector."""
    recipe = Path(recipe)
    hyp_sets = sorted(p for p in (recipe / "exp" / f"score_{test_set}").glob("*") if p.is_dir())
    if not hyp_sets:
        raise NarspeechError(f"no exp/score_{test_set}/* (run the correction recipe's stage 7)", path=recipe)
    d = hyp_sets[0]
    nar_p = _need(d / nar / "result.json", "NAR correction score")
    ar_p = d / ar / "result.json"
    if not ar_p.is_file():
        raise NarspeechError(f"exp/{nar} has no AR counterpart: {ar_p} is missing", path=recipe)
    before = _json(d / "asr" / "result.json")["wer"]["error_rate"] if (d / "asr" / "result.json").is_file() else None
    w_nar, w_ar = _json(nar_p)["wer"]["error_rate"], _json(ar_p)["wer"]["error_rate"]
    nar_s = System("correct", f"{nar} ({d.name})", "nar", {"wer": w_nar, "wer_before": before}, gap=w_nar - w_ar, sources=[str(nar_p)])
    ar_s = System("correct", f"{ar} ({d.name})", "ar", {"wer": w_ar, "wer_before": before}, sources=[str(ar_p)])
    if before is not None and w_ar >= before:  # a detector that never lets it change anything leaves the WER equal
        ar_s.degenerate = f"AR does not lower the WER ({100 * before:.1f} -> {100 * w_ar:.1f} %): it does not correct"
    by_dir = {nar: nar_s}
    for suffix in CORRECT_VARIANTS:
        p = d / f"{ar}{suffix}" / "result.json"
        if p.is_file():
            w = _json(p)["wer"]["error_rate"]
            by_dir[f"{ar}{suffix}"] = System("correct", f"{ar}{suffix} ({d.name})", "ar-variant", {"wer": w, "wer_before": before},
                                             gap=w - w_ar, sources=[str(p)])
    for p, res in _speed_files(recipe, test_set):
        rows = res.get("rows", [])
        full = max((int(r["batch_size"]) for r in rows), default=0)
        keyed = [r for r in rows if "decode" in r and r.get("speedup_vs_ar") is not None]
        if keyed:  # rows naming their score dir
            for r in keyed:
                col = _column(res.get("device", "cpu"), int(r["batch_size"]), full)
                if col and r["decode"] in by_dir:
                    s = by_dir[r["decode"]]
                    s.speedup[col], s.speed_sources[col] = r["speedup_vs_ar"], str(p)
                    s.cpu_speedup.pop(col, None)
                    if r.get("cpu_speedup_vs_ar") is not None:
                        s.cpu_speedup[col] = r["cpu_speedup_vs_ar"]
            continue
        sp = res.get("speedup_fastcorrect_over_ar", {})
        full = max((int(b) for b in sp), default=0)
        for b, x in sp.items():
            col = _column(res.get("device", "cpu"), int(b), full)
            if col:
                nar_s.speedup[col] = x
                nar_s.speed_sources[col] = str(p)
    for s in by_dir.values():
        s.sources += sorted(set(s.speed_sources.values()))
    return [nar_s, *[s for k, s in by_dir.items() if k != nar], ar_s]


def gather(tts: str | Path | None = None, asr: str | Path | None = None, correct: str | Path | None = None, *,
           tts_set: str = "test", asr_set: str = "test", correct_set: str = "dev", tts_ar: str = "teacher",
           asr_decodes: list[str] | None = None) -> list[System]:
    """All systems of the recipe dirs given; a degenerate AR baseline voids every speed-up over it.
    `tts_ar`: the TTS recipe's AR exp dir name; `asr_decodes`: see :func:`gather_asr`."""
    if not any((tts, asr, correct)):
        raise NarspeechError("give at least one recipe dir (--tts, --asr or --correct)")
    systems = []
    if tts:
        systems += gather_tts(tts, tts_set, ar=tts_ar)
    if asr:
        systems += gather_asr(asr, asr_set, decodes=asr_decodes)
    if correct:
        systems += gather_correct(correct, correct_set)
    for task in {s.task for s in systems}:
        ar = next(s for s in systems if s.task == task and s.role == "ar")
        if ar.degenerate:
            for s in systems:
                if s.task == task and s.role != "ar":
                    s.degenerate = f"speed-up over a degenerate AR system ({ar.degenerate})"
    return systems


PRIMARY = {"tts": "wer_ratio", "asr": "wer", "correct": "wer"}


def markdown_table(systems: list[System]) -> str:
    """One table: quality, gap to AR (primary metric), speed-up per column ('not measured' where absent): wall
    time, and in brackets process CPU time where the speed file has it (fairer on a shared machine)."""
    lines = ["| task | system | role | quality | gap to AR | batch 1 GPU | full batch GPU | batch 1 CPU |",
             "|---|---|---|---|---|---|---|---|"]
    for s in systems:
        q = ", ".join(f"{k} {v:.3f}" for k, v in s.quality.items() if v is not None)
        gap = "" if s.gap is None else f"{s.gap:+.3f} ({PRIMARY[s.task]})"
        if s.role == "ar":
            cells = ["AR (1x)"] * 3 if not s.degenerate else [f"degenerate: {s.degenerate}"] + [""] * 2
        elif s.degenerate:
            cells = [f"not reported: {s.degenerate}"] + [""] * 2
        else:
            cells = ["not measured" if s.speedup[c] is None else f"{s.speedup[c]:.2f}x"
                     + (f" (CPU time {s.cpu_speedup[c]:.2f}x)" if c in s.cpu_speedup else "") for c in SPEED_COLUMNS]
        lines.append(f"| {s.task} | {s.name} | {s.role} | {q} | {gap} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(systems: list[System], path: str | Path) -> int:
    """Quality gap to AR (y) against speed-up (x, log), one panel per task and one marker per system (NAR
    filled, AR variants hollow, the AR baseline a star at 1x); the first measured speed column of each
    system (batch 1 GPU, full batch GPU, batch 1 CPU), in CPU time where recorded, else wall time.
    Returns the points drawn (the baselines not counted)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = [t for t in ("tts", "asr", "correct") if any(s.task == t for s in systems)]
    fig, axes = plt.subplots(1, max(1, len(tasks)), figsize=(6.5 * max(1, len(tasks)), 4.8), squeeze=False)
    shapes = "osD^v<>phX8P*H"
    n = 0
    for ax, task in zip(axes[0], tasks):
        k = 0
        for s in systems:
            if s.task != task:
                continue
            if s.role == "ar":
                ax.scatter([1.0], [0.0], marker="*", s=140, color="black", label=f"{s.name} (AR baseline)")
                if s.degenerate:
                    ax.text(0.5, 0.3, f"degenerate AR baseline:\n{s.degenerate}\n(no speed-up over it is drawn)",
                            transform=ax.transAxes, ha="center", fontsize=8, wrap=True)
                continue
            col = next((c for c in SPEED_COLUMNS if s.speedup[c] is not None), None)
            if s.degenerate or s.gap is None or col is None:
                continue
            color = plt.cm.tab10(k % 10)
            filled = s.role == "nar"
            x, kind = (s.cpu_speedup[col], "CPU time") if col in s.cpu_speedup else (s.speedup[col], "wall")
            ax.scatter([x], [s.gap], marker=shapes[k % len(shapes)], s=50, linewidths=1.5,
                       facecolors=color if filled else "none", edgecolors=color, label=f"{s.name} ({s.role}, {col}, {kind})")
            k += 1
        n += k
        ax.set_xscale("log")
        ax.axhline(0, color="grey", lw=0.8)
        ax.set_title(task)
        ax.set_xlabel("speed-up over the AR baseline (log; CPU time where recorded)")
        ax.set_ylabel(f"gap to AR in {PRIMARY[task]} (lower is better)")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    with atomic_path(Path(path)) as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)
    return n
