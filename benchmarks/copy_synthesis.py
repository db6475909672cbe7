#!/usr/bin/env python
"""Vocoder ceiling: vocode each recording's own log-mel, then score it like a TTS system.

    python benchmarks/copy_synthesis.py DATA_DIR OUT_DIR [--feats conf/feats.yaml] [--gl-iters 32] [--trim-db 40]

Writes OUT_DIR/wav/*.wav, wav.scp, synth_info.json and OUT_DIR/results.json (MCD, F0 RMSE, VDE
from `narspeech tts evaluate`): the best any acoustic model can score through this vocoder.
"""
from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import torch

from narspeech.audio.features import FeatureConfig, log_mel
from narspeech.audio.io import audio_info, load_audio, resolve_entry, write_wav
from narspeech.config import load_config
from narspeech.data.kaldi import guess_base
from narspeech.fileio import read_table, write_table
from narspeech.metrics.tts_eval import evaluate_synthesis
from narspeech.tts.vocoder import GriffinLim


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data")
    ap.add_argument("out")
    ap.add_argument("--feats", help="feature config YAML (default: defaults for the first file's rate)")
    ap.add_argument("--gl-iters", type=int, default=32)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--trim-db", type=float, help="score without edge silence, as `tts evaluate --trim-db`")
    a = ap.parse_args()
    data, out = Path(a.data), Path(a.out)
    scp = read_table(data / "wav.scp")
    base = guess_base(data, scp)
    first = next(iter(scp))
    sr = audio_info(resolve_entry(scp[first], base), utt=first)[0]
    overrides = load_config(a.feats) if a.feats else {}
    cfg = FeatureConfig.for_rate(overrides.pop("sample_rate", sr), **overrides)
    vocoder = GriffinLim(cfg, n_iter=a.gl_iters)
    utts, written = list(scp), {}
    for i in range(0, len(utts), a.batch_size):
        chunk = utts[i : i + a.batch_size]
        mels = [log_mel(torch.from_numpy(load_audio(resolve_entry(scp[u], base), utt=u, target_sr=cfg.sample_rate)[0]), cfg)
                for u in chunk]
        lengths = torch.tensor([len(m) for m in mels])
        batch = torch.nn.utils.rnn.pad_sequence(mels, batch_first=True, padding_value=math.log(cfg.mel_floor))
        for u, wav in zip(chunk, vocoder(batch, lengths)):
            path = out / "wav" / f"{u}.wav"
            write_wav(path, wav, cfg.sample_rate)
            written[u] = str(path.resolve())
    write_table(out / "wav.scp", written)
    (out / "synth_info.json").write_text(json.dumps({"feats": cfg.to_dict(), "model_type": "analysis-synthesis",
                                                     "vocoder": {"name": "griffin-lim", "n_iter": a.gl_iters}}))
    r = evaluate_synthesis(out, data, trim_db=a.trim_db)
    print(f"{r['utterances']} utterances: MCD {r['mcd_db']['mean']:.3f} ± {r['mcd_db']['std']:.3f} dB, "
          f"F0 RMSE {r['f0_rmse_hz']['mean']:.2f} Hz, VDE {100 * r['vde']['mean']:.1f} % -> {out / 'results.json'}")


if __name__ == "__main__":
    main()
