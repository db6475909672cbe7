"""`narspeech asr train`: prepare an experiment dir and train a Mask-CTC or AR model through the engine.

Exp dir: ``config.yaml`` (``model`` with every option + ``n_tokens``/``n_mels``, ``train``,
``feats`` (the dump's FeatureConfig), ``text`` (unit, subword model), ``data``), ``tokens.txt``
(the training token list with ``<mask>``), ``stats.npz``, ``subword.model`` for subword units,
and the engine's checkpoints.
"""
from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Sequence

from narspeech.asr.dataset import ASRDataset, collate
from narspeech.asr.model import MODEL_DEFAULTS, MODEL_TYPES, build_asr_model, subsample_factor
from narspeech.asr.text import asr_token_list
from narspeech.audio.dump import read_feature_config
from narspeech.audio.stats import load_stats
from narspeech.config import merge
from narspeech.errors import NarspeechError
from narspeech.fileio import atomic_path
from narspeech.text.vocab import TokenList, load_token_list, write_token_list
from narspeech.train.checkpoint import exp_dir_of, load_checkpoint, locks_exp
from narspeech.train.engine import fit
from narspeech.train.defaults import resolve_config
from narspeech.train.rng import seed_everything

log = logging.getLogger("narspeech.asr")


def prepare_experiment(cfg: dict, *, tokens, train_dump, exp, subword_model=None, device: str | None = None) -> tuple[dict, TokenList, dict]:
    exp = Path(exp)
    token_list = TokenList(asr_token_list(load_token_list(tokens)))
    stats_path = Path(train_dump) / "stats.npz"
    stats = load_stats(stats_path)
    feats = read_feature_config(train_dump)
    m = dict(cfg.get("model") or {})
    kind = m.get("type", "mask_ctc")
    if kind not in MODEL_TYPES:
        raise NarspeechError(f"model.type must be one of {', '.join(MODEL_TYPES)}, got {kind!r}")
    unknown = set(m) - set(MODEL_DEFAULTS) - {"n_tokens", "n_mels"}
    if unknown:
        raise NarspeechError(f"unknown model option(s): {', '.join(sorted(unknown))}; known: {', '.join(sorted(MODEL_DEFAULTS))}")
    cfg["model"] = {**merge(MODEL_DEFAULTS, m), "n_tokens": len(token_list), "n_mels": feats.n_mels}
    cfg["feats"] = feats.to_dict()
    cfg["text"] = {"unit": "subword" if subword_model else "char", "subword_model": "subword.model" if subword_model else None}
    cfg.setdefault("data", {})
    cfg.setdefault("train", {})
    if device is not None:
        cfg["train"]["device"] = device
    exp.mkdir(parents=True, exist_ok=True)
    write_token_list(exp / "tokens.txt", token_list.tokens)
    copies = [(stats_path, "stats.npz")] + ([(Path(subword_model), "subword.model")] if subword_model else [])
    for src, name in copies:
        if src.resolve() != (exp / name).resolve():
            with atomic_path(exp / name) as tmp:
                shutil.copyfile(src, tmp)
    return cfg, token_list, stats


@locks_exp()
def train_asr(cfg: dict, *, tokens, train_data, train_dump, exp, valid_data=None, valid_dump=None, subword_model=None,
              resume: bool = False, device: str | None = None, skip_bad: bool = False, init=None,
              init_modules: Sequence[str] = ()) -> Path:
    """Train ``model.type`` (mask_ctc | ar) on `train_data` (``token`` file) + `train_dump`; returns the checkpoint path.

    ``data.speed_perturb`` (e.g. ``[0.9, 1.0, 1.1]``) picks a speed factor per training item and epoch.
    `init` (a checkpoint or exp dir) starts from its weights, feature normalisation included, with a fresh
    optimiser and schedule (fine-tuning); its model options and token list must be the ones trained here, unless
    `init_modules` names what to take (``encoder``: a character model's encoder for a subword model)."""
    if init_modules and init is None:
        raise NarspeechError("--init-modules needs --init")
    cfg, token_list, stats = prepare_experiment(cfg, tokens=tokens, train_dump=train_dump, exp=exp,
                                                subword_model=subword_model, device=device)
    sp = cfg["data"].get("speed_perturb")
    cfg["data"].update(train_data=str(train_data), train_dump=str(train_dump), tokens=str(tokens))
    factor = subsample_factor(cfg["model"])
    train_set = ASRDataset(train_data, train_dump, token_list, skip_bad=skip_bad, speed_perturb=sp, subsample=factor)
    valid_set = None
    if valid_data is not None:
        if valid_dump is None:
            raise NarspeechError("--valid-data needs --valid-dump")
        valid_set = ASRDataset(valid_data, valid_dump, token_list, skip_bad=skip_bad, subsample=factor)
    seed_everything(int(resolve_config(cfg)["train"]["seed"]))
    model = build_asr_model(cfg["model"], stats)
    if init is not None:
        _load_init(model, cfg, token_list, init, init_modules)
    n_par = sum(p.numel() for p in model.parameters())
    log.info("%s model: %.2fM parameters, %d tokens", cfg["model"]["type"], n_par / 1e6, len(token_list))
    return fit(cfg, model, train_set, valid_set, collate, exp, resume=resume)


# what `--init-modules encoder` loads: the feature normalisation, the subsampling front-end and the encoder,
# i.e. everything that does not depend on the token list
ENCODER_PREFIXES = ("mel_mean", "mel_std", "subsample.", "encoder.")
# tensors whose rows are tokens: loading them needs the same token list
TOKEN_PREFIXES = ("ctc.", "inter_cond.", "decoder.embed.", "decoder.out.")


def _load_init(model, cfg: dict, token_list: TokenList, init, modules: Sequence[str] = ()) -> None:
    """Load `init`'s weights into `model`: all of them after checking that its model options and tokens are
    these, or only the tensors under `modules` (state-dict prefixes; ``encoder`` = ENCODER_PREFIXES), e.g. to
    move a character model's encoder to subword units. Tensors under `modules` must exist with equal shapes."""
    ckpt = load_checkpoint(init)
    init_dir = exp_dir_of(init)
    prefixes = tuple(x for m in modules for x in (ENCODER_PREFIXES if m == "encoder" else (m,)))
    mine = model.state_dict()
    if prefixes:
        keys = [k for k in ckpt["model"] if k.startswith(prefixes)]
        unused = [m for m in prefixes if not any(k.startswith(m) for k in keys)]
        if unused:
            raise NarspeechError(f"--init-modules: the checkpoint has no tensors under {', '.join(unused)}", path=init)
        bad = [f"{k} {tuple(ckpt['model'][k].shape)} vs {tuple(mine[k].shape) if k in mine else 'absent'}"
               for k in keys if k not in mine or mine[k].shape != ckpt["model"][k].shape]
        if bad:
            raise NarspeechError("--init-modules: tensors differ from this model's: " + "; ".join(bad[:5]), path=init)
    else:
        keys = list(ckpt["model"])
        theirs = {**MODEL_DEFAULTS, **((ckpt.get("config") or {}).get("model") or {})}  # options added since: their defaults
        differ = sorted(k for k in set(theirs) | set(cfg["model"]) if theirs.get(k) != cfg["model"].get(k)
                        and k not in ("specaug", "lsm_weight", "ctc_weight", "interctc_weight", "dropout", "length_insert_prob"))
        if differ:
            raise NarspeechError("--init has other model options than the config: " + ", ".join(
                f"{k} {theirs.get(k)!r} vs {cfg['model'].get(k)!r}" for k in differ), path=init)
    if any(k.startswith(TOKEN_PREFIXES) for k in keys) and (init_dir / "tokens.txt").is_file() \
            and load_token_list(init_dir / "tokens.txt") != token_list.tokens:
        raise NarspeechError("--init was trained on another token list than --tokens (+ <mask>); "
                             "--init-modules encoder loads only what does not depend on tokens", path=init_dir / "tokens.txt")
    if prefixes:
        model.load_state_dict({k: ckpt["model"][k] for k in keys}, strict=False)
        cfg["init_modules"] = list(modules)
    else:
        model.load_state_dict(ckpt["model"])
    cfg["init"] = str(init)
    log.info("initialised %d tensors%s from %s", len(keys), f" ({', '.join(modules)})" if modules else "", init)
