"""FastCorrect edit alignment: per-source-token durations from a hypothesis to its reference.

For each (source = ASR hypothesis, target = reference) token pair the aligner gives every
source token a duration (0 = delete, 1 = keep or substitute, k > 1 = also produce k − 1
inserted target tokens) and an edit code, with ``sum(d) == len(target)`` and the target
recovered by expanding the source (:func:`reconstruct`).

Rules (deterministic, batch-independent):

1. Cost = (number of edits, −number of identical matches), lexicographic: the path has the
   minimum Levenshtein distance and, among those, the most identical matches (= the fewest
   substitutions). One integer DP: match −1, substitution/insertion/deletion K with K larger
   than any possible match count.
2. Among equally good paths the traceback (from the end) prefers diagonal > deletion >
   insertion, so a run of insertions sits as early (left) as the optimum allows.
3. A run of inserted target tokens between source tokens i−1 and i (neighbours in a
   minimum-edit path are always kept or substituted tokens, never deleted ones) attaches to
   the neighbour that is substituted rather than identical; when both or neither are,
   to the neighbour whose source token is more similar in characters
   (normalised Levenshtein similarity to the inserted tokens joined with spaces), left on a tie;
   at a sentence edge, to the only neighbour.

The worked example of the FastCorrect paper holds: source ``B B D E F``, target
``A B C D F`` → durations ``2 1 1 0 1`` (A inserted before the first B, the second B
substituted by C, E deleted).

The DP runs on a batch at once with numpy: row i of every pair's table in a few
vectorised operations (the horizontal insertion chain is a running minimum), the
traceback steps all pairs together. See benchmarks/correct/bench_align.py for its speed.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import itertools

import numpy as np
from rapidfuzz.distance import Levenshtein

# op codes per source token
KEEP, SUB, DEL = "C", "S", "D"
_M, _S, _D, _I = 0, 1, 2, 3  # traceback op codes


@dataclass
class Alignment:
    """Edit alignment of one pair: per source token `durations` and `ops` (a string, one letter
    C/S/D per source token), plus counts.

    `ins_before[i]` / `ins_after[i]` count the inserted target tokens attached to source token i
    before / after its own output (``durations[i] == (ops[i] != 'D') + ins_before[i] + ins_after[i]``).
    """

    durations: list[int]
    ops: str
    ins_before: list[int]
    ins_after: list[int]
    matches: int
    substitutions: int
    deletions: int
    insertions: int

    @property
    def edits(self) -> int:
        return self.substitutions + self.deletions + self.insertions

    @property
    def inserted(self) -> list[int]:
        return [a + b for a, b in zip(self.ins_before, self.ins_after)]

    @property
    def flags(self) -> list[str]:
        """Edit flag per source token: C/S/D, with ``+`` when it also produces inserted tokens."""
        return [op + ("+" if n else "") for op, n in zip(self.ops, self.inserted)]

    @property
    def edited(self) -> list[int]:
        """1 where the source token must change (substitute, delete, or insert beside it), else 0."""
        return [int(op != KEEP or n > 0) for op, n in zip(self.ops, self.inserted)]


def _encode(batch: Sequence[tuple[Sequence[str], Sequence[str]]]):
    """Integer arrays (B, N) / (B, M) for the sources/targets; padding never matches."""
    vocab: dict = {}
    ns = np.fromiter((len(p[0]) for p in batch), dtype=np.int64, count=len(batch))
    ms = np.fromiter((len(p[1]) for p in batch), dtype=np.int64, count=len(batch))
    counter = itertools.count()  # setdefault with a fresh number: equal tokens share the first one
    s_ids = np.fromiter(map(vocab.setdefault, itertools.chain.from_iterable(p[0] for p in batch), counter), dtype=np.int64, count=int(ns.sum()))
    t_ids = np.fromiter(map(vocab.setdefault, itertools.chain.from_iterable(p[1] for p in batch), counter), dtype=np.int64, count=int(ms.sum()))
    n, m = max(int(ns.max(initial=0)), 1), max(int(ms.max(initial=0)), 1)
    src = np.full((len(batch), n), -1, dtype=np.int64)
    tgt = np.full((len(batch), m), -2, dtype=np.int64)
    src[np.arange(n)[None] < ns[:, None]] = s_ids
    tgt[np.arange(m)[None] < ms[:, None]] = t_ids
    return src, tgt, ns, ms


def _dp(src: np.ndarray, tgt: np.ndarray, K: int) -> np.ndarray:
    """Full cost tables (B, N+1, M+1): match −1, any edit K."""
    B, n = src.shape
    m = tgt.shape[1]
    D = np.empty((B, n + 1, m + 1), dtype=np.int64)
    jk = np.arange(m + 1, dtype=np.int64) * K
    D[:, 0, :] = jk
    for i in range(1, n + 1):
        prev = D[:, i - 1]
        sub = np.where(src[:, i - 1, None] == tgt, -1, K)  # (B, M)
        cand = np.empty((B, m + 1), dtype=np.int64)
        cand[:, 0] = prev[:, 0] + K
        np.minimum(prev[:, :-1] + sub, prev[:, 1:] + K, out=cand[:, 1:])
        # horizontal chain of insertions: D[j] = min_k<=j cand[k] + K (j - k)
        np.minimum.accumulate(cand - jk, axis=1, out=cand)
        D[:, i] = cand + jk
    return D


def _traceback(D, src, tgt, ns, ms, K):
    """Ops of every pair (reverse order) stepped together; returns (op, i, j) arrays (B, L):
    op code (−1 past the path's start) and the DP cell (i, j) the step leaves."""
    B = len(ns)
    L = int((ns + ms).max(initial=0))
    ops = np.full((B, L), -1, dtype=np.int8)
    ii = np.zeros((B, L), dtype=np.int64)
    jj = np.zeros((B, L), dtype=np.int64)
    i, j = ns.copy(), ms.copy()
    rows = np.arange(B)
    for step in range(L):
        active = (i > 0) | (j > 0)
        if not active.any():
            break
        cur = D[rows, i, j]
        im, jm = np.maximum(i - 1, 0), np.maximum(j - 1, 0)
        same = src[rows, im] == tgt[rows, jm]
        diag = (i > 0) & (j > 0) & (cur == D[rows, im, jm] + np.where(same, -1, K))
        up = ~diag & (i > 0) & (cur == D[rows, im, j] + K)
        left = active & ~diag & ~up
        op = np.where(diag, np.where(same, _M, _S), np.where(up, _D, _I)).astype(np.int8)
        ops[:, step] = np.where(active, op, -1)
        ii[:, step] = i  # for an insertion: number of source tokens before it
        jj[:, step] = j
        i = i - (diag | up)
        j = j - (diag | left)
    return ops, ii, jj


def align_batch(pairs: Sequence[tuple[Sequence[str], Sequence[str]]]) -> list[Alignment]:
    """Edit-align each (source tokens, target tokens) pair (one padded batch).

    An empty source gets no durations (``sum(d) == len(target)`` cannot hold unless the
    target is empty too; callers skip such pairs)."""
    if not pairs:
        return []
    src, tgt, ns, ms = _encode(pairs)
    B, N = src.shape
    K = int(max(ns.max(initial=0), ms.max(initial=0))) + 1
    D = _dp(src, tgt, K)
    ops, ii, jj = _traceback(D, src, tgt, ns, ms, K)
    rows = np.broadcast_to(np.arange(B)[:, None], ops.shape)
    # per source token: op code and own output (1 unless deleted)
    on_src = (ops == _M) | (ops == _S) | (ops == _D)
    code = np.full((B, N), _D, dtype=np.int8)
    code[rows[on_src], ii[on_src] - 1] = ops[on_src]
    counts = np.stack([(ops == k).sum(1) for k in (_M, _S, _D, _I)], 1).tolist()
    ins_b = np.zeros((B, N), dtype=np.int64)
    ins_a = np.zeros((B, N), dtype=np.int64)
    is_ins = ops == _I
    if is_ins.any():
        # a run = the insertions of one pair at one gap (gap = number of source tokens before)
        b_i, gap, tj = rows[is_ins], ii[is_ins], jj[is_ins] - 1
        key = b_i * (N + 2) + gap
        uniq, first, size = np.unique(key, return_index=True, return_counts=True)
        rb, rg = b_i[first], gap[first]
        n_b = ns[rb]
        lsub = np.where(rg > 0, code[rb, np.maximum(rg - 1, 0)] != _M, False)
        rsub = np.where(rg < n_b, code[rb, np.minimum(rg, N - 1)] != _M, False)
        left = np.where(rg == 0, False, np.where(rg == n_b, True, lsub & ~rsub))
        tie = (rg > 0) & (rg < n_b) & (lsub == rsub)
        if tie.any():
            order = np.argsort(key, kind="stable")
            starts = np.searchsorted(key[order], uniq)
            for r in np.nonzero(tie)[0]:
                b, g = int(rb[r]), int(rg[r])
                sel = order[starts[r]:starts[r] + size[r]]
                text = " ".join(pairs[b][1][t] for t in sorted(tj[sel].tolist()))
                s_tok = pairs[b][0]
                left[r] = Levenshtein.normalized_similarity(s_tok[g], text) <= Levenshtein.normalized_similarity(s_tok[g - 1], text)
        np.add.at(ins_a, (rb[left], rg[left] - 1), size[left])
        np.add.at(ins_b, (rb[~left], rg[~left]), size[~left])
    dur = (code != _D).astype(np.int64) + ins_b + ins_a
    letters = np.frombuffer((KEEP + SUB + DEL).encode(), dtype=np.uint8)[code]  # (B, N) ASCII codes
    dur_l, b_l, a_l, n_l = dur.tolist(), ins_b.tolist(), ins_a.tolist(), ns.tolist()
    out = []
    for b in range(B):
        n = n_l[b]
        c = counts[b]
        out.append(Alignment(dur_l[b][:n], letters[b, :n].tobytes().decode(), b_l[b][:n], a_l[b][:n], c[0], c[1], c[2], c[3]))
    return out


def align(source: Sequence[str], target: Sequence[str]) -> Alignment:
    """Edit-align one pair (see :func:`align_batch`)."""
    return align_batch([(source, target)])[0]


def reconstruct(source: Sequence[str], target: Sequence[str], a: Alignment) -> list[str]:
    """Rebuild the target from the source, the durations and the alignment: each source token
    expands to its duration; kept tokens copy themselves, every other slot takes the target
    token at that position. Equal to `target` when the alignment is consistent; used by the
    tests (the kept tokens must sit exactly where the target has them)."""
    out: list[str] = []
    pos = 0
    for tok, op, d, n_before in zip(source, a.ops, a.durations, a.ins_before):
        own = pos + n_before
        for k in range(d):
            out.append(tok if (op == KEEP and pos + k == own) else target[pos + k])
        pos += d
    return out


def iter_chunks(n_items: int, lengths: Sequence[int], max_cells: int = 2_000_000, max_batch: int = 2048):
    """Index batches for `lengths` sorted ascending: bounded by padded DP cells and batch size."""
    order = sorted(range(n_items), key=lambda k: lengths[k])
    batch: list[int] = []
    for k in order:
        longest = max(lengths[k], 1)
        if batch and ((len(batch) + 1) * (longest + 1) ** 2 > max_cells or len(batch) >= max_batch):
            yield batch
            batch = []
        batch.append(k)
    if batch:
        yield batch


def align_many(pairs: Sequence[tuple[Sequence[str], Sequence[str]]], *, max_cells: int = 2_000_000, max_batch: int = 2048) -> list[Alignment]:
    """Align many pairs in length-sorted batches (less padding); results in input order."""
    lengths = [max(len(s), len(t)) for s, t in pairs]
    out: list[Alignment | None] = [None] * len(pairs)
    for idx in iter_chunks(len(pairs), lengths, max_cells, max_batch):
        for k, a in zip(idx, align_batch([pairs[k] for k in idx])):
            out[k] = a
    return out  # type: ignore[return-value]
