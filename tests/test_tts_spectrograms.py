"""`tts spectrograms`: recordings and syntheses side by side, edge silence cut as the scores cut it."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from narspeech.audio.features import FeatureConfig
from narspeech.audio.io import write_wav
from narspeech.fileio import write_table


def _dir(path, utts, sr, seconds, silence):
    """A data/synthesis dir of `utts`: a gliding tone between `silence` seconds of silence at each edge."""
    scp = {}
    for k, u in enumerate(utts):
        t = np.arange(int(seconds * sr)) / sr
        tone = 0.3 * np.sin(2 * np.pi * (300 + 200 * k + 400 * t) * t)
        pad = np.zeros(int(silence * sr))
        write_wav(path / "wav" / f"{u}.wav", np.concatenate([pad, tone, pad]).astype(np.float32), sr)
        scp[u] = str((path / "wav" / f"{u}.wav").resolve())
    write_table(path / "wav.scp", scp)
    return path


def test_spectrogram_comparison_writes_one_row_per_system_and_names_a_missing_wav(tmp_path):
    from PIL import Image

    from narspeech.errors import NarspeechError
    from narspeech.tts.plots import spectrogram_comparison

    sr, utts = 22050, ["u1", "u2"]
    ref = _dir(tmp_path / "ref", utts, sr, 0.5, 0.3)
    write_table(ref / "text", {"u1": "hello there", "u2": "good bye"})
    synths = []
    for name in ("fs2", "teacher"):
        d = _dir(tmp_path / name / "synth" / "test", utts, sr, 0.4, 0.5)
        (d / "synth_info.json").write_text(json.dumps({"feats": FeatureConfig.for_rate(sr).to_dict()}))
        synths.append(d)
    one = spectrogram_comparison(ref, synths[:1], utts, tmp_path / "one.png")
    two = spectrogram_comparison(ref, synths, utts, tmp_path / "two.png", labels=["FastSpeech 2", "teacher"])
    h1, h2 = Image.open(one).size[1], Image.open(two).size[1]
    assert Image.open(two).size[0] == Image.open(one).size[0] and h2 > 1.3 * h1  # a row per system
    with pytest.raises(NarspeechError, match="no wav for u3"):
        spectrogram_comparison(ref, synths, ["u1", "u3"], tmp_path / "bad.png")
    with pytest.raises(NarspeechError, match="labels"):
        spectrogram_comparison(ref, synths, utts, tmp_path / "bad.png", labels=["one"])


def test_default_row_names_keep_several_syntheses_of_one_model_apart():
    from narspeech.tts.plots import default_label

    assert default_label(Path("exp/t2/synth/test")) == "t2"
    assert default_label(Path("exp/t2/synth_best/test")) == "t2 synth_best"
    assert default_label(Path("exp/t2/synth_3600/test")) != default_label(Path("exp/t2/synth_best/test"))
    assert default_label(Path("/tmp/out")) == "out"
