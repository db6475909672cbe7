"""Streaming vocoding: the chunked waveform equals the one-shot waveform (seams included) when each chunk's
window carries the generator's look-ahead, and does not without it."""
import numpy as np
import pytest
import torch

from narspeech.vocoder.hifigan import Generator
from narspeech.vocoder.istft import IstftGenerator
from narspeech.vocoder.neural import GeneratorVocoder
from narspeech.vocoder.pretrained import hifigan_features
from narspeech.vocoder.stream import stream_vocode

TOL = 1e-4  # max |streamed - one-shot| over every sample, relative to the peak |one-shot|: float rounding only
SMALL_V1 = {"preset": "v1", "upsample_initial_channel": 32}


def _vocoder(kind: str) -> GeneratorVocoder:
    torch.manual_seed(0)
    gen = IstftGenerator("istft-small") if kind == "istft" else Generator(SMALL_V1).remove_weight_norm()
    return GeneratorVocoder(gen, hifigan_features(), "cpu")


def _mel(frames: int = 90) -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    return torch.randn(frames, 80, generator=g) - 5.0


@pytest.mark.parametrize("kind", ["hifigan", "istft"])
def test_streamed_equals_one_shot(kind):
    voc, mel = _vocoder(kind), _mel()
    whole = voc(mel[None], torch.tensor([len(mel)]))[0]
    pieces = list(stream_vocode(voc, mel, first_frames=7, chunk_frames=13))
    assert len(pieces) > 3 and len(pieces[0]) == 7 * voc.hop
    streamed = np.concatenate(pieces)
    assert streamed.shape == whole.shape == ((len(mel) - 1) * voc.hop,)
    assert np.abs(streamed - whole).max() < TOL * np.abs(whole).max()


@pytest.mark.parametrize("kind", ["hifigan", "istft"])
def test_without_overlap_the_seams_differ(kind):
    voc, mel = _vocoder(kind), _mel()
    whole = voc(mel[None], torch.tensor([len(mel)]))[0]
    streamed = np.concatenate(list(stream_vocode(voc, mel, first_frames=7, chunk_frames=13, overlap=0)))
    assert streamed.shape == whole.shape
    assert np.abs(streamed - whole).max() > 0.1 * np.abs(whole).max()
