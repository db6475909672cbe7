"""Mel → waveform: Griffin-Lim, HiFi-GAN (released weights or trained here), batched.

Modules: :mod:`~narspeech.vocoder.base` (the ``Vocoder`` protocol, input and feature checks),
:mod:`~narspeech.vocoder.griffin_lim`, :mod:`~narspeech.vocoder.hifigan` (generator V1/V2/V3,
discriminators, losses), :mod:`~narspeech.vocoder.neural` (batched generator inference),
:mod:`~narspeech.vocoder.pretrained` (released weights, our checkpoints),
:mod:`~narspeech.vocoder.registry` (``make_vocoder``), :mod:`~narspeech.vocoder.train`
(``narspeech vocoder train``), :mod:`~narspeech.vocoder.copy` (copy synthesis + scores),
:mod:`~narspeech.vocoder.bench` (RTF).
"""
from narspeech.vocoder.base import Vocoder, check_features, vocode_items
from narspeech.vocoder.griffin_lim import GriffinLim
from narspeech.vocoder.registry import VOCODERS, make_vocoder

__all__ = ["Vocoder", "GriffinLim", "make_vocoder", "VOCODERS", "check_features", "vocode_items"]
