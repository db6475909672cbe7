"""`narspeech bench train`: throughput and peak memory of the engine on a reference model.

The reference is a FastSpeech-shaped transformer defined here (independent of
narspeech.tts): token embedding, 4 FFT blocks (d=256, 2 heads, conv FFN 1024 with kernel
9), a duration predictor, a length regulator, 4 FFT decoder blocks and an 80-bin mel
projection, trained with masked L1 + log-duration MSE. Data are random but of LJSpeech
shape: 20–150 tokens per utterance, 2–10 frames per token. Each setting runs the real
:func:`narspeech.train.engine.fit` (bucketed DataLoader, autocast, clipping, Adam, noam)
for ``warmup + steps`` updates; steps/s is timed over the last ``steps`` only.
"""
from __future__ import annotations

import math
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

from narspeech.device import resolve_device
from narspeech.errors import NarspeechError
from narspeech.train.engine import fit
from narspeech.train.rng import seed_everything


class _FFTBlock(nn.Module):
    def __init__(self, d: int, heads: int, ffn: int, kernel: int, dropout: float):
        super().__init__()
        self.heads = heads
        self.qkv, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.norm1, self.norm2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.conv1, self.conv2 = nn.Conv1d(d, ffn, kernel, padding=kernel // 2), nn.Conv1d(ffn, d, 1)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:  # mask (B, T) True = valid
        B, T, D = x.shape
        q, k, v = self.qkv(x).view(B, T, 3, self.heads, D // self.heads).permute(2, 0, 3, 1, 4)
        a = nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask[:, None, None, :])
        x = self.norm1(x + self.drop(self.proj(a.transpose(1, 2).reshape(B, T, D))))
        h = self.conv2(torch.relu(self.conv1(x.transpose(1, 2)))).transpose(1, 2)
        x = self.norm2(x + self.drop(h))
        return x * mask[..., None]


def _positions(T: int, d: int, device) -> torch.Tensor:
    pos = torch.arange(T, device=device, dtype=torch.float32)[:, None]
    div = torch.exp(torch.arange(0, d, 2, device=device, dtype=torch.float32) * (-math.log(10000.0) / d))
    pe = torch.zeros(T, d, device=device)
    pe[:, 0::2], pe[:, 1::2] = torch.sin(pos * div), torch.cos(pos * div)
    return pe


def length_regulate(x: torch.Tensor, dur: torch.Tensor, T: int) -> torch.Tensor:
    """(B, N, D) token states, (B, N) integer durations -> (B, T, D): frame t copies the token
    whose duration span covers t (batched ``repeat_interleave``; frames past the end copy the last token)."""
    B, N, D = x.shape
    ends = dur.cumsum(1)
    t = torch.arange(T, device=x.device).expand(B, T).contiguous()
    idx = torch.searchsorted(ends, t, right=True).clamp(max=N - 1)
    return torch.gather(x, 1, idx[..., None].expand(B, T, D))


class ReferenceFastSpeech(nn.Module):
    """FastSpeech-sized benchmark model (about 20M parameters at the defaults)."""

    def __init__(self, vocab: int = 80, d: int = 256, heads: int = 2, layers: int = 4, ffn: int = 1024, kernel: int = 9, n_mels: int = 80,
                 dropout: float = 0.1, speakers: int = 0):
        super().__init__()
        self.d = d
        self.emb = nn.Embedding(vocab, d, padding_idx=0)
        # a learned speaker vector added to every token state (how narspeech's FastSpeech 2 takes a speaker id)
        self.spk = nn.Embedding(speakers, d) if speakers else None
        self.encoder = nn.ModuleList(_FFTBlock(d, heads, ffn, kernel, dropout) for _ in range(layers))
        self.decoder = nn.ModuleList(_FFTBlock(d, heads, ffn, kernel, dropout) for _ in range(layers))
        self.dur = nn.Sequential(nn.Conv1d(d, d, 3, padding=1), nn.ReLU(), nn.Conv1d(d, d, 3, padding=1), nn.ReLU())
        self.dur_out = nn.Linear(d, 1)
        self.mel = nn.Linear(d, n_mels)

    def forward(self, batch: dict):
        tok, tlen, dur, mels, mlen = batch["tokens"], batch["token_lengths"], batch["durations"], batch["mels"], batch["mel_lengths"]
        B, N = tok.shape
        tmask = torch.arange(N, device=tok.device)[None] < tlen[:, None]
        x = self.emb(tok) * math.sqrt(self.d) + _positions(N, self.d, tok.device)
        for blk in self.encoder:
            x = blk(x, tmask)
        if self.spk is not None:
            x = x + self.spk(batch["speakers"])[:, None, :]
        logd = self.dur_out(self.dur(x.transpose(1, 2)).transpose(1, 2)).squeeze(-1)
        T = mels.shape[1]
        h = length_regulate(x, dur, T)
        fmask = torch.arange(T, device=tok.device)[None] < mlen[:, None]
        h = h + _positions(T, self.d, tok.device)
        for blk in self.decoder:
            h = blk(h, fmask)
        pred = self.mel(h).float()
        m = fmask[..., None].float()
        l1 = ((pred - mels).abs() * m).sum() / (m.sum() * mels.shape[-1])
        tm = tmask.float()
        dl = (((logd.float() - torch.log1p(dur.float())) ** 2) * tm).sum() / tm.sum()
        return l1 + dl, {"l1": l1.detach(), "dur": dl.detach()}


class RandomTTSData(torch.utils.data.Dataset):
    """Random utterances of LJSpeech shape; ``lengths`` are mel frames (what bucketing bounds)."""

    def __init__(self, n: int, seed: int = 0, vocab: int = 80, n_mels: int = 80, speakers: int = 0):
        g = torch.Generator().manual_seed(seed)
        self.n_mels, self.speakers = n_mels, speakers
        self.items = []
        for _ in range(n):
            N = int(torch.randint(20, 151, (1,), generator=g))
            tok = torch.randint(1, vocab, (N,), generator=g)
            dur = torch.randint(2, 11, (N,), generator=g)
            self.items.append((tok, dur))
        self.lengths = [int(d.sum()) for _, d in self.items]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int):
        tok, dur = self.items[i]
        g = torch.Generator().manual_seed(i)
        return tok, dur, torch.randn(int(dur.sum()), self.n_mels, generator=g), i % max(self.speakers, 1)


def collate_tts(items: list) -> dict[str, torch.Tensor]:
    B = len(items)
    N = max(it[0].shape[0] for it in items)
    T = max(it[2].shape[0] for it in items)
    tok = torch.zeros(B, N, dtype=torch.long)
    dur = torch.zeros(B, N, dtype=torch.long)
    mels = torch.zeros(B, T, items[0][2].shape[1])
    for b, (t, d, m, _) in enumerate(items):
        tok[b, : t.shape[0]], dur[b, : d.shape[0]], mels[b, : m.shape[0]] = t, d, m
    return {
        "tokens": tok, "durations": dur, "mels": mels, "speakers": torch.tensor([it[3] for it in items]),
        "token_lengths": torch.tensor([it[0].shape[0] for it in items]),
        "mel_lengths": torch.tensor([it[2].shape[0] for it in items]),
    }


class _Timer:
    def __init__(self, device: torch.device):
        self.device, self.times = device, []

    def on_step_end(self, step: int, model) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        self.times.append(time.perf_counter())


def bench_train(
    device: str = "auto",
    batch_sizes: tuple[int, ...] | None = None,
    precisions: tuple[str, ...] | None = None,
    steps: int | None = None,
    warmup: int | None = None,
    num_workers: int = 2,
    seed: int = 0,
    model_kw: dict | None = None,
    speakers: int = 0,
) -> list[dict]:
    """Run the engine on the reference model for each (batch size, precision); one result dict each.

    Defaults: CUDA — batch sizes (16, 32), bf16 and fp32, 30 timed steps; CPU — (1, 2), fp32 only
    (autocast is CUDA-only in narspeech), 3 timed steps. ``model_kw`` overrides the reference
    model's sizes (:class:`ReferenceFastSpeech` arguments); ``speakers`` > 0 adds a speaker table and
    deals the utterances round-robin to that many voices (the multi-speaker training cost).
    """
    dev = resolve_device(device)
    cuda = dev.type == "cuda"
    batch_sizes = tuple(batch_sizes or ((16, 32) if cuda else (1, 2)))
    precisions = tuple(precisions or (("bf16", "fp32") if cuda else ("fp32",)))
    if not cuda:
        precisions = tuple(p for p in precisions if p == "fp32") or ("fp32",)
    steps = int(steps or (30 if cuda else 3))
    warmup = int(warmup if warmup is not None else (5 if cuda else 1))
    if warmup < 1 or steps < 1:
        raise NarspeechError("bench train needs --warmup >= 1 and --steps >= 1")
    results = []
    for bs in batch_sizes:
        data = RandomTTSData(bs * (warmup + steps + 2), seed=seed, speakers=speakers)
        for prec in precisions:
            seed_everything(seed)
            model = ReferenceFastSpeech(**{**(model_kw or {}), "speakers": speakers})
            n_par = sum(p.numel() for p in model.parameters())
            cfg = {"train": {
                "seed": seed, "device": str(dev), "amp": prec, "max_steps": warmup + steps, "max_epochs": 0,
                "batch_bins": 10**9, "max_batch_size": bs, "grad_clip": 1.0, "num_workers": num_workers,
                "optim": {"name": "adam", "lr": 1e-3}, "scheduler": {"name": "noam", "warmup_steps": 4000},
                "log_interval": 10**9, "tensorboard": False, "log_to_stderr": False,
            }}
            timer = _Timer(dev)
            if cuda:
                torch.cuda.empty_cache()
                torch.cuda.reset_peak_memory_stats(dev)
            with tempfile.TemporaryDirectory(prefix="narspeech-bench-") as tmp:
                fit(cfg, model, data, None, collate_tts, Path(tmp) / "exp", hooks=timer)
            t = timer.times
            sps = steps / (t[-1] - t[warmup - 1])
            frames = sum(data.lengths) / len(data) * bs
            results.append({
                "device": torch.cuda.get_device_name(dev) if cuda else f"cpu ({torch.get_num_threads()} threads)",
                "batch_size": bs, "precision": prec, "steps_per_s": sps, "frames_per_s": sps * frames,
                "peak_mem_gib": torch.cuda.max_memory_allocated(dev) / 2**30 if cuda else None,
                "params_m": n_par / 1e6, "timed_steps": steps, "speakers": speakers,
            })
            del model
    return results


def format_results(results: list[dict]) -> str:
    lines = [f"{'device':<28} {'batch':>5} {'prec':>5} {'steps/s':>8} {'frames/s':>9} {'peak GiB':>8}"]
    for r in results:
        mem = f"{r['peak_mem_gib']:.2f}" if r["peak_mem_gib"] is not None else "-"
        lines.append(f"{r['device'][:28]:<28} {r['batch_size']:>5} {r['precision']:>5} {r['steps_per_s']:>8.3f} {r['frames_per_s']:>9.0f} {mem:>8}")
    return "\n".join(lines)
