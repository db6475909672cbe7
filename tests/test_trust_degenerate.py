"""Class 5 of issue 36: degenerate output (NaN, constant, silent, empty) is a per-item failure, not success."""
from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
import soundfile as sf
import torch
from torch import nn

from narspeech.errors import NarspeechError


class _FakeVocoder:
    """Returns, per utterance, the waveform named by its first mel value: 0 good, 1 NaN, 2 zeros, 3 constant."""

    n_mels, sample_rate = 4, 16000

    def __call__(self, mels, lengths):
        t = np.sin(np.arange(800) / 5).astype(np.float32) * 0.3
        kinds = {0: t, 1: np.full(800, np.nan, np.float32), 2: np.zeros(800, np.float32), 3: np.full(800, 0.2, np.float32)}
        return [kinds[int(m[0, 0])].copy() for m in mels]


def test_vocoder_items_flag_nan_silent_and_constant_audio():
    from narspeech.vocoder.base import vocode_items

    failed: dict[str, str] = {}
    items = [(f"u{k}", np.full((5, 4), float(k), np.float32) + np.arange(4, dtype=np.float32) * 1e-3) for k in range(4)]
    out = vocode_items(_FakeVocoder(), items, failed=failed)
    assert list(out) == ["u0"]
    assert "NaN" in failed["u1"] and "silent" in failed["u2"] and "constant" in failed["u3"]


class _ConstantTTS(nn.Module):
    """Mels of one value throughout (a collapsed model), except for token id 3, which gets a real mel."""

    def inference(self, tokens, token_lengths, **_):
        mels = torch.full((tokens.shape[0], 12, 4), -5.0)
        for b in range(tokens.shape[0]):
            if int(tokens[b, 0]) == 3:
                mels[b] = torch.randn(12, 4)
        return mels, torch.full((tokens.shape[0],), 12)


def test_synthesis_flags_a_constant_mel_per_item():
    from narspeech.tts.synthesize.frontend import Encoded
    from narspeech.tts.synthesize.inference import synthesize_batches

    failed: dict[str, str] = {}
    items = [Encoded("good", "a", ["a"], [3, 4]), Encoded("flat", "b", ["b"], [5, 4])]
    got = list(synthesize_batches(_ConstantTTS(), items, failed=failed, show_progress=False))
    assert [r.utt for r in got] == ["good"]
    assert "constant" in failed["flat"]


def test_feature_extraction_flags_a_silent_recording(tmp_path):
    from narspeech.audio.extract import extract_dump

    data = tmp_path / "data"
    data.mkdir()
    t = np.arange(16000) / 16000
    sf.write(tmp_path / "tone.wav", (0.3 * np.sin(2 * np.pi * 200 * t)).astype(np.float32), 16000)
    sf.write(tmp_path / "silent.wav", np.zeros(16000, np.float32), 16000)
    (data / "wav.scp").write_text(f"silent {tmp_path}/silent.wav\ntone {tmp_path}/tone.wav\n")
    with pytest.raises(NarspeechError, match="silent.*degenerate features: the log-mel is constant"):
        extract_dump(data, tmp_path / "dump", device="cpu", jobs=0)
    res = extract_dump(data, tmp_path / "dump", device="cpu", jobs=0, skip_bad=True)
    assert res.num_utts == 1 and "constant" in res.skipped["silent"]


def test_asr_decode_dir_lists_empty_hypotheses(tmp_path, caplog):
    from narspeech.asr.decode import _write_decode_dir
    from narspeech.asr.recognize import DecodeOptions

    rec = SimpleNamespace(info={}, device="cpu")
    res = {"hyps": {"a": "", "b": "", "c": ""}, "tok_hyps": {"a": "", "b": "", "c": ""},
           "timing": {"a": (0.1, 1.0, 2), "b": (0.1, 1.0, 2)}, "skipped": {"c": "too short"}, "batches": 1,
           "decode_seconds": 0.2}
    with caplog.at_level("WARNING"):
        s = _write_decode_dir(rec, tmp_path / "dec", DecodeOptions(), res, {})
    assert s["empty"] == 2 and json.loads((tmp_path / "dec" / "decode.json").read_text())["empty"] == 2
    assert (tmp_path / "dec" / "empty").read_text().split("\n")[:2] == ["a empty hypothesis", "b empty hypothesis"]
    assert "every hypothesis is empty" in caplog.text
