"""Batched greedy CTC decoding with per-token confidences (no loop over utterances).

A token's confidence is the highest frame posterior within its collapsed run (the frames
of the argmax path that produced it), as Mask-CTC uses to decide what to re-predict.
"""
from __future__ import annotations

import torch


def ctc_greedy(log_probs: torch.Tensor, lengths: torch.Tensor, blank: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """log_probs (B, T, V), lengths (B,) → (tokens (B, L) padded with `blank`, confidences (B, L) padded
    with 0, token_lengths (B,)): argmax path, repeats merged, blanks removed."""
    b, t, _ = log_probs.shape
    dev = log_probs.device
    best_lp, best = log_probs.max(-1)  # (B, T)
    valid = torch.arange(t, device=dev)[None, :] < lengths[:, None]
    prev = torch.cat([torch.full((b, 1), -1, dtype=best.dtype, device=dev), best[:, :-1]], 1)
    new_run = (best != prev) & valid
    run_id = torch.cumsum(new_run.long(), 1) - 1  # run index of every frame (B, T)
    keep_run = new_run & (best != blank)  # runs that emit a token
    # token index of each emitting run: cumsum over emitting run starts
    tok_of_frame_start = torch.cumsum(keep_run.long(), 1) - 1
    lens = keep_run.sum(1)
    lmax = int(lens.max()) if b else 0
    tokens = torch.full((b, max(lmax, 0)), blank, dtype=torch.long, device=dev)
    conf = torch.zeros(b, max(lmax, 0), dtype=torch.float32, device=dev)
    if lmax == 0:
        return tokens, conf, lens
    rows = torch.arange(b, device=dev)[:, None].expand(b, t)
    tokens[rows[keep_run], tok_of_frame_start[keep_run]] = best[keep_run]
    # max posterior per run, then mapped to the run's token slot
    n_runs = int(run_id.max()) + 1
    run_max = torch.full((b, n_runs), float("-inf"), device=dev)
    rid = run_id.clamp(min=0)
    run_max = run_max.scatter_reduce(1, rid, best_lp.float().masked_fill(~valid, float("-inf")), reduce="amax")
    run_is_tok = torch.zeros(b, n_runs, dtype=torch.bool, device=dev)
    run_is_tok[rows[keep_run], rid[keep_run]] = True
    tok_idx = torch.cumsum(run_is_tok.long(), 1) - 1
    rr = torch.arange(b, device=dev)[:, None].expand(b, n_runs)
    conf[rr[run_is_tok], tok_idx[run_is_tok]] = run_max[run_is_tok].exp()
    return tokens, conf, lens
