"""`fit`: the one training loop for every narspeech task.

Contract (docs/interfaces.md, "Training engine")::

    ckpt_path = fit(cfg, model, train_set, valid_set, collate_fn, exp_dir, resume=False, hooks=None)

* ``model(batch) -> (loss, stats)``; ``stats`` maps names to floats or scalar tensors.
* Several optimizers (GANs): a model with ``optimizer_groups() -> {name: [parameters]}`` (ordered)
  is trained in *phases*: each update runs, for each group in order, ``model(batch, phase=name)``
  on every micro-batch of the update, backward, then clips and steps that group's optimizer
  (config ``train.groups.<name>.{optim, scheduler, grad_clip}`` over ``train.optim`` …). The
  model may keep what one phase computed for the next (the generator output of a GAN's
  discriminator phase). Validation calls ``model(batch)``. See :class:`MultiOptimizerModel`.
* ``train_set`` / ``valid_set`` are map-style datasets with ``lengths`` (frames or tokens per
  item) for length bucketing (:mod:`narspeech.train.sampler`); ``valid_set`` may be None.
* ``collate_fn(items) -> dict`` of padded tensors (other values pass through untouched).

What the loop does: bucketed batches through a DataLoader (workers, pinned memory on CUDA);
bf16 autocast on CUDA; gradient accumulation and clipping; Adam/AdamW with noam / warmup /
constant schedules; DDP when launched by torchrun (same command without it runs on one
device); validation every ``valid_interval`` steps or each epoch, batch-size-weighted means;
checkpoints with the full state (exact resume, also mid-epoch), N best kept by a metric;
optionally a moving average of the weights (``ema_decay``) that validation and checkpoints use;
TensorBoard scalars, ``train.log``, a progress bar. Steps with a non-finite loss or gradient
are skipped and counted; too many stop the run with a :class:`NarspeechError`.
"""
from __future__ import annotations

import contextlib
import logging
import math
import random
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from tqdm import tqdm

from narspeech.config import check_keys, merge, save_config
from narspeech.device import autocast as bf16_autocast
from narspeech.errors import NarspeechError
from narspeech.progress import progress
from narspeech.signals import die_with_parent
from narspeech.train import distributed as D
from narspeech.train.checkpoint import (
    BEST,
    CKPT_DIR,
    LAST,
    exp_lock,
    load_checkpoint,
    rank_entries,
    read_index,
    save_checkpoint,
    write_index,
)
from narspeech.train.ema import WeightEMA
from narspeech.train.optim import OPTIM_KEYS, SCHEDULER_KEYS, build_optimizer, build_scheduler, optimizer_options
from narspeech.train.sampler import BucketBatchSampler

TRAIN_DEFAULTS: dict[str, Any] = {
    "seed": 1,
    "device": "auto",
    "amp": "bf16",  # bf16 | fp16 | fp32 (true = bf16, false = fp32); CUDA only, CPU runs fp32
    "max_epochs": 0,  # 0 = no limit (max_steps decides); both 0 -> 100 epochs
    "max_steps": 0,  # optimizer updates; 0 = no limit (max_epochs decides)
    "batch_bins": 20000,  # max padded size (max_len * batch size) of one batch, in the dataset's length unit
    "max_batch_size": 0,  # 0 = no cap
    "accum_grad": 1,
    "grad_clip": 1.0,  # max global grad norm; 0 = no clipping
    "optim": {"name": "adam", "lr": 1.0e-3, "betas": [0.9, 0.98], "eps": 1.0e-9, "weight_decay": 0.0},
    "scheduler": {"name": "noam", "warmup_steps": 4000},
    "valid_interval": 0,  # validate every N updates; 0 = at the end of each epoch
    "save_interval": 0,  # also write last.pt every N updates; 0 = only at validations and epoch ends
    "log_interval": 50,
    "keep_best": 5,
    "ema_decay": 0.0,  # > 0: validate and save an exponential moving average of the weights (narspeech.train.ema)
    "best_metric": "loss",
    "best_mode": "min",
    "num_workers": 2,
    "max_bad_steps_in_row": 10,  # stop after this many consecutive non-finite steps
    "max_bad_steps": 100,  # ... or this many in total
    "tensorboard": True,
    "log_to_stderr": True,  # echo train.log lines on stderr (above the progress bar)
    "ddp_find_unused": False,  # DDP find_unused_parameters: set true for models that skip parameters in some steps
    "groups": {},  # models with optimizer_groups(): per group {optim: {...}, scheduler: {...}, grad_clip: x} over the above
}

log = logging.getLogger("narspeech.train")


class Hooks:
    """Optional task callbacks; subclass and override what you need (any object with these methods works)."""

    def on_valid(self, model: torch.nn.Module, batch: dict, writer, step: int) -> None:
        """Rank 0, first validation batch (on the device), model in eval mode under no_grad.
        ``writer`` is a ``SummaryWriter`` (None when tensorboard is off): add plots / audio."""

    def on_step_end(self, step: int, model: torch.nn.Module) -> None:
        """Every rank, after each optimizer update and any checkpoint it triggered."""


class MultiOptimizerModel:
    """Protocol of a model trained with one optimizer per parameter group (e.g. generator and
    discriminators). ``fit`` detects it by ``optimizer_groups``; everything else (resume, DDP,
    AMP, accumulation, bad-step skipping, checkpoints) works as for one optimizer."""

    def optimizer_groups(self) -> dict[str, list[torch.nn.Parameter]]:
        """Ordered ``{phase name: parameters}``; phases run in this order within each update."""
        raise NotImplementedError

    def forward(self, batch: dict, phase: str | None = None) -> tuple[torch.Tensor, dict]:
        """``phase`` names the group whose loss to return; ``None`` = validation."""
        raise NotImplementedError


class _Phase:
    """One optimizer group: its parameters, optimizer, schedule and clipping."""

    def __init__(self, name: str | None, params: list, optimizer, scheduler, clip: float):
        self.name, self.params, self.optimizer, self.scheduler, self.clip = name, params, optimizer, scheduler, clip


#: the sections a training config may have, and the keys of those the engine can check here
#: (``model``, ``feats``, ``vocoder`` are checked against their defaults by the task that builds them)
CONFIG_SECTIONS = ("model", "train", "data", "feats", "text", "tokens", "vocoder", "units", "init", "init_modules")
SECTION_KEYS = {
    "data": ("speed_perturb", "train_data", "train_dump", "tokens", "durations", "kd_dump", "train", "valid"),
    "text": ("kind", "language", "unit", "subword_model", "token_list", "append_eos"),
    "tokens": ("min_count", "max_size"),
}
GROUP_KEYS = ("optim", "scheduler", "grad_clip")


def check_config_keys(cfg: dict) -> None:
    """Unknown sections and keys (``train.max_step``, ``--set train.optim.nmae=…``) are an error listing
    the known ones, not silently ignored."""
    check_keys(cfg, CONFIG_SECTIONS, "")
    tc = cfg.get("train") or {}
    check_keys(tc, TRAIN_DEFAULTS, "train")
    check_keys(tc.get("optim"), OPTIM_KEYS, "train.optim")
    check_keys(tc.get("scheduler"), SCHEDULER_KEYS, "train.scheduler")
    for name, g in (tc.get("groups") or {}).items():
        check_keys(g, GROUP_KEYS, f"train.groups.{name}")
        check_keys((g or {}).get("optim"), OPTIM_KEYS, f"train.groups.{name}.optim")
        check_keys((g or {}).get("scheduler"), SCHEDULER_KEYS, f"train.groups.{name}.scheduler")
    for section, known in SECTION_KEYS.items():
        check_keys(cfg.get(section), known, section)
    for key, default in TRAIN_DEFAULTS.items():  # a number where the default is one: finite, and whole for counts
        v = tc.get(key, default)
        if isinstance(default, bool) or not isinstance(default, (int, float)) or v is None:
            continue
        ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
        if ok and isinstance(default, int) and not isinstance(v, int):
            ok = float(v).is_integer()
        if not ok:
            kind = "a whole number" if isinstance(default, int) else "a finite number"
            raise NarspeechError(f"train.{key} must be {kind}, got {v!r}")


def resolve_config(cfg: dict) -> dict:
    """``cfg`` with ``train`` defaults filled in (what is saved as exp_dir/config.yaml); unknown keys
    are an error (:func:`check_config_keys`)."""
    check_config_keys(cfg or {})
    out = merge({"train": TRAIN_DEFAULTS}, cfg or {})
    tc = out["train"]
    optimizer_options(tc["optim"])  # a NaN or negative lr is one line now, not at the first step
    for key in ("batch_bins", "accum_grad", "log_interval"):
        if int(tc[key]) <= 0:
            raise NarspeechError(f"train.{key} must be a positive integer, got {tc[key]!r}")
    if int(tc["max_steps"]) <= 0 and int(tc["max_epochs"]) <= 0:
        tc["max_epochs"] = 100
    if tc["best_mode"] not in ("min", "max"):
        raise NarspeechError(f"train.best_mode must be min or max, got {tc['best_mode']!r}")
    return out


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (all devices). Call before building a model for a reproducible init."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def rng_state(device: torch.device) -> dict:
    """Every RNG's state as tensors and plain types (a ``weights_only`` load reads them back)."""
    name, key, pos, has_gauss, gauss = np.random.get_state()
    st = {"python": random.getstate(), "numpy": (name, torch.from_numpy(key.astype(np.int64)), int(pos), int(has_gauss), float(gauss)),
          "torch": torch.get_rng_state()}
    if device.type == "cuda":
        st["cuda"] = torch.cuda.get_rng_state(device)
    return st


def set_rng_state(st: dict, device: torch.device) -> None:
    random.setstate(tuple(st["python"][:1]) + (tuple(st["python"][1]),) + tuple(st["python"][2:]))
    name, key, *rest = st["numpy"]
    key = key.numpy() if torch.is_tensor(key) else np.asarray(key)
    np.random.set_state((name, key.astype(np.uint32), *rest))
    torch.set_rng_state(st["torch"])
    if device.type == "cuda" and "cuda" in st:
        torch.cuda.set_rng_state(st["cuda"], device)


def to_device(batch: Any, device: torch.device) -> Any:
    """Move the tensors of a (nested) batch to `device`; other values pass through."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, dict):
        return {k: to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(to_device(v, device) for v in batch)
    return batch


def _iterate(loader):
    """Iterate a DataLoader; a NarspeechError raised in a worker comes back as the original one line
    (the DataLoader re-raises it with the worker's traceback folded into the message).
    Close it when the loop ends, however it ends (``contextlib.closing`` or ``close()`` in a ``finally``):
    that shuts the workers down, which a traceback kept alive (a caller, pytest) would otherwise keep alive."""
    it = iter(loader)
    try:
        yield from it
    except NarspeechError as e:
        msg = str(e)
        if msg.startswith("Caught NarspeechError"):
            tail = [l for l in msg.splitlines() if l.strip()][-1]
            raise NarspeechError(tail.split("NarspeechError: ", 1)[-1]) from None
        raise
    finally:
        shutdown = getattr(it, "_shutdown_workers", None)  # multi-process iterators only
        if shutdown is not None:
            shutdown()


def _batch_size(batch: Any) -> int:
    """Items in a collated batch: the first dimension of its first tensor (1 if none)."""
    values = batch.values() if isinstance(batch, dict) else batch if isinstance(batch, (list, tuple)) else [batch]
    for v in values:
        if isinstance(v, torch.Tensor) and v.dim() > 0:
            return int(v.shape[0])
    return 1


def _check_dataset(ds, name: str) -> None:
    lengths = getattr(ds, "lengths", None)
    if lengths is None:
        raise NarspeechError(f"{name} has no `lengths` attribute (frames or tokens per item, for length bucketing)")
    if len(lengths) != len(ds):
        raise NarspeechError(f"{name}: len(lengths)={len(lengths)} but the dataset has {len(ds)} items")


def _item_names(ds, idx: list[int], k: int = 3) -> str:
    keys = getattr(ds, "keys", None) or getattr(ds, "utts", None)
    try:
        names = [str(keys[i]) for i in idx[:k]] if keys is not None else [f"#{i}" for i in idx[:k]]
    except Exception:
        names = [f"#{i}" for i in idx[:k]]
    return ", ".join(names) + (", …" if len(idx) > k else "")


class _TqdmHandler(logging.Handler):
    def emit(self, record):
        tqdm.write(self.format(record), file=sys.stderr)


def fit(
    cfg: dict,
    model: torch.nn.Module,
    train_set,
    valid_set,
    collate_fn: Callable[[list], dict],
    exp_dir: str | Path,
    resume: bool = False,
    hooks: Any = None,
) -> Path:
    """Train `model` on `train_set`; return the path of the best checkpoint (``best.pt``, else ``last.pt``).

    ``resume=True`` continues from ``exp_dir/last.pt`` when it exists (exactly: weights, optimizer,
    schedule, RNG and the position inside the epoch); without it an exp dir that already holds a
    run is an error, so nothing is overwritten by accident.
    """
    cfg = resolve_config(cfg)
    _check_dataset(train_set, "train_set")
    if valid_set is not None:
        _check_dataset(valid_set, "valid_set")
    info, device = D.setup(str(cfg["train"]["device"]))
    trainer = None
    try:
        with exp_lock(exp_dir):  # one training per exp dir at a time
            trainer = _Trainer(cfg, model, train_set, valid_set, collate_fn, Path(exp_dir), resume, hooks, info, device)
            return trainer.run()
    finally:
        if trainer is not None:
            trainer.close()
        D.teardown(info)


WORKER_SIGTERM_GRACE_S = 60


def _workers_leave_sigterm_to_the_trainer(_worker_id: int) -> None:
    """A group-wide SIGTERM (``timeout``, Slurm's scancel, a time box) must reach the trainer's handler,
    which stops at the next update with last.pt saved and shuts the workers down; workers that died of
    it first made the trainer fail on "DataLoader worker ... killed" instead. So a worker outlives a
    SIGTERM by a grace period only (then SIGALRM ends it): ignored outright, a worker left behind
    hung its parent's exit, where multiprocessing terminates and joins its daemonic children."""
    die_with_parent()  # a SIGKILLed trainer (OOM killer) leaves no workers holding its files and lock
    # a second SIGTERM keeps the first one's deadline (alarm(0) returns the seconds left)
    signal.signal(signal.SIGTERM, lambda *_: signal.alarm(signal.alarm(0) or WORKER_SIGTERM_GRACE_S))


class _Trainer:
    def __init__(self, cfg, model, train_set, valid_set, collate_fn, exp_dir: Path, resume, hooks, info: D.DistInfo, device):
        self.cfg, self.tc = cfg, cfg["train"]
        self.train_set, self.valid_set, self.collate_fn = train_set, valid_set, collate_fn
        self.exp_dir, self.hooks, self.info, self.device = exp_dir, hooks, info, device
        self.writer = None
        self._handlers: list[logging.Handler] = []
        self._catch_sigterm()

        try:
            self._init(model, resume)
        except BaseException:
            self.close()
            raise

    def _init(self, model, resume) -> None:
        tc, info, device, exp_dir = self.tc, self.info, self.device, self.exp_dir
        last = exp_dir / LAST
        if last.is_file() and not resume:
            raise NarspeechError("experiment directory already holds a training run (last.pt): resume it or choose a new exp dir", path=exp_dir)
        if info.is_main:
            exp_dir.mkdir(parents=True, exist_ok=True)
            self._setup_logging()
            save_config(self.cfg, exp_dir / "config.yaml")
        D.barrier(info)

        amp = str(tc["amp"]).lower() if tc["amp"] not in (True, False) else ("bf16" if tc["amp"] else "fp32")
        if amp not in ("bf16", "fp16", "fp32", "none"):
            raise NarspeechError(f"train.amp must be bf16, fp16 or fp32, got {tc['amp']!r}")
        self.amp = amp if device.type == "cuda" and amp != "none" else "fp32"
        self.scaler = torch.amp.GradScaler("cuda") if self.amp == "fp16" else None

        self.seed = int(tc["seed"])
        seed_everything(self.seed + info.rank)
        self.model = model.to(device)
        self.ddp = self.model
        if info.enabled:
            from torch.nn.parallel import DistributedDataParallel as DDP

            # phased models leave some parameters out of a phase's graph: DDP must look for unused ones
            self.ddp = DDP(self.model, device_ids=[device.index] if device.type == "cuda" else None,
                           find_unused_parameters=bool(tc.get("ddp_find_unused", False)) or hasattr(self.model, "optimizer_groups"))
        decay = float(tc.get("ema_decay") or 0.0)
        if not 0.0 <= decay < 1.0:
            raise NarspeechError(f"train.ema_decay must be in [0, 1), got {decay}")
        self.ema = WeightEMA(self.model, decay) if decay > 0 else None
        self.phases = self._build_phases()
        self.phased = self.phases[0].name is not None
        self.optimizer, self.scheduler = self.phases[0].optimizer, self.phases[0].scheduler

        self.accum = int(tc["accum_grad"])
        self.sampler = BucketBatchSampler(
            self.train_set.lengths, int(tc["batch_bins"]), int(tc["max_batch_size"]),
            shuffle=True, seed=self.seed, rank=info.rank, world_size=info.world_size,
            step_batches=info.world_size * self.accum,
        )
        self.steps_per_epoch = math.ceil(len(self.sampler) / self.accum)

        self.step, self.epoch, self.pos = 0, 0, 0  # pos: this rank's batches consumed in the epoch
        self.bad_total, self.bad_row = 0, 0
        self.last_metrics: dict[str, float] = {}
        self.last_valid_step = -1
        if resume and last.is_file():
            self._load_last(last)
        elif resume:
            self.log(f"resume: no {last} yet; starting a fresh run")

        if info.is_main:
            n_par = sum(p.numel() for p in self.model.parameters())
            self.log(
                f"start: step {self.step} epoch {self.epoch} (batch {self.pos}); device {device} x{info.world_size}, torch {torch.__version__}, "
                f"amp {self.amp}, seed {self.seed}; {n_par / 1e6:.2f}M parameters; {len(self.train_set)} train items in "
                f"{len(self.sampler.batches)} batches ({self.steps_per_epoch} updates/epoch/rank); "
                f"{self.sampler.oversized} items longer than batch_bins"
            )
            if self.amp == "fp32" and device.type != "cuda" and str(tc["amp"]).lower() not in ("fp32", "false", "none"):
                self.log("amp: mixed precision is CUDA-only; running fp32 on CPU")
            if tc.get("tensorboard", True):
                from torch.utils.tensorboard import SummaryWriter

                self.writer = SummaryWriter(str(exp_dir / "tensorboard"), purge_step=self.step or None)

    def _build_phases(self) -> list[_Phase]:
        """One phase (the whole model) or one per ``model.optimizer_groups()`` entry."""
        tc = self.tc
        clip = float(tc["grad_clip"]) if tc["grad_clip"] else 0.0
        groups_fn = getattr(self.model, "optimizer_groups", None)
        if groups_fn is None:
            params = [p for p in self.model.parameters() if p.requires_grad]
            opt = build_optimizer(params, tc.get("optim", {}))
            return [_Phase(None, params, opt, build_scheduler(opt, tc.get("scheduler", {})), clip)]
        groups = groups_fn()
        extra = sorted(set(tc.get("groups") or {}) - set(groups))
        if not groups or extra:
            raise NarspeechError(f"train.groups names unknown optimizer group(s) {extra} (the model has {list(groups)})" if extra
                                 else "model.optimizer_groups() returned no group")
        seen: set[int] = set()
        phases = []
        for name, params in groups.items():
            params = [p for p in params if p.requires_grad]
            if any(id(p) in seen for p in params):
                raise NarspeechError(f"optimizer group {name!r} shares parameters with an earlier group")
            seen.update(id(p) for p in params)
            g = (tc.get("groups") or {}).get(name) or {}
            opt = build_optimizer(params, merge(tc.get("optim", {}), g.get("optim") or {}))
            sched = build_scheduler(opt, merge(tc.get("scheduler", {}), g.get("scheduler") or {}))
            c = g.get("grad_clip", clip)
            phases.append(_Phase(name, params, opt, sched, float(c) if c else 0.0))
        return phases

    # ---------------------------------------------------------------- logging
    def _setup_logging(self) -> None:
        log.setLevel(logging.INFO)
        log.propagate = False
        fh = logging.FileHandler(self.exp_dir / "train.log", encoding="utf-8")
        fh.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%Y-%m-%d %H:%M:%S"))
        th = _TqdmHandler()
        th.setFormatter(logging.Formatter("[train] %(message)s"))
        for h in (fh, th) if self.tc.get("log_to_stderr", True) else (fh,):
            log.addHandler(h)
            self._handlers.append(h)

    def log(self, msg: str) -> None:
        if self.info.is_main:
            log.info(msg)

    def _catch_sigterm(self) -> None:
        """SIGTERM (kill, torchrun, a scheduler's pre-emption) stops at the next update with last.pt saved."""
        self._stop_signal = None
        self._old_sigterm = None
        if threading.current_thread() is not threading.main_thread():
            return

        def handler(signum, frame):
            self._stop_signal = signum

        self._old_sigterm = signal.signal(signal.SIGTERM, handler)

    def _stop(self) -> None:
        self.save_last()
        raise NarspeechError(f"stopped by SIGTERM after step {self.step}; last.pt is saved: rerun with resume to continue", path=self.exp_dir)

    def close(self) -> None:
        if getattr(self, "_old_sigterm", None) is not None:
            signal.signal(signal.SIGTERM, self._old_sigterm)
            self._old_sigterm = None
        if getattr(self, "writer", None) is not None:
            self.writer.close()
        for h in self._handlers:
            log.removeHandler(h)
            h.close()

    # ------------------------------------------------------------ checkpoints
    def _weights(self) -> dict:
        """The weights inference should use: the moving average when there is one."""
        return self.ema.shadow if self.ema is not None else self.model.state_dict()

    def _full_state(self, rngs: list[dict]) -> dict:
        ema = {} if self.ema is None else {"train_model": self.model.state_dict(), "ema_updates": self.ema.updates}
        return {
            "format": "narspeech-train-1",
            "model": self._weights(),  # what every loader reads; with EMA the optimizer's own are train_model
            **ema,
            "optimizer": {ph.name: ph.optimizer.state_dict() for ph in self.phases} if self.phased else self.optimizer.state_dict(),
            "scheduler": {ph.name: ph.scheduler.state_dict() for ph in self.phases} if self.phased else self.scheduler.state_dict(),
            "phases": [ph.name for ph in self.phases] if self.phased else None,
            "scaler": self.scaler.state_dict() if self.scaler is not None else None,
            "step": self.step,
            "epoch": self.epoch,
            "global_batches_in_epoch": self.pos * self.info.world_size,
            "world_size": self.info.world_size,
            "bad_steps": {"total": self.bad_total, "in_row": self.bad_row},
            "rng": rngs,
            "metrics": self.last_metrics,
            "last_valid_step": self.last_valid_step,
            "config": self.cfg,
        }

    def save_last(self) -> None:
        """Write last.pt (all ranks call this: the RNG states of every rank are gathered)."""
        rngs = D.all_gather_object(rng_state(self.device), self.info)
        if self.info.is_main:
            save_checkpoint(self._full_state(rngs), self.exp_dir / LAST)

    def _load_last(self, path: Path) -> None:
        ck = load_checkpoint(path)  # a truncated or foreign file is one clear error
        self.model.load_state_dict(ck.get("train_model", ck["model"]))
        if self.ema is not None:
            if "train_model" in ck:
                self.ema.restore(ck["model"], ck.get("ema_updates", 0))
            else:
                self.log("resume: last.pt has no moving average; starting one from its weights")
        if self.phased:
            names = [ph.name for ph in self.phases]
            if ck.get("phases") != names:
                raise NarspeechError(f"last.pt has optimizer groups {ck.get('phases')}, the model has {names}", path=path)
            for ph in self.phases:
                ph.optimizer.load_state_dict(ck["optimizer"][ph.name])
                ph.scheduler.load_state_dict(ck["scheduler"][ph.name])
        else:
            if ck.get("phases"):
                raise NarspeechError(f"last.pt was trained with optimizer groups {ck['phases']}, this model has one optimizer", path=path)
            self.optimizer.load_state_dict(ck["optimizer"])
            self.scheduler.load_state_dict(ck["scheduler"])
        if self.scaler is not None and ck.get("scaler"):
            self.scaler.load_state_dict(ck["scaler"])
        self.step, self.epoch = int(ck["step"]), int(ck["epoch"])
        self.pos = int(ck["global_batches_in_epoch"]) // self.info.world_size
        self.bad_total, self.bad_row = ck["bad_steps"]["total"], ck["bad_steps"]["in_row"]
        self.last_metrics = ck.get("metrics", {})
        self.last_valid_step = ck.get("last_valid_step", -1)
        rngs = ck.get("rng") or []
        if ck.get("world_size") == self.info.world_size and len(rngs) == self.info.world_size:
            set_rng_state(rngs[self.info.rank], self.device)
        else:
            seed_everything(self.seed + self.info.rank + self.step)
            self.log(f"resume: world size changed ({ck.get('world_size')} -> {self.info.world_size}); RNG reseeded")
        old = ck.get("config", {}).get("model")
        if old is not None and old != self.cfg.get("model"):
            self.log("resume: warning: the model config differs from the checkpoint's")
        self.log(f"resumed from {path} at step {self.step}, epoch {self.epoch}, batch {self.pos}")

    def _save_step_checkpoint(self, metrics: dict[str, float]) -> None:
        """Rank 0: weights at this validation; keep the best `keep_best` (+ the latest); refresh best.pt."""
        ckdir = self.exp_dir / CKPT_DIR
        name = f"step{self.step:08d}.pt"
        state = {"model": self._weights(), "config": self.cfg, "step": self.step, "epoch": self.epoch, "metrics": metrics}
        save_checkpoint(state, ckdir / name)
        entries = [e for e in read_index(self.exp_dir) if e["file"] != name]
        entries.append({"file": name, "step": self.step, "epoch": self.epoch, "metrics": metrics})
        metric, mode = self.tc["best_metric"], self.tc["best_mode"]
        ranked = rank_entries(entries, metric, mode)
        if metric not in metrics:
            self.log(f"warning: best_metric {metric!r} not among validation stats {sorted(metrics)}; keeping the latest")
        keep = {e["file"] for e in ranked[: max(int(self.tc["keep_best"]), 1)]} | {name}
        for e in entries:
            if e["file"] not in keep:
                (ckdir / e["file"]).unlink(missing_ok=True)
        entries = [e for e in entries if e["file"] in keep]
        write_index(self.exp_dir, entries)
        best = ranked[0]["file"] if ranked else name
        if best == name:
            save_checkpoint(state, self.exp_dir / BEST)
            self.log(f"step {self.step}: new best {metric} {metrics.get(metric, float('nan')):.5g}")

    # -------------------------------------------------------------- loaders
    def _loader(self, dataset, sampler) -> torch.utils.data.DataLoader:
        nw = int(self.tc["num_workers"])
        return torch.utils.data.DataLoader(
            dataset,
            batch_sampler=sampler,
            collate_fn=self.collate_fn,
            num_workers=nw,
            pin_memory=self.device.type == "cuda",
            # own generator: making an iterator must not draw from the global RNG (exact resume)
            generator=torch.Generator().manual_seed(self.seed * 100003 + sampler.epoch),
            persistent_workers=False,
            prefetch_factor=4 if nw > 0 else None,
            worker_init_fn=_workers_leave_sigterm_to_the_trainer if nw > 0 else None,
        )

    def _autocast(self):
        if self.amp == "bf16":
            return bf16_autocast(self.device)
        if self.amp == "fp16":
            return torch.autocast("cuda", dtype=torch.float16)
        return contextlib.nullcontext()

    # ----------------------------------------------------------- validation
    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        tc = self.tc
        sampler = BucketBatchSampler(
            self.valid_set.lengths, int(tc["batch_bins"]), int(tc["max_batch_size"]), shuffle=False,
            rank=self.info.rank, world_size=self.info.world_size, pad_to_world=False,
        )
        batches = sampler.epoch_batches()
        self.model.eval()
        sums: dict[str, float] = {}
        count = 0
        swap = self.ema.applied(self.model) if self.ema is not None else contextlib.nullcontext()
        try:
            with swap, contextlib.closing(_iterate(self._loader(self.valid_set, sampler))) as loader:
                for i, batch in enumerate(loader):
                    batch = to_device(batch, self.device)
                    with self._autocast():
                        loss, stats = self.model(batch)
                    n = len(batches[i])
                    for k, v in {"loss": loss, **stats}.items():
                        sums[k] = sums.get(k, 0.0) + float(v) * n
                    count += n
                    if i == 0 and self.info.is_main and self.hooks is not None and hasattr(self.hooks, "on_valid"):
                        try:  # a failing plot must not end a long run
                            self.hooks.on_valid(self.model, batch, self.writer, self.step)
                        except Exception as e:  # noqa: BLE001
                            self.log(f"warning: hooks.on_valid failed at step {self.step}: {e!r}")
        finally:
            self.model.train()
        total: dict[str, float] = {}
        n_all = 0
        for s, c in D.all_gather_object((sums, count), self.info):
            n_all += c
            for k, v in s.items():
                total[k] = total.get(k, 0.0) + v
        return {k: v / max(n_all, 1) for k, v in total.items()}

    def _validate_and_save(self) -> None:
        if self.valid_set is not None:
            t0 = time.time()
            metrics = self.validate()
            self.last_metrics, self.last_valid_step = metrics, self.step
            if self.info.is_main:
                self.log(f"valid step {self.step} epoch {self._epoch_progress():.2f}: " + " ".join(f"{k} {v:.5g}" for k, v in metrics.items()) + f" ({time.time() - t0:.1f}s)")
                if self.writer is not None:
                    for k, v in metrics.items():
                        self.writer.add_scalar(f"valid/{k}", v, self.step)
                self._save_step_checkpoint(metrics)
        self.last_valid_step = self.step
        self.save_last()

    # ------------------------------------------------------------- training
    def _bad_step(self, idx: list[int], why: str) -> None:
        self.bad_total += 1
        self.bad_row += 1
        self.log(f"step {self.step + 1}: skipped, {why} (batch: {_item_names(self.train_set, idx)}); {self.bad_row} in a row, {self.bad_total} in total")
        k, n = int(self.tc["max_bad_steps_in_row"]), int(self.tc["max_bad_steps"])
        if (k > 0 and self.bad_row >= k) or (n > 0 and self.bad_total >= n):
            raise NarspeechError(
                f"training stopped at step {self.step}: {self.bad_row} updates in a row / {self.bad_total} in total had a "
                f"non-finite loss or gradient (limits train.max_bad_steps_in_row={k}, train.max_bad_steps={n}); "
                "lower train.optim.lr, set train.grad_clip, check the data, or try train.amp=fp32",
                path=self.exp_dir,
            )

    def _oom(self, idx: list[int]) -> NarspeechError:
        lens = [self.train_set.lengths[i] for i in idx]
        return NarspeechError(
            f"CUDA out of memory on a batch of {len(idx)} items, max length {max(lens)} (padded size {len(idx) * max(lens)}; "
            f"train.batch_bins={self.tc['batch_bins']}, train.max_batch_size={self.tc['max_batch_size']}): lower batch_bins "
            "(and raise accum_grad to keep the effective batch)",
            path=self.exp_dir,
        )

    def _epoch_progress(self) -> float:
        """Epochs done, with the fraction of the current one (for logs)."""
        return self.epoch + self.pos / max(len(self.sampler), 1)

    def _done(self) -> bool:
        ms, me = int(self.tc["max_steps"]), int(self.tc["max_epochs"])
        return (ms > 0 and self.step >= ms) or (me > 0 and self.epoch >= me)

    @staticmethod
    def _accumulate_stats(run_sums: dict, stats: dict, n: int, prefix: str = "") -> None:
        for k, v in stats.items():
            v = v.detach().float() if isinstance(v, torch.Tensor) else torch.tensor(float(v))
            run_sums[prefix + k] = run_sums.get(prefix + k, 0.0) + v * n

    def _update(self, ph: _Phase, bad_loss: torch.Tensor) -> tuple[torch.Tensor, bool, bool, bool]:
        """Clip and step one phase's optimizer after its backward passes; (grad norm, bad loss, bad grad, stop).

        All ranks agree on skipping (non-finite loss anywhere, non-finite gradient) and on stopping (SIGTERM).
        A skipped update leaves the weights, optimizer and schedule untouched."""
        if self.scaler is not None:
            self.scaler.unscale_(ph.optimizer)
        gnorm = torch.nn.utils.clip_grad_norm_(ph.params, ph.clip if ph.clip > 0 else float("inf"))
        stop = torch.full((), float(self._stop_signal is not None), device=self.device)
        local = torch.stack([bad_loss, stop])
        flags = torch.cat([D.all_reduce_sum(local, self.info), (~torch.isfinite(gnorm)).float()[None]])
        bad_l, stop_now, bad_g = (bool(x) for x in flags.tolist())
        if bad_l or (bad_g and self.scaler is None):
            ph.optimizer.zero_grad(set_to_none=True)
            if self.scaler is not None:
                self.scaler.update()
            return gnorm, bad_l, bad_g, stop_now
        if self.scaler is not None:
            self.scaler.step(ph.optimizer)
            if not self.phased:
                self.scaler.update()
        else:
            ph.optimizer.step()
        ph.scheduler.step()
        ph.optimizer.zero_grad(set_to_none=True)
        return gnorm, bad_l, bad_g, stop_now

    def _phased_update(self, batches: list[dict], run_sums: dict) -> tuple[torch.Tensor, bool, bool, bool]:
        """One update of a multi-optimizer model: for each phase, forward + backward over all micro-batches
        of the update (gradients synchronised on the last), then that phase's optimizer step. A bad phase
        ends the update there (the phases before it have stepped)."""
        n_micro = len(batches)
        gnorm = torch.zeros(())
        stop_now = False
        for ph in self.phases:
            for p in self.model.parameters():  # an earlier phase's backward may have reached these
                p.grad = None
            bad_loss = torch.zeros((), device=self.device)
            for k, batch in enumerate(batches):
                last = k == n_micro - 1
                sync = contextlib.nullcontext() if (last or not self.info.enabled) else self.ddp.no_sync()
                with sync:
                    with self._autocast():
                        loss, stats = self.ddp(batch, phase=ph.name)
                    bad_loss = torch.maximum(bad_loss, (~torch.isfinite(loss.detach().float())).float())
                    scaled = loss / n_micro
                    (self.scaler.scale(scaled) if self.scaler is not None else scaled).backward()
                n = _batch_size(batch)
                # logged: each phase's loss as loss_<phase>, `loss` = the last phase's, and the stats of every phase
                last_phase = {"loss": loss} if ph is self.phases[-1] else {}
                self._accumulate_stats(run_sums, {**last_phase, f"loss_{ph.name}": loss, **stats}, n)
            gnorm, bad_l, bad_g, stop = self._update(ph, bad_loss)
            stop_now = stop_now or stop
            if bad_l or (bad_g and self.scaler is None):
                for p in self.model.parameters():
                    p.grad = None
                return gnorm, bad_l, bad_g, stop_now
        if self.scaler is not None:
            self.scaler.update()
        return gnorm, False, False, stop_now

    def run(self) -> Path:
        tc = self.tc
        log_every, valid_every, save_every = int(tc["log_interval"]), int(tc["valid_interval"]), int(tc["save_interval"])
        caps = [int(tc["max_steps"]), int(tc["max_epochs"]) * self.steps_per_epoch]
        total = min(c for c in caps if c > 0)
        bar = progress(total=total, desc="train", unit="step", initial=min(self.step, total)) if self.info.is_main else None
        run_sums: dict[str, torch.Tensor] = {}
        run_n, t_log, steps_log = 0, time.time(), 0
        self.model.train()
        self.optimizer.zero_grad(set_to_none=True)
        loader = None
        try:
            while not self._done():
                self.sampler.set_epoch(self.epoch, start=self.pos)
                batches = self.sampler.epoch_batches()
                n_rank = len(batches)
                group: list[list[int]] = []
                pending: list[dict] = []  # phased models: the device batches of the current update
                bad_loss = torch.zeros((), device=self.device)
                loader = _iterate(self._loader(self.train_set, self.sampler))
                for batch in loader:
                    idx = batches[self.pos]
                    group_start = self.pos - len(group)
                    group_size = min(self.accum, n_rank - group_start)
                    self.pos += 1
                    group.append(idx)
                    last_micro = len(group) == group_size
                    if self.phased:  # the phases run over the whole group, at its last micro-batch
                        pending.append(to_device(batch, self.device))
                        if not last_micro:
                            continue
                        try:
                            gnorm, bad_l, bad_g, stop_now = self._phased_update(pending, run_sums)
                        except torch.cuda.OutOfMemoryError:
                            raise self._oom(idx) from None
                        run_n += sum(len(g) for g in group)
                        pending = []
                    else:
                        sync = contextlib.nullcontext() if (last_micro or not self.info.enabled) else self.ddp.no_sync()
                        try:
                            with sync:
                                batch = to_device(batch, self.device)
                                with self._autocast():
                                    loss, stats = self.ddp(batch)
                                bad_loss = torch.maximum(bad_loss, (~torch.isfinite(loss.detach().float())).float())
                                scaled = loss / group_size
                                (self.scaler.scale(scaled) if self.scaler is not None else scaled).backward()
                        except torch.cuda.OutOfMemoryError:
                            raise self._oom(idx) from None
                        n = len(idx)
                        self._accumulate_stats(run_sums, {"loss": loss, **stats}, n)
                        run_n += n
                        if not last_micro:
                            continue
                        # ---- one optimizer update
                        gnorm, bad_l, bad_g, stop_now = self._update(self.phases[0], bad_loss)
                    if bad_l or (bad_g and self.scaler is None):
                        self._bad_step([i for g in group for i in g], "non-finite loss" if bad_l else "non-finite gradient")
                        group, bad_loss = [], torch.zeros((), device=self.device)
                        run_sums, run_n = {}, 0
                        continue
                    self.step += 1
                    self.bad_row = 0
                    if self.ema is not None:
                        self.ema.update(self.model)
                    group, bad_loss = [], torch.zeros((), device=self.device)
                    steps_log += 1
                    if bar is not None:
                        bar.update(1)

                    if self.step % log_every == 0 and not self.info.is_main:
                        run_sums, run_n = {}, 0
                    if self.step % log_every == 0 and self.info.is_main and run_n:
                        vals = {k: float(v) / run_n for k, v in run_sums.items()}
                        dt = time.time() - t_log
                        lr = self.phases[-1].optimizer.param_groups[0]["lr"]
                        self.log(
                            f"step {self.step} epoch {self._epoch_progress():.2f}: " + " ".join(f"{k} {v:.5g}" for k, v in vals.items())
                            + f" lr {lr:.3g} grad_norm {float(gnorm):.3g} {steps_log / max(dt, 1e-9):.2f} steps/s"
                        )
                        if bar is not None:
                            bar.set_postfix(loss=f"{vals['loss']:.4g}", refresh=False)
                        if self.writer is not None:
                            for k, v in vals.items():
                                self.writer.add_scalar(f"train/{k}", v, self.step)
                            self.writer.add_scalar("train/lr", lr, self.step)
                            self.writer.add_scalar("train/grad_norm", float(gnorm), self.step)
                            self.writer.add_scalar("train/steps_per_sec", steps_log / max(dt, 1e-9), self.step)
                        run_sums, run_n, t_log, steps_log = {}, 0, time.time(), 0

                    if valid_every > 0 and self.step % valid_every == 0:
                        self._validate_and_save()
                    elif save_every > 0 and self.step % save_every == 0:
                        self.save_last()
                    if self.hooks is not None and hasattr(self.hooks, "on_step_end"):
                        self.hooks.on_step_end(self.step, self.model)
                    if stop_now:
                        self._stop()
                    if self._done():
                        break
                if self.pos >= n_rank:  # epoch finished (also when max_steps fell on its last batch)
                    self.epoch += 1
                    self.pos = 0
                    if valid_every <= 0:
                        self._validate_and_save()
                    else:
                        self.save_last()
            if self.last_valid_step != self.step:
                self._validate_and_save()
        finally:
            if loader is not None:
                loader.close()
            if bar is not None:
                bar.close()
        if self.info.is_main:
            self.log(f"done: step {self.step}, epoch {self._epoch_progress():.2f}, {self.bad_total} skipped updates")
        D.barrier(self.info)
        best = self.exp_dir / BEST
        return best if best.is_file() else self.exp_dir / LAST
