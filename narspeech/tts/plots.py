"""Matplotlib figures of attention alignments and mels (PNG files, TensorBoard images)."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from narspeech.fileio import atomic_path


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def attention_figure(attn: np.ndarray, title: str = "", tokens: Sequence[str] | None = None,
                     durations: np.ndarray | None = None):
    """Encoder-decoder attention (decoder steps × tokens) as an image: tokens on the y axis,
    decoder steps on x, so a good alignment is a rising diagonal. With `durations` the token
    boundaries they imply are drawn as a staircase (in decoder steps)."""
    plt = _plt()
    attn = np.asarray(attn, dtype=np.float32)
    fig, ax = plt.subplots(figsize=(max(4.0, attn.shape[0] / 25), max(3.0, attn.shape[1] / 8)))
    ax.imshow(attn.T, origin="lower", aspect="auto", interpolation="none", cmap="viridis", vmin=0, vmax=max(float(attn.max()), 1e-6))
    if durations is not None:
        steps = attn.shape[0] * np.cumsum(durations) / max(int(np.sum(durations)), 1)
        ax.step(np.concatenate([[0], steps]), np.arange(len(durations) + 1) - 0.5, where="post", color="w", lw=0.8, alpha=0.7)
    if tokens is not None and len(tokens) <= 80:
        ax.set_yticks(range(len(tokens)))
        ax.set_yticklabels(tokens, fontsize=6)
    ax.set_xlabel("decoder step")
    ax.set_ylabel("token")
    ax.set_title(title, fontsize=8)
    fig.tight_layout()
    return fig


def attention_grid_figure(attns: np.ndarray, title: str = ""):
    """All heads of all layers for one utterance: attns (L, H, S, N)."""
    plt = _plt()
    n_l, n_h = attns.shape[:2]
    fig, axes = plt.subplots(n_l, n_h, figsize=(2.6 * n_h, 2.2 * n_l), squeeze=False)
    for li in range(n_l):
        for hi in range(n_h):
            ax = axes[li][hi]
            ax.imshow(attns[li, hi].T, origin="lower", aspect="auto", interpolation="none", cmap="viridis")
            ax.set_title(f"layer {li} head {hi}", fontsize=7)
            ax.set_xticks([])
            ax.set_yticks([])
    fig.suptitle(title, fontsize=8)
    fig.tight_layout()
    return fig


def mel_figure(mels: Sequence[np.ndarray], titles: Sequence[str]):
    """Stacked log-mel images (T × n_mels each), e.g. prediction above target."""
    plt = _plt()
    fig, axes = plt.subplots(len(mels), 1, figsize=(8, 2.2 * len(mels)), squeeze=False)
    for ax, m, t in zip(axes[:, 0], mels, titles):
        ax.imshow(np.asarray(m).T, origin="lower", aspect="auto", interpolation="none", cmap="magma")
        ax.set_title(t, fontsize=8)
    fig.tight_layout()
    return fig


def save_figure(fig, path: str | Path, dpi: int = 100) -> None:
    """Write a figure as PNG atomically and free it."""
    plt = _plt()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi)
    plt.close(fig)


def add_figure(writer, tag: str, fig, step: int) -> None:
    """Log a figure to TensorBoard (if a writer is given) and free it."""
    plt = _plt()
    if writer is not None:
        writer.add_figure(tag, fig, step, close=False)
    plt.close(fig)
