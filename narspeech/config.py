"""YAML configs with command-line overrides (`--set model.d_model=256`)."""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Iterable

import yaml

from narspeech.errors import NarspeechError
from narspeech.fileio import atomic_write


def load_config(path: str | Path | None, overrides: Iterable[str] = ()) -> dict:
    """Load a YAML mapping (or start empty) and apply ``dotted.key=value`` overrides.

    Values are parsed as YAML, so ``train.lr=1e-3`` gives a float and ``x=[1,2]`` a list.
    """
    cfg: dict = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise NarspeechError("config not found", path=path)
        cfg = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if not isinstance(cfg, dict):
            raise NarspeechError("config must be a YAML mapping", path=path)
    for item in overrides:
        set_key(cfg, item)
    return cfg


def set_key(cfg: dict, item: str) -> None:
    """Apply one ``a.b.c=value`` override in place."""
    key, sep, raw = item.partition("=")
    if not sep or not key:
        raise NarspeechError(f"bad override {item!r}: expected key.path=value")
    node = cfg
    parts = key.strip().split(".")
    for p in parts[:-1]:
        node = node.setdefault(p, {})
        if not isinstance(node, dict):
            raise NarspeechError(f"bad override {item!r}: {p} is not a mapping")
    node[parts[-1]] = yaml.safe_load(raw) if raw.strip() else None


def merge(base: dict, extra: dict) -> dict:
    """Recursive merge: keys of `extra` win; neither input is modified."""
    out = copy.deepcopy(base)
    for k, v in extra.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else copy.deepcopy(v)
    return out


def save_config(cfg: dict, path: str | Path) -> None:
    """Write the resolved config as YAML, atomically."""
    with atomic_write(path) as f:
        yaml.safe_dump(cfg, f, sort_keys=False, default_flow_style=None)


def get(cfg: dict, dotted: str, default: Any = None) -> Any:
    """``get(cfg, "model.d_model", 256)``."""
    node: Any = cfg
    for p in dotted.split("."):
        if not isinstance(node, dict) or p not in node:
            return default
        node = node[p]
    return node
