"""One table for a recipe's scored decode dirs: WER/CER (and per group), RTF, the change against the
same model's greedy CTC, and warnings a user should not have to find by comparing rows by hand —
above all a Mask-CTC decode that is worse than the greedy CTC it starts from (an undertrained CMLM
decoder: mask less, or train longer).

Reads ``DIR/result.json`` (``narspeech asr score … --out DIR`` or the decode dir itself) and
``DIR/decode.json`` (``narspeech asr decode``).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence


@dataclass
class Row:
    model: str  # the exp dir's name
    decode: str  # the decode dir's name
    method: str
    wer: float  # %
    cer: float  # %
    groups: dict[str, float] = field(default_factory=dict)  # WER % per group
    rtf: float | None = None
    vs_ctc: float | None = None  # relative WER change (%) against the same model's greedy CTC


def _rate(d: dict) -> float:
    return 100.0 * float(d["error_rate"])


def read_rows(decode_dirs: Sequence[str | Path]) -> list[Row]:
    """A row per scored decode dir (dirs without ``result.json`` are left out)."""
    rows = []
    for d in map(Path, decode_dirs):
        res = d / "result.json"
        if not res.is_file():
            continue
        r = json.loads(res.read_text(encoding="utf-8"))
        info = json.loads((d / "decode.json").read_text(encoding="utf-8")) if (d / "decode.json").is_file() else {}
        groups = {g: _rate(v["wer"]) for g, v in sorted((r.get("groups") or {}).items())}
        rows.append(Row(model=d.parent.parent.name, decode=d.name, method=(info.get("options") or {}).get("method", "?"),
                        wer=_rate(r["wer"]), cer=_rate(r["cer"]), groups=groups, rtf=info.get("rtf")))
    ctc = {r.model: r.wer for r in rows if r.method == "ctc"}
    for r in rows:
        if r.model in ctc and r.method != "ctc" and ctc[r.model] > 0:
            r.vs_ctc = 100.0 * (r.wer - ctc[r.model]) / ctc[r.model]
    return rows


def warnings(rows: Sequence[Row]) -> list[str]:
    """Plain-language problems: Mask-CTC rows worse than their model's greedy CTC."""
    out = []
    worse = [r for r in rows if r.method == "maskctc" and r.vs_ctc is not None and r.vs_ctc > 0]
    if worse:
        names = ", ".join(f"{r.decode} ({r.vs_ctc:+.1f} %)" for r in worse)
        out.append(f"Mask-CTC is worse than greedy CTC in {len(worse)} decode(s): {names}. The CMLM decoder fills "
                   "masks worse than CTC guessed them: use a lower --threshold (mask less) or train it longer.")
    return out


def markdown(rows: Sequence[Row]) -> str:
    """The table (best WER first within each model) and the warnings under it."""
    gnames = sorted({g for r in rows for g in r.groups})
    head = ["model", "decode", "WER %", *[f"WER {g} %" for g in gnames], "CER %", "vs greedy CTC", "RTF"]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for r in sorted(rows, key=lambda r: (r.model, r.wer)):
        cells = [r.model, r.decode, f"{r.wer:.2f}", *[f"{r.groups[g]:.2f}" if g in r.groups else "" for g in gnames],
                 f"{r.cer:.2f}", "" if r.vs_ctc is None else f"{r.vs_ctc:+.1f} %", "" if r.rtf is None else f"{r.rtf:.4f}"]
        lines.append("| " + " | ".join(cells) + " |")
    warn = warnings(rows)
    return "\n".join(lines + ([""] + [f"warning: {w}" for w in warn] if warn else [])) + "\n"
