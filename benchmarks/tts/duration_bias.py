"""How far a FastSpeech model's predicted durations are from reference durations, and where.

    python benchmarks/tts/duration_bias.py EXP DATA REFERENCE_DURATIONS [--limit N]

DATA: a data dir with a `token` file; REFERENCE_DURATIONS: e.g. `tts align --models-from …`'s
durations of the same set. Prints the predicted/reference frame ratio per utterance (mean, median),
the first and last token's excess frames (edge silence), the inner tokens' ratio, and the mean
prediction for reference durations in a few ranges (regression to the mean shows there).
"""
from __future__ import annotations

import argparse

import numpy as np
import torch

from narspeech.tts.durations.files import read_durations
from narspeech.tts.synthesize.inference import load_model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("exp")
    ap.add_argument("data")
    ap.add_argument("reference")
    ap.add_argument("--limit", type=int, default=None)
    a = ap.parse_args()
    loaded = load_model(a.exp, device="cpu")
    model, tokens = loaded.model.eval(), loaded.frontend.token_list
    ref = read_durations(a.reference)
    lines = [ln.split() for ln in open(f"{a.data}/token", encoding="utf-8")][: a.limit]
    ratio, first, last, inner_p, inner_r, pred_all, ref_all = [], [], [], [], [], [], []
    for utt, *toks in lines:
        r = ref.get(utt)
        if r is None or len(r) != len(toks):
            continue
        ids = torch.tensor([tokens.encode(toks)])
        with torch.no_grad():
            _, _, d = model.inference(ids, torch.tensor([ids.size(1)]), return_durations=True)
        d = d[0].numpy()
        ratio.append(d.sum() / r.sum())
        first.append(d[0] - r[0])
        last.append(d[-1] - r[-1])
        inner_p.append(d[1:-1].sum())
        inner_r.append(r[1:-1].sum())
        pred_all.append(d[1:-1])
        ref_all.append(r[1:-1])
    if not ratio:
        raise SystemExit("no utterance has reference durations of the same length")
    p, r = np.concatenate(pred_all), np.concatenate(ref_all)
    print(f"{len(ratio)} utterances: predicted / reference frames mean {np.mean(ratio):.3f}, median {np.median(ratio):.3f}; "
          f"first token {np.mean(first):+.1f} frames, last {np.mean(last):+.1f}; inner tokens {sum(inner_p) / sum(inner_r):.3f}")
    for lo, hi in [(0, 0), (1, 3), (4, 6), (7, 10), (11, 10_000)]:
        m = (r >= lo) & (r <= hi)
        if m.any():
            print(f"  reference {lo}-{hi if hi < 10_000 else '…'} frames: {m.sum()} tokens, mean {r[m].mean():.2f} -> predicted {p[m].mean():.2f}")


if __name__ == "__main__":
    main()
