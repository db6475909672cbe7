"""Training CoMMA: masked prediction with p ~ U(0, 1) drawn per sentence, loss on masked positions only.

Token targets: cross-entropy; mel targets: L1 on per-bin normalised mels (10-frame chunks masked).
The model file (``model.pt``) holds the config, the weights, the mel normalisation and the vocabularies
so that measurement can check it is given the same kind of data.
"""
from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import numpy as np
import torch

from narspeech.analyze.comma_data import Example, batch_examples, collate, draw_mask, mask_chunk
from narspeech.analyze.comma_model import CoMMA, CommaConfig
from narspeech.errors import NarspeechError
from narspeech.fileio import atomic_path, atomic_write

log = logging.getLogger(__name__)


def mel_stats(examples: list[Example]) -> tuple[np.ndarray, np.ndarray]:
    """Per-bin mean and std of the speech side of `examples` (target for TTS, source for ASR)."""
    side = "tgt" if examples[0].tgt.ndim == 2 else "src"
    x = np.concatenate([getattr(e, side) for e in examples]).astype(np.float64)
    return x.mean(0).astype(np.float32), np.maximum(x.std(0), 1e-3).astype(np.float32)


def normalise(examples: list[Example], mean: np.ndarray | None, std: np.ndarray | None) -> list[Example]:
    """Copies of `examples` with their speech side normalised by `mean`/`std` (token sides untouched)."""
    if mean is None:
        return examples
    out = []
    for e in examples:
        src = (e.src - mean) / std if e.src.ndim == 2 else e.src
        tgt = (e.tgt - mean) / std if e.tgt.ndim == 2 else e.tgt
        out.append(Example(e.utt, src.astype(src.dtype), tgt.astype(tgt.dtype), e.align))
    return out


def masked_loss(pred: torch.Tensor, tgt: torch.Tensor, masked: torch.Tensor) -> torch.Tensor:
    """Mean loss over masked positions: cross-entropy for ids, L1 for mel frames."""
    if tgt.dim() == 3:
        return (pred - tgt).abs().mean(-1)[masked].mean()
    return torch.nn.functional.cross_entropy(pred[masked], tgt[masked])


def _lr(step: int, peak: float, warmup: int) -> float:
    return peak * min((step + 1) / warmup, (warmup / (step + 1)) ** 0.5)


def train_comma(examples: list[Example], cfg: CommaConfig, exp: str | Path, *, steps: int = 2000, batch_items: int = 32,
                batch_positions: int = 6000, lr: float = 1e-3, warmup: int = 200, constrain: bool = False, seed: int = 0,
                device: str = "cpu", meta: dict | None = None, log_every: int = 100) -> dict:
    """Train CoMMA on `examples` for `steps` updates and write EXP/model.pt and EXP/train.json; returns the summary.

    `constrain`: the alignment constraint (every example needs `align`). `meta` is stored in the model file
    (vocabularies, unit, how the data was made)."""
    if constrain and any(e.align is None for e in examples):
        raise NarspeechError("--align needs an alignment for every training utterance")
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    speech = examples[0].tgt.ndim == 2 or examples[0].src.ndim == 2
    mean, std = mel_stats(examples) if speech else (None, None)
    data = normalise(examples, mean, std)
    model = CoMMA(cfg).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=lr, betas=(0.9, 0.98), eps=1e-9)
    batches = batch_examples(data, batch_items, batch_positions)
    chunk = mask_chunk(cfg.task, cfg.reduction)
    exp = Path(exp)
    exp.mkdir(parents=True, exist_ok=True)
    history, t0, step = [], time.time(), 0
    model.train()
    while step < steps:
        for bi in rng.permutation(len(batches)):
            if step >= steps:
                break
            items = [data[i] for i in batches[bi]]
            masks = [draw_mask(len(e.tgt), float(rng.random()), rng, chunk) for e in items]  # p ~ U(0,1) per sentence
            batch = {k: v.to(device) for k, v in collate(items, masks, task=cfg.task, constrain=constrain).items()}
            for g in opt.param_groups:
                g["lr"] = _lr(step, lr, warmup)
            pred, _ = model(batch["src"], batch["src_len"], batch["tgt"], batch["tgt_len"], batch["masked"], batch.get("src_window"))
            loss = masked_loss(pred, batch["tgt"], batch["masked"])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            step += 1
            if step % log_every == 0 or step == steps:
                history.append({"step": step, "loss": round(loss.item(), 4)})
                log.info("comma %s step %d loss %.4f", cfg.task, step, loss.item())
    summary = {"task": cfg.task, "steps": steps, "utterances": len(examples), "align_constraint": constrain,
               "final_loss": history[-1]["loss"] if history else None, "seconds": round(time.time() - t0, 1),
               "seed": seed, "history": history, "config": cfg.to_dict(), "meta": meta or {}}
    with atomic_path(exp / "model.pt") as tmp:
        torch.save({"config": cfg.to_dict(), "state_dict": model.state_dict(), "mel_mean": mean, "mel_std": std,
                    "align_constraint": constrain, "meta": meta or {}}, tmp)
    with atomic_write(exp / "train.json") as f:
        json.dump(summary, f, indent=1)
    return summary


def load_comma(exp: str | Path, device: str = "cpu") -> tuple[CoMMA, dict]:
    """The trained model of EXP (model.pt) in eval mode, and its stored record (config, normalisation, meta)."""
    path = Path(exp) / "model.pt"
    if not path.is_file():
        raise NarspeechError("no model.pt: not a CoMMA exp dir (run `narspeech analyze comma train`)", path=exp)
    rec = torch.load(path, map_location=device, weights_only=False)
    model = CoMMA(CommaConfig.from_dict(rec["config"])).to(device)
    model.load_state_dict(rec["state_dict"])
    model.eval()
    return model, rec
