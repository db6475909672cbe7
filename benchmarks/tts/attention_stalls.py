"""How an AR teacher's attention behaves free-running: stalls (the peak held on one token for long) and skips.

    python benchmarks/tts/attention_stalls.py EXP DATA [--stall-frames 45] [--jump-tokens 3] [--batch-size 16] [--json F]

For every utterance of DATA (its ``token`` file), the teacher runs free (stop token, as `tts synthesize`)
and the attention's peak is read per decoder step. Reports, over the set: utterances with a stall (the peak
held ≥ ``--stall-frames`` frames on one token before the last two tokens: the decoder sits in silence or
drones; on the aligner's durations of arctic_fb dev no inner token is longer than 32 frames), jumps (the peak
moves more than ``--jump-tokens`` on in one step: words skipped), utterances whose peak never reached the last
two tokens, and utterances that ran to the frame cap. Printed as one line per utterance with a problem, then a summary.
"""
from __future__ import annotations

import argparse
import json

import torch

from narspeech.fileio import read_table
from narspeech.text.vocab import TokenList
from narspeech.tts.models.build import load_tts_model


def peak_report(peaks: torch.Tensor, n_tokens: int, r: int, stall_frames: int, jump_tokens: int) -> dict:
    """Peaks (steps,) of one utterance → longest hold before the last two tokens (frames), jumps, whether the
    end was reached."""
    runs, start = [], 0
    for i in range(1, len(peaks) + 1):
        if i == len(peaks) or peaks[i] != peaks[start]:
            runs.append((int(peaks[start]), (i - start) * r))
            start = i
    inner = [frames for token, frames in runs if token < n_tokens - 2]
    longest = max(inner, default=0)
    jumps = int((torch.diff(peaks) > jump_tokens).sum())
    return dict(longest_hold=longest, stalled=longest >= stall_frames, jumps=jumps,
                reached_end=int(peaks.max()) >= n_tokens - 2)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("exp")
    ap.add_argument("data")
    ap.add_argument("--stall-frames", type=int, default=45)
    ap.add_argument("--jump-tokens", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json")
    args = ap.parse_args()
    model, cfg = load_tts_model(args.exp, "cpu")
    tokens = TokenList(f"{args.exp}/tokens.txt")
    texts = read_table(f"{args.data}/token")
    utts = sorted(texts)
    torch.manual_seed(args.seed)
    per = {}
    for i in range(0, len(utts), args.batch_size):
        chunk = utts[i: i + args.batch_size]
        ids = [tokens.encode(texts[u].split(), utt=u) for u in chunk]
        lengths = torch.tensor([len(x) for x in ids])
        batch = torch.zeros(len(ids), int(lengths.max()), dtype=torch.long)
        for k, x in enumerate(ids):
            batch[k, : len(x)] = torch.tensor(x)
        cap = (lengths.float() * model.c["max_len_ratio"]).ceil().long()
        _, mel_lengths, (attn,) = model.inference(batch, lengths, return_attention=True)
        for k, u in enumerate(chunk):
            steps = -(-int(mel_lengths[k]) // model.r)
            rep = peak_report(attn[k, 0, :steps, : int(lengths[k])].argmax(-1), int(lengths[k]), model.r, args.stall_frames,
                              args.jump_tokens)
            rep["at_cap"] = int(mel_lengths[k]) >= int(cap[k]) - 1
            per[u] = rep
            if rep["stalled"] or rep["jumps"] or not rep["reached_end"] or rep["at_cap"]:
                print(u, json.dumps(rep))
    n = len(per)
    summary = dict(utterances=n,
                   stalled=sum(r["stalled"] for r in per.values()),
                   with_jumps=sum(r["jumps"] > 0 for r in per.values()),
                   jumps=sum(r["jumps"] for r in per.values()),
                   end_not_reached=sum(not r["reached_end"] for r in per.values()),
                   at_frame_cap=sum(r["at_cap"] for r in per.values()))
    print(f"{args.exp}: " + ", ".join(f"{k} {v}" for k, v in summary.items()))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(summary=summary, utterances=per), f, indent=1)


if __name__ == "__main__":
    main()
