"""A trainer's checkpoints: the full state in last.pt and putting a trainer back where it stopped (exact resume,
also mid-epoch); the weights at each validation, the best ones kept."""
from __future__ import annotations

from pathlib import Path

from narspeech.errors import NarspeechError
from narspeech.train.checkpoint import BEST, CKPT_DIR, load_checkpoint, rank_entries, read_index, save_checkpoint, write_index
from narspeech.train.rng import seed_everything, set_rng_state


def trainer_state(t, rngs: list[dict]) -> dict:
    """Everything last.pt holds to resume `t` (a trainer) exactly: weights, optimizers, schedules, counters, RNGs."""
    ema = {} if t.ema is None else {"train_model": t.model.state_dict(), "ema_updates": t.ema.updates}
    return {
        "format": "narspeech-train-1",
        "model": t.weights(),  # what every loader reads; with EMA the optimizer's own are train_model
        **ema,
        "optimizer": {ph.name: ph.optimizer.state_dict() for ph in t.phases} if t.phased else t.optimizer.state_dict(),
        "scheduler": {ph.name: ph.scheduler.state_dict() for ph in t.phases} if t.phased else t.scheduler.state_dict(),
        "phases": [ph.name for ph in t.phases] if t.phased else None,
        "scaler": t.scaler.state_dict() if t.scaler is not None else None,
        "step": t.step,
        "epoch": t.epoch,
        "global_batches_in_epoch": t.pos * t.info.world_size,
        "world_size": t.info.world_size,
        "bad_steps": {"total": t.bad_total, "in_row": t.bad_row},
        "rng": rngs,
        "metrics": t.last_metrics,
        "last_valid_step": t.last_valid_step,
        "config": t.cfg,
    }


def restore_trainer(t, path: Path) -> None:
    """Put `t` (a trainer) back where its last.pt left off; a world-size change reseeds the RNGs."""
    ck = load_checkpoint(path)  # a truncated or foreign file is one clear error
    t.model.load_state_dict(ck.get("train_model", ck["model"]))
    if t.ema is not None:
        if "train_model" in ck:
            t.ema.restore(ck["model"], ck.get("ema_updates", 0))
        else:
            t.log("resume: last.pt has no moving average; starting one from its weights")
    if t.phased:
        names = [ph.name for ph in t.phases]
        if ck.get("phases") != names:
            raise NarspeechError(f"last.pt has optimizer groups {ck.get('phases')}, the model has {names}", path=path)
        for ph in t.phases:
            ph.optimizer.load_state_dict(ck["optimizer"][ph.name])
            ph.scheduler.load_state_dict(ck["scheduler"][ph.name])
    else:
        if ck.get("phases"):
            raise NarspeechError(f"last.pt was trained with optimizer groups {ck['phases']}, this model has one optimizer", path=path)
        t.optimizer.load_state_dict(ck["optimizer"])
        t.scheduler.load_state_dict(ck["scheduler"])
    if t.scaler is not None and ck.get("scaler"):
        t.scaler.load_state_dict(ck["scaler"])
    t.step, t.epoch = int(ck["step"]), int(ck["epoch"])
    t.pos = int(ck["global_batches_in_epoch"]) // t.info.world_size
    t.bad_total, t.bad_row = ck["bad_steps"]["total"], ck["bad_steps"]["in_row"]
    t.last_metrics = ck.get("metrics", {})
    t.last_valid_step = ck.get("last_valid_step", -1)
    rngs = ck.get("rng") or []
    if ck.get("world_size") == t.info.world_size and len(rngs) == t.info.world_size:
        set_rng_state(rngs[t.info.rank], t.device)
    else:
        seed_everything(t.seed + t.info.rank + t.step)
        t.log(f"resume: world size changed ({ck.get('world_size')} -> {t.info.world_size}); RNG reseeded")
    old = ck.get("config", {}).get("model")
    if old is not None and old != t.cfg.get("model"):
        t.log("resume: warning: the model config differs from the checkpoint's")
    t.log(f"resumed from {path} at step {t.step}, epoch {t.epoch}, batch {t.pos}")


def save_step_checkpoint(t, metrics: dict[str, float]) -> None:
    """Rank 0: weights at this validation; keep the best `keep_best` (+ the latest); refresh best.pt."""
    ckdir = t.exp_dir / CKPT_DIR
    name = f"step{t.step:08d}.pt"
    state = {"model": t.weights(), "config": t.cfg, "step": t.step, "epoch": t.epoch, "metrics": metrics}
    save_checkpoint(state, ckdir / name)
    entries = [e for e in read_index(t.exp_dir) if e["file"] != name]
    entries.append({"file": name, "step": t.step, "epoch": t.epoch, "metrics": metrics})
    metric, mode = t.tc["best_metric"], t.tc["best_mode"]
    ranked = rank_entries(entries, metric, mode)
    if metric not in metrics:
        t.log(f"warning: best_metric {metric!r} not among validation stats {sorted(metrics)}; keeping the latest")
    keep = {e["file"] for e in ranked[: max(int(t.tc["keep_best"]), 1)]} | {name}
    for e in entries:
        if e["file"] not in keep:
            (ckdir / e["file"]).unlink(missing_ok=True)
    entries = [e for e in entries if e["file"] in keep]
    write_index(t.exp_dir, entries)
    best = ranked[0]["file"] if ranked else name
    if best == name:
        save_checkpoint(state, t.exp_dir / BEST)
        t.log(f"step {t.step}: new best {metric} {metrics.get(metric, float('nan')):.5g}")
