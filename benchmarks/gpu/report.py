"""The GPU run's report: small file readers, the targets beside what was measured, and report.md."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from profiles import PAPER_BATCH, TARGETS


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def read_json(path: Path) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def table(path: Path) -> dict[str, str]:
    out = {}
    try:
        for line in Path(path).read_text(encoding="utf-8").splitlines():
            k, _, v = line.strip().partition(" ")
            if k:
                out[k] = v.strip()
    except OSError:
        pass
    return out


def targets(steps: list[dict], device: str) -> list[dict]:
    """Each target of profiles.TARGETS with the number the steps measured and whether it is met (GPU runs only)."""
    nums = {s["name"]: s.get("numbers") or {} for s in steps}
    gpu = device.startswith("cuda")
    measured: dict[str, float | None] = {k: None for k in TARGETS}
    if nums.get("feats_device", {}).get("xrt") is not None:
        measured["feats_xrt"] = float(nums["feats_device"]["xrt"])
    for s in nums.get("bench_tts", {}).get("speedup") or []:
        if s.get("batch_size") == 1:
            measured["tts_mel_speedup_b1"] = s.get("mel")
            measured["tts_e2e_speedup_b1"] = s.get("e2e")
    ratios = nums.get("bench_train", {}).get("bf16_over_fp32") or {}
    if str(PAPER_BATCH) in ratios:
        measured["train_bf16_over_fp32"] = ratios[str(PAPER_BATCH)]
    rows = [r for r in ((nums.get("bench_asr") or {}).get("result") or {}).get("rows", []) if r.get("system") == "maskctc"]
    if rows:
        measured["asr_maskctc_speedup_b1"] = next((r["speedup_vs_ar"] for r in rows if r["batch_size"] == 1), None)
        measured["asr_maskctc_rtf_batched"] = max(rows, key=lambda r: r["batch_size"])["rtf"] if len(rows) > 1 else None
    cs = ((nums.get("bench_correct") or {}).get("result") or {}).get("speedup_fastcorrect_over_ar") or {}
    if "1" in cs:
        measured["correct_speedup_b1"] = cs["1"]
    e2e = ((nums.get("bench_e2e") or {}).get("result") or {}).get("torch") or {}
    if e2e.get("throughput"):
        measured["tts_e2e_xrt_batched"] = e2e["throughput"]["x_real_time"]
    out = []
    for k, (what, op, val) in TARGETS.items():
        m = measured[k]
        ok = None if m is None or not gpu else (m >= val if op == ">=" else m <= val)
        out.append({"name": k, "what": what, "target": f"{op} {val:g}", "measured": None if m is None else float(f"{float(m):.3g}"),
                    "met": ok, "note": "" if gpu else "not a GPU run: targets are for one GPU"})
    return out


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.3g}" if abs(v) < 1000 else f"{v:.0f}"
    return "–" if v is None else str(v)


def markdown(r: dict) -> str:
    """report.md: header, targets beside measurements, every step, then the detail tables."""
    L = [f"# narspeech GPU run ({r['profile']}, suite {r['suite']})", "",
         f"- started {r['started']}, updated {r['updated']}, {r['elapsed_s']:.0f} s of {r['minutes']:g} min",
         f"- device `{r['device']}`: {r.get('gpu') or 'no GPU'}; torch {r['env'].get('torch', '?')}, {r['env'].get('cpus', '?')} CPU cores",
         f"- commit {r['commit']}" + (" (uncommitted changes)" if r.get("dirty") else ""), "",
         "## Targets", "", "| claim | target | measured | met |", "| --- | --- | ---: | --- |"]
    for t in r["targets"]:
        met = {True: "yes", False: "**no**", None: "–"}[t["met"]]
        L.append(f"| {t['what']} | {t['target']} | {_fmt(t['measured'])} | {met}{' (' + t['note'] + ')' if t['note'] else ''} |")
    L += ["", "## Steps", "", "| step | suite | status | s / box | result or reason |", "| --- | --- | --- | ---: | --- |"]
    for s in r["steps"]:
        nums = s.get("numbers") or {}
        brief = s.get("reason") or s.get("note") or ""
        if s["name"].startswith("feats_") and nums:
            brief = f"{nums.get('xrt')}× real time ({nums.get('audio_seconds')} s audio, {nums.get('device')}, {nums.get('jobs')} jobs)"
        elif s["name"] == "bench_train" and nums:
            brief = "; ".join(f"b{x['batch_size']} {x['precision']} {x['steps_per_s']:.2f} steps/s" + (f" {x['peak_mem_gib']:.1f} GiB" if x.get("peak_mem_gib") else "")
                              for x in nums["rows"])
        elif s["name"] == "bench_tts" and nums:
            brief = "; ".join(f"b{x['batch_size']}: mel {x['mel']:.1f}×" + (f", e2e {x['e2e']:.1f}×" if x.get("e2e") else "") for x in nums.get("speedup") or [])
        elif s["name"].startswith("train_") and s["suite"] == "quality" and nums:
            brief = f"{nums.get('steps')} steps, loss {_fmt(nums.get('loss'))} ({_fmt(nums.get('steps_per_s_last_log'))} steps/s); " + brief
        elif s["name"].startswith("eval_") and nums:
            brief = ", ".join(f"{k} {_fmt(v)}" for k, v in nums.items())
        elif s["name"].startswith("synth_") and nums:
            brief = f"{nums.get('synthesised')} synthesised, {nums.get('failed')} failed"
        elif s["name"] == "bench_asr" and nums.get("result"):
            brief = "; ".join(f"{x['system']} b{x['batch_size']} RTF {_fmt(x['rtf'])} ({_fmt(x['speedup_vs_ar'])}× AR)"
                              for x in nums["result"].get("rows", []) if x["system"] in ("maskctc", "ar_beam10"))
        elif s["name"] == "bench_correct" and nums.get("result"):
            brief = "; ".join(f"b{x['batch_size']} {x['model']} {_fmt(x['ms_per_sentence'])} ms/sent" for x in nums["result"].get("rows", []))
            brief += "; FastCorrect speed-up " + ", ".join(f"b{b} {_fmt(v)}×" for b, v in nums["result"].get("speedup_fastcorrect_over_ar", {}).items())
        elif s["name"] == "bench_e2e" and nums.get("result"):
            e = nums["result"].get("torch") or {}
            brief = "; ".join(f"{x['threads']} thr: RTF {_fmt(x['rtf'])}, first audio {_fmt(x['first_audio_mean'] * 1000)} ms"
                              for x in e.get("batch1", []))
            if e.get("throughput"):
                brief += f"; batched {_fmt(e['throughput']['x_real_time'])}× real time ({e['throughput']['sentences']} sentences)"
        elif s["name"] == "pytest_gpu" and nums:
            brief = nums.get("summary", "")
        elif s["name"] == "durations" and nums:
            brief = "; ".join(f"{k}: {v['utts']} utts, {v['filtered']} filtered, focus {v['focus_rate_mean']}" for k, v in nums.items() if isinstance(v, dict))
            brief += (" — " + nums["note"]) if nums.get("note") else ""
        brief = brief.replace("|", "\\|").replace("\n", " ")
        L.append(f"| {s['name']} | {s['suite']} | {s['status']} | {s['seconds']:.0f} / {s.get('box_s', 0)} | {brief} |")
    skipped = [s for s in r["steps"] if s["status"] != "ok"]
    if skipped:
        L += ["", "Not ok: " + ", ".join(f"{s['name']} ({s['status']})" for s in skipped) + "."]
    tts = next((s.get("numbers") for s in r["steps"] if s["name"] == "bench_tts" and s.get("numbers")), None)
    if tts:
        L += ["", "## TTS speed (FastSpeech 2 vs teacher)", "", tts["note"] + ".", "",
              "| model | batch | audio s | mel s | mel RTF | e2e s | e2e RTF |", "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for x in tts["rows"]:
            L.append(f"| {x['model']} | {x['batch_size']} | {_fmt(x['audio_seconds'])} | {_fmt(x['mel_s'])} | {_fmt(x['mel_rtf'])} | "
                     f"{_fmt(x['e2e_s'])} | {_fmt(x['e2e_rtf'])} |")
    return "\n".join(L) + "\n"
