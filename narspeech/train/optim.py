"""Optimiser (Adam/AdamW) and learning-rate schedules (noam, warmup, exponential, constant) from the config.

In every schedule ``optim.lr`` is the **peak** learning rate:

* ``noam``: linear warm-up to ``lr`` over ``warmup_steps``, then ``lr * sqrt(warmup/step)``
  (the Transformer schedule of Vaswani et al. with its ``d_model**-0.5`` folded into ``lr``,
  as ESPnet's ``WarmupLR``/``NoamLR`` do);
* ``warmup``: linear warm-up to ``lr``, then constant;
* ``exponential``: ``warmup``, then from step ``decay_start`` on the lr halves every ``halflife`` steps,
  down to ``min_ratio * lr`` (Tacotron 2's 1e-3 to 1e-5 decay; on resume the schedule is the config's,
  so a run can be continued with a decay it did not start with);
* ``constant``: ``lr`` throughout.
"""
from __future__ import annotations

import math
from typing import Iterable

import torch

from narspeech.errors import NarspeechError

#: the keys of ``train.optim`` and ``train.scheduler`` (others are typos: an error)
OPTIM_KEYS = ("name", "lr", "betas", "eps", "weight_decay")
SCHEDULER_KEYS = ("name", "warmup_steps", "decay_start", "halflife", "min_ratio")


def _number(value, key: str, *, low: float = 0.0, above: bool = False, high: float | None = None) -> float:
    """``float(value)``, or one line naming ``train.optim.<key>`` when it is not a finite number in range."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise NarspeechError(f"train.optim.{key} must be a number, got {value!r}") from None
    if not math.isfinite(x) or x < low or (above and x == low) or (high is not None and x >= high):
        rng = f"{'>' if above else '>='} {low:g}" + (f" and < {high:g}" if high is not None else "")
        raise NarspeechError(f"train.optim.{key} must be a finite number {rng}, got {value!r}")
    return x


def build_optimizer(params: Iterable[torch.nn.Parameter], cfg: dict) -> torch.optim.Optimizer:
    """``cfg`` is ``train.optim``: ``{name: adam|adamw, lr, betas, eps, weight_decay}``."""
    name, kw = optimizer_options(cfg)
    return (torch.optim.Adam if name == "adam" else torch.optim.AdamW)(params, **kw)


def optimizer_options(cfg: dict) -> tuple[str, dict]:
    """(name, keyword arguments) of ``train.optim``, checked: a bad name or value is one line."""
    name = str(cfg.get("name", "adam")).lower()
    if name not in ("adam", "adamw"):
        raise NarspeechError(f"unknown train.optim.name {name!r} (use adam or adamw)")
    betas = cfg.get("betas", (0.9, 0.98))
    if not isinstance(betas, (list, tuple)) or len(betas) != 2:
        raise NarspeechError(f"train.optim.betas must be two numbers, got {betas!r}")
    kw = dict(
        lr=_number(cfg.get("lr", 1e-3), "lr", above=True),
        betas=tuple(_number(b, "betas", high=1.0) for b in betas),
        eps=_number(cfg.get("eps", 1e-9), "eps"),
        weight_decay=_number(cfg.get("weight_decay", 0.0), "weight_decay"),
    )
    return name, kw


def lr_factor(name: str, step: int, warmup_steps: int, decay_start: int = 0, halflife: float = 0.0,
              min_ratio: float = 0.0) -> float:
    """Multiplier of the peak lr at optimizer step ``step`` (0-based: the step about to be taken)."""
    s = step + 1
    w = max(int(warmup_steps), 0)
    warm = min(1.0, s / w) if w else 1.0
    if name == "constant":
        return 1.0
    if name == "warmup":
        return warm
    if name == "exponential":
        if halflife <= 0:
            raise NarspeechError(f"train.scheduler.halflife must be > 0 for the exponential schedule (got {halflife})")
        return warm if s <= decay_start else warm * max(0.5 ** ((s - decay_start) / halflife), min_ratio)
    if name == "noam":
        return min(s / w, math.sqrt(w / s)) if w else 1.0 / math.sqrt(s)
    raise NarspeechError(f"unknown train.scheduler.name {name!r} (use noam, warmup, exponential or constant)")


def build_scheduler(optimizer: torch.optim.Optimizer, cfg: dict) -> torch.optim.lr_scheduler.LambdaLR:
    """``cfg`` is ``train.scheduler``: ``{name: noam|warmup|exponential|constant, warmup_steps}`` (exponential
    also ``decay_start``, ``halflife``, ``min_ratio``); step it once per update."""
    name = str(cfg.get("name", "noam")).lower()
    kw = dict(warmup_steps=int(cfg.get("warmup_steps", 4000)), decay_start=int(cfg.get("decay_start", 0)),
              halflife=float(cfg.get("halflife", 0)), min_ratio=float(cfg.get("min_ratio", 0.0)))
    lr_factor(name, 0, **kw)  # validate the name (and the decay) now, not at the first step
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: lr_factor(name, step, **kw))
