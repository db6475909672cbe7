"""A TTS model's options: its config section over its defaults, with a typo as an error, not a silent default."""
from __future__ import annotations


def model_options(cfg: dict, defaults: dict, name: str) -> dict:
    """`defaults` updated by `cfg` (its ``type`` key left out); ValueError naming any key `defaults` lacks."""
    unknown = set(cfg) - set(defaults) - {"type"}
    if unknown:
        raise ValueError(f"unknown {name} options: {sorted(unknown)}")
    return {**defaults, **{k: v for k, v in cfg.items() if k != "type"}}
