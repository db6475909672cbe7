"""Batched joint CTC/attention beam search (Watanabe et al. 2017; ESPnet's ``BeamSearch`` with a
CTC prefix scorer), over utterances *and* beams at once: the decoder runs on all B×K running
hypotheses in one forward pass per output step, and the CTC prefix scores of the pre-beam
candidates are computed for all of them together (vectorised over hypotheses and candidates,
one loop over encoder frames).

Score of a hypothesis: ``(1−λ)·log p_att + λ·log p_ctc-prefix`` (+ ``penalty`` per token).
Each step, every live hypothesis proposes its ``pre_beam`` best tokens by attention score; the
``beam`` best of all proposals survive; a proposal ending in ``<eos>`` moves to the finished
list and its slot dies (the running beam shrinks, as in ESPnet). An utterance stops when no
hypothesis runs, when its best finished score beats every running one (scores only fall as
tokens are added, so the winner can no longer change; only with ``penalty == 0``), or at the
maximum length (its encoder frame count), where the running hypotheses end. A stopped utterance
leaves the batch, so the rest run on fewer rows and frames.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

NEG = float("-inf")
# decoder_fn(ys (N, l), idx (N,) which utterance each row belongs to) -> next-token log-probs (N, V);
# a step function with a cache also has ``select(rows)``: the search calls it whenever it moves rows
StepFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _select(step_fn: StepFn, rows: torch.Tensor) -> None:
    sel = getattr(step_fn, "select", None)
    if sel is not None:
        sel(rows)


@dataclass
class BeamResult:
    tokens: list[list[int]]  # best hypothesis per utterance, without <sos>/<eos>
    scores: list[float]


def _lae(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.logaddexp(a, b)


def beam_search(step_fn: StepFn, ctc_log_probs: torch.Tensor | None, enc_lengths: torch.Tensor, *, sos_eos: int,
                beam: int = 10, ctc_weight: float = 0.3, penalty: float = 0.0, banned: tuple[int, ...] = (0,),
                pre_beam: int | None = None, max_len: torch.Tensor | None = None) -> BeamResult:
    """Search B utterances at once. `ctc_log_probs` (B, T, V) (may be None when ``ctc_weight == 0``);
    `enc_lengths` (B,) frames per utterance; `banned` tokens never proposed (``<blank>``, ``<mask>``)."""
    b = int(enc_lengths.numel())
    dev = enc_lengths.device
    k = max(1, int(beam))
    use_ctc = ctc_weight > 0
    if use_ctc and ctc_log_probs is None:
        raise ValueError("ctc_weight > 0 needs ctc_log_probs")
    max_len = enc_lengths.clone() if max_len is None else max_len
    act = torch.arange(b, device=dev)  # utterances still searched; finished ones leave the batch
    n = b * k
    utt_of = act.repeat_interleave(k)
    ys = torch.full((n, 1), sos_eos, dtype=torch.long, device=dev)
    scores = torch.full((b, k), NEG, device=dev)
    scores[:, 0] = 0.0
    finished: list[list[tuple[float, list[int]]]] = [[] for _ in range(b)]
    if use_ctc:
        x = ctc_log_probs.float().index_select(0, utt_of).transpose(0, 1)  # (T, N, V)
        t_max = x.size(0)
        xb = x[:, :, 0]  # blank
        r = torch.full((t_max, n, 2), NEG, device=dev)
        r[:, :, 1] = torch.cumsum(xb, 0)
        psi_prev = torch.zeros(n, device=dev)
        tlen = enc_lengths.index_select(0, utt_of)
        frame_ok = torch.arange(t_max, device=dev)[:, None] < tlen[None, :]  # (T, N)
    step = 0
    while act.numel():
        a = int(act.numel())
        n = a * k
        att = step_fn(ys, utt_of).float()  # (N, V)
        v = att.size(-1)
        for t in banned:
            att[:, t] = NEG
        p = v if not use_ctc else min(v - len(banned), pre_beam or max(k, int(1.5 * k)))
        att_top, cand = att.topk(p, dim=-1)  # (N, P)
        if use_ctc:
            r_new, psi = _ctc_prefix(x, xb, r, cand, ys[:, -1] if step else None, step, frame_ok, tlen, sos_eos)
            joint = (1 - ctc_weight) * att_top + ctc_weight * (psi - psi_prev[:, None])
        else:
            joint = att_top
        total = (scores.reshape(n, 1) + joint + penalty).reshape(a, k * p)
        best, idx = total.topk(k, dim=-1)  # (A, K)
        src = idx // p + torch.arange(a, device=dev)[:, None] * k  # flat source row
        ci = idx % p
        tok = cand[src.reshape(-1), ci.reshape(-1)].reshape(a, k)
        last_step = (step + 1) >= max_len.index_select(0, act)  # (A,): hypotheses end here
        is_eos = (tok == sos_eos) & torch.isfinite(best)
        ended = (is_eos | last_step[:, None]) & torch.isfinite(best)
        if bool(ended.any()):
            ys_cpu, src_cpu, tok_cpu, act_cpu = ys.cpu(), src.cpu(), tok.cpu(), act.tolist()
            for ai, ki in ended.nonzero().tolist():
                seq = ys_cpu[src_cpu[ai, ki], 1:].tolist()
                if not is_eos[ai, ki]:
                    seq = seq + [int(tok_cpu[ai, ki])]
                finished[act_cpu[ai]].append((float(best[ai, ki]), seq))
        best = best.masked_fill(ended | ~torch.isfinite(best), NEG)
        flat_src = src.reshape(-1)
        ys = torch.cat([ys.index_select(0, flat_src), tok.reshape(-1, 1)], 1)
        _select(step_fn, flat_src)
        if use_ctc:
            flat_ci = ci.reshape(-1)
            r = r_new[:, flat_src, flat_ci]
            psi_prev = psi[flat_src, flat_ci]
        scores = best
        step += 1
        alive = torch.isfinite(scores).any(1)
        best_fin = torch.tensor([max((s for s, _ in finished[i]), default=NEG) for i in act.tolist()], device=dev)
        beaten = (best_fin >= scores.max(1).values) if penalty == 0 else torch.zeros_like(alive)
        now_done = ~alive | last_step | beaten
        if bool(now_done.any()):
            keep = ~now_done
            rows = keep.repeat_interleave(k)
            act, scores, ys, utt_of = act[keep], scores[keep], ys[rows], utt_of[rows]
            _select(step_fn, rows.nonzero().squeeze(1))
            if use_ctc and act.numel():
                tlen, psi_prev = tlen[rows], psi_prev[rows]
                t_keep = int(tlen.max())  # frames past the longest remaining utterance are never read
                x, xb, r, frame_ok = x[:t_keep, rows], xb[:t_keep, rows], r[:t_keep, rows], frame_ok[:t_keep, rows]
    out_t, out_s = [], []
    for f in finished:
        if f:
            s, seq = max(f, key=lambda z: z[0])
            out_t.append(seq)
            out_s.append(s)
        else:
            out_t.append([])
            out_s.append(NEG)
    return BeamResult(out_t, out_s)


def _ctc_prefix(x, xb, r, cand, last, step, frame_ok, tlen, eos):
    """CTC prefix scores of every candidate extension (N, P) of the N prefixes (Watanabe et al. 2017, alg. 2).

    x (T, N, V) CTC log-probs per hypothesis row, r (T, N, 2) the prefixes' forward variables
    (ending in non-blank / blank). Returns the candidates' forward variables (T, N, P, 2) and
    prefix scores ψ (N, P); ``<eos>`` gets the full-sequence score of the prefix."""
    t_max, n, _ = x.shape
    p = cand.size(1)
    xc = torch.gather(x, 2, cand[None].expand(t_max, n, p))  # (T, N, P)
    r_sum = _lae(r[..., 0], r[..., 1])  # (T, N)
    phi = r_sum[:, :, None].expand(t_max, n, p).clone()
    if last is not None:
        same = cand == last[:, None]
        phi = torch.where(same[None], r[:, :, 1, None].expand(t_max, n, p), phi)
    r_new = torch.full((t_max, n, p, 2), NEG, device=x.device)
    if step == 0:
        r_new[0, :, :, 0] = xc[0]
    start = max(1, step)
    for t in range(start, t_max):
        r_new[t, :, :, 0] = _lae(r_new[t - 1, :, :, 0], phi[t - 1]) + xc[t]
        r_new[t, :, :, 1] = _lae(r_new[t - 1, :, :, 0], r_new[t - 1, :, :, 1]) + xb[t][:, None]
    terms = phi[start - 1: t_max - 1] + xc[start:]  # (T - start, N, P)
    terms = terms.masked_fill(~frame_ok[start:, :, None], NEG)
    psi = torch.logsumexp(terms, 0) if terms.size(0) else torch.full((n, p), NEG, device=x.device)
    if step == 0:
        psi = _lae(psi, r_new[0, :, :, 0])
    last_frame = (tlen - 1).clamp(min=0)
    full = r_sum[last_frame, torch.arange(n, device=x.device)]  # (N,)
    psi = torch.where(cand == eos, full[:, None].expand(n, p), psi)
    return r_new, psi


def attention_greedy(step_fn: StepFn, enc_lengths: torch.Tensor, *, sos_eos: int, banned: tuple[int, ...] = (0,),
                     max_len: torch.Tensor | None = None) -> list[list[int]]:
    """Greedy attention decoding (argmax each step until ``<eos>`` or the maximum length), batched."""
    b = int(enc_lengths.numel())
    dev = enc_lengths.device
    max_len = enc_lengths.clone() if max_len is None else max_len
    ys = torch.full((b, 1), sos_eos, dtype=torch.long, device=dev)
    idx = torch.arange(b, device=dev)
    done = torch.zeros(b, dtype=torch.bool, device=dev)
    out: list[list[int]] = [[] for _ in range(b)]
    step = 0
    while not bool(done.all()):
        att = step_fn(ys, idx).float()
        for t in banned:
            att[:, t] = NEG
        tok = att.argmax(-1)
        for i in range(b):
            if not done[i] and int(tok[i]) != sos_eos:
                out[i].append(int(tok[i]))
        step += 1
        done = done | (tok == sos_eos) | (step >= max_len)
        ys = torch.cat([ys, tok[:, None]], 1)
    return out
