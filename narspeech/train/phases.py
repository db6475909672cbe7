"""Optimizer phases: one (the whole model) or one per ``model.optimizer_groups()`` entry (GANs), each with its
optimizer, schedule and clipping; and one update of a phase, skipped on every rank when any saw a non-finite value."""
from __future__ import annotations

import torch

from narspeech.config import merge
from narspeech.errors import NarspeechError
from narspeech.train import distributed as D
from narspeech.train.optim import build_optimizer, build_scheduler


class Phase:
    """One optimizer group: its parameters, optimizer, schedule and clipping."""

    def __init__(self, name: str | None, params: list, optimizer, scheduler, clip: float):
        self.name, self.params, self.optimizer, self.scheduler, self.clip = name, params, optimizer, scheduler, clip


def build_phases(model: torch.nn.Module, tc: dict) -> list[Phase]:
    """One phase (the whole model) or one per ``model.optimizer_groups()`` entry."""
    clip = float(tc["grad_clip"]) if tc["grad_clip"] else 0.0
    groups_fn = getattr(model, "optimizer_groups", None)
    if groups_fn is None:
        params = [p for p in model.parameters() if p.requires_grad]
        opt = build_optimizer(params, tc.get("optim", {}))
        return [Phase(None, params, opt, build_scheduler(opt, tc.get("scheduler", {})), clip)]
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
        phases.append(Phase(name, params, opt, sched, float(c) if c else 0.0))
    return phases


def step_phase(ph: Phase, bad_loss: torch.Tensor, *, scaler, stop: bool, device: torch.device, info: D.DistInfo,
               phased: bool) -> tuple[torch.Tensor, bool, bool, bool]:
    """Clip and step one phase's optimizer after its backward passes; (grad norm, bad loss, bad grad, stop).

    All ranks agree on skipping (non-finite loss anywhere, non-finite gradient) and on stopping (SIGTERM).
    A skipped update leaves the weights, optimizer and schedule untouched."""
    if scaler is not None:
        scaler.unscale_(ph.optimizer)
    gnorm = torch.nn.utils.clip_grad_norm_(ph.params, ph.clip if ph.clip > 0 else float("inf"))
    stop = torch.full((), float(stop), device=device)
    local = torch.stack([bad_loss, stop])
    flags = torch.cat([D.all_reduce_sum(local, info), (~torch.isfinite(gnorm)).float()[None]])
    bad_l, stop_now, bad_g = (bool(x) for x in flags.tolist())
    if bad_l or (bad_g and scaler is None):
        ph.optimizer.zero_grad(set_to_none=True)
        if scaler is not None:
            scaler.update()
        return gnorm, bad_l, bad_g, stop_now
    if scaler is not None:
        scaler.step(ph.optimizer)
        if not phased:
            scaler.update()
    else:
        ph.optimizer.step()
    ph.scheduler.step()
    ph.optimizer.zero_grad(set_to_none=True)
    return gnorm, bad_l, bad_g, stop_now
