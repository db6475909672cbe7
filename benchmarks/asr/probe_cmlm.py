#!/usr/bin/env python
"""Does a Mask-CTC model's CMLM decoder read the audio? Accuracy on masked tokens of a data set's
first utterances at several masking rates, with the real encoder output and with it zeroed.

A decoder that only learned the unigram scores the same in both columns and does not improve when
fewer tokens are masked; one that uses context and audio does (egs/speechocean762/asr1/RESULTS.md).
Run from a recipe dir: python ../../../benchmarks/asr/probe_cmlm.py exp/maskctc --data data/dev --dump dump/dev
"""
from __future__ import annotations

import argparse

import kaldiio
import torch

from narspeech.asr.recognize import load_recognizer
from narspeech.fileio import read_table
from narspeech.nets.masks import pad_mask


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("exp")
    ap.add_argument("--data", default="data/dev", help="data dir with a `token` file")
    ap.add_argument("--dump", default="dump/dev", help="feature dump (feats.scp)")
    ap.add_argument("--checkpoint", default=None)
    ap.add_argument("--utts", type=int, default=32)
    ap.add_argument("--rates", default="0,0.15,0.5,1", help="masking rates; 0 = one masked token per utterance")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()

    torch.manual_seed(a.seed)
    rec = load_recognizer(a.exp, "cpu", checkpoint=a.checkpoint)
    m = rec.model.eval()
    if m.type != "mask_ctc":
        raise SystemExit(f"{a.exp} is a {m.type} model, not Mask-CTC")
    feats = kaldiio.load_scp(f"{a.dump}/feats.scp")
    tok = read_table(f"{a.data}/token")
    utts = [u for u in tok if u in feats][: a.utts]
    index = rec.token_list.index
    ys = [torch.tensor([index.get(t, 1) for t in tok[u].split()]) for u in utts]
    xs = [torch.tensor(feats[u]) for u in utts]
    xl, yl = torch.tensor([len(x) for x in xs]), torch.tensor([len(y) for y in ys])
    x = torch.nn.utils.rnn.pad_sequence(xs, batch_first=True)
    y = torch.nn.utils.rnn.pad_sequence(ys, batch_first=True)
    print(f"{a.exp}: {len(utts)} utterances, {float(yl.float().mean()):.0f} tokens on average")
    print("mask rate | masked | accuracy | encoder zeroed")
    with torch.no_grad():
        enc, el = m.encode(x, xl)
        valid = ~pad_mask(yl, y.size(1))
        for rate in (float(r) for r in a.rates.split(",")):
            masked = (torch.rand(y.shape) < rate) & valid
            masked[torch.arange(len(utts)), (torch.rand(len(utts)) * yl).long()] = True
            y_in = y.masked_fill(masked, m.mask_id)
            acc = [(m.decoder_log_probs(y_in, yl, e, el).argmax(-1)[masked] == y[masked]).float().mean().item()
                   for e in (enc, torch.zeros_like(enc))]
            print(f"{rate:9g} | {int(masked.sum()):6d} | {acc[0]:8.3f} | {acc[1]:.3f}")


if __name__ == "__main__":
    main()
