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
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable

import torch
from tqdm import tqdm

from narspeech.config import save_config
from narspeech.device import autocast as bf16_autocast
from narspeech.errors import NarspeechError
from narspeech.progress import progress
from narspeech.train import distributed as D
from narspeech.train.batches import batch_items, check_dataset, item_names, iterate_loader, make_loader, to_device
from narspeech.train.checkpoint import BEST, LAST, exp_lock, save_checkpoint
from narspeech.train.defaults import resolve_config
from narspeech.train.ema import WeightEMA
from narspeech.train.phases import Phase, build_phases, step_phase
from narspeech.train.rng import rng_state, seed_everything
from narspeech.train.sampler import BucketBatchSampler
from narspeech.train.state import restore_trainer, save_step_checkpoint, trainer_state

log = logging.getLogger("narspeech.train")


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
    check_dataset(train_set, "train_set")
    if valid_set is not None:
        check_dataset(valid_set, "valid_set")
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
        self.phases = build_phases(self.model, self.tc)
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
            restore_trainer(self, last)
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
    def weights(self) -> dict:
        """The weights inference should use: the moving average when there is one."""
        return self.ema.shadow if self.ema is not None else self.model.state_dict()

    def save_last(self) -> None:
        """Write last.pt (all ranks call this: the RNG states of every rank are gathered)."""
        rngs = D.all_gather_object(rng_state(self.device), self.info)
        if self.info.is_main:
            save_checkpoint(trainer_state(self, rngs), self.exp_dir / LAST)

    # -------------------------------------------------------------- loaders
    def _loader(self, dataset, sampler) -> torch.utils.data.DataLoader:
        return make_loader(dataset, sampler, self.collate_fn, int(self.tc["num_workers"]), self.device,
                           seed=self.seed * 100003 + sampler.epoch)

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
            with swap, contextlib.closing(iterate_loader(self._loader(self.valid_set, sampler))) as loader:
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
                save_step_checkpoint(self, metrics)
        self.last_valid_step = self.step
        self.save_last()

    # ------------------------------------------------------------- training
    def _bad_step(self, idx: list[int], why: str) -> None:
        self.bad_total += 1
        self.bad_row += 1
        self.log(f"step {self.step + 1}: skipped, {why} (batch: {item_names(self.train_set, idx)}); {self.bad_row} in a row, {self.bad_total} in total")
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

    def _update(self, ph: Phase, bad_loss: torch.Tensor) -> tuple[torch.Tensor, bool, bool, bool]:
        return step_phase(ph, bad_loss, scaler=self.scaler, stop=self._stop_signal is not None, device=self.device,
                          info=self.info, phased=self.phased)

    @staticmethod
    def _accumulate_stats(run_sums: dict, stats: dict, n: int, prefix: str = "") -> None:
        for k, v in stats.items():
            v = v.detach().float() if isinstance(v, torch.Tensor) else torch.tensor(float(v))
            run_sums[prefix + k] = run_sums.get(prefix + k, 0.0) + v * n

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
                n = batch_items(batch)
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
                loader = iterate_loader(self._loader(self.train_set, self.sampler))
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
