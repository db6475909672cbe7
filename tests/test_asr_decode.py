"""ASR decoding: greedy CTC with confidences, Mask-CTC on a hand-made posterior with a stub decoder,
the CTC prefix scorer against brute force, batched == one-at-a-time, beam 1 == greedy attention."""
from __future__ import annotations

import itertools
import math

import pytest
import torch

from narspeech.asr.beam_search import _ctc_prefix
from narspeech.asr.ctc_decode import ctc_greedy
from narspeech.asr.maskctc import mask_ctc_decode

BLANK, A, B, C, MASK, EOS = 0, 2, 3, 4, 5, 6
V = 7


def posterior(path_probs):
    """(T, V) log-posterior whose argmax at frame t is path_probs[t][0] with probability path_probs[t][1]."""
    rows = []
    for tok, p in path_probs:
        row = torch.full((V,), (1 - p) / (V - 1))
        row[tok] = p
        rows.append(row)
    return torch.stack(rows).log()


# argmax path: A A - C - C C -  -> tokens A C C; confidences (max frame posterior per run) 0.9, 0.4, 0.7
HAND = [(A, 0.6), (A, 0.9), (BLANK, 0.8), (C, 0.4), (BLANK, 0.8), (C, 0.5), (C, 0.7), (BLANK, 0.9)]


class StubDecoder:
    """Position 2 (index 2) -> C with 0.9; position 1 -> B (0.6) once position 2 holds a token, else A (0.6);
    position 0 -> A. Records the inputs of every pass."""

    def __init__(self):
        self.calls = []

    def __call__(self, ys, lengths):
        self.calls.append(ys.clone())
        b, l = ys.shape
        out = torch.full((b, l, V), math.log(0.01))
        for i in range(b):
            for j in range(l):
                if j == 0:
                    tok, p = A, 0.9
                elif j == 1:
                    tok, p = (B, 0.6) if l > 2 and ys[i, 2] != MASK else (A, 0.6)
                else:
                    tok, p = C, 0.9
                out[i, j, tok] = math.log(p)
        return out


def run_mask_ctc(threshold, iterations):
    lp = posterior(HAND)[None]
    stub = StubDecoder()
    res = mask_ctc_decode(lp, torch.tensor([8]), stub, mask_id=MASK, threshold=threshold, iterations=iterations)
    return res, stub


def test_ctc_greedy_tokens_and_run_confidences():
    toks, conf, n = ctc_greedy(posterior(HAND)[None], torch.tensor([8]))
    assert n.tolist() == [3]
    assert toks[0].tolist() == [A, C, C]
    assert conf[0].tolist() == pytest.approx([0.9, 0.4, 0.7])


def test_mask_ctc_known_answer():
    # threshold 0.8 masks positions 1 and 2; K=2: the first pass fills the more confident position 2
    # only, the final pass fills position 1, which now sees C at position 2 and says B
    res, stub = run_mask_ctc(0.8, 2)
    assert res.masked[0].tolist() == [False, True, True]
    assert res.passes == 2 and len(stub.calls) == 2
    assert stub.calls[0][0].tolist() == [A, MASK, MASK]
    assert stub.calls[1][0].tolist() == [A, MASK, C]
    assert res.tokens[0].tolist() == [A, B, C]
    # K=1: both filled in one pass, position 1 still sees a mask
    res, stub = run_mask_ctc(0.8, 1)
    assert res.passes == 1 and res.tokens[0].tolist() == [A, A, C]
    # threshold 0.5 masks only position 1 (0.4): one pass whatever K
    res, stub = run_mask_ctc(0.5, 10)
    assert res.masked[0].tolist() == [False, True, False] and res.passes == 1
    assert res.tokens[0].tolist() == [A, B, C]


def test_mask_ctc_threshold_zero_is_greedy_ctc():
    res, stub = run_mask_ctc(0.0, 10)
    assert res.passes == 0 and not stub.calls
    assert res.tokens[0, : int(res.lengths[0])].tolist() == [A, C, C]


def test_mask_ctc_zero_iterations_is_greedy_ctc():
    """Iterations 0 (the zero point of the trade-off sweep) masks nothing: greedy CTC, the decoder never runs;
    1 and 2 iterations take different decoder paths (one pass vs two) and give different tokens."""
    res, stub = run_mask_ctc(0.8, 0)
    assert res.passes == 0 and not stub.calls and not bool(res.masked.any())
    assert res.tokens[0, : int(res.lengths[0])].tolist() == [A, C, C]
    one, two = run_mask_ctc(0.8, 1)[0], run_mask_ctc(0.8, 2)[0]
    assert (one.passes, two.passes) == (1, 2) and one.tokens[0].tolist() != two.tokens[0].tolist()


def test_mask_ctc_batch_equals_single_with_stub():
    lp1 = posterior(HAND)
    lp2 = posterior([(B, 0.3), (BLANK, 0.9), (A, 0.95), (C, 0.2), (BLANK, 0.9)])
    batch = torch.stack([lp1, torch.cat([lp2, lp2[-1:].expand(3, V)])])
    res = mask_ctc_decode(batch, torch.tensor([8, 5]), StubDecoder(), mask_id=MASK, threshold=0.8, iterations=2)
    for i, lp in enumerate([lp1, lp2]):
        one = mask_ctc_decode(lp[None], torch.tensor([lp.size(0)]), StubDecoder(), mask_id=MASK, threshold=0.8, iterations=2)
        n = int(one.lengths[0])
        assert res.tokens[i, :n].tolist() == one.tokens[0, :n].tolist() and int(res.lengths[i]) == n


def _collapse(path):
    out, prev = [], None
    for p in path:
        if p != prev and p != BLANK:
            out.append(p)
        prev = p
    return out


def test_ctc_prefix_scores_match_brute_force():
    torch.manual_seed(0)
    t, eos = 5, 3  # labels 0 (blank), 1, 2; id 3 only stands for <eos> (never emitted by CTC)
    paths = list(itertools.product(range(3), repeat=t))  # labels 0..2 only; eos never emitted by CTC here
    lp3 = torch.log_softmax(torch.randn(t, 3), -1)
    lp = torch.cat([lp3, torch.full((t, 1), -1e9)], 1)

    def prefix_prob(g, full=False):
        tot = 0.0
        for pth in paths:
            c = _collapse(pth)
            if (c == g) if full else (c[: len(g)] == g):
                tot += math.exp(sum(float(lp[i, s]) for i, s in enumerate(pth)))
        return math.log(tot) if tot > 0 else float("-inf")

    x = lp[:, None, :]  # (T, N=1, V)
    xb = x[:, :, 0]
    r = torch.full((t, 1, 2), float("-inf"))
    r[:, :, 1] = torch.cumsum(xb, 0)
    ok = torch.ones(t, 1, dtype=torch.bool)
    tlen = torch.tensor([t])
    cand = torch.tensor([[1, 2, eos]])
    r1, psi = _ctc_prefix(x, xb, r, cand, None, 0, ok, tlen, eos)
    assert psi[0, 0].item() == pytest.approx(prefix_prob([1]), abs=1e-4)
    assert psi[0, 1].item() == pytest.approx(prefix_prob([2]), abs=1e-4)
    # extend prefix [1] by 1, 2, and end it
    r_a = r1[:, :, 0]
    _, psi2 = _ctc_prefix(x, xb, r_a, cand, torch.tensor([1]), 1, ok, tlen, eos)
    assert psi2[0, 0].item() == pytest.approx(prefix_prob([1, 1]), abs=1e-4)
    assert psi2[0, 1].item() == pytest.approx(prefix_prob([1, 2]), abs=1e-4)
    assert psi2[0, 2].item() == pytest.approx(prefix_prob([1], full=True), abs=1e-4)


# ---- real (random, untrained) models: batched == one at a time

@pytest.fixture(scope="module")
def recognizers(one_thread):
    from narspeech.asr.model import ASRModel
    from narspeech.asr.recognize import Recognizer
    from narspeech.asr.text import ASRTokenizer
    from narspeech.audio.features import FeatureConfig
    from narspeech.text.vocab import TokenList

    toks = TokenList(["<blank>", "<unk>", "A", "B", "C", "<space>", "<mask>", "<sos/eos>"])
    out = {}
    for typ in ("mask_ctc", "ar"):
        torch.manual_seed(3)
        m = ASRModel({"type": typ, "d_model": 32, "n_heads": 2, "enc_layers": 2, "enc_ff": 64, "dec_layers": 2, "dec_ff": 64},
                     len(toks), 20).eval()
        out[typ] = Recognizer(m, toks, ASRTokenizer(), FeatureConfig.for_rate(16000), torch.device("cpu"), {})
    torch.manual_seed(4)
    feats = torch.randn(4, 60, 20)
    lens = torch.tensor([60, 41, 23, 9])
    return out, feats, lens


@pytest.mark.parametrize("typ,method,kw", [
    ("mask_ctc", "ctc", {}),
    ("mask_ctc", "maskctc", {"threshold": 0.999, "iterations": 3}),
    ("mask_ctc", "maskctc", {"threshold": 0.5, "iterations": 10}),
    ("ar", "beam", {"beam": 4, "ctc_weight": 0.3}),
    ("ar", "beam", {"beam": 3, "ctc_weight": 0.0}),
    ("ar", "greedy", {}),
])
def test_batched_equals_one_at_a_time(recognizers, typ, method, kw):
    from narspeech.asr.recognize import DecodeOptions

    recs, feats, lens = recognizers
    rec = recs[typ]
    opts = DecodeOptions(method, **kw)
    batched = rec.decode_feats(feats, lens, opts)
    single = [rec.decode_feats(feats[i: i + 1, : int(n)], lens[i: i + 1], opts)[0] for i, n in enumerate(lens)]
    assert batched == single
    assert any(batched)  # not trivially empty
    perm = [2, 0, 3, 1]  # short utterances first: those that finish early leave the middle of the batch
    assert rec.decode_feats(feats[perm], lens[perm], opts) == [single[i] for i in perm]


@pytest.mark.parametrize("method,kw", [("beam", {"beam": 4, "ctc_weight": 0.3}), ("beam", {"beam": 3, "ctc_weight": 0.0}),
                                       ("greedy", {})])
def test_incremental_decoder_equals_whole_prefix(recognizers, method, kw):
    """The cached decoder (one new position per step, cache rows moved with the beams) decodes exactly
    what re-running the whole prefix decodes; the batch's utterances finish at different steps."""
    import torch
    from narspeech.asr.recognize import DecodeOptions, IncrementalStep

    recs, feats, lens = recognizers
    rec = recs["ar"]
    full = rec.decode_feats(feats, lens, DecodeOptions(method, incremental=False, **kw))
    assert any(full)
    assert rec.decode_feats(feats, lens, DecodeOptions(method, incremental=True, **kw)) == full
    m = rec.model
    enc, elen = m.encode(feats, lens)
    ys = torch.randint(2, 6, (4, 5))
    ref = m.decoder_log_probs(ys, torch.full((4,), 5), enc, elen)
    step, idx = IncrementalStep(m.decoder, enc, elen), torch.arange(4)
    for t in range(1, 6):
        assert torch.allclose(step(ys[:, :t], idx), ref[:, t - 1], atol=1e-5)


def test_beam_one_without_ctc_is_greedy_attention(recognizers):
    from narspeech.asr.recognize import DecodeOptions

    recs, feats, lens = recognizers
    rec = recs["ar"]
    greedy = rec.decode_feats(feats, lens, DecodeOptions("greedy"))
    beam1 = rec.decode_feats(feats, lens, DecodeOptions("beam", beam=1, ctc_weight=0.0))
    assert beam1 == greedy


def test_wrong_method_for_model_is_a_clear_error(recognizers):
    from narspeech.asr.recognize import DecodeOptions
    from narspeech.errors import NarspeechError

    recs, feats, lens = recognizers
    with pytest.raises(NarspeechError, match="needs an AR model"):
        recs["mask_ctc"].decode_feats(feats, lens, DecodeOptions("beam"))
    with pytest.raises(NarspeechError, match="needs a Mask-CTC model"):
        recs["ar"].decode_feats(feats, lens, DecodeOptions("maskctc"))


class StubLength:
    """Length predictor over 0..5: a merged mask at index 1 stands for `n` tokens (0.9), or else
    `secondary` (0.05); elsewhere 1. Records its inputs."""

    def __init__(self, n, secondary=None):
        self.n, self.secondary, self.calls = n, secondary, []

    def __call__(self, ys, lengths):
        self.calls.append(ys.clone())
        out = torch.full((*ys.shape, 6), math.log(0.01))
        out[..., 1] = math.log(0.9)
        out[:, 1, :] = math.log(0.01)
        out[:, 1, self.n] = math.log(0.9)
        if self.secondary is not None:
            out[:, 1, self.secondary] = math.log(0.05)
        return out


@pytest.mark.parametrize("n, slack, expect", [(0, None, [A]), (1, None, [A, A]), (3, None, [A, A, C, C]),
                                              (3, 1, [A, A, C, C]), (0, 1, [A, A]), (4, 1, [A, A, C, C])])
def test_length_adjustment_merges_runs_and_resizes_them(n, slack, expect):
    # threshold 0.8 masks positions 1 and 2 (one run of 2): merged to [A, <mask>], the predictor says n tokens,
    # the run becomes n masks (0: deleted), which the stub decoder fills in one pass (C at index >= 2, A at 1).
    # With slack 1 only 1..3 tokens are allowed: 0 falls back to the best allowed (a tie: the first, 1), 4 to 3
    lp = posterior(HAND)[None]
    ln = StubLength(n, secondary=3 if n == 4 else None)
    res = mask_ctc_decode(lp, torch.tensor([8]), StubDecoder(), mask_id=MASK, threshold=0.8, iterations=1, length_fn=ln,
                          length_slack=slack)
    assert [c[0].tolist() for c in ln.calls] == [[A, MASK]]
    assert res.tokens[0, : int(res.lengths[0])].tolist() == expect
    # nothing masked: the length predictor is never asked and greedy CTC comes back
    ln0 = StubLength(3)
    res0 = mask_ctc_decode(lp, torch.tensor([8]), StubDecoder(), mask_id=MASK, threshold=0.0, length_fn=ln0)
    assert not ln0.calls and res0.tokens[0, : int(res0.lengths[0])].tolist() == [A, C, C]


def test_length_adjustment_batch_equals_single():
    lp1 = posterior(HAND)
    lp2 = posterior([(B, 0.3), (BLANK, 0.9), (A, 0.95), (C, 0.2), (BLANK, 0.9)])
    batch = torch.stack([lp1, torch.cat([lp2, lp2[-1:].expand(3, V)])])
    res = mask_ctc_decode(batch, torch.tensor([8, 5]), StubDecoder(), mask_id=MASK, threshold=0.8, iterations=2,
                          length_fn=StubLength(3), length_slack=None)
    for i, lp in enumerate([lp1, lp2]):
        one = mask_ctc_decode(lp[None], torch.tensor([lp.size(0)]), StubDecoder(), mask_id=MASK, threshold=0.8,
                              iterations=2, length_fn=StubLength(3), length_slack=None)
        n = int(one.lengths[0])
        assert int(res.lengths[i]) == n and res.tokens[i, :n].tolist() == one.tokens[0, :n].tolist()


def test_merge_mask_runs_counts_each_run():
    from narspeech.asr.maskctc import merge_mask_runs

    ys = torch.tensor([[1, MASK, MASK, 4, MASK, 6], [MASK, MASK, MASK, 0, 0, 0]])
    ids, n, runs = merge_mask_runs(ys, torch.tensor([6, 3]), MASK)
    assert n.tolist() == [5, 1] and ids[0].tolist() == [1, MASK, 4, MASK, 6]
    assert runs[0].tolist() == [1, 2, 1, 1, 1] and runs[1, 0].item() == 3


def test_merge_masked_spans_training_targets():
    from narspeech.asr.model import merge_masked_spans

    ys = torch.tensor([[1, 2, 3, 4, 5, 6], [1, 2, 3, 0, 0, 0]])
    masked = torch.tensor([[0, 1, 1, 0, 1, 0], [1, 1, 1, 0, 0, 0]]).bool()
    ids, n, tgt = merge_masked_spans(ys, torch.tensor([6, 3]), masked, MASK, max_length=2)
    assert n.tolist() == [5, 1]
    assert ids[0].tolist() == [1, MASK, 4, MASK, 6] and ids[1, :1].tolist() == [MASK]
    assert tgt[0].tolist() == [-1, 2, -1, 1, -1]
    assert tgt[1, 0].item() == -1  # a run of 3 is longer than max_length: left out of the loss
    # insertions (probability 1): a length-0 mask in every gap that touches no masked run
    ids, n, tgt = merge_masked_spans(ys, torch.tensor([6, 3]), masked, MASK, insert_prob=1.0, max_length=5)
    assert ids[0].tolist() == [MASK, 1, MASK, 4, MASK, 6, MASK]
    assert tgt[0].tolist() == [0, -1, 2, -1, 1, -1, 0]
    assert ids[1, : int(n[1])].tolist() == [MASK] and tgt[1, 0].item() == 3
