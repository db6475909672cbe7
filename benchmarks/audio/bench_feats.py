#!/usr/bin/env python
"""Feature-dump benchmark, the same as `narspeech bench feats` (a script for CI logs / cron).

    python benchmarks/audio/bench_feats.py ../shared/data/arctic_fb/train --librosa-limit 5 --json exp/bench_feats.json

Measures the full dump (decode, resample, log-mel, F0, energy, write) in x real time and a
plain librosa loop (load + melspectrogram + pyin) on a few utterances of the same data.
"""
from __future__ import annotations

import argparse
import json
import sys

from narspeech.audio.bench import bench_feats, format_table
from narspeech.errors import NarspeechError
from narspeech.fileio import atomic_write


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", help="Kaldi data dir (wav.scp)")
    ap.add_argument("--base", default=None, help="folder relative wav.scp paths are relative to (guessed)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--jobs", type=int, default=None, help="worker processes (default: one per core, max 8)")
    ap.add_argument("--limit", type=int, default=None, help="first N utterances only")
    ap.add_argument("--librosa-limit", type=int, default=5, help="utterances for the librosa loop (0: skip)")
    ap.add_argument("--batch-seconds", type=float, default=None)
    ap.add_argument("--json", default=None, help="write the results here too")
    args = ap.parse_args(argv)
    try:
        res = bench_feats(args.data, base=args.base, device=args.device, jobs=args.jobs, limit=args.limit,
                          librosa_limit=args.librosa_limit, batch_seconds=args.batch_seconds)
    except NarspeechError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(format_table(res), end="")
    if args.json:
        with atomic_write(args.json) as f:
            json.dump(res, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
