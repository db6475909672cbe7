"""The sentence-level duration loss corrects the length bias of the log-domain token loss.

Known answer: one token type whose durations are 1 or 15 frames, half and half. The token loss
(MSE of log(d + 1)) is minimised by the geometric mean, 4.66 frames, so a predictor that can only
learn one value per type speaks 58 % of the utterance's frames. The sentence loss (PortaSpeech's
squared log error of each utterance's total) pulls the predicted total towards the truth.
"""
from __future__ import annotations

import pytest
import torch

from narspeech.tts.models.fastspeech import FastSpeech
from narspeech.tts.models.losses import duration_loss


def _bimodal_batch(n_utts: int = 8, n_tok: int = 10) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    durations = torch.where(torch.rand(n_utts, n_tok, generator=g) < 0.5, 1, 15)
    durations[:, ::2], durations[:, 1::2] = 1, 15  # exactly half and half in every utterance
    valid = torch.ones(n_utts, n_tok, dtype=torch.bool)
    valid[0, -3:] = False  # padding must not count
    return durations.masked_fill(~valid, 0), valid


def _fitted_length_ratio(sentence_weight: float) -> float:
    durations, valid = _bimodal_batch()
    theta = torch.zeros((), requires_grad=True)  # one log(d + 1) for the only token type
    opt = torch.optim.Adam([theta], lr=0.05)
    for _ in range(400):
        logd = theta.expand(durations.shape)
        token, sentence = duration_loss(logd, durations, valid, sentence_weight)
        loss = token + sentence_weight * sentence
        opt.zero_grad()
        loss.backward()
        opt.step()
    frames = (theta.detach().exp() - 1.0) * valid.sum()
    return float(frames / durations.sum())


def test_token_loss_alone_predicts_the_geometric_mean():
    assert _fitted_length_ratio(0.0) == pytest.approx(4.66 / 8.0, abs=0.02)


def test_sentence_loss_brings_the_total_length_towards_the_truth():
    without, with_sentence = _fitted_length_ratio(0.0), _fitted_length_ratio(1.0)
    # the optimum of token + sentence loss lies between the two means: 0.79 of the frames instead of 0.58
    assert with_sentence > without + 0.15 and abs(1.0 - with_sentence) < 0.6 * abs(1.0 - without), (without, with_sentence)


def test_sentence_loss_is_zero_for_the_right_total_and_ignores_padding():
    durations, valid = _bimodal_batch()
    per_token = durations.float().masked_fill(~valid, 0).sum(1, keepdim=True) / valid.sum(1, keepdim=True)
    logd = torch.log(per_token + 1.0).expand(durations.shape).masked_fill(~valid, 5.0)  # right totals, junk in padding
    _, sentence = duration_loss(logd, durations, valid, 1.0)
    assert float(sentence) < 1e-10
    _, off = duration_loss(logd + 0.1, durations, valid, 1.0)
    assert float(off) > 1e-3


def test_fastspeech_adds_the_weighted_sentence_loss():
    torch.manual_seed(0)
    n_tok, n_mels = 6, 8
    batch = {"tokens": torch.randint(1, 5, (2, n_tok)), "token_lengths": torch.tensor([6, 4]),
             "durations": torch.tensor([[2, 3, 1, 2, 2, 1], [3, 3, 2, 2, 0, 0]])}
    batch["mel_lengths"] = batch["durations"].sum(1)
    batch["mels"] = torch.randn(2, int(batch["mel_lengths"].max()), n_mels)
    cfg = dict(d_model=16, n_heads=2, enc_layers=1, dec_layers=1, d_ff=16, ffn_kernel=3, dropout=0.0, attn_dropout=0.0,
               predictor_channels=16, predictor_dropout=0.0)
    model = FastSpeech(5, n_mels, None, variance=False, **cfg)
    plain, stats = model(batch)
    assert "sentence_duration" not in stats
    model.c["sentence_duration_weight"] = 2.0
    weighted, stats = model(batch)
    assert float(stats["sentence_duration"]) > 0
    assert float((weighted - plain).detach()) == pytest.approx(2.0 * float(stats["sentence_duration"]), rel=1e-4)
