"""Matplotlib figures of attention alignments and mels (PNG files, TensorBoard images)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from narspeech.audio.features import FeatureConfig, log_mel
from narspeech.audio.io import load_audio, resolve_entry
from narspeech.errors import NarspeechError
from narspeech.fileio import atomic_path, read_table
from narspeech.metrics.mcd import speech_span


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


def default_label(synth_dir: Path) -> str:
    """A row name for ``tts synthesize``'s OUT: ``exp/X/synth/test`` -> ``X``, ``exp/X/synth_best/test`` -> ``X synth_best``
    (several syntheses of one model stay apart); any other dir: its own name."""
    d = Path(synth_dir)
    parent = d.parent.name
    if parent == "synth":
        return d.parent.parent.name
    if parent.startswith("synth"):
        return f"{d.parent.parent.name} {parent}"
    return d.name


def spectrogram_comparison(ref_dir: str | Path, synth_dirs: Sequence[str | Path], utts: Sequence[str], out: str | Path, *,
                           labels: Sequence[str] | None = None, trim_db: float | None = 40.0) -> Path:
    """A PNG with one column per utterance and one row per system: the recording (`ref_dir`'s wav.scp), then
    each synthesis dir's wav, as log-mels of the synthesis' feature config, edge silence cut at `trim_db`
    (as ``tts evaluate --trim-db`` scores them). The way to *look* at whether a system speaks: formant
    movement, closures and pauses at the recording's places, or a stationary blur."""
    ref_dir, synth_dirs = Path(ref_dir), [Path(d) for d in synth_dirs]
    labels = list(labels) if labels else [default_label(d) for d in synth_dirs]
    if len(labels) != len(synth_dirs):
        raise NarspeechError(f"{len(labels)} labels for {len(synth_dirs)} synthesis dirs")
    info = json.loads((synth_dirs[0] / "synth_info.json").read_text(encoding="utf-8")) if synth_dirs else {}
    cfg = FeatureConfig.from_dict(info["feats"]) if info.get("feats") else FeatureConfig.for_rate(22050)
    texts = read_table(ref_dir / "text") if (ref_dir / "text").is_file() else {}
    rows = [("recording", ref_dir, read_table(ref_dir / "wav.scp"))] + [
        (lab, d, read_table(d / "wav.scp")) for lab, d in zip(labels, synth_dirs)]
    plt = _plt()
    fig, axes = plt.subplots(len(rows), len(utts), figsize=(5.2 * len(utts), 2.3 * len(rows)), squeeze=False)
    for j, utt in enumerate(utts):
        for i, (label, base, scp) in enumerate(rows):
            if utt not in scp:
                raise NarspeechError(f"no wav for {utt}", path=base / "wav.scp")
            wav, _ = load_audio(resolve_entry(scp[utt], base), utt=utt, target_sr=cfg.sample_rate)
            mel = log_mel(torch.from_numpy(wav)[None], cfg)[0].numpy()
            if trim_db is not None:
                mel = mel[speech_span(mel, trim_db)]
            ax = axes[i][j]
            ax.imshow(mel.T, origin="lower", aspect="auto", interpolation="none", cmap="magma")
            title = f"{utt} {label}"
            if i == 0 and utt in texts:
                title += f': "{texts[utt][:45]}"'
            ax.set_title(title, fontsize=8)
            ax.set_ylabel("mel bin", fontsize=7)
            if i == len(rows) - 1:
                ax.set_xlabel(f"frame ({1000 * cfg.hop_length / cfg.sample_rate:.1f} ms)", fontsize=7)
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    save_figure(fig, out, dpi=80)
    return out
