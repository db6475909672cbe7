"""`narspeech correct train`: FastCorrect or the AR corrector through the training engine.

Inputs are alignment dirs (`narspeech correct align`); the exp dir gets ``tokens.txt``, the
resolved ``config.yaml`` (with the token units of the alignment) and the engine's
checkpoints. ``init`` starts from another corrector's weights and token list: text-only
pretraining first, fine-tuning on real ASR pairs second, as FastCorrect does.
"""
from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Sequence

from narspeech.config import merge
from narspeech.correct.data import CorrectionDataset, build_tokens, collate, read_align_dir
from narspeech.correct.models import MODEL_DEFAULTS, build_model
from narspeech.errors import NarspeechError
from narspeech.fileio import read_table
from narspeech.text.vocab import TokenList, load_token_list, write_token_list
from narspeech.train.checkpoint import exp_dir_of, load_checkpoint, locks_exp
from narspeech.train.engine import fit
from narspeech.train.defaults import resolve_config
from narspeech.train.rng import seed_everything

log = logging.getLogger("narspeech.correct")


SUBWORD_FILE = "subword.model"


def _units_of(align_dir: Path) -> dict:
    p = Path(align_dir) / "summary.json"
    return json.loads(p.read_text())["units"] if p.is_file() else {"unit": "word", "spm_model": None}


def _units_of_all(align_dirs: Sequence[str | Path]) -> dict:
    """The token units of the alignment dirs, which must all agree (the same subword model file's bytes)."""
    units = [_units_of(Path(d)) for d in align_dirs]
    def key(u: dict):
        m = u.get("spm_model")
        return (u.get("unit"), Path(m).read_bytes() if m and Path(m).is_file() else m)
    for d, u in zip(align_dirs, units):
        if key(u) != key(units[0]):
            raise NarspeechError(f"alignment dirs use different units ({u} vs {units[0]})", path=d)
    return dict(units[0])


@locks_exp("exp_dir")
def train_corrector(cfg: dict, train_dirs: Sequence[str | Path], valid_dirs: Sequence[str | Path] | None, exp_dir: str | Path, *,
                    init: str | Path | None = None, vocab_text: Sequence[str | Path] = (), resume: bool = False) -> Path:
    """Train a corrector; returns the best checkpoint path. `vocab_text` (Kaldi ``text`` files)
    adds their words to a new token list, so fine-tuning words are known to a pretrained model."""
    exp = Path(exp_dir)
    exp.mkdir(parents=True, exist_ok=True)
    cfg = merge({"model": dict(MODEL_DEFAULTS), "tokens": {"min_count": 1, "max_size": 0}}, cfg or {})
    init_ckpt = None
    if init is not None:
        init_ckpt = load_checkpoint(init)
        init_dir = exp_dir_of(init)
        tokens = load_token_list(init_dir / "tokens.txt")
        init_model = init_ckpt.get("config", {}).get("model", {})
        if init_model.get("type", "fastcorrect") != cfg["model"]["type"]:
            raise NarspeechError(f"--init is a {init_model.get('type')} model, the config trains {cfg['model']['type']}", path=init)
        cfg["model"] = merge(cfg["model"], {k: v for k, v in init_model.items() if k in ("d_model", "heads", "d_ff", "enc_layers", "dec_layers", "max_duration", "type")})
        cfg["init"] = str(init)
    elif resume and (exp / "tokens.txt").is_file():
        tokens = load_token_list(exp / "tokens.txt")
    else:
        seqs = []
        for d in train_dirs:
            _, S, T, _, _ = read_align_dir(d)
            seqs += S + T
        keep = [w for f in vocab_text for v in read_table(f).values() for w in v.split()]
        tokens = build_tokens(seqs, int(cfg["tokens"]["min_count"]), keep, int(cfg["tokens"].get("max_size", 0)))
    write_token_list(exp / "tokens.txt", tokens)
    tl = TokenList(tokens)
    cfg["units"] = _units_of_all([*train_dirs, *(valid_dirs or [])])
    if init_ckpt is not None:
        init_units = init_ckpt.get("config", {}).get("units") or {"unit": "word", "spm_model": None}
        same = init_units.get("unit") == cfg["units"]["unit"]
        if same and cfg["units"].get("spm_model"):
            same = (init_dir / SUBWORD_FILE).is_file() and (init_dir / SUBWORD_FILE).read_bytes() == Path(cfg["units"]["spm_model"]).read_bytes()
        if not same:
            raise NarspeechError(f"--init was trained on other units ({init_units.get('unit')}, {init_units.get('spm_model')}) "
                                 f"than the alignments ({cfg['units']['unit']}, {cfg['units'].get('spm_model')})", path=init)
    if cfg["units"].get("spm_model"):  # the exp dir keeps its own copy: decoding needs exactly these pieces
        src = Path(cfg["units"]["spm_model"])
        if src.resolve() != (exp / SUBWORD_FILE).resolve():
            shutil.copyfile(src, exp / SUBWORD_FILE)
        cfg["units"]["spm_model"] = SUBWORD_FILE
    cfg["data"] = {"train": [str(d) for d in train_dirs], "valid": [str(d) for d in (valid_dirs or [])]}
    seed_everything(int(resolve_config(cfg)["train"]["seed"]))
    model = build_model(len(tl), cfg["model"])
    if init_ckpt is not None:
        model.load_state_dict(init_ckpt["model"])
    train_set = CorrectionDataset(train_dirs, tl)
    valid_set = CorrectionDataset(valid_dirs, tl) if valid_dirs else None
    n_par = sum(p.numel() for p in model.parameters())
    log.info("%s corrector: %.2fM parameters, %d tokens, %d training pairs", cfg["model"]["type"], n_par / 1e6, len(tl), len(train_set))
    return fit(cfg, model, train_set, valid_set, collate, exp, resume=resume)
