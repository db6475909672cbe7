"""DDP: two CPU processes (gloo, launched by torchrun) give the result of one process with the same global batch."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
import torch

from narspeech.train.checkpoint import load_checkpoint, read_index
from narspeech.train.engine import fit
from narspeech.train.rng import seed_everything
from narspeech.batching import make_batches
from narspeech.train.toy import ToySeqDataset, ToySeqModel, toy_collate

_SCRIPT = """
import json, sys
from narspeech.train.engine import fit
from narspeech.train.rng import seed_everything
from narspeech.train.toy import ToySeqDataset, ToySeqModel, toy_collate
cfg, exp, kill_at = json.loads(sys.argv[1]), sys.argv[2], int(sys.argv[3])
class Hooks:
    def on_step_end(self, step, model):
        if step == kill_at:
            raise SystemExit("killed at step %d" % step)
seed_everything(0)
fit(cfg, ToySeqModel(), ToySeqDataset(24, seed=0), ToySeqDataset(7, seed=1), toy_collate, exp,
    resume=kill_at < 0, hooks=Hooks())
"""


def _aborted_at_exit_after_training(stderr: str) -> bool:
    """torch's native teardown killed a rank (SIGABRT) after fit had returned on it: training itself finished."""
    return "done: step 9" in stderr and "terminate called without an active exception" in stderr and "exitcode  : -6" in stderr


def _cfg(accum: int) -> dict:
    return {
        "train": {
            "seed": 3, "max_epochs": 3, "batch_bins": 100, "accum_grad": accum, "grad_clip": 0.5,
            "optim": {"name": "adam", "lr": 1e-2}, "scheduler": {"name": "noam", "warmup_steps": 2},
            "valid_interval": 0, "save_interval": 1, "log_interval": 1, "num_workers": 0, "tensorboard": False,
        }
    }


@pytest.mark.slow
def test_two_process_ddp_killed_and_resumed_equals_one_process_with_accumulation(tmp_path):
    assert len(make_batches(ToySeqDataset(24, seed=0).lengths, max_padded=100)) % 2 == 0  # no wrap-around padding
    script = tmp_path / "ddp_fit.py"
    script.write_text(_SCRIPT)
    env = {**os.environ, "NARSPEECH_PROGRESS": "0", "OMP_NUM_THREADS": "1"}
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(k, None)

    def torchrun(exp, kill_at: int):
        return subprocess.run(
            [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", str(script),
             json.dumps(_cfg(accum=1)), str(exp), str(kill_at)],
            env=env, capture_output=True, text=True, timeout=300,
        )

    def kill_and_resume(exp):
        r = torchrun(exp, kill_at=4)  # both ranks stop after update 4, mid-epoch 2 (3 updates per epoch)
        assert r.returncode != 0 and "killed at step 4" in r.stderr
        last = load_checkpoint(exp / "last.pt")
        assert last["step"] == 4 and last["global_batches_in_epoch"] == 2
        return torchrun(exp, kill_at=-1)  # resume under torchrun

    r = kill_and_resume(tmp_path / "ddp")
    if r.returncode != 0 and _aborted_at_exit_after_training(r.stderr):
        # Seen once in CI (never in 27 runs here): rank 1 finished, destroyed its gloo group,
        # then died in native teardown at interpreter exit. One fresh retry; a failure that repeats is red.
        shutil.rmtree(tmp_path / "ddp")
        r = kill_and_resume(tmp_path / "ddp")
    assert r.returncode == 0, r.stderr[-3000:]

    seed_everything(0)
    single = ToySeqModel()
    fit(_cfg(accum=2), single, ToySeqDataset(24, seed=0), ToySeqDataset(7, seed=1), toy_collate, tmp_path / "one")

    ddp = load_checkpoint(tmp_path / "ddp" / "last.pt")
    assert ddp["step"] == 9 and ddp["world_size"] == 2  # 6 batches/epoch = 3 global steps, 3 epochs
    seed_everything(0)
    init = ToySeqModel().state_dict()
    for k, v in single.state_dict().items():
        torch.testing.assert_close(ddp["model"][k], v, rtol=1e-5, atol=1e-6, msg=k)
        assert not torch.allclose(v, init[k])  # it did train
    # validation split over the ranks and gathered: same batch-size-weighted means
    a = [e["metrics"]["loss"] for e in read_index(tmp_path / "ddp")]
    b = [e["metrics"]["loss"] for e in read_index(tmp_path / "one")]
    assert a == pytest.approx(b, rel=1e-5)
    log = (tmp_path / "ddp" / "train.log").read_text()
    assert log.count("start: step 0") == 1 and "x2" in log  # only rank 0 writes
    assert "resumed from" in log and "step 4 epoch 1 (batch 1)" in log
