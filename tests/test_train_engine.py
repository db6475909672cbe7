"""The training engine on a tiny sequence-regression task: it learns, resumes exactly, skips bad steps."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
import yaml

from narspeech.config import merge
from narspeech.errors import NarspeechError
from narspeech.train.checkpoint import load_checkpoint, read_index
from narspeech.train.engine import fit
from narspeech.train.rng import seed_everything
from narspeech.train.toy import ToySeqDataset, ToySeqModel, toy_collate


def _cfg(**train) -> dict:
    base = {
        "model": {"type": "toy"},
        "train": {
            "seed": 7, "max_epochs": 0, "max_steps": 10, "batch_bins": 120, "accum_grad": 2, "grad_clip": 1.0,
            "optim": {"name": "adamw", "lr": 5e-3, "weight_decay": 0.01}, "scheduler": {"name": "noam", "warmup_steps": 3},
            "valid_interval": 3, "log_interval": 2, "num_workers": 0, "keep_best": 2, "tensorboard": False,
        },
    }
    return merge(base, {"train": train})


def _data():
    return ToySeqDataset(24, seed=0), ToySeqDataset(6, seed=1)


def _model(dropout=0.1):
    seed_everything(0)
    return ToySeqModel(dropout=dropout)


def _params(sd_or_model) -> dict:
    sd = sd_or_model.state_dict() if isinstance(sd_or_model, torch.nn.Module) else sd_or_model
    return {k: v.detach().cpu().clone() for k, v in sd.items()}


def _assert_same(a: dict, b: dict):
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-6, atol=1e-7, msg=k)


@torch.no_grad()
def _valid_loss(model, ds) -> float:
    model.eval()
    loss, _ = model(toy_collate([ds[i] for i in range(len(ds))]))
    return float(loss)


def test_loss_falls_and_run_writes_its_files(tmp_path):
    train, valid = _data()
    model = _model(dropout=0.0)
    before = _valid_loss(model, valid)
    seen = []

    class Hooks:
        def on_valid(self, model, batch, writer, step):
            assert not model.training and not torch.is_grad_enabled()
            seen.append((step, writer is not None, batch["x"].shape[0]))

    cfg = _cfg(max_steps=0, max_epochs=12, accum_grad=1, valid_interval=0, tensorboard=True,
               optim={"lr": 2e-2}, scheduler={"name": "warmup", "warmup_steps": 5})
    best = fit(cfg, model, train, valid, toy_collate, tmp_path / "exp", hooks=Hooks())
    exp = tmp_path / "exp"
    assert best == exp / "best.pt"
    ck = load_checkpoint(exp)
    assert ck["metrics"]["loss"] == min(e["metrics"]["loss"] for e in read_index(exp))
    reloaded = ToySeqModel()
    reloaded.load_state_dict(ck["model"])
    after = _valid_loss(reloaded, valid)
    from narspeech.train.sampler import BucketBatchSampler

    batches = BucketBatchSampler(valid.lengths, 120, shuffle=False).batches  # what validation used
    reloaded.eval()
    with torch.no_grad():
        per_batch = [(len(b), float(reloaded(toy_collate([valid[i] for i in b]))[0])) for b in batches]
    assert ck["metrics"]["loss"] == pytest.approx(sum(n * l for n, l in per_batch) / len(valid), rel=1e-5)
    assert after < 0.1 * before, (before, after)
    assert len(seen) == 12 and all(w for _, w, _ in seen)  # once per epoch, with a writer
    resolved = yaml.safe_load((exp / "config.yaml").read_text())
    assert resolved["train"]["best_metric"] == "loss" and resolved["train"]["max_epochs"] == 12  # defaults filled
    log = (exp / "train.log").read_text()
    assert "valid step" in log and "done: step" in log
    assert any(p.name.startswith("events.") for p in (exp / "tensorboard").iterdir())
    assert len(read_index(exp)) <= 3  # keep_best 2 + the latest
    with pytest.raises(NarspeechError, match="already holds a training run"):
        fit(cfg, _model(), train, valid, toy_collate, exp)


def test_validation_mean_is_weighted_by_batch_size(tmp_path):
    train, valid = _data()
    model = _model(dropout=0.0)
    fit(_cfg(max_steps=1, valid_interval=1), model, train, valid, toy_collate, tmp_path / "exp")
    ck = load_checkpoint(tmp_path / "exp" / "last.pt")
    # the toy model reports "frames" per batch: its item-weighted mean is the mean frames per batch
    # seen by an item; recompute from the valid batches directly
    from narspeech.train.sampler import BucketBatchSampler

    s = BucketBatchSampler(valid.lengths, 120, shuffle=False)
    assert len(s.batches) > 1
    want = sum(len(b) * sum(valid.lengths[i] for i in b) for b in s.batches) / len(valid)
    assert ck["metrics"]["frames"] == pytest.approx(want)


class _Kill(Exception):
    pass


class _KillAt:
    def __init__(self, step):
        self.step = step

    def on_step_end(self, step, model):
        if step == self.step:
            raise _Kill()


@pytest.mark.parametrize("kill_at,workers", [(5, 0), (6, 1)])
def test_resume_mid_epoch_matches_uninterrupted_run(tmp_path, kill_at, workers):
    train, valid = _data()
    cfg = _cfg(save_interval=1, num_workers=workers)
    ref = _model()
    fit(cfg, ref, train, valid, toy_collate, tmp_path / "ref")

    with pytest.raises(_Kill):
        fit(cfg, _model(), train, valid, toy_collate, tmp_path / "run", hooks=_KillAt(kill_at))
    last = load_checkpoint(tmp_path / "run" / "last.pt")
    assert last["step"] == kill_at and last["global_batches_in_epoch"] > 0  # killed mid-epoch
    assert not _close(_params(last["model"]), _params(ref))

    fresh = ToySeqModel(dropout=0.1)  # different weights: must all come from the checkpoint
    fit(cfg, fresh, train, valid, toy_collate, tmp_path / "run", resume=True)
    _assert_same(_params(fresh), _params(ref))
    assert load_checkpoint(tmp_path / "run" / "last.pt")["step"] == 10
    ref_idx = [(e["step"], e["metrics"]["loss"]) for e in read_index(tmp_path / "ref")]
    run_idx = [(e["step"], e["metrics"]["loss"]) for e in read_index(tmp_path / "run")]
    assert [s for s, _ in run_idx] == [s for s, _ in ref_idx]
    assert [l for _, l in run_idx] == pytest.approx([l for _, l in ref_idx], rel=1e-6)


def _close(a, b) -> bool:
    return all(torch.allclose(a[k], b[k]) for k in a)


_KILL_SCRIPT = """
import json, pathlib, sys, time
from narspeech.train.engine import fit
from narspeech.train.rng import seed_everything
from narspeech.train.toy import ToySeqDataset, ToySeqModel, toy_collate
cfg, exp, marker, k = json.loads(sys.argv[1]), sys.argv[2], pathlib.Path(sys.argv[3]), int(sys.argv[4])
class Hooks:
    def on_step_end(self, step, model):
        if step == k:
            marker.touch()
            time.sleep(600)
seed_everything(0)
fit(cfg, ToySeqModel(dropout=0.1), ToySeqDataset(24, seed=0), ToySeqDataset(6, seed=1), toy_collate, exp, hooks=Hooks())
"""


def test_resume_after_sigkill(tmp_path):
    train, valid = _data()
    cfg = _cfg(save_interval=1, num_workers=1)
    marker = tmp_path / "at_step"
    proc = subprocess.Popen([sys.executable, "-c", _KILL_SCRIPT, json.dumps(cfg), str(tmp_path / "run"), str(marker), "7"],
                            env={**os.environ, "NARSPEECH_PROGRESS": "0"}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 120
        while not marker.exists():
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.time() < deadline, "training subprocess did not reach step 7"
            time.sleep(0.1)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert not list((tmp_path / "run").glob(".*.tmp*"))  # nothing half-written left behind as a real name
    ref = _model()
    fit(cfg, ref, train, valid, toy_collate, tmp_path / "ref")
    fresh = ToySeqModel(dropout=0.1)
    fit(cfg, fresh, train, valid, toy_collate, tmp_path / "run", resume=True)
    _assert_same(_params(fresh), _params(ref))
    assert "resumed from" in (tmp_path / "run" / "train.log").read_text()


class _NaNOn(torch.nn.Module):
    """The toy model, with a NaN loss whenever a batch holds one of the `poison` sequence lengths."""

    def __init__(self, poison: set[int] | None):
        super().__init__()
        self.inner = ToySeqModel()
        self.poison = poison

    def forward(self, batch):
        loss, stats = self.inner(batch)
        if self.poison is None or any(int(n) in self.poison for n in batch["lengths"]):
            loss = loss * float("nan")
        return loss, stats


def test_nonfinite_steps_are_skipped_and_counted(tmp_path):
    train, valid = _data()
    poison = {train.lengths[0]}
    model = _NaNOn(poison)
    fit(_cfg(max_steps=6, accum_grad=1, max_bad_steps=50), model, train, valid, toy_collate, tmp_path / "exp")
    assert all(torch.isfinite(p).all() for p in model.parameters())
    last = load_checkpoint(tmp_path / "exp" / "last.pt")
    assert last["step"] == 6 and last["bad_steps"]["total"] >= 1
    log = (tmp_path / "exp" / "train.log").read_text()
    assert "skipped, non-finite loss" in log and "(batch: toy00" in log  # names the batch items


def test_always_nonfinite_stops_with_clear_error_and_no_update(tmp_path):
    train, valid = _data()
    model = _NaNOn(None)
    before = _params(model)
    with pytest.raises(NarspeechError, match="3 updates in a row"):
        fit(_cfg(max_bad_steps_in_row=3), model, train, valid, toy_collate, tmp_path / "exp")
    _assert_same(_params(model), before)


def test_bad_config_and_dataset_are_named(tmp_path):
    train, valid = _data()
    with pytest.raises(NarspeechError, match="train.batch_bins"):
        fit(_cfg(batch_bins=0), _model(), train, valid, toy_collate, tmp_path / "a")
    with pytest.raises(NarspeechError, match="scheduler.name"):
        fit(_cfg(scheduler={"name": "cosine"}), _model(), train, valid, toy_collate, tmp_path / "b")
    with pytest.raises(NarspeechError, match="lengths"):
        fit(_cfg(), _model(), list(range(3)), None, toy_collate, tmp_path / "c")


class _OOMModel(ToySeqModel):
    def forward(self, batch):
        if batch["x"].shape[1] > 30:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")
        return super().forward(batch)


def test_out_of_memory_names_batch_size_and_length(tmp_path):
    train, valid = _data()
    with pytest.raises(NarspeechError, match=r"out of memory on a batch of \d+ items, max length (3[1-9]|40)\b.*batch_bins=120"):
        fit(_cfg(max_epochs=1, max_steps=0, accum_grad=1), _OOMModel(), train, valid, toy_collate, tmp_path / "exp")


@pytest.mark.gpu
def test_bf16_training_on_cuda_learns(tmp_path):
    train, valid = _data()
    model = _model(dropout=0.0)
    before = _valid_loss(model, valid)
    fit(_cfg(device="cuda", amp="bf16", max_steps=0, max_epochs=12, accum_grad=1, valid_interval=0, num_workers=2,
             optim={"lr": 2e-2}, scheduler={"name": "warmup", "warmup_steps": 5}), model, train, valid, toy_collate, tmp_path / "exp")
    assert "amp bf16" in (tmp_path / "exp" / "train.log").read_text()
    assert _valid_loss(model.cpu(), valid) < 0.2 * before


class _BadItem(ToySeqDataset):
    def __getitem__(self, i):
        if i == 3:
            raise NarspeechError("corrupt features", utt=self.keys[i], path="dump/train/feats.scp")
        return super().__getitem__(i)


@pytest.mark.parametrize("workers", [0, 1])
def test_dataset_error_in_a_worker_stays_one_clean_line(tmp_path, workers):
    with pytest.raises(NarspeechError) as ei:
        fit(_cfg(num_workers=workers), _model(), _BadItem(24, seed=0), None, toy_collate, tmp_path / "exp")
    assert str(ei.value) == "dump/train/feats.scp: utterance toy0003: corrupt features"


def test_max_steps_alone_is_not_capped_by_an_epoch_default():
    from narspeech.train.defaults import resolve_config

    assert resolve_config({"train": {"max_steps": 10**6}})["train"]["max_epochs"] == 0  # 0 = no epoch cap
    assert resolve_config({})["train"]["max_epochs"] == 100  # neither given: 100 epochs
    assert resolve_config({"train": {"max_epochs": 3}})["train"]["max_steps"] == 0


def test_run_ending_on_an_epoch_boundary_counts_the_epoch(tmp_path):
    train, _ = _data()
    fit(_cfg(max_steps=10, accum_grad=1, valid_interval=0), _model(), train, None, toy_collate, tmp_path / "exp")
    ck = load_checkpoint(tmp_path / "exp" / "last.pt")
    assert ck["step"] == 10 and ck["epoch"] == 2 and ck["global_batches_in_epoch"] == 0  # 2 epochs of 5 batches


def test_a_failing_valid_hook_is_logged_not_fatal(tmp_path):
    train, valid = _data()

    class Broken:
        def on_valid(self, model, batch, writer, step):
            raise ValueError("no display")

    fit(_cfg(max_steps=3), _model(), train, valid, toy_collate, tmp_path / "exp", hooks=Broken())
    assert "hooks.on_valid failed at step 3: ValueError('no display')" in (tmp_path / "exp" / "train.log").read_text()


def test_sigterm_saves_at_the_next_update_and_resume_is_exact(tmp_path):
    train, valid = _data()
    cfg = _cfg()

    class Term:
        def on_step_end(self, step, model):
            if step == 4:
                os.kill(os.getpid(), signal.SIGTERM)

    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(NarspeechError, match="stopped by SIGTERM after step 5"):
        fit(cfg, _model(), train, valid, toy_collate, tmp_path / "run", hooks=Term())
    assert signal.getsignal(signal.SIGTERM) is before  # handler restored
    assert load_checkpoint(tmp_path / "run" / "last.pt")["step"] == 5
    ref = _model()
    fit(cfg, ref, train, valid, toy_collate, tmp_path / "ref")
    fresh = ToySeqModel(dropout=0.1)
    fit(cfg, fresh, train, valid, toy_collate, tmp_path / "run", resume=True)
    _assert_same(_params(fresh), _params(ref))


_GROUP_TERM_SCRIPT = """
import json, os, signal, sys
from narspeech.train.engine import fit
from narspeech.train.rng import seed_everything
from narspeech.train.toy import ToySeqDataset, ToySeqModel, toy_collate

class Term:
    def on_step_end(self, step, model):
        if step == 4:
            os.killpg(os.getpgrp(), signal.SIGTERM)  # what `timeout`, Slurm's scancel and a box kill send

seed_everything(0)
fit(json.loads(sys.argv[1]), ToySeqModel(dropout=0.1), ToySeqDataset(24, seed=0), None, toy_collate, sys.argv[2], hooks=Term())
"""


def test_sigterm_to_the_whole_process_group_still_saves(tmp_path):
    """Data-loader workers share the trainer's process group: a group-wide SIGTERM used to kill them
    first, and the trainer died of "DataLoader worker ... killed by signal" without its last.pt."""
    cfg = _cfg(num_workers=2, valid_interval=0, max_steps=50)
    proc = subprocess.run([sys.executable, "-c", _GROUP_TERM_SCRIPT, json.dumps(cfg), str(tmp_path / "run")],
                          env={**os.environ, "NARSPEECH_PROGRESS": "0"}, capture_output=True, text=True, timeout=120,
                          start_new_session=True)
    assert proc.returncode != 0
    assert "stopped by SIGTERM after step 5" in proc.stderr, proc.stderr[-1500:]
    assert load_checkpoint(tmp_path / "run" / "last.pt")["step"] == 5


class _FailingModel(ToySeqModel):
    """Raises at its third training call, or at its first validation call."""

    def __init__(self, where: str):
        super().__init__(dropout=0.1)
        self.where, self.calls = where, 0

    def forward(self, batch):
        self.calls += self.training
        if (self.where == "train step" and self.calls == 3) or (self.where == "validation" and not self.training):
            raise RuntimeError(f"boom in {self.where}")
        return super().forward(batch)


@pytest.mark.parametrize("where", ["dataset", "train step", "validation", "sigterm"])
def test_no_data_loader_worker_outlives_a_failed_fit(tmp_path, where):
    """A traceback kept alive (here pytest's) kept the loop's DataLoader iterator, and so its workers,
    alive; workers that ignore SIGTERM then hung the interpreter's exit, where multiprocessing
    terminates and joins its daemonic children (CI ran out of time after the suite had passed)."""
    import multiprocessing

    class Term:
        def on_step_end(self, step, model):
            if step == 2:
                os.kill(os.getpid(), signal.SIGTERM)

    seed_everything(0)
    model = ToySeqModel(dropout=0.1) if where in ("dataset", "sigterm") else _FailingModel(where)
    train = _BadItem(24, seed=0) if where == "dataset" else ToySeqDataset(24, seed=0)
    with pytest.raises((NarspeechError, RuntimeError)) as ei:
        fit(_cfg(num_workers=2, valid_interval=2), model, train, ToySeqDataset(6, seed=1), toy_collate,
            tmp_path / "exp", hooks=Term() if where == "sigterm" else None)
    assert ei.value is not None  # the traceback is still referenced here
    assert multiprocessing.active_children() == []


def test_a_data_loader_worker_ends_a_grace_period_after_sigterm(monkeypatch):
    """Workers leave a group-wide SIGTERM to the trainer, but only for a grace period: one that
    ignored it outright could never be terminated by its parent."""
    import multiprocessing

    import narspeech.train.batches as batches

    def worker():
        batches.workers_leave_sigterm_to_the_trainer(0)
        time.sleep(60)

    monkeypatch.setattr(batches, "WORKER_SIGTERM_GRACE_S", 1)
    proc = multiprocessing.get_context("fork").Process(target=worker, daemon=True)
    proc.start()
    time.sleep(0.5)
    os.kill(proc.pid, signal.SIGTERM)
    time.sleep(0.3)
    assert proc.is_alive()  # the trainer's handler gets its turn first
    proc.join(timeout=10)
    alive = proc.is_alive()
    if alive:
        proc.kill()
    assert not alive and proc.exitcode == -signal.SIGALRM


def test_accumulating_two_batches_equals_one_batch_of_twice_the_size(tmp_path, monkeypatch):
    """SGD, no clipping (Adam and clipping hide a gradient scale): accum_grad 2 x batch 4 takes the
    same update as one batch of 8; a loss not divided by accum_grad doubles the step."""
    import narspeech.train.phases as phases

    monkeypatch.setattr(phases, "build_optimizer", lambda params, cfg: torch.optim.SGD(params, lr=0.1))
    train = ToySeqDataset(8, min_len=10, max_len=10, seed=3)  # equal lengths: the mean over 8 = mean of two means over 4
    start = _params(_model(dropout=0.0))
    ends = []
    for accum, bsz in ((1, 8), (2, 4)):
        model = _model(dropout=0.0)
        cfg = _cfg(max_steps=1, accum_grad=accum, max_batch_size=bsz, batch_bins=1000, grad_clip=0,
                   scheduler={"name": "constant"}, valid_interval=0, device="cpu")
        fit(cfg, model, train, None, toy_collate, tmp_path / f"exp{accum}")
        ends.append(_params(model))
    moved = max(float((ends[0][k] - start[k]).abs().max()) for k in start)
    assert moved > 1e-3  # the update is large enough for a factor of 2 to show
    _assert_same(ends[0], ends[1])
