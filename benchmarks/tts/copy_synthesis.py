#!/usr/bin/env python
"""Vocoder ceiling and floor: score copy synthesis and degenerate outputs like a TTS system.

    python benchmarks/tts/copy_synthesis.py DATA_DIR OUT_DIR [--feats conf/feats.yaml] [--gl-iters 32] [--trim-db 40]
        [--asr pocketsphinx|none] [--baselines silence,noise,reversed] [--num-utts N]

Writes OUT_DIR/wav/*.wav, wav.scp, synth_info.json and OUT_DIR/results.json (everything
`narspeech tts evaluate` reports: ASR WER ratio, MCD with/without c0, level correlation,
voicing F1, silence/variance checks, F0 RMSE): the recordings' own log-mels through
Griffin-Lim, the best any acoustic model can score through this vocoder. Each of
`--baselines` (see narspeech.evaluate.baselines: silence, noise, reversed, recording) is
written to OUT_DIR/baseline_KIND and scored the same way; a headline table of all of them
is printed at the end (the recordings are recognised once).
"""
from __future__ import annotations

import argparse
from pathlib import Path

from narspeech.audio.features import FeatureConfig
from narspeech.audio.io import audio_info, guess_base, load_audio, resolve_entry
from narspeech.config import load_config
from narspeech.fileio import read_table, write_table
from narspeech.evaluate.baselines import KINDS, fake_synthesis, write_synthesis_dir
from narspeech.evaluate.headline import format_line, format_table
from narspeech.evaluate.intelligibility import load_asr
from narspeech.evaluate.synthesis import evaluate_synthesis


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data")
    ap.add_argument("out")
    ap.add_argument("--feats", help="feature config YAML (default: defaults for the first file's rate)")
    ap.add_argument("--gl-iters", type=int, default=32)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--trim-db", type=float, help="score without edge silence, as `tts evaluate --trim-db`")
    ap.add_argument("--asr", default="auto", help="recogniser for the WER ratio: pocketsphinx, none, auto")
    ap.add_argument("--asr-workers", type=int)
    ap.add_argument("--baselines", default="", help=f"comma-separated degenerate outputs to score too ({', '.join(KINDS)})")
    ap.add_argument("--num-utts", type=int, help="only the first N utterances of DATA")
    a = ap.parse_args()
    data, out = Path(a.data), Path(a.out)
    scp = read_table(data / "wav.scp")
    base = guess_base(data, scp)
    utts = list(scp)[: a.num_utts]
    sr = audio_info(resolve_entry(scp[utts[0]], base), utt=utts[0])[0]
    overrides = load_config(a.feats) if a.feats else {}
    cfg = FeatureConfig.for_rate(overrides.pop("sample_rate", sr), **overrides)
    ref = data
    if a.num_utts:  # a data dir of the subset, so missing syntheses are not reported
        ref = out / "ref"
        write_table(ref / "wav.scp", {u: str(Path(resolve_entry(scp[u], base)).resolve()) for u in utts})
        text = read_table(data / "text") if (data / "text").is_file() else {}
        if text:
            write_table(ref / "text", {u: text[u] for u in utts})
    wavs = [load_audio(resolve_entry(scp[u], base), utt=u, target_sr=cfg.sample_rate)[0] for u in utts]
    asr = load_asr(a.asr, num_workers=a.asr_workers)
    systems = [("griffin-lim", out, {"model_type": "analysis-synthesis", "vocoder": {"name": "griffin-lim", "n_iter": a.gl_iters}})]
    systems += [(k, out / f"baseline_{k}", {"model_type": f"baseline-{k}"}) for k in a.baselines.split(",") if k]
    rows = []
    for kind, d, info in systems:
        write_synthesis_dir(d, utts, fake_synthesis(kind, wavs, cfg, gl_iters=a.gl_iters, batch_size=a.batch_size), cfg, info)
        r = evaluate_synthesis(d, ref, trim_db=a.trim_db, asr=asr, batch_size=a.batch_size)
        print(f"{kind}: {r['utterances']} utterances: {format_line(r['headline'])} -> {d / 'results.json'}", flush=True)
        rows.append((kind, r["headline"]))
    print(format_table(rows))


if __name__ == "__main__":
    main()
