"""Learning-rate schedules: the exponential decay's values, and that a resumed run follows the config's schedule."""
from __future__ import annotations

import re

import pytest

from narspeech.errors import NarspeechError
from narspeech.train.engine import fit
from narspeech.train.rng import seed_everything
from narspeech.train.optim import lr_factor
from narspeech.train.toy import ToySeqDataset, ToySeqModel, toy_collate


def test_exponential_warms_up_holds_then_halves_every_halflife_down_to_its_floor():
    kw = dict(warmup_steps=4, decay_start=10, halflife=5, min_ratio=0.1)
    assert [lr_factor("exponential", s, **kw) for s in (0, 1, 3, 9)] == [0.25, 0.5, 1.0, 1.0]
    assert lr_factor("exponential", 14, **kw) == pytest.approx(0.5)  # step 15 = decay_start + 1 halflife
    assert lr_factor("exponential", 19, **kw) == pytest.approx(0.25)
    assert lr_factor("exponential", 10_000, **kw) == pytest.approx(0.1)
    early = dict(warmup_steps=10, decay_start=5, halflife=5)  # a decay that starts inside the warm-up keeps warming up
    assert lr_factor("exponential", 9, **early) == pytest.approx(0.5)
    with pytest.raises(NarspeechError, match="halflife"):
        lr_factor("exponential", 0, 4)


def _cfg(max_steps: int, scheduler: dict) -> dict:
    return {"model": {"type": "toy"}, "train": {
        "seed": 7, "max_epochs": 0, "max_steps": max_steps, "batch_bins": 120, "accum_grad": 1, "log_interval": 1,
        "valid_interval": 0, "save_interval": 1, "num_workers": 0, "tensorboard": False, "device": "cpu",
        "optim": {"name": "adam", "lr": 1e-2}, "scheduler": scheduler}}


def test_a_resumed_run_follows_the_decay_its_config_now_asks_for(tmp_path):
    """The decay that ends a long run (lr annealing) is added on resume: the checkpoint's scheduler state
    keeps the step count, the config gives the schedule."""
    train = ToySeqDataset(24, seed=0)
    seed_everything(0)
    model = ToySeqModel()
    fit(_cfg(4, {"name": "constant"}), model, train, None, toy_collate, tmp_path / "exp")
    decay = {"name": "exponential", "warmup_steps": 0, "decay_start": 4, "halflife": 1}
    fit(_cfg(7, decay), model, train, None, toy_collate, tmp_path / "exp", resume=True)
    lrs = {int(m[1]): float(m[2]) for m in re.finditer(r"step (\d+) .* lr (\S+)", (tmp_path / "exp" / "train.log").read_text())}
    assert lrs[4] == pytest.approx(1e-2)
    assert lrs[7] == pytest.approx(1e-2 * 0.5 ** 4, rel=1e-2)  # the lr for step 8 (s = 8 = decay_start + 4)
