"""Checkpoint files of an experiment directory, their index, and checkpoint averaging.

Layout of ``exp_dir`` (only rank 0 writes):

* ``last.pt`` — full training state for resuming: model, optimizer, scheduler, grad scaler,
  step, epoch, sampler position, RNG states of every rank, resolved config.
* ``checkpoints/step00001234.pt`` — model weights (+ config, step, epoch, validation metrics)
  saved at each validation; the ``keep_best`` best by ``best_metric`` and the latest stay.
* ``checkpoints/index.json`` — ``[{file, step, epoch, metrics}]`` of the files that exist.
* ``best.pt`` — weights of the best validation so far (what :func:`load_checkpoint` of the
  exp dir returns; ``last.pt`` when there was no validation).

All files are written through :func:`narspeech.fileio.atomic_path`, so a killed run leaves
either the previous file or the new one, never half of one.
"""
from __future__ import annotations

import collections
import contextlib
import dataclasses
import functools
import inspect
import json
import os
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import torch

from narspeech.config import read_yaml
from narspeech.errors import NarspeechError
from narspeech.fileio import atomic_path, atomic_write, dir_lock
from narspeech.trust import torch_load

LAST, BEST, CKPT_DIR, INDEX = "last.pt", "best.pt", "checkpoints", "index.json"


_EXP_LOCKS: dict[Path, int] = {}


@contextlib.contextmanager
def exp_lock(exp_dir: str | Path) -> Iterator[None]:
    """Hold the experiment dir's lock (:func:`narspeech.fileio.dir_lock`, as the feature dump's) for
    the block, so two trainings into one exp dir cannot both run: the second fails at once naming
    the first one's pid. Re-entrant within a process; under torchrun only rank 0 takes it."""
    key = Path(exp_dir).absolute()
    if os.environ.get("RANK", "0") != "0" or _EXP_LOCKS.get(key):
        _EXP_LOCKS[key] = _EXP_LOCKS.get(key, 0) + 1
        try:
            yield
        finally:
            _EXP_LOCKS[key] -= 1
        return
    with dir_lock(key, "another training run into this experiment dir"):
        _EXP_LOCKS[key] = 1
        try:
            yield
        finally:
            _EXP_LOCKS.pop(key, None)


def locks_exp(arg: str = "exp"):
    """Decorator: run a task's training function under :func:`exp_lock` of its argument `arg`, so a second
    training into a busy exp dir stops before it writes anything there (token list, copies, config)."""
    def wrap(fn):
        sig = inspect.signature(fn)

        @functools.wraps(fn)
        def inner(*args, **kwargs):
            with exp_lock(sig.bind(*args, **kwargs).arguments[arg]):
                return fn(*args, **kwargs)
        return inner
    return wrap


def save_checkpoint(state: dict, path: str | Path) -> Path:
    """``torch.save`` through a temporary file + rename, of :func:`safe_state` (so that a
    ``weights_only`` load reads it back)."""
    path = Path(path)
    state = safe_state(state)
    with atomic_path(path) as tmp:
        torch.save(state, tmp)
    return path


def safe_state(obj):
    """`obj` with what a ``torch.load(weights_only=True)`` cannot read made plain: numpy arrays become
    tensors, numpy scalars Python numbers, paths strings, other objects (dataclasses…) an error."""
    if obj is None or isinstance(obj, (bool, int, float, str, bytes, torch.Tensor, torch.dtype, torch.device, torch.Size)):
        return obj
    if isinstance(obj, dict):  # a state dict's OrderedDict stays one (a safe load reads it); others become dicts
        items = [(k, safe_state(v)) for k, v in obj.items()]
        return collections.OrderedDict(items) if isinstance(obj, collections.OrderedDict) else dict(items)
    if isinstance(obj, (list, tuple)):
        out = [safe_state(v) for v in obj]
        return out if isinstance(obj, list) else tuple(out)
    if isinstance(obj, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(obj))
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return safe_state(dataclasses.asdict(obj))
    raise TypeError(f"checkpoint state holds a {type(obj).__name__}, which a safe load cannot read: store it as plain data")


def resolve_checkpoint(path_or_exp_dir: str | Path) -> Path:
    """A checkpoint file as given, or an exp dir's ``best.pt``, else its ``last.pt``."""
    p = Path(path_or_exp_dir)
    if p.is_dir():
        for name in (BEST, LAST):
            if (p / name).is_file():
                return p / name
        raise NarspeechError(f"no {BEST} or {LAST} in this experiment directory (has training run?)", path=p)
    if not p.is_file():
        raise NarspeechError("checkpoint not found", path=p)
    return p


def exp_dir_of(path_or_exp_dir: str | Path) -> Path:
    """The experiment dir a checkpoint belongs to (where its ``tokens.txt`` and ``config.yaml`` are):
    an exp dir itself, the folder of ``best.pt`` / ``avgN.pt``, or the exp dir above ``checkpoints/``."""
    p = Path(path_or_exp_dir)
    if p.is_dir():
        return p
    return p.parent.parent if p.parent.name == CKPT_DIR else p.parent


def load_checkpoint(path_or_exp_dir: str | Path, map_location: str | torch.device = "cpu") -> dict:
    """Load a checkpoint dict (``model`` state dict, ``config``, ``step``, ``epoch``, ``metrics``…).

    An exp dir resolves to ``best.pt``, else ``last.pt``. Tensors land on ``map_location``.
    """
    p = resolve_checkpoint(path_or_exp_dir)
    ckpt = torch_load(p, map_location)  # weights only: refuses a code-running pickle, names a truncated file
    if not isinstance(ckpt, dict) or "model" not in ckpt:
        raise NarspeechError("not a narspeech checkpoint (no 'model' entry)", path=p)
    return ckpt


def read_index(exp_dir: str | Path) -> list[dict]:
    """Entries ``{file, step, epoch, metrics}`` of the step checkpoints, oldest first."""
    p = Path(exp_dir) / CKPT_DIR / INDEX
    if not p.is_file():
        return []
    entries = json.loads(p.read_text(encoding="utf-8"))
    return sorted(entries, key=lambda e: e["step"])


def write_index(exp_dir: str | Path, entries: list[dict]) -> None:
    with atomic_write(Path(exp_dir) / CKPT_DIR / INDEX) as f:
        json.dump(sorted(entries, key=lambda e: e["step"]), f, indent=1)


def rank_entries(entries: Sequence[dict], metric: str, mode: str = "min") -> list[dict]:
    """Entries that report `metric`, best first (ties: later step first)."""
    if mode not in ("min", "max"):
        raise NarspeechError(f"metric mode must be min or max, got {mode!r}")
    have = [e for e in entries if metric in e.get("metrics", {})]
    sign = 1.0 if mode == "min" else -1.0
    return sorted(have, key=lambda e: (sign * float(e["metrics"][metric]), -e["step"]))


def select_checkpoints(
    exp_dir: str | Path, num: int, metric: str | None = None, mode: str = "min", fewer_ok: bool = False
) -> list[Path]:
    """The `num` best step checkpoints by `metric` (or the `num` latest when `metric` is None);
    `fewer_ok`: all that are kept when that is fewer than `num` (a short run), instead of an error."""
    exp_dir = Path(exp_dir)
    entries = [e for e in read_index(exp_dir) if (exp_dir / CKPT_DIR / e["file"]).is_file()]
    if not entries:
        raise NarspeechError(f"no step checkpoints listed in {CKPT_DIR}/{INDEX}", path=exp_dir)
    if metric is None:
        chosen = entries[::-1][:num]
    else:
        chosen = rank_entries(entries, metric, mode)[:num]
        if not chosen:
            known = sorted({k for e in entries for k in e.get("metrics", {})})
            raise NarspeechError(f"no checkpoint has metric {metric!r} (known: {', '.join(known) or 'none'})", path=exp_dir)
    if len(chosen) < num and not fewer_ok:
        raise NarspeechError(f"asked to average {num} checkpoints but only {len(chosen)} are kept (see `narspeech train info`)", path=exp_dir)
    return [exp_dir / CKPT_DIR / e["file"] for e in chosen]


def average_checkpoints(paths: Sequence[str | Path]) -> dict[str, torch.Tensor]:
    """Element-wise mean of the ``model`` state dicts of `paths` (Polyak/ESPnet-style averaging).

    Floating tensors are summed in float64 and cast back to their dtype; integer and bool
    buffers (counters such as ``num_batches_tracked``, index tables) get the floor of the
    mean, which leaves equal values unchanged. All checkpoints must have the same keys
    and shapes.
    """
    if not paths:
        raise NarspeechError("no checkpoints to average")
    acc: dict[str, torch.Tensor] = {}
    ref: dict[str, torch.Tensor] = {}
    for p in paths:
        sd = load_checkpoint(p)["model"]
        if not ref:
            ref = {k: v for k, v in sd.items()}
            acc = {k: v.detach().to(torch.float64 if v.is_floating_point() or v.is_complex() else torch.int64).clone() for k, v in sd.items()}
            continue
        if set(sd) != set(ref):
            diff = sorted(set(sd) ^ set(ref))[:5]
            raise NarspeechError(f"checkpoint parameters differ from {paths[0]} (e.g. {', '.join(diff)})", path=p)
        for k, v in sd.items():
            if v.shape != ref[k].shape:
                raise NarspeechError(f"parameter {k} has shape {tuple(v.shape)}, {tuple(ref[k].shape)} in {paths[0]}", path=p)
            acc[k] += v.to(acc[k].dtype)
    n = len(paths)
    out = {}
    for k, v in acc.items():
        if v.is_floating_point() or v.is_complex():
            out[k] = (v / n).to(ref[k].dtype)
        else:
            out[k] = torch.div(v, n, rounding_mode="floor").to(ref[k].dtype)
    return out


def average_exp(
    exp_dir: str | Path, num: int, metric: str | None = "", mode: str | None = None, out: str | Path | None = None,
    fewer_ok: bool = False,
) -> tuple[Path, list[Path]]:
    """Average `num` step checkpoints of `exp_dir` into one checkpoint file; return (out, sources).

    ``metric=""`` means the run's ``train.best_metric`` (and its ``best_mode``); ``metric=None``
    takes the `num` most recent checkpoints. Default output: ``exp_dir/avg<num>.pt``.
    """
    exp_dir = Path(exp_dir)
    if num <= 0:
        raise NarspeechError(f"--num must be positive, got {num}")
    cfg = _exp_config(exp_dir)
    tc = cfg.get("train", {})
    if metric == "":
        metric = tc.get("best_metric", "loss")
    if mode is None:
        mode = tc.get("best_mode", "min") if metric == tc.get("best_metric", "loss") else "min"
    paths = select_checkpoints(exp_dir, num, metric, mode or "min", fewer_ok)
    avg = average_checkpoints(paths)
    steps = {e["file"]: int(e["step"]) for e in read_index(exp_dir)}
    out = Path(out) if out is not None else exp_dir / f"avg{num}.pt"
    state = {
        "model": avg,
        "config": cfg,
        "step": max(steps.get(p.name, 0) for p in paths),
        "averaged_from": [p.name for p in paths],
        "average_metric": metric,
        "metrics": {},
    }
    save_checkpoint(state, out)
    return out, paths


def _exp_config(exp_dir: Path) -> dict:
    p = exp_dir / "config.yaml"
    if not p.is_file():
        raise NarspeechError("not an experiment directory (no config.yaml)", path=exp_dir)
    cfg = read_yaml(p) or {}
    if not isinstance(cfg, dict):
        raise NarspeechError("config must be a YAML mapping", path=p)
    return cfg


def describe_exp(exp_dir: str | Path) -> str:
    """A short text listing of an experiment: last/best state and the kept checkpoints with metrics."""
    exp_dir = Path(exp_dir)
    cfg = _exp_config(exp_dir)
    tc = cfg.get("train", {})
    metric, mode = tc.get("best_metric", "loss"), tc.get("best_mode", "min")
    lines = [f"experiment {exp_dir}"]
    for name in (LAST, BEST):
        p = exp_dir / name
        if p.is_file():
            ck = torch_load(p, "cpu", mmap=True)  # lazy: only read what is printed; weights only: it just inspects
            if not isinstance(ck, dict):
                raise NarspeechError("not a narspeech checkpoint", path=p)
            m = " ".join(f"{k}={v:.5g}" for k, v in (ck.get("metrics") or {}).items())
            lines.append(f"  {name:<8} step {ck.get('step')} epoch {ck.get('epoch')}  {m}".rstrip())
    entries = read_index(exp_dir)
    best = {e["file"] for e in rank_entries(entries, metric, mode)[:1]}
    lines.append(f"  checkpoints ({len(entries)} kept; best by {metric}, {mode}):")
    for e in entries:
        m = " ".join(f"{k}={v:.5g}" for k, v in e.get("metrics", {}).items())
        star = " *" if e["file"] in best else ""
        lines.append(f"    {e['file']}  step {e['step']} epoch {e['epoch']}  {m}{star}")
    for p in sorted(exp_dir.glob("avg*.pt")):
        lines.append(f"  average  {p.name}")
    return "\n".join(lines)
