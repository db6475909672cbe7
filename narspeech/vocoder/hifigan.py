"""HiFi-GAN (Kong et al., 2020): generator V1/V2/V3, multi-period and multi-scale discriminators.

Written here, with the module and parameter names of the released implementation, so the
released generator checkpoints (``{"generator": state_dict}`` with weight-norm tensors
``weight_g`` / ``weight_v``) load into :class:`Generator` through :func:`load_generator_state`.
Weight norm uses ``torch.nn.utils.parametrizations`` (``parametrizations.weight.original0/1``);
:meth:`Generator.remove_weight_norm` folds it into plain weights for inference.

Generator: ``(B, n_mels, T)`` log-mel → ``(B, 1, T * hop)`` waveform in [-1, 1]; the
receptive field is local, so a padded batch gives each item the same samples as one at a
time except near the padding boundary (see :mod:`narspeech.vocoder.neural`).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrizations, parametrize

from narspeech.errors import NarspeechError

LRELU_SLOPE = 0.1


@dataclass(frozen=True)
class GeneratorConfig:
    """Generator sizes (the released ``config_v1/v2/v3.json`` fields)."""

    resblock: str = "1"
    upsample_rates: tuple[int, ...] = (8, 8, 2, 2)
    upsample_kernel_sizes: tuple[int, ...] = (16, 16, 4, 4)
    upsample_initial_channel: int = 512
    resblock_kernel_sizes: tuple[int, ...] = (3, 7, 11)
    resblock_dilation_sizes: tuple[tuple[int, ...], ...] = ((1, 3, 5), (1, 3, 5), (1, 3, 5))
    n_mels: int = 80

    @property
    def hop_length(self) -> int:
        """Samples per mel frame (product of the upsampling rates)."""
        return math.prod(self.upsample_rates)

    def to_dict(self) -> dict:
        d = asdict(self)
        return {k: [list(x) for x in v] if k == "resblock_dilation_sizes" else (list(v) if isinstance(v, tuple) else v) for k, v in d.items()}

    @classmethod
    def from_dict(cls, d: dict) -> "GeneratorConfig":
        names = set(cls.__dataclass_fields__)
        unknown = sorted(set(d) - names)
        if unknown:
            raise NarspeechError(f"unknown HiFi-GAN generator option(s) {', '.join(unknown)}; known: {', '.join(sorted(names))}")
        kw = dict(d)
        for k in ("upsample_rates", "upsample_kernel_sizes", "resblock_kernel_sizes"):
            if k in kw:
                kw[k] = tuple(int(x) for x in kw[k])
        if "resblock_dilation_sizes" in kw:
            kw["resblock_dilation_sizes"] = tuple(tuple(int(y) for y in x) for x in kw["resblock_dilation_sizes"])
        cfg = cls(**kw)
        if cfg.resblock not in ("1", "2") or len(cfg.upsample_rates) != len(cfg.upsample_kernel_sizes) \
                or len(cfg.resblock_kernel_sizes) != len(cfg.resblock_dilation_sizes):
            raise NarspeechError(f"bad HiFi-GAN generator config: {d}")
        return cfg


# The released sizes (jik876/hifi-gan config_v1.json, config_v2.json, config_v3.json).
GENERATOR_PRESETS: dict[str, GeneratorConfig] = {
    "v1": GeneratorConfig(),
    "v2": GeneratorConfig(upsample_initial_channel=128),
    "v3": GeneratorConfig(resblock="2", upsample_rates=(8, 8, 4), upsample_kernel_sizes=(16, 16, 8), upsample_initial_channel=256,
                          resblock_kernel_sizes=(3, 5, 7), resblock_dilation_sizes=((1, 2), (2, 6), (3, 12))),
}


def generator_config(spec: str | dict | GeneratorConfig) -> GeneratorConfig:
    """A preset name (v1, v2, v3), a dict (optionally with ``preset`` + overrides) or a config."""
    if isinstance(spec, GeneratorConfig):
        return spec
    if isinstance(spec, str):
        spec = {"preset": spec}
    d = dict(spec)
    preset = str(d.pop("preset", "v1")).lower()
    if preset not in GENERATOR_PRESETS:
        raise NarspeechError(f"unknown HiFi-GAN generator preset {preset!r}; known: {', '.join(GENERATOR_PRESETS)}")
    return GeneratorConfig.from_dict({**GENERATOR_PRESETS[preset].to_dict(), **d})


def _wn(module: nn.Module) -> nn.Module:
    return parametrizations.weight_norm(module)


def _pad(kernel: int, dilation: int = 1) -> int:
    return (kernel * dilation - dilation) // 2


def _init(m: nn.Module) -> None:
    if isinstance(m, (nn.Conv1d, nn.ConvTranspose1d)):
        m.weight.data.normal_(0.0, 0.01)


class ResBlock1(nn.Module):
    """V1/V2 residual block: per dilation, lrelu → dilated conv → lrelu → conv, added back."""

    def __init__(self, channels: int, kernel: int, dilations: tuple[int, ...]):
        super().__init__()
        self.convs1 = nn.ModuleList([_wn(nn.Conv1d(channels, channels, kernel, 1, dilation=d, padding=_pad(kernel, d))) for d in dilations])
        self.convs2 = nn.ModuleList([_wn(nn.Conv1d(channels, channels, kernel, 1, padding=_pad(kernel))) for _ in dilations])
        self.apply(_init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for c1, c2 in zip(self.convs1, self.convs2):
            x = x + c2(F.leaky_relu(c1(F.leaky_relu(x, LRELU_SLOPE)), LRELU_SLOPE))
        return x


class ResBlock2(nn.Module):
    """V3 residual block: per dilation, lrelu → dilated conv, added back."""

    def __init__(self, channels: int, kernel: int, dilations: tuple[int, ...]):
        super().__init__()
        self.convs = nn.ModuleList([_wn(nn.Conv1d(channels, channels, kernel, 1, dilation=d, padding=_pad(kernel, d))) for d in dilations])
        self.apply(_init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for c in self.convs:
            x = x + c(F.leaky_relu(x, LRELU_SLOPE))
        return x


class Generator(nn.Module):
    """HiFi-GAN generator: conv_pre → [lrelu → transposed conv ×rate → mean of MRF res-blocks]* → conv_post → tanh."""

    def __init__(self, cfg: GeneratorConfig | str | dict = "v1"):
        super().__init__()
        cfg = generator_config(cfg)
        self.cfg = cfg
        self.num_kernels = len(cfg.resblock_kernel_sizes)
        self.num_upsamples = len(cfg.upsample_rates)
        ch0 = cfg.upsample_initial_channel
        self.conv_pre = _wn(nn.Conv1d(cfg.n_mels, ch0, 7, 1, padding=3))
        block = ResBlock1 if cfg.resblock == "1" else ResBlock2
        self.ups = nn.ModuleList()
        self.resblocks = nn.ModuleList()
        ch = ch0
        for i, (u, k) in enumerate(zip(cfg.upsample_rates, cfg.upsample_kernel_sizes)):
            ch = ch0 // 2 ** (i + 1)
            self.ups.append(_wn(nn.ConvTranspose1d(ch0 // 2**i, ch, k, u, padding=(k - u) // 2)))
            for kr, d in zip(cfg.resblock_kernel_sizes, cfg.resblock_dilation_sizes):
                self.resblocks.append(block(ch, kr, d))
        self.conv_post = _wn(nn.Conv1d(ch, 1, 7, 1, padding=3))
        self.ups.apply(_init)
        self.conv_post.apply(_init)

    @property
    def hop_length(self) -> int:
        return self.cfg.hop_length

    def context_frames(self) -> int:
        """Frames of look-ahead (receptive half-width, rounded up): outputs of frames ``< T`` do not
        depend on anything past frame ``T - 1 + context_frames()``."""
        c = self.cfg
        width = 3.0  # conv_pre, frames
        res = 1
        for u, k in zip(c.upsample_rates, c.upsample_kernel_sizes):
            width += math.ceil(k / u) / res  # transposed conv: ~k/u inputs of the previous resolution
            res *= u
            per_kernel = [sum((kr - 1) // 2 * (d + (1 if c.resblock == "1" else 0)) for d in dil)
                          for kr, dil in zip(c.resblock_kernel_sizes, c.resblock_dilation_sizes)]
            width += max(per_kernel) / res
        width += 3 / res  # conv_post
        return math.ceil(width) + 1

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        """(B, n_mels, T) → (B, 1, T * hop)."""
        x = self.conv_pre(mel)
        for i, up in enumerate(self.ups):
            x = up(F.leaky_relu(x, LRELU_SLOPE))
            blocks = self.resblocks[i * self.num_kernels : (i + 1) * self.num_kernels]
            xs = blocks[0](x)
            for b in blocks[1:]:
                xs = xs + b(x)
            x = xs / self.num_kernels
        x = self.conv_post(F.leaky_relu(x))  # default slope 0.01 here, as released
        return torch.tanh(x)

    def remove_weight_norm(self) -> "Generator":
        """Fold weight norm into plain weights (inference: fewer ops, same output)."""
        for m in self.modules():
            if parametrize.is_parametrized(m, "weight"):
                parametrize.remove_parametrizations(m, "weight", leave_parametrized=True)
        return self


def load_generator_state(gen: Generator, state: dict, *, source: str = "checkpoint") -> None:
    """Load a generator state dict in any of the three layouts: released (``weight_g``/``weight_v``),
    ours (``parametrizations.weight.original0/1``) or weight norm removed (``weight``)."""
    own = gen.state_dict()
    out = {}
    for k, v in state.items():
        if k.endswith(".weight_g"):
            k = k[: -len("weight_g")] + "parametrizations.weight.original0"
        elif k.endswith(".weight_v"):
            k = k[: -len("weight_v")] + "parametrizations.weight.original1"
        elif k.endswith(".weight") and k not in own and k[: -len("weight")] + "parametrizations.weight.original1" in own:
            # plain weights into a weight-normed module: g = ||v|| over all dims but 0, v = weight
            base = k[: -len("weight")]
            g = torch.linalg.vector_norm(v.reshape(v.shape[0], -1), dim=1).reshape(-1, *([1] * (v.dim() - 1)))
            out[base + "parametrizations.weight.original0"] = g
            k = base + "parametrizations.weight.original1"
        out[k] = v
    missing = sorted(set(own) - set(out))
    unexpected = sorted(set(out) - set(own))
    if missing or unexpected:
        raise NarspeechError(
            f"HiFi-GAN generator weights do not fit this generator ({len(missing)} missing, e.g. {missing[:2]}; "
            f"{len(unexpected)} unexpected, e.g. {unexpected[:2]}): wrong generator size (v1/v2/v3)?", path=source)
    for k, v in out.items():
        if own[k].shape != v.shape:
            raise NarspeechError(f"HiFi-GAN generator weight {k} has shape {tuple(v.shape)}, expected {tuple(own[k].shape)}: "
                                 "wrong generator size (v1/v2/v3)?", path=source)
    gen.load_state_dict(out)


# --------------------------------------------------------------------------- discriminators


def _conv_stack(convs: nn.ModuleList, conv_post: nn.Module, x: torch.Tensor,
                fmap: list[torch.Tensor]) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """A discriminator's conv stack (leaky ReLU after each) and output conv: (flattened scores, feature maps)."""
    for conv in convs:
        x = F.leaky_relu(conv(x), LRELU_SLOPE)
        fmap.append(x)
    x = conv_post(x)
    fmap.append(x)
    return torch.flatten(x, 1, -1), fmap


class PeriodDiscriminator(nn.Module):
    """Looks at every `period`-th sample: (B, 1, N) → 2-D (B, 1, N/p, p) → strided 2-D convs."""

    def __init__(self, period: int, kernel: int = 5, stride: int = 3, width: float = 1.0):
        super().__init__()
        self.period = period
        chans = [1] + [max(1, round(c * width)) for c in (32, 128, 512, 1024)]
        top = chans[-1]
        self.convs = nn.ModuleList(
            [_wn(nn.Conv2d(chans[i], chans[i + 1], (kernel, 1), (stride, 1), padding=(_pad(kernel), 0))) for i in range(4)]
            + [_wn(nn.Conv2d(top, top, (kernel, 1), 1, padding=(2, 0)))]
        )
        self.conv_post = _wn(nn.Conv2d(top, 1, (3, 1), 1, padding=(1, 0)))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        fmap = []
        b, c, t = x.shape
        if t % self.period:
            n_pad = self.period - t % self.period
            x = F.pad(x, (0, n_pad), "reflect")
            t += n_pad
        x = x.view(b, c, t // self.period, self.period)
        return _conv_stack(self.convs, self.conv_post, x, fmap)


class MultiPeriodDiscriminator(nn.Module):
    """One :class:`PeriodDiscriminator` per period; ``width`` scales the channels (1 = released)."""

    def __init__(self, periods: tuple[int, ...] = (2, 3, 5, 7, 11), width: float = 1.0):
        super().__init__()
        self.discriminators = nn.ModuleList([PeriodDiscriminator(p, width=width) for p in periods])

    def forward(self, y: torch.Tensor) -> tuple[list[torch.Tensor], list[list[torch.Tensor]]]:
        outs, fmaps = [], []
        for d in self.discriminators:
            o, f = d(y)
            outs.append(o)
            fmaps.append(f)
        return outs, fmaps


class ScaleDiscriminator(nn.Module):
    """Grouped strided 1-D convs over the waveform (MelGAN's discriminator)."""

    def __init__(self, spectral: bool = False, width: float = 1.0):
        super().__init__()
        norm = nn.utils.spectral_norm if spectral else _wn
        spec = [(1, 128, 15, 1, 1, 7), (128, 128, 41, 2, 4, 20), (128, 256, 41, 2, 16, 20), (256, 512, 41, 4, 16, 20),
                (512, 1024, 41, 4, 16, 20), (1024, 1024, 41, 1, 16, 20), (1024, 1024, 5, 1, 1, 2)]
        w = (lambda c: c if c == 1 else max(1, round(c * width)))
        self.convs = nn.ModuleList([norm(nn.Conv1d(w(i), w(o), k, s, groups=math.gcd(g, math.gcd(w(i), w(o))), padding=p))
                                    for i, o, k, s, g, p in spec])
        self.conv_post = norm(nn.Conv1d(w(1024), 1, 3, 1, padding=1))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        fmap = []
        return _conv_stack(self.convs, self.conv_post, x, fmap)


class MultiScaleDiscriminator(nn.Module):
    """Raw audio, ×2 and ×4 average-pooled; the first with spectral norm. ``width`` scales the channels."""

    def __init__(self, width: float = 1.0):
        super().__init__()
        self.discriminators = nn.ModuleList([ScaleDiscriminator(spectral=True, width=width), ScaleDiscriminator(width=width),
                                             ScaleDiscriminator(width=width)])
        self.meanpools = nn.ModuleList([nn.AvgPool1d(4, 2, padding=2), nn.AvgPool1d(4, 2, padding=2)])

    def forward(self, y: torch.Tensor) -> tuple[list[torch.Tensor], list[list[torch.Tensor]]]:
        outs, fmaps = [], []
        for i, d in enumerate(self.discriminators):
            if i:
                y = self.meanpools[i - 1](y)
            o, f = d(y)
            outs.append(o)
            fmaps.append(f)
        return outs, fmaps


# --------------------------------------------------------------------------- losses


def feature_matching_loss(fmap_real: list[list[torch.Tensor]], fmap_fake: list[list[torch.Tensor]]) -> torch.Tensor:
    """2 × Σ mean |D_l(y) − D_l(ŷ)| over every layer of every sub-discriminator."""
    loss = 0.0
    for dr, dg in zip(fmap_real, fmap_fake):
        for r, g in zip(dr, dg):
            loss = loss + torch.mean(torch.abs(r.float().detach() - g.float()))
    return 2 * loss


def discriminator_loss(real: list[torch.Tensor], fake: list[torch.Tensor]) -> torch.Tensor:
    """LSGAN: Σ mean (1 − D(y))² + mean D(ŷ)²."""
    loss = 0.0
    for r, g in zip(real, fake):
        loss = loss + torch.mean((1 - r.float()) ** 2) + torch.mean(g.float() ** 2)
    return loss


def generator_adv_loss(fake: list[torch.Tensor]) -> torch.Tensor:
    """LSGAN: Σ mean (1 − D(ŷ))²."""
    loss = 0.0
    for g in fake:
        loss = loss + torch.mean((1 - g.float()) ** 2)
    return loss

