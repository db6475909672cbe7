"""The attention density ratio of a trained CoMMA (Ren et al. 2020, equations 1-3).

For a masked target position i with mix-attention weights A (target keys 1..N, then source keys):
``alpha_i = mean_j<=N A_ij / (mean_j<=N A_ij + mean_j>N A_ij)`` — densities, i.e. per-position means over
the N target and the M source positions (under the alignment constraint the source mean still divides by
the whole M, as equation 1 does). A is the weights averaged over the heads and over the last `layers` layers.
R for a sentence is the mean alpha over its masked positions; R(p) the mean over sentences, with a
percentile bootstrap interval over sentences. Masks at measurement use a fixed p (mel: 10-frame chunks).
"""
from __future__ import annotations

import numpy as np
import torch

from narspeech.analyze.comma_data import Example, batch_examples, collate, draw_mask, mask_chunk
from narspeech.analyze.comma_model import CoMMA
from narspeech.analyze.comma_train import masked_loss
from narspeech.errors import NarspeechError

DEFAULT_PS = tuple(round(0.1 * k, 1) for k in range(1, 10))


def check_ps(ps: list[float]) -> list[float]:
    """Mask probabilities must lie strictly inside (0, 1): p = 0 masks nothing, p = 1 leaves no target context."""
    if not ps:
        raise NarspeechError("no mask probability given (e.g. --p 0.1,0.5,0.9)")
    for p in ps:
        if not 0.0 < p < 1.0:
            raise NarspeechError(f"mask probability p={p} is outside (0, 1)")
    return list(ps)


def density_ratios(weights: torch.Tensor, tgt_len: torch.Tensor, src_len: torch.Tensor, masked: torch.Tensor) -> list[np.ndarray]:
    """alpha per masked position of each item: `weights` (B, N, N+M) averaged over heads/layers, target keys first."""
    n = masked.size(1)
    out = []
    for b in range(weights.size(0)):
        nb, mb = int(tgt_len[b]), int(src_len[b])
        w = weights[b, :nb]
        tgt_density = w[:, :nb].sum(-1) / nb
        src_density = w[:, n:n + mb].sum(-1) / mb
        alpha = tgt_density / (tgt_density + src_density).clamp_min(1e-12)
        out.append(alpha[masked[b, :nb]].detach().double().cpu().numpy())
    return out


def bootstrap_interval(values: np.ndarray, n_boot: int = 1000, level: float = 0.95, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of `values` (resampling sentences)."""
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(values), size=(n_boot, len(values)))
    means = values[idx].mean(1)
    lo, hi = np.quantile(means, [(1 - level) / 2, 1 - (1 - level) / 2])
    return float(lo), float(hi)


@torch.no_grad()
def measure_ratio(model: CoMMA, examples: list[Example], ps: list[float], *, layers: int | None = None, constrain: bool = False,
                  batch_items: int = 32, batch_positions: int = 6000, seed: int = 0, n_boot: int = 1000,
                  device: str = "cpu") -> dict:
    """R(p) for each p of `ps` over `examples` (already normalised like the training data).

    `layers`: how many of the last layers to average (default: the last half, rounded up). Returns
    ``{"layers": [...], "points": [{"p", "R", "ci95", "sentences", "tokens", "loss"}, ...]}``."""
    ps = check_ps(ps)
    n_layers = model.cfg.n_layers
    k = layers if layers is not None else (n_layers + 1) // 2
    if not 1 <= k <= n_layers:
        raise NarspeechError(f"--layers must be between 1 and {n_layers} (the model's layers), got {k}")
    chosen = list(range(n_layers - k, n_layers))
    model.eval()
    chunk = mask_chunk(model.cfg.task, model.cfg.reduction)
    batches = batch_examples(examples, batch_items, batch_positions)
    points = []
    for p in ps:
        rng = np.random.default_rng(seed + int(round(p * 1000)))
        sent_r, n_tok, loss_sum, loss_n = [], 0, 0.0, 0
        for idx in batches:
            items = [examples[i] for i in idx]
            masks = [draw_mask(len(e.tgt), p, rng, chunk) for e in items]
            batch = {key: v.to(device) for key, v in collate(items, masks, task=model.cfg.task, constrain=constrain).items()}
            pred, ws = model(batch["src"], batch["src_len"], batch["tgt"], batch["tgt_len"], batch["masked"], batch.get("src_window"))
            w = torch.stack([ws[i] for i in chosen]).mean(dim=(0, 2))  # layers, heads -> (B, N, N+M)
            alphas = density_ratios(w, batch["tgt_len"], model.source_lengths(batch["src_len"]), batch["masked"])
            for a in alphas:
                if len(a):
                    sent_r.append(float(a.mean()))
                    n_tok += len(a)
            n_masked = int(batch["masked"].sum())
            loss_sum += float(masked_loss(pred, batch["tgt"], batch["masked"])) * n_masked
            loss_n += n_masked
        r = np.asarray(sent_r)
        lo, hi = bootstrap_interval(r, n_boot=n_boot, seed=seed)
        points.append({"p": p, "R": round(float(r.mean()), 4), "ci95": [round(lo, 4), round(hi, 4)],
                       "sentences": len(r), "tokens": n_tok, "loss": round(loss_sum / max(loss_n, 1), 4)})
    return {"layers": [i + 1 for i in chosen], "points": points}
