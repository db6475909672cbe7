"""Re-export of :mod:`narspeech.vocoder` (the vocoders moved there); kept so existing imports work."""
from narspeech.vocoder.base import Vocoder
from narspeech.vocoder.griffin_lim import GriffinLim
from narspeech.vocoder.registry import VOCODERS, make_vocoder

__all__ = ["Vocoder", "GriffinLim", "make_vocoder", "VOCODERS"]
