"""YAML configs with command-line overrides (`--set model.d_model=256`)."""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Iterable

import yaml

from narspeech.errors import NarspeechError
from narspeech.fileio import atomic_write


def read_yaml(path: str | Path) -> Any:
    """``yaml.safe_load`` of a file; a syntax error or a python tag is one line naming the file and line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise NarspeechError("not UTF-8 text", path=path) from None
    except IsADirectoryError:
        raise NarspeechError("is a directory, expected a YAML file", path=path) from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise NarspeechError(f"not valid YAML{_where(e)}: {_problem(e)}", path=path) from None


def _where(e: yaml.YAMLError) -> str:
    mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
    return f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""


def _problem(e: yaml.YAMLError) -> str:
    problem = getattr(e, "problem", None) or str(e).splitlines()[0]
    if "python/" in str(e) or "could not determine a constructor" in str(e):
        problem = f"{problem} (python tags are not allowed in configs)"
    return " ".join(str(problem).split())


def check_keys(section: Any, known: Iterable[str], where: str) -> None:
    """Raise for keys of the mapping `section` not in `known` (a typo would otherwise be ignored
    silently), listing the known ones; `where` names the section (``train.optim``)."""
    if section is None:
        return
    if not isinstance(section, dict):
        raise NarspeechError(f"config section {where} must be a mapping, got {section!r}")
    known = set(known)
    unknown = sorted(str(k) for k in section if k not in known)
    if unknown:
        names = ", ".join(f"{where}.{k}" if where else k for k in unknown)
        raise NarspeechError(f"unknown config key(s) {names}; known {'keys of ' + where if where else 'sections'}: "
                             f"{', '.join(sorted(known))}")


def load_config(path: str | Path | None, overrides: Iterable[str] = ()) -> dict:
    """Load a YAML mapping (or start empty) and apply ``dotted.key=value`` overrides.

    Values are parsed as YAML, so ``train.lr=1e-3`` gives a float and ``x=[1,2]`` a list.
    """
    cfg: dict = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise NarspeechError("config not found", path=path)
        cfg = read_yaml(path) or {}
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
    try:
        node[parts[-1]] = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError as e:
        raise NarspeechError(f"bad override --set {item!r}: not a valid YAML value: {_problem(e)}") from None


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
