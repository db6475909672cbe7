"""A frame-rate vocoder with an inverse-STFT head (Vocos-style): log-mel → ConvNeXt stack → magnitude + phase → iSTFT.

HiFi-GAN spends its compute upsampling to the sample rate through transposed convolutions and
dilated residual stacks. This generator never leaves the frame rate: a stack of ConvNeXt blocks
(depthwise conv, LayerNorm, pointwise MLP) predicts, per frame, the log-magnitude and the phase
of an ``n_fft``-point spectrum, and an inverse STFT (windowed inverse DFT as a matrix product,
overlap-add as shifted sums) turns them into samples. The
cost per second of audio is that of a few frame-rate MLPs, and every op (matmul, conv, cos/sin)
exports to ONNX (``torch.istft`` does not).

Interface: as :class:`~narspeech.vocoder.hifigan.Generator` — ``(B, n_mels, T)`` → ``(B, 1, T * hop)``,
:meth:`IstftGenerator.context_frames` (look-ahead), ``hop_length``, ``remove_weight_norm`` (a no-op)
— but its output is aligned to narspeech's centred frames (``output_delay = 0``: sample ``n`` is time
``n / sample_rate``), where the released HiFi-GANs lag by half a hop.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from narspeech.audio.features import FeatureConfig
from narspeech.config import load_config
from narspeech.errors import NarspeechError
from narspeech.train.checkpoint import exp_dir_of, resolve_checkpoint
from narspeech.vocoder.pretrained import read_checkpoint

KIND = "istft"


@dataclass(frozen=True)
class IstftConfig:
    """Sizes of an :class:`IstftGenerator` (``kind: istft`` in a vocoder config)."""

    dim: int = 256
    intermediate: int = 768
    layers: int = 6
    kernel: int = 7
    n_fft: int = 1024
    hop_length: int = 256
    n_mels: int = 80
    max_log_mag: float = 4.6  # exp(4.6) ~ 100: caps the magnitude (Vocos clips at 1e2) so an early step cannot blow up

    def to_dict(self) -> dict:
        return {"kind": KIND, **asdict(self)}

    @classmethod
    def from_dict(cls, d: dict) -> "IstftConfig":
        d = {k: v for k, v in d.items() if k not in ("kind", "preset")}
        unknown = sorted(set(d) - set(cls.__dataclass_fields__))
        if unknown:
            raise NarspeechError(f"unknown iSTFT generator option(s) {', '.join(unknown)}; known: {', '.join(cls.__dataclass_fields__)}")
        cfg = cls(**{k: (float(v) if k == "max_log_mag" else int(v)) for k, v in d.items()})
        if cfg.n_fft < cfg.hop_length or cfg.n_fft % cfg.hop_length or cfg.kernel % 2 == 0:
            raise NarspeechError(f"bad iSTFT generator config {d}: n_fft must be a multiple of hop_length, the kernel odd")
        return cfg


# Sizes: "istft" (the default, measured against HiFi-GAN V1/V2/V3 before it was chosen), "istft-small" (tests, smoke runs).
ISTFT_PRESETS = {
    "istft": IstftConfig(),
    "istft-small": IstftConfig(dim=32, intermediate=64, layers=2),
}


def is_istft(spec) -> bool:
    """Whether a generator spec (``vocoder.generator``) names an iSTFT generator."""
    if isinstance(spec, IstftConfig):
        return True
    if isinstance(spec, str):
        return spec.lower() in ISTFT_PRESETS
    if isinstance(spec, dict):
        return str(spec.get("kind", "")).lower() == KIND or str(spec.get("preset", "")).lower() in ISTFT_PRESETS
    return False


def istft_config(spec) -> IstftConfig:
    """A preset name, a dict (``preset`` + overrides, or ``kind: istft`` + fields) or a config."""
    if isinstance(spec, IstftConfig):
        return spec
    if isinstance(spec, str):
        spec = {"preset": spec}
    d = dict(spec)
    preset = str(d.pop("preset", KIND)).lower()
    if preset not in ISTFT_PRESETS:
        raise NarspeechError(f"unknown iSTFT generator preset {preset!r}; known: {', '.join(ISTFT_PRESETS)}")
    return IstftConfig.from_dict({**ISTFT_PRESETS[preset].to_dict(), **d})


class ConvNeXtBlock(nn.Module):
    """Depthwise conv → LayerNorm → Linear (×3) → GELU → Linear → layer scale, added back (Vocos's block)."""

    def __init__(self, dim: int, intermediate: int, kernel: int, scale: float):
        super().__init__()
        self.dwconv = nn.Conv1d(dim, dim, kernel, padding=kernel // 2, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pw1 = nn.Linear(dim, intermediate)
        self.pw2 = nn.Linear(intermediate, dim)
        self.gamma = nn.Parameter(torch.full((dim,), scale))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, dim, T) → (B, dim, T)."""
        y = self.dwconv(x).transpose(1, 2)
        y = self.pw2(F.gelu(self.pw1(self.norm(y))))
        return x + (self.gamma * y).transpose(1, 2)


class InverseStft(nn.Module):
    """(real, imag) spectra (B, n_fft//2+1, T) → (B, 1, T * hop) samples, frame t centred on sample t * hop.

    A Hann-windowed inverse real DFT (one matrix product) and overlap-add (shifted sums), divided by
    the window's squared overlap; equal to ``torch.istft(center=True)``
    on the samples both produce.
    """

    def __init__(self, n_fft: int, hop: int):
        super().__init__()
        self.n_fft, self.hop = n_fft, hop
        n_freq = n_fft // 2 + 1
        n = torch.arange(n_fft, dtype=torch.float64)[:, None]
        k = torch.arange(n_freq, dtype=torch.float64)[None]
        scale = torch.full((1, n_freq), 2.0, dtype=torch.float64)
        scale[0, 0] = 1.0
        scale[0, -1] = 1.0
        window = torch.hann_window(n_fft, periodic=True, dtype=torch.float64)[:, None]
        ang = 2 * math.pi * n * k / n_fft
        basis = torch.cat([torch.cos(ang) * scale, -torch.sin(ang) * scale], dim=1) * window / n_fft  # (n_fft, 2 F)
        self.register_buffer("basis", basis.float(), persistent=False)
        self.register_buffer("win_sq", (window[:, 0] ** 2).float().view(1, n_fft, 1), persistent=False)

    def forward(self, real: torch.Tensor, imag: torch.Tensor) -> torch.Tensor:
        t = real.shape[-1]
        frames = torch.matmul(self.basis, torch.cat([real, imag], dim=1))  # (B, n_fft, T)
        wav = self._overlap_add(frames)
        env = self._overlap_add(self.win_sq.expand(1, self.n_fft, t))
        start = self.n_fft // 2
        end = start + t * self.hop
        return wav[..., start:end] / env[..., start:end].clamp(min=1e-8)

    def _overlap_add(self, frames: torch.Tensor) -> torch.Tensor:
        """(B, n_fft, T) → (B, 1, (T + R - 1) hop), R = n_fft / hop: the R hop-long slices of every frame,
        each laid end to end and shifted by its slice index, summed (pads and adds: exports to any opset)."""
        b, _, t = frames.shape
        r = self.n_fft // self.hop
        out = None
        for i in range(r):
            piece = frames[:, i * self.hop : (i + 1) * self.hop].transpose(1, 2).reshape(b, 1, -1)  # (B, 1, T hop)
            piece = F.pad(piece, (i * self.hop, (r - 1 - i) * self.hop))
            out = piece if out is None else out + piece
        return out


class IstftGenerator(nn.Module):
    """log-mel (B, n_mels, T) → conv → ConvNeXt × layers → LayerNorm → Linear → (log|X|, ∠X) → iSTFT → (B, 1, T·hop)."""

    output_delay = 0.0  # of a hop: the output is aligned to the centred frames (the released HiFi-GANs lag by 0.5)

    def __init__(self, cfg: IstftConfig | str | dict = KIND):
        super().__init__()
        cfg = istft_config(cfg)
        self.cfg = cfg
        self.conv_pre = nn.Conv1d(cfg.n_mels, cfg.dim, cfg.kernel, padding=cfg.kernel // 2)
        self.norm = nn.LayerNorm(cfg.dim, eps=1e-6)
        self.blocks = nn.ModuleList([ConvNeXtBlock(cfg.dim, cfg.intermediate, cfg.kernel, 1.0 / cfg.layers) for _ in range(cfg.layers)])
        self.norm_post = nn.LayerNorm(cfg.dim, eps=1e-6)
        self.n_freq = cfg.n_fft // 2 + 1
        self.head = nn.Linear(cfg.dim, 2 * self.n_freq)
        self.istft = InverseStft(cfg.n_fft, cfg.hop_length)
        self.apply(self._init)

    @staticmethod
    def _init(m: nn.Module) -> None:
        if isinstance(m, (nn.Conv1d, nn.Linear)):
            nn.init.trunc_normal_(m.weight, std=0.02)
            nn.init.zeros_(m.bias)

    @property
    def hop_length(self) -> int:
        return self.cfg.hop_length

    def context_frames(self) -> int:
        """Frames of look-ahead: the convolutions' half-widths plus the iSTFT window's overlap, plus one."""
        c = self.cfg
        return (c.layers + 1) * (c.kernel // 2) + c.n_fft // c.hop_length // 2 + 1

    def spectrum(self, mel: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, n_mels, T) → real and imaginary parts (B, n_fft//2+1, T)."""
        x = self.norm(self.conv_pre(mel).transpose(1, 2)).transpose(1, 2)
        for b in self.blocks:
            x = b(x)
        h = self.head(self.norm_post(x.transpose(1, 2))).transpose(1, 2)
        mag = torch.exp(h[:, : self.n_freq].clamp(max=self.cfg.max_log_mag))
        phase = h[:, self.n_freq :]
        return mag * torch.cos(phase), mag * torch.sin(phase)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        """(B, n_mels, T) → (B, 1, T * hop), clipped to [-1, 1]."""
        re, im = self.spectrum(mel)
        return self.istft(re, im).clamp(-1.0, 1.0)

    def remove_weight_norm(self) -> "IstftGenerator":
        """No weight norm here; kept so the inference path treats every generator alike."""
        return self


def load_istft_run(spec: str):
    """(generator, its feature config, info) when `spec` is a ``narspeech vocoder train`` run of an iSTFT
    generator (exp dir or checkpoint, told by the run's config.yaml), else None (HiFi-GAN's loader takes it)."""
    path = Path(spec)
    if str(spec).lower().startswith("hifigan:") or not path.exists():
        return None
    conf = exp_dir_of(path) / "config.yaml"
    if not conf.is_file() or not is_istft((load_config(conf).get("vocoder") or {}).get("generator")):
        return None
    ckpt = resolve_checkpoint(path)
    ck = read_checkpoint(ckpt)
    cfg = ck.get("config") or {}
    vcfg = cfg.get("vocoder") or {}
    if "model" not in ck or not is_istft(vcfg.get("generator")) or "feats" not in cfg:
        raise NarspeechError("not an iSTFT vocoder checkpoint (its config.yaml says it is; the file has no such model)", path=ckpt)
    gen = IstftGenerator(vcfg["generator"])
    state = {k[len("generator."):]: v for k, v in ck["model"].items() if k.startswith("generator.")}
    try:
        gen.load_state_dict(state)
    except RuntimeError as e:
        raise NarspeechError(f"iSTFT generator weights do not fit its config: {str(e).splitlines()[0][:200]}", path=ckpt) from None
    info = {"name": str(spec), "path": str(ckpt), "generator": gen.cfg.to_dict(), "step": ck.get("step")}
    return gen.eval(), FeatureConfig.from_dict(cfg["feats"]), info
