"""The CTC-aligned decoder input (model.dec_align): the forced alignment finds where each target token is
emitted, the greedy-path frames match the greedy tokens, the frames follow length adjustment, and a model
with it trains and decodes (Mask-CTC, with and without length adjustment)."""
from __future__ import annotations

import shutil

import torch

from conftest import cli_ok


def _peaked(path: list[int], v: int = 5) -> torch.Tensor:
    lp = torch.full((len(path), v), -8.0)
    for t, k in enumerate(path):
        lp[t, k] = -0.01
    return lp.log_softmax(-1)


def test_forced_frames_follow_the_path_and_spread_when_impossible():
    from narspeech.asr.ctc_align import ctc_forced_frames, ctc_greedy_frames

    # blank=0; path: _ 1 1 _ 2 _ 2 3 _  -> tokens 1 2 2 3 first emitted at frames 1, 4, 6, 7
    path = [0, 1, 1, 0, 2, 0, 2, 3, 0]
    lp = _peaked(path)[None]
    ys = torch.tensor([[1, 2, 2, 3]])
    fr = ctc_forced_frames(lp, torch.tensor([9]), ys, torch.tensor([4]))
    assert fr.tolist() == [[1, 4, 6, 7]]
    assert ctc_greedy_frames(lp, torch.tensor([9])).tolist() == [[1, 4, 6, 7]]
    # a batch with padding: the second utterance is the first 5 frames, target 1 2
    both = torch.cat([lp, torch.cat([_peaked(path[:5]), _peaked([0] * 4)])[None]])
    fr = ctc_forced_frames(both, torch.tensor([9, 5]), torch.tensor([[1, 2, 2, 3], [1, 2, 0, 0]]), torch.tensor([4, 2]))
    assert fr.tolist() == [[1, 4, 6, 7], [1, 4, 0, 0]]
    # the target disagrees with the argmax path: still a monotonic alignment inside the utterance
    fr = ctc_forced_frames(lp, torch.tensor([9]), torch.tensor([[3, 1]]), torch.tensor([2]))
    assert 0 <= fr[0, 0] < fr[0, 1] < 9
    # 3 tokens cannot fit 2 frames: spread evenly, inside the utterance
    fr = ctc_forced_frames(_peaked([1, 2])[None], torch.tensor([2]), torch.tensor([[1, 2, 3]]), torch.tensor([3]))
    assert fr.max() <= 1


def test_frames_follow_length_adjustment():
    from narspeech.asr.maskctc import adjust_mask_lengths

    m = 9
    ys = torch.tensor([[4, m, m, 5, m]])
    frames = torch.tensor([[0, 2, 3, 6, 8]])

    def length_fn(y, yl):  # merged: 4 <m> 5 <m> -> first mask becomes 3 tokens, the last 0
        lp = torch.full((1, y.size(1), 5), -9.0)
        lp[0, 1, 3] = 0.0
        lp[0, 3, 0] = 0.0
        return lp

    out, n, fr = adjust_mask_lengths(ys, torch.tensor([5]), length_fn, m, None, frames)
    assert out[0, : n[0]].tolist() == [4, m, m, m, 5] and fr[0, : n[0]].tolist() == [0, 2, 3, 4, 6]


def test_dec_align_model_trains_and_decodes(tiny_asr, tmp_path):
    from narspeech.asr.recognize import load_recognizer

    root, dump = tiny_asr
    exp = tmp_path / "exp"
    cli_ok("asr", "train", "--config", root / "conf.yaml", "--tokens", root / "tokens.txt", "--train-data", root / "data",
           "--train-dump", dump, "--exp", exp, "--set", "model.dec_align=true", "--set", "model.length_predictor=true")
    sd = torch.load(exp / "last.pt", map_location="cpu", weights_only=False)["model"]
    assert "align_proj.weight" in sd and float(sd["align_proj.weight"].abs().sum()) > 0  # it was trained
    for extra in ([], ["--length-adjust"]):
        out = tmp_path / f"dec{len(extra)}"
        cli_ok("asr", "decode", "--model", exp, "--dump", dump, "--out", out, "--device", "cpu", "--threshold", "0.999",
               "--iterations", "2", *extra)
        assert len((out / "hyp").read_text().splitlines()) == 5
    rec = load_recognizer(exp, "cpu")
    seen = []
    real = rec.model.decoder_log_probs

    def spy(ys, yl, enc, elen, frames=None):
        seen.append(frames is not None and frames.shape == ys.shape)
        return real(ys, yl, enc, elen, frames)

    rec.model.decoder_log_probs = spy
    x = torch.randn(2, 80, 20)
    rec.decode_feats(x, torch.tensor([80, 60]), rec.default_options(threshold=1.01, iterations=2, length_adjust=True))
    assert seen and all(seen)  # every decoder pass got the CTC frames of its positions


def test_ctc_fusion_weighs_ctc_at_the_masks_frame(tiny_asr):
    """With a huge CTC fusion weight every mask is filled with CTC's own argmax at its frame: the greedy
    CTC output comes back even when everything is masked; without fusion the (untrained) decoder differs."""
    from narspeech.asr.recognize import load_recognizer

    root, dump = tiny_asr
    rec = load_recognizer(root / "exp", "cpu")
    torch.manual_seed(0)
    x = torch.randn(3, 90, 20)
    lens = torch.tensor([90, 70, 50])
    ctc = rec.decode_feats(x, lens, rec.default_options("ctc"))
    fused = rec.decode_feats(x, lens, rec.default_options(threshold=1.01, iterations=3, ctc_fusion=1e4))
    alone = rec.decode_feats(x, lens, rec.default_options(threshold=1.01, iterations=3))
    banned = {rec.model.sos_eos, rec.model.mask_id}  # the untrained CTC emits them; the decoder never may
    assert any(ctc) and [len(f) for f in fused] == [len(c) for c in ctc]
    assert all(f == c for fs, cs in zip(fused, ctc) for f, c in zip(fs, cs) if c not in banned)
    assert alone != fused
