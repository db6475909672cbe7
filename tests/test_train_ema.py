"""The engine's moving average of the weights: its arithmetic, what the checkpoints hold, exact resume."""
from __future__ import annotations

import pytest
import torch

from narspeech.train.checkpoint import load_checkpoint, read_index
from narspeech.train.ema import WeightEMA
from narspeech.train.engine import fit
from narspeech.train.toy import ToySeqModel, toy_collate

from test_train_engine import _KillAt, _Kill, _assert_same, _cfg, _data, _model, _params, _valid_loss


def test_average_follows_the_warmed_up_decay_and_applied_restores_the_weights():
    lin = torch.nn.Linear(1, 1, bias=False)
    lin.register_buffer("count", torch.tensor(0))
    with torch.no_grad():
        lin.weight.fill_(0.0)
    ema = WeightEMA(lin, decay=0.5)
    expect = 0.0
    for n, w in enumerate([4.0, 8.0, 2.0, 6.0], start=1):
        with torch.no_grad():
            lin.weight.fill_(w)
            lin.count.fill_(n)
        ema.update(lin)
        d = min(0.5, (1 + n) / (10 + n))
        expect = d * expect + (1 - d) * w
    assert ema.shadow["weight"].item() == pytest.approx(expect)
    assert ema.shadow["count"].item() == 4  # integer buffers are copied, not averaged
    with ema.applied(lin):
        assert lin.weight.item() == pytest.approx(expect)
    assert lin.weight.item() == 6.0


def test_checkpoints_hold_the_average_and_validation_scores_it(tmp_path):
    train, valid = _data()
    cfg = _cfg(max_steps=12, ema_decay=0.9, valid_interval=4, keep_best=5, batch_bins=10000)  # one valid batch
    model = _model(dropout=0.0)
    fit(cfg, model, train, valid, toy_collate, tmp_path / "exp")
    last = load_checkpoint(tmp_path / "exp" / "last.pt")
    assert last["ema_updates"] == 12
    _assert_same(_params(last["train_model"]), _params(model))  # the optimizer's weights, for resuming
    assert not torch.allclose(last["model"]["out.weight"], last["train_model"]["out.weight"])
    step12 = load_checkpoint(tmp_path / "exp" / "checkpoints" / "step00000012.pt")
    _assert_same(_params(step12["model"]), _params(last["model"]))
    averaged = ToySeqModel(dropout=0.0)
    averaged.load_state_dict(last["model"])
    logged = {e["step"]: e["metrics"]["loss"] for e in read_index(tmp_path / "exp")}
    assert logged[12] == pytest.approx(_valid_loss(averaged, valid), rel=1e-5)
    assert logged[12] != pytest.approx(_valid_loss(model, valid), rel=1e-3)


def test_average_is_smoother_than_the_last_iterate_at_a_noisy_learning_rate(tmp_path):
    train, valid = _data()
    cfg = _cfg(max_steps=60, accum_grad=1, batch_bins=40, ema_decay=0.95, valid_interval=60,
               optim={"name": "adam", "lr": 5e-2, "weight_decay": 0.0}, scheduler={"name": "constant"})
    model = _model(dropout=0.0)
    fit(cfg, model, train, valid, toy_collate, tmp_path / "exp")
    averaged = ToySeqModel(dropout=0.0)
    averaged.load_state_dict(load_checkpoint(tmp_path / "exp" / "last.pt")["model"])
    assert _valid_loss(averaged, valid) < 0.8 * _valid_loss(model, valid)


def test_resume_restores_the_average_exactly(tmp_path):
    train, valid = _data()
    cfg = _cfg(save_interval=1, ema_decay=0.8)
    ref = _model()
    fit(cfg, ref, train, valid, toy_collate, tmp_path / "ref")
    with pytest.raises(_Kill):
        fit(cfg, _model(), train, valid, toy_collate, tmp_path / "run", hooks=_KillAt(5))
    fresh = ToySeqModel(dropout=0.1)
    fit(cfg, fresh, train, valid, toy_collate, tmp_path / "run", resume=True)
    a, b = load_checkpoint(tmp_path / "ref" / "last.pt"), load_checkpoint(tmp_path / "run" / "last.pt")
    _assert_same(_params(a["train_model"]), _params(b["train_model"]))
    _assert_same(_params(a["model"]), _params(b["model"]))
    assert a["ema_updates"] == b["ema_updates"] == 10
