"""CoMMA: conditional masked prediction with mix-attention (Ren et al., ACL 2020, section 2).

One stack of Transformer layers is shared by the encoder and the decoder. Encoder layer i is
self-attention over the source; decoder layer i attends, in ONE softmax, to
``[decoder layer i-1 outputs (target, N positions) ; encoder layer i outputs (source, M positions)]``
(the mix-attention of He et al. 2018). Target positions come first in the key axis, as in the
paper's equation 1. Source and target get a segment embedding and position embeddings that both
start at 0. Masked target positions have their pre-net output replaced by a learned mask vector.

`attention="source_only"` blocks the target part of the mix-attention: the model then cannot use
target context at all (a deliberate break, for checking that the density ratio is measured).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from narspeech.nets.attention import MultiHeadAttention
from narspeech.nets.positional import sinusoid_table
from narspeech.nets.subsampling import Conv2dSubsampling4, subsampled_lengths
from narspeech.nets.transformer import ConvFFN

TASKS = ("tts", "asr", "correct", "tokens")  # tokens: token source -> token target (synthetic tasks, NMT-like)
ATTENTION_MODES = ("mix", "source_only")


@dataclass
class CommaConfig:
    """Sizes of a CoMMA model; `n_src`/`n_tgt` are vocab sizes (token sides) or feature dims (speech sides)."""

    task: str
    n_src: int
    n_tgt: int
    d_model: int = 64
    n_heads: int = 4
    n_layers: int = 3
    d_ff: int = 128
    dropout: float = 0.1
    prenet_dim: int = 64           # TTS mel pre-net width (2 dense layers with ReLU)
    reduction: int = 1             # TTS: mel frames stacked per target position (n_tgt = n_mels * reduction)
    subsample_channels: int = 0    # ASR: channels of the conv pre-net (0 = d_model, as ESPnet)
    max_positions: int = 4096
    attention: str = "mix"
    tie_embeddings: bool = True    # token-to-token tasks with one vocabulary (correct): source, target and output share it
    extra: dict = field(default_factory=dict)

    @property
    def src_is_speech(self) -> bool:
        return self.task == "asr"

    @property
    def tgt_is_speech(self) -> bool:
        return self.task == "tts"

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "CommaConfig":
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})


class SharedLayer(nn.Module):
    """Pre-LN attention + FFN whose weights serve both the encoder and the decoder pass."""

    def __init__(self, d_model: int, n_heads: int, d_ff: int, dropout: float):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.attn = MultiHeadAttention(d_model, n_heads, dropout)
        self.ffn = ConvFFN(d_model, d_ff, 1, dropout)
        self.drop = nn.Dropout(dropout)

    def attend(self, q: torch.Tensor, kv: torch.Tensor, blocked: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Attention of `q` (B,Tq,D) over `kv` (B,Tk,D) with a per-item mask `blocked` (B,Tq,Tk), True = not allowed.
        Returns (output, weights (B,H,Tq,Tk)) — one softmax over the whole key axis."""
        a = self.attn
        b, tq, tk = q.size(0), q.size(1), kv.size(1)
        qh = a.q(q).view(b, tq, a.h, a.dk).transpose(1, 2)
        kh = a.k(kv).view(b, tk, a.h, a.dk).transpose(1, 2)
        vh = a.v(kv).view(b, tk, a.h, a.dk).transpose(1, 2)
        scores = (torch.matmul(qh, kh.transpose(-2, -1)) / math.sqrt(a.dk)).float()
        scores = scores.masked_fill(blocked[:, None], float("-inf"))
        w = torch.softmax(scores, dim=-1).masked_fill(blocked[:, None], 0.0)  # rows with no key: zeros, not NaN
        out = torch.matmul(a.drop(w).to(vh.dtype), vh).transpose(1, 2).reshape(b, tq, a.h * a.dk)
        return a.o(out), w

    def ffn_block(self, x: torch.Tensor, pad: torch.Tensor) -> torch.Tensor:
        x = x + self.drop(self.ffn(self.norm2(x)))
        return x.masked_fill(pad[..., None], 0.0)

    def encode(self, x: torch.Tensor, src_pad: torch.Tensor) -> torch.Tensor:
        h = self.norm1(x)
        blocked = src_pad[:, None, :].expand(-1, x.size(1), -1)
        a, _ = self.attend(h, h, blocked)
        return self.ffn_block(x + self.drop(a), src_pad)

    def decode(self, y: torch.Tensor, enc_out: torch.Tensor, blocked: torch.Tensor, tgt_pad: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        hy = self.norm1(y)
        kv = torch.cat([hy, self.norm1(enc_out)], dim=1)
        a, w = self.attend(hy, kv, blocked)
        return self.ffn_block(y + self.drop(a), tgt_pad), w


class CoMMA(nn.Module):
    """``forward(src, src_len, tgt, tgt_len, masked, src_window=None) -> (prediction, [mix weights per layer])``.

    src: (B,M) ids or (B,T,n_mels) features (ASR: subsampled ×4 by the conv pre-net, M = T');
    tgt: (B,N) ids or (B,N,n_mels) mels; masked: (B,N) bool, positions replaced by the mask embedding;
    src_window: optional (B,N,2) long [lo, hi) of the source positions each target position may see
    (the alignment constraint; in the pre-net's output positions). Weights: (B,H,N,N+M), target keys first.
    """

    def __init__(self, cfg: CommaConfig):
        super().__init__()
        if cfg.task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, got {cfg.task!r}")
        if cfg.attention not in ATTENTION_MODES:
            raise ValueError(f"attention must be one of {ATTENTION_MODES}, got {cfg.attention!r}")
        self.cfg = cfg
        d = cfg.d_model
        if cfg.src_is_speech:
            self.src_prenet = Conv2dSubsampling4(cfg.n_src, d, channels=cfg.subsample_channels or d)
        else:
            self.src_prenet = nn.Embedding(cfg.n_src, d)
        if cfg.tgt_is_speech:
            self.tgt_prenet = nn.Sequential(nn.Linear(cfg.n_tgt, cfg.prenet_dim), nn.ReLU(), nn.Dropout(cfg.dropout),
                                            nn.Linear(cfg.prenet_dim, d), nn.ReLU(), nn.Dropout(cfg.dropout))
        else:
            self.tgt_prenet = nn.Embedding(cfg.n_tgt, d)
        self.mask_embed = nn.Parameter(torch.randn(d) * 0.02)
        self.segment = nn.Embedding(2, d)  # 0 source, 1 target
        self.register_buffer("pos", sinusoid_table(cfg.max_positions, d), persistent=False)
        self.layers = nn.ModuleList(SharedLayer(d, cfg.n_heads, cfg.d_ff, cfg.dropout) for _ in range(cfg.n_layers))
        self.norm = nn.LayerNorm(d)
        self.out = nn.Linear(d, cfg.n_tgt)
        self.drop = nn.Dropout(cfg.dropout)
        if cfg.tie_embeddings and cfg.task in ("correct", "tokens") and cfg.n_src == cfg.n_tgt:
            self.tgt_prenet = self.src_prenet  # copying a word is then the easy default, as in the corrector
            self.out.weight = self.src_prenet.weight
        for emb in (self.src_prenet, self.tgt_prenet, self.segment):
            if isinstance(emb, nn.Embedding):  # std d^-0.5: after the sqrt(d) scale, tokens and positions are comparable
                nn.init.normal_(emb.weight, 0.0, d ** -0.5)

    def source_lengths(self, src_len: torch.Tensor) -> torch.Tensor:
        """Source positions the mix-attention sees (after the ASR pre-net's subsampling)."""
        return subsampled_lengths(src_len) if self.cfg.src_is_speech else src_len

    def _embed(self, h: torch.Tensor, segment: int) -> torch.Tensor:
        n = h.size(1)
        if n > self.pos.size(0):
            raise ValueError(f"sequence of {n} positions is longer than max_positions {self.pos.size(0)}")
        scale = math.sqrt(h.size(-1))
        return self.drop(h * scale + self.pos[:n][None] + self.segment.weight[segment][None, None])

    def forward(self, src: torch.Tensor, src_len: torch.Tensor, tgt: torch.Tensor, tgt_len: torch.Tensor,
                masked: torch.Tensor, src_window: torch.Tensor | None = None) -> tuple[torch.Tensor, list[torch.Tensor]]:
        if self.cfg.src_is_speech:
            x, m_len = self.src_prenet(src, src_len)
        else:
            x, m_len = self.src_prenet(src), src_len
        m = x.size(1)
        y = self.tgt_prenet(tgt)
        y = torch.where(masked[..., None], self.mask_embed.to(y.dtype).expand_as(y), y)
        x, y = self._embed(x, 0), self._embed(y, 1)
        n = y.size(1)
        src_pad = torch.arange(m, device=x.device)[None] >= m_len[:, None]
        tgt_pad = torch.arange(n, device=y.device)[None] >= tgt_len[:, None]
        blocked_src = src_pad[:, None, :].expand(-1, n, -1)
        if src_window is not None:
            j = torch.arange(m, device=x.device)[None, None]
            blocked_src = blocked_src | (j < src_window[..., :1]) | (j >= src_window[..., 1:2])
        blocked_tgt = tgt_pad[:, None, :].expand(-1, n, -1)
        if self.cfg.attention == "source_only":
            blocked_tgt = torch.ones_like(blocked_tgt)
        blocked = torch.cat([blocked_tgt, blocked_src], dim=2)
        x = x.masked_fill(src_pad[..., None], 0.0)
        y = y.masked_fill(tgt_pad[..., None], 0.0)
        weights = []
        for layer in self.layers:
            x = layer.encode(x, src_pad)            # encoder layer i
            y, w = layer.decode(y, x, blocked, tgt_pad)  # decoder layer i over [decoder i-1 ; encoder i]
            weights.append(w)
        return self.out(self.norm(y)), weights
