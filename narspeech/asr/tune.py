"""Choose a Mask-CTC model's decoding settings on a dev set and store them with the model.

A recipe decodes its dev set with a grid of Mask-CTC settings (threshold, iterations, length
adjustment) and scores each decode dir; :func:`choose_decode` picks the setting with the lowest
error rate (CER by default, then WER, then fewer decoder passes) and :func:`write_decode_defaults`
stores it in ``EXP/decode_defaults.json`` with the whole dev curve. ``asr decode`` / ``asr
recognize`` and :func:`narspeech.asr.recognize.load_recognizer` use it whenever an option is not
given. If no Mask-CTC setting beats the model's own greedy CTC on dev, the choice is threshold 0
(nothing masked: exactly the greedy CTC output), so the default decode is never worse than greedy
CTC on the set it was tuned on.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

from narspeech.errors import NarspeechError
from narspeech.fileio import atomic_write

DEFAULTS_FILE = "decode_defaults.json"
METRICS = ("cer", "wer")
TUNED_KEYS = ("threshold", "iterations", "length_adjust", "length_slack", "ctc_fusion")


def read_scored(decode_dirs: Sequence[str | Path]) -> list[dict]:
    """One entry per scored decode dir (``result.json`` and ``decode.json``): its name, decoding options,
    WER and CER (%). Dirs without both files are left out."""
    rows = []
    for d in map(Path, decode_dirs):
        if not ((d / "result.json").is_file() and (d / "decode.json").is_file()):
            continue
        res = json.loads((d / "result.json").read_text(encoding="utf-8"))
        info = json.loads((d / "decode.json").read_text(encoding="utf-8"))
        opts = info.get("options") or {}
        rows.append({"decode": d.name, "method": opts.get("method"), **{k: opts.get(k) for k in TUNED_KEYS},
                     "wer": 100.0 * float(res["wer"]["error_rate"]), "cer": 100.0 * float(res["cer"]["error_rate"]),
                     "exp": (info.get("model") or {}).get("exp")})
    return rows


def choose_decode(rows: Sequence[dict], metric: str = "cer") -> dict:
    """The best Mask-CTC row by `metric` (then the other rate, then fewer iterations), or threshold 0 when
    none is better than the greedy CTC row. Returns the stored record: chosen settings, the dev rates of
    the choice and of greedy CTC, and the curve (every row, best first)."""
    if metric not in METRICS:
        raise NarspeechError(f"--metric must be one of {', '.join(METRICS)}, got {metric!r}")
    other = "wer" if metric == "cer" else "cer"
    ctc = [r for r in rows if r["method"] == "ctc"]
    mask = [r for r in rows if r["method"] == "maskctc"]
    if not ctc:
        raise NarspeechError("no scored greedy-CTC decode dir (method ctc) among the arguments: it is the baseline to beat")
    if not mask:
        raise NarspeechError("no scored Mask-CTC decode dir (method maskctc) among the arguments")
    base = ctc[0]

    def key(r: dict) -> tuple:
        return (round(r[metric], 6), round(r[other], 6), r["iterations"] or 0, r["threshold"] or 0.0)

    curve = sorted(mask, key=key)
    best = curve[0]
    beats = (best[metric], best[other]) < (base[metric], base[other])
    if beats:
        chosen = {k: best.get(k) for k in TUNED_KEYS}
        rates = {"wer": best["wer"], "cer": best["cer"], "decode": best["decode"]}
    else:  # threshold 0 masks nothing: the greedy CTC output
        chosen = {"threshold": 0.0, "iterations": best["iterations"], "length_adjust": False, "length_slack": best["length_slack"],
                  "ctc_fusion": 0.0}
        rates = {"wer": base["wer"], "cer": base["cer"], "decode": base["decode"]}
    chosen["ctc_fusion"] = chosen.get("ctc_fusion") or 0.0
    return {"method": "maskctc", **chosen, "metric": metric, "chosen": rates,
            "greedy_ctc": {"wer": base["wer"], "cer": base["cer"]}, "refines": beats,
            "curve": [{k: r.get(k) for k in ("decode", *TUNED_KEYS, "wer", "cer")} for r in curve]}


def write_decode_defaults(exp_dir: str | Path, record: dict, *, tuned_on: str = "") -> Path:
    """Store `record` (:func:`choose_decode`) as ``EXP/decode_defaults.json``."""
    exp = Path(exp_dir)
    if not (exp / "config.yaml").is_file():
        raise NarspeechError("not an experiment dir (no config.yaml)", path=exp)
    path = exp / DEFAULTS_FILE
    with atomic_write(path) as f:
        json.dump({**record, "tuned_on": tuned_on}, f, indent=1)
    return path


def load_decode_defaults(exp_dir: str | Path) -> dict:
    """The stored Mask-CTC settings of EXP (``threshold``, ``iterations``, ``length_adjust``, ``length_slack``),
    or {} when the model was never tuned. A damaged file is a one-line error."""
    path = Path(exp_dir) / DEFAULTS_FILE
    if not path.is_file():
        return {}
    try:
        rec = json.loads(path.read_text(encoding="utf-8"))
        out = {k: rec[k] for k in TUNED_KEYS if k in rec}
        if "threshold" in out:
            out["threshold"] = float(out["threshold"])
        if "iterations" in out:
            out["iterations"] = int(out["iterations"])
        if "length_adjust" in out:
            out["length_adjust"] = bool(out["length_adjust"])
        if out.get("ctc_fusion") is None:
            out.pop("ctc_fusion", None)
        else:
            out["ctc_fusion"] = float(out["ctc_fusion"])
    except (ValueError, TypeError, AttributeError) as e:
        raise NarspeechError(f"unreadable decoding defaults ({e}); delete it or run `narspeech asr tune` again", path=path) from None
    return out


def curve_markdown(record: dict) -> str:
    """The dev curve as a markdown table, the choice marked."""
    lines = ["| decode | threshold | iterations | length adjust | CTC fusion | WER % | CER % |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    g = record["greedy_ctc"]
    lines.append(f"| greedy CTC | | | | | {g['wer']:.2f} | {g['cer']:.2f} |")
    for r in record["curve"]:
        mark = " (chosen)" if record["refines"] and r["decode"] == record["chosen"]["decode"] else ""
        lines.append(f"| {r['decode']}{mark} | {r['threshold']} | {r['iterations']} | {'yes' if r['length_adjust'] else 'no'} "
                     f"| {r.get('ctc_fusion') or 0} | {r['wer']:.2f} | {r['cer']:.2f} |")
    c = record
    lines.append("")
    lines.append(f"chosen: threshold {c['threshold']}, iterations {c['iterations']}, length adjust "
                 f"{'yes' if c['length_adjust'] else 'no'}, CTC fusion {c.get('ctc_fusion') or 0}" + ("" if c["refines"] else
                                                               " (no setting beat greedy CTC: nothing is masked)"))
    return "\n".join(lines) + "\n"
