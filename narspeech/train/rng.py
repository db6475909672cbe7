"""Seeding and the RNG states a checkpoint keeps (as tensors and plain types, so a safe load reads them)."""
from __future__ import annotations

import random

import numpy as np
import torch


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
