"""What a training run was trained on: hashes of its input files and its config, kept in the exp dir.

``EXP/inputs.json`` records, when a run starts, the SHA-256 of every input file (token list, the
data dirs' ``token``/``text``, the dumps' scp files, ``utt2num_frames``, ``feats.yaml`` and
``stats.npz``, durations and the ``filtered`` list beside them) and of the resolved config
(without the keys that only say how long or how loudly to run: max_steps, logging, workers…).
``--resume`` compares them with today's inputs: resuming a model whose durations, features
or config changed would silently mix two experiments, so :func:`check_inputs` stops with a
message naming what changed, or, with ``retrain``, moves the old run aside and starts over.
"""
from __future__ import annotations

import copy
import hashlib
import json
import os
import shutil
import time
from pathlib import Path
from typing import Mapping

import yaml

from narspeech.errors import NarspeechError
from narspeech.fileio import atomic_write
from narspeech.text.vocab import load_token_list
from narspeech.train.checkpoint import exp_lock

RECORD = "inputs.json"
# files of a data dir / dump dir / durations file that a model is trained on (those that exist)
DIR_FILES = ("token", "text", "feats.scp", "f0.scp", "energy.scp", "utt2num_frames", "feats.yaml", "stats.npz", "durations")
BESIDE_DURATIONS = ("filtered",)
# train.* keys that change how long or how verbosely a run goes, not what it learns: not fingerprinted
RUN_KEYS = ("max_steps", "max_epochs", "log_interval", "valid_interval", "save_interval", "num_workers", "tensorboard",
            "log_to_stderr", "device", "keep_best")
# what a run writes, moved aside by a retrain
RUN_OUTPUTS = ("last.pt", "best.pt", "checkpoints", "train.log", "tensorboard", "config.yaml", RECORD)


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def config_digest(cfg: Mapping) -> str:
    """SHA-256 of the config as canonical YAML, without the run-length/logging keys (:data:`RUN_KEYS`)."""
    c = copy.deepcopy(dict(cfg))
    train = dict(c.get("train") or {})
    for k in RUN_KEYS:
        train.pop(k, None)
    c["train"] = train
    return hashlib.sha256(yaml.safe_dump(c, sort_keys=True, default_flow_style=True).encode()).hexdigest()


def input_files(inputs: Mapping[str, str | Path | None]) -> dict[str, Path]:
    """``name -> file`` for every input: a file as given (plus ``filtered`` beside durations); a
    folder as the :data:`DIR_FILES` it holds, named ``name/file``."""
    out: dict[str, Path] = {}
    for name, p in inputs.items():
        if p is None:
            continue
        p = Path(p)
        if p.is_dir():
            for f in DIR_FILES:
                if (p / f).is_file():
                    out[f"{name}/{f}"] = p / f
        elif p.is_file():
            out[name] = p
            if p.name == "durations":
                for f in BESIDE_DURATIONS:
                    if (p.parent / f).is_file():
                        out[f"{name}:{f}"] = p.parent / f
    return out


def fingerprint(inputs: Mapping[str, str | Path | None], cfg: Mapping) -> dict:
    """The record: config digest and ``name -> {path, sha256}`` of every input file."""
    files = input_files(inputs)
    return {"config": config_digest(cfg),
            "files": {n: {"path": str(p.absolute()), "sha256": file_sha256(p)} for n, p in sorted(files.items())}}


def changes(old: Mapping, new: Mapping) -> list[str]:
    """What differs between two records, one short phrase each."""
    out = []
    if old.get("config") != new.get("config"):
        out.append("the config (model or training options)")
    of, nf = old.get("files", {}), new.get("files", {})
    for name in sorted(set(of) | set(nf)):
        if name not in nf:
            out.append(f"{name} (gone: {of[name]['path']})")
        elif name not in of:
            out.append(f"{name} (new: {nf[name]['path']})")
        elif of[name]["sha256"] != nf[name]["sha256"]:
            out.append(f"{name} ({nf[name]['path']})")
    return out


def check_inputs(exp: str | Path, inputs: Mapping[str, str | Path | None], cfg: Mapping, *, resume: bool,
                 retrain: bool = False) -> list[str]:
    """Record the inputs of a run in ``EXP/inputs.json``; on resume, compare first.

    Changed inputs on ``resume``: a :class:`NarspeechError` naming them, or with `retrain` the old
    run's files are moved to ``EXP/stale-<time>/`` and training starts afresh. Returns the changes
    found (empty when none). Without `resume` an existing run is left to the engine to refuse."""
    with exp_lock(exp):  # a second run into a busy exp dir stops here, before it rewrites the record
        return _check_inputs(Path(exp), inputs, cfg, resume=resume, retrain=retrain)


def _check_inputs(exp: Path, inputs, cfg, *, resume: bool, retrain: bool) -> list[str]:
    rec_path = exp / RECORD
    new = fingerprint(inputs, cfg)
    found: list[str] = []
    has_run = (exp / "last.pt").is_file()
    if has_run and not resume:
        return found  # the engine refuses an exp dir holding a run without --resume
    if has_run and rec_path.is_file():
        try:
            old = json.loads(rec_path.read_text(encoding="utf-8"))
        except (ValueError, OSError):
            old = {}
        found = changes(old, new)
        if found and not retrain:
            raise NarspeechError(
                "inputs changed since this run was trained: " + "; ".join(found[:6])
                + (f"; and {len(found) - 6} more" if len(found) > 6 else "")
                + ". Resuming would mix two experiments: pass --retrain to start this exp dir over "
                  "(the old run is moved to stale-*/), or train into a new --exp", path=exp)
    if os.environ.get("RANK", "0") != "0":
        return found  # under torchrun only rank 0 moves and writes (the others checked the same inputs)
    if found:
        stale = exp / time.strftime("stale-%Y%m%d-%H%M%S")
        stale.mkdir(parents=True, exist_ok=True)
        for name in RUN_OUTPUTS:
            if (exp / name).exists():
                shutil.move(str(exp / name), str(stale / name))
    exp.mkdir(parents=True, exist_ok=True)
    with atomic_write(rec_path) as f:
        json.dump(new, f, indent=1)
    return found


def check_token_file(exp: str | Path, cfg: Mapping, name: str = "tokens.txt") -> None:
    """Check ``EXP/tokens.txt`` against the model it came with: as many tokens as ``model.n_tokens``,
    and the SHA-256 that ``inputs.json`` recorded for the run's token list. An edited or shortened
    list is an error naming it, since it would shift every token id."""
    path = Path(exp) / name
    if not path.is_file():
        return  # the loader that needs it says so
    n_model = (cfg.get("model") or {}).get("n_tokens")
    n_file = len(load_token_list(path))
    if n_model is not None and n_file != int(n_model):
        raise NarspeechError(f"has {n_file} tokens, the model was trained with {n_model}: restore the token list "
                             "the model was trained with (edited or replaced?)", path=path)
    try:
        rec = json.loads((Path(exp) / RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    want = ((rec.get("files") or {}).get("tokens") or {}).get("sha256")
    if want and file_sha256(path) != want:
        raise NarspeechError(f"differs from the token list the model was trained on (its SHA-256 is recorded in "
                             f"{RECORD}): restore it, or retrain", path=path)
