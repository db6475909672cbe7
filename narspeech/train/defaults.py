"""The `train` section of every config: its defaults, the keys a config may have, and their resolution."""
from __future__ import annotations

import math
from typing import Any

from narspeech.config import check_keys, merge
from narspeech.errors import NarspeechError
from narspeech.train.optim import OPTIM_KEYS, SCHEDULER_KEYS, optimizer_options

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
