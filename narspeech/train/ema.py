"""Exponential moving average (EMA, Polyak averaging) of a model's weights during training.

The engine keeps it when ``train.ema_decay`` > 0: after every optimizer update
``ema <- d * ema + (1 - d) * weights`` with ``d = min(ema_decay, (1 + n) / (10 + n))`` at the
n-th update (the warm-up of TensorFlow's ``ExponentialMovingAverage``, so the random
initialisation is forgotten within the first updates). Validation, step checkpoints and
``best.pt`` use the averaged weights. Why: the last iterate wanders around the minimum; its
average is smoother (for FastSpeech 2: lower validation pitch and duration losses, output
lengths closer to the recordings').
"""
from __future__ import annotations

import contextlib
from typing import Iterator

import torch


class WeightEMA:
    """EMA of every floating-point entry of ``model.state_dict()``; other entries are copied."""

    def __init__(self, model: torch.nn.Module, decay: float):
        if not 0.0 < decay < 1.0:
            raise ValueError(f"EMA decay must be in (0, 1), got {decay}")
        self.decay = float(decay)
        self.updates = 0
        self.shadow = {k: v.detach().clone() for k, v in model.state_dict().items()}

    def _pairs(self, model: torch.nn.Module) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        live = model.state_dict()
        for k, s in self.shadow.items():
            yield s, live[k]

    @torch.no_grad()
    def update(self, model: torch.nn.Module) -> None:
        """Fold the model's current weights into the average (call after each optimizer step)."""
        self.updates += 1
        d = min(self.decay, (1.0 + self.updates) / (10.0 + self.updates))
        avg, cur, rest = [], [], []
        for s, v in self._pairs(model):
            if s.is_floating_point():
                avg.append(s)
                cur.append(v.detach().to(s.dtype))
            else:
                rest.append((s, v))
        if avg:
            torch._foreach_lerp_(avg, cur, 1.0 - d)
        for s, v in rest:
            s.copy_(v)

    @contextlib.contextmanager
    def applied(self, model: torch.nn.Module) -> Iterator[None]:
        """Inside the block the model holds the averaged weights; its own are restored after."""
        backup = {k: v.detach().clone() for k, v in model.state_dict().items()}
        model.load_state_dict(self.shadow)
        try:
            yield
        finally:
            model.load_state_dict(backup)

    def restore(self, shadow: dict[str, torch.Tensor], updates: int) -> None:
        """Continue an average saved as `shadow` after `updates` updates (resuming a run)."""
        self.updates = int(updates)
        for k, v in shadow.items():
            self.shadow[k].copy_(v)
