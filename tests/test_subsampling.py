"""The conv front-end's ×4 / ×2 time subsampling: the length formulas match the convolutions' real output,
the ASR model takes ``model.subsample`` (old configs without it stay ×4, same weights), and a bad factor is one line."""
from __future__ import annotations

import pytest
import torch

from narspeech.asr.dataset import enc_frames
from narspeech.asr.model import MODEL_DEFAULTS, build_asr_model
from narspeech.errors import NarspeechError
from narspeech.nets.subsampling import (MIN_FRAMES, Conv2dSubsampling, Conv2dSubsampling4, min_frames,
                                        subsampled_length, subsampled_lengths)

TINY = {"type": "mask_ctc", "d_model": 16, "n_heads": 2, "enc_layers": 1, "enc_ff": 32, "dec_layers": 1, "dec_ff": 32,
        "subsample_channels": 4, "n_tokens": 8, "n_mels": 20}


@pytest.mark.parametrize("factor", [2, 4])
@pytest.mark.parametrize("n_mels", [20, 80])
def test_lengths_match_the_convolutions(factor, n_mels):
    torch.manual_seed(0)
    sub = Conv2dSubsampling(n_mels, 16, 4, factor).eval()
    lens = torch.arange(min_frames(factor), 60)
    for t in lens.tolist():  # one item at a time: the conv output's own length
        y, n = sub(torch.randn(1, t, n_mels), torch.tensor([t]))
        assert y.shape[1] == int(n) == subsampled_length(t, factor) == enc_frames(t, factor) >= 1, (factor, t)
    x = torch.randn(len(lens), int(lens.max()), n_mels)  # padded batch: each item's length, its own outputs
    y, n = sub(x, lens)
    assert torch.equal(n, subsampled_lengths(lens, factor))
    for i, t in enumerate(lens.tolist()):
        alone, _ = sub(x[i:i + 1, :t], lens[i:i + 1])
        torch.testing.assert_close(y[i:i + 1, : int(n[i])], alone, rtol=1e-5, atol=1e-5)


def test_factor_two_doubles_the_frame_rate_and_min_frames_is_tight():
    lens = torch.tensor([100, 401, 1000])
    four, two = subsampled_lengths(lens, 4), subsampled_lengths(lens, 2)
    assert ((two - 2 * four).abs() <= 3).all() and (two > four).all()
    for f in (2, 4):
        m = min_frames(f)
        assert subsampled_length(m, f) == 1 and subsampled_length(m - 1, f) == 0
        assert int(subsampled_lengths(torch.tensor([0, 1, m - 1]), f).max()) == 0
    assert MIN_FRAMES == min_frames(4)
    with pytest.raises(ValueError, match="one of"):
        Conv2dSubsampling(20, 16, 4, factor=3)


def test_model_subsample_option_and_old_configs():
    old = {k: v for k, v in TINY.items()}  # a config written before model.subsample existed
    assert "subsample" not in old and MODEL_DEFAULTS["subsample"] == 4
    m_old, m4 = build_asr_model(old), build_asr_model({**TINY, "subsample": 4})
    assert m_old.subsample_factor == 4 and isinstance(m_old.subsample, Conv2dSubsampling)
    assert {k: v.shape for k, v in m_old.state_dict().items()} == {k: v.shape for k, v in m4.state_dict().items()}
    m4.load_state_dict(m_old.state_dict())  # an old checkpoint loads, strictly
    legacy = Conv2dSubsampling4(20, 16, 4)  # the ×4 class others import keeps its weights' names and shapes
    assert {k: v.shape for k, v in legacy.state_dict().items()} == {k: v.shape for k, v in m_old.subsample.state_dict().items()}
    m2 = build_asr_model({**TINY, "subsample": 2}).eval()
    lens = torch.tensor([50, 37])
    enc, elen = m2.encode(torch.randn(2, 50, 20), lens)
    assert enc.shape[1] == int(elen.max()) and torch.equal(elen, subsampled_lengths(lens, 2))
    for bad in (3, "x"):
        with pytest.raises(NarspeechError, match="model.subsample must be one of 2, 4"):
            build_asr_model({**TINY, "subsample": bad})
