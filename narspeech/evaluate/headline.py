"""The few numbers a TTS report leads with, chosen so that no degenerate output can look good.

Headline metrics (each compares the synthesis with the recording **along time**, so
silence, white noise and a time-reversed recording all score clearly worse than copy
synthesis on every one; tests/test_metrics_headline.py checks it on real speech):

* ``wer_ratio`` — ASR word error rate on the synthesis / on the recordings (lower is better, 1 = as intelligible);
* ``mcd_c0_db`` — MCD including c0, DTW-aligned (lower is better): level errors count;
* ``level_corr`` — correlation of the frame levels (dB) along the DTW path (higher is better): loud
  and quiet where the recording is (syllables, closures, pauses); 0 for a flat output.

Checks (reported beside them; they name *why* a system fails, but some degenerate
output passes each): voicing F1 against the recording along the DTW path (0 for a
system with no voiced frame, but a reversed recording keeps most of its voicing under
DTW), silence fraction of
synthesis vs recording (frames more than ``floor_db`` under the recording's peak),
temporal variance ratio (a stationary blur is << 1; reversal keeps it at 1), duration
ratio, MCD without c0, and the F0 RMSE with the number of voiced pairs it rests on.
The near-floor decision error (``floor_error``) is in results.json too; sentences with
few pauses bound it (white noise 0.02 vs copy synthesis' 0.01 on those sentences).

``python -m narspeech.evaluate.headline RESULTS.json...`` prints one table row per file. Files that are
draws of one system (an AR teacher keeps its prenet dropout at inference, so each synthesis seed
speaks differently, and its score is a draw) get a row with their mean and a line with its range; their synth_info.json says so (same
checkpoint, data, vocoder, controls and teacher forcing, other seeds).
"""
from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path
from typing import Mapping, Sequence

from narspeech.evaluate.speaker import format_speaker_table

# name -> (label, lower is better)
HEADLINE: dict[str, tuple[str, bool]] = {
    "wer_ratio": ("WER ratio", True),
    "mcd_c0_db": ("MCD+c0 dB", True),
    "level_corr": ("level corr", False),
}
CHECKS = ("wer", "ref_wer", "voicing_f1", "floor_error", "silence_synth", "silence_ref", "variance_ratio", "duration_ratio", "mcd_db", "f0_rmse_hz", "voiced_pairs")


def _mean(x) -> float:
    if isinstance(x, Mapping):
        x = x.get("mean")
    return float("nan") if x is None else float(x)


def headline(results: Mapping) -> dict[str, float]:
    """Headline metrics and checks from a ``tts evaluate`` results dict (NaN where not measured)."""
    intel = results.get("intelligibility") or {}
    voicing = results.get("voicing") or {}
    silence = results.get("silence") or {}
    return {
        "wer_ratio": float(intel.get("wer_ratio", float("nan"))),
        "mcd_c0_db": _mean(results.get("mcd_c0_db")),
        "voicing_f1": float(voicing.get("f1", float("nan")) if voicing.get("f1") is not None else float("nan")),
        "level_corr": _mean(results.get("level_corr")),
        "floor_error": _mean(results.get("floor_error")),
        "wer": float(intel.get("synth", {}).get("wer", float("nan"))),
        "ref_wer": float(intel.get("ref", {}).get("wer", float("nan"))),
        "silence_synth": _mean(silence.get("synth")),
        "silence_ref": _mean(silence.get("ref")),
        "variance_ratio": _mean(results.get("variance_ratio")),
        "duration_ratio": _mean(results.get("duration_ratio")),
        "mcd_db": _mean(results.get("mcd_db")),
        "f0_rmse_hz": _mean(results.get("f0_rmse_hz")),
        "voiced_pairs": float(results.get("voiced_pairs", float("nan")) if results.get("voiced_pairs") is not None else float("nan")),
    }


def _f(x: float, fmt: str) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, fmt)


def format_line(h: Mapping[str, float]) -> str:
    """One line: the headline metrics, then the checks."""
    wer = (f"WER {_f(100 * h['wer'], '.1f')} % (recordings {_f(100 * h['ref_wer'], '.1f')} %, ratio {_f(h['wer_ratio'], '.2f')})"
           if not math.isnan(h["wer"]) else "WER n/a (no ASR)")
    f0 = (f"F0 RMSE {_f(h['f0_rmse_hz'], '.1f')} Hz over {int(h['voiced_pairs'])} voiced pairs"
          if h["voiced_pairs"] == h["voiced_pairs"] and h["voiced_pairs"] > 0 else "F0 RMSE n/a (no frame pair voiced in both)")
    return (f"{wer} | MCD+c0 {_f(h['mcd_c0_db'], '.2f')} dB | level corr {_f(h['level_corr'], '.2f')} || "
            f"checks: voicing F1 {_f(h['voicing_f1'], '.2f')}, silence {_f(h['silence_synth'], '.2f')} "
            f"(recordings {_f(h['silence_ref'], '.2f')}), variance ratio {_f(h['variance_ratio'], '.2f')}, "
            f"duration ratio {_f(h['duration_ratio'], '.2f')}, MCD(no c0) {_f(h['mcd_db'], '.2f')} dB, {f0}")


def format_table(rows: Sequence[tuple[str, Mapping[str, float]]]) -> str:
    """A fixed-width table, one row per (name, headline dict)."""
    cols = [("WER%", "wer", lambda x: _f(100 * x, ".1f")), ("refWER%", "ref_wer", lambda x: _f(100 * x, ".1f")),
            ("WERx", "wer_ratio", lambda x: _f(x, ".2f")), ("MCD+c0", "mcd_c0_db", lambda x: _f(x, ".2f")),
            ("vF1", "voicing_f1", lambda x: _f(x, ".2f")), ("lvlCorr", "level_corr", lambda x: _f(x, ".2f")),
            ("sil", "silence_synth", lambda x: _f(x, ".2f")), ("refSil", "silence_ref", lambda x: _f(x, ".2f")),
            ("varRatio", "variance_ratio", lambda x: _f(x, ".2f")), ("durRatio", "duration_ratio", lambda x: _f(x, ".2f")),
            ("MCD", "mcd_db", lambda x: _f(x, ".2f"))]
    width = max([len(n) for n, _ in rows] + [6])
    lines = [f"{'system':<{width}} " + " ".join(f"{c:>8}" for c, _, _ in cols)]
    for name, h in rows:
        lines.append(f"{name:<{width}} " + " ".join(f"{fmt(h[k]):>8}" for _, k, fmt in cols))
    return "\n".join(lines)


# equal in every draw of one system
DRAW_FIELDS = ("checkpoint", "config_hash", "source", "vocoder", "controls", "teacher_forced")


def draw_key(synth_info: Mapping) -> str:
    """What two syntheses must share to be draws of one system (only their seed differs)."""
    return json.dumps({k: synth_info.get(k) for k in DRAW_FIELDS}, sort_keys=True)


def mean_over_draws(rows: Sequence[tuple[str, Mapping[str, float], Mapping | None]]
                    ) -> tuple[list[tuple[str, Mapping[str, float]]], list[str]]:
    """(name, headline, synth_info or None) rows → the table rows, each group of ≥ 2 draws (other seeds)
    followed by a ``NAME mean of K draws`` row, and one summary line per group (the WER ratio's mean and
    range). A group in which a seed repeats is not averaged (those are not independent draws)."""
    groups: dict[str, list[int]] = {}
    for i, (_, _, info) in enumerate(rows):
        if info is not None:
            groups.setdefault(draw_key(info), []).append(i)
    table, lines, last_of = [], [], {}
    for g in groups.values():
        seeds = [rows[j][2].get("seed") for j in g]
        if len(g) > 1 and len(set(map(str, seeds))) < len(seeds):
            lines.append(f"not averaged (a seed repeats: {', '.join(map(str, seeds))}): {', '.join(rows[j][0] for j in g)}")
        elif len(g) > 1:
            last_of[g[-1]] = g
    for i, (name, h, _) in enumerate(rows):
        table.append((name, h))
        if i not in last_of:
            continue
        members = [rows[j] for j in last_of[i]]
        mean = {k: math.fsum(m[1][k] for m in members) / len(members) for k in h}
        label = f"{members[0][0]} mean of {len(members)} draws"
        table.append((label, mean))
        ratios = [m[1]["wer_ratio"] for m in members]
        seeds = ", ".join(str(m[2].get("seed")) for m in members)
        lines.append(f"{label} (seeds {seeds}): WER ratio {_f(mean['wer_ratio'], '.2f')}, "
                     f"range {_f(min(ratios), '.2f')}-{_f(max(ratios), '.2f')}")
    return table, lines


def main(argv: Sequence[str] | None = None) -> None:
    """Print the headline table of the given results.json files (with the mean of any draws of one system)."""
    paths = list(sys.argv[1:] if argv is None else argv)
    if not paths:
        print("usage: python -m narspeech.evaluate.headline RESULTS.json...", file=sys.stderr)
        raise SystemExit(2)

    dirs = [str(Path(p).parent) for p in paths]
    common = os.path.commonpath(dirs) if len(dirs) > 1 else ""
    names = [os.path.relpath(d, common) if common else d for d in dirs]
    rows = []
    for n, p in zip(names, paths):
        info = Path(p).parent / "synth_info.json"
        rows.append((n, headline(json.loads(Path(p).read_text())), json.loads(info.read_text()) if info.is_file() else None))
    table, lines = mean_over_draws(rows)
    print("\n".join([format_table(table)] + lines))
    for n, p in zip(names, paths):  # multi-speaker systems: whose voice, per speaker
        res = json.loads(Path(p).read_text())
        sp = res.get("speaker")
        if sp:
            print(f"\n{n}: speakers (similarity floor → ceiling, position, identification accuracy, mean F0 Hz)")
            print(format_speaker_table(sp, res.get("intelligibility")))


if __name__ == "__main__":
    main()
