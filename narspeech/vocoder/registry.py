"""``make_vocoder(spec, feature_config, device)``: Griffin-Lim, a released HiFi-GAN, or a trained one."""
from __future__ import annotations

import torch

from narspeech.audio.features import FeatureConfig
from narspeech.errors import NarspeechError
from narspeech.vocoder.base import Vocoder, check_features
from narspeech.vocoder.griffin_lim import GriffinLim
from narspeech.vocoder.istft import load_istft_run
from narspeech.vocoder.neural import GeneratorVocoder
from narspeech.vocoder.pretrained import load_generator

VOCODERS = ("griffin-lim", "hifigan:universal", "hifigan:ljspeech",
            "PATH (a `narspeech vocoder train` exp dir or checkpoint: HiFi-GAN or the iSTFT generator)")
GL_NAMES = ("griffin-lim", "griffinlim", "gl")


def is_griffin_lim(spec: str) -> bool:
    return str(spec).lower() in GL_NAMES


def make_vocoder(name: str, feature_config: FeatureConfig | None = None, device: str | torch.device = "cpu", **options) -> Vocoder:
    """The vocoder `name` for mels of `feature_config`; `options` go to its constructor.

    ``griffin-lim`` (options ``n_iter``, ``momentum``, ``nnls_iter``, ``sharpen``, ``seed``) works for any
    features. ``hifigan:universal`` / ``hifigan:ljspeech`` / a checkpoint path (options ``precision``,
    ``max_batch_frames``, ``generator``) refuse a `feature_config` other than the one they were trained on.
    ``feature_config=None`` takes the neural vocoder's own (copy synthesis).
    """
    if is_griffin_lim(name):
        if feature_config is None:
            raise NarspeechError("griffin-lim needs a feature config")
        options.pop("precision", None), options.pop("max_batch_frames", None)
        return GriffinLim(feature_config, device=device, **options)
    s = str(name)
    if not (s.lower().startswith("hifigan:") or "/" in s or "." in s or s.endswith(".pt")):
        from pathlib import Path

        if not Path(s).exists():
            raise NarspeechError(f"unknown vocoder {name!r}; available: {', '.join(VOCODERS)}")

    for k in ("n_iter", "momentum", "nnls_iter", "sharpen", "seed"):  # Griffin-Lim knobs the callers pass through
        options.pop(k, None)

    size = options.pop("generator", None)
    found = load_istft_run(s)
    gen, own, info = found if found is not None else load_generator(s, generator=size)
    if feature_config is not None:
        check_features(feature_config, own, info["name"])
    voc = GeneratorVocoder(gen, own, device, name=info["name"], **options)
    voc.info = info
    return voc
