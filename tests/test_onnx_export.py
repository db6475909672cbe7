"""ONNX export: FastSpeech 2 and vocoders through onnxruntime equal PyTorch on real sentences and real mels;
a file from another model is one line."""
from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("onnxruntime")

from narspeech.errors import NarspeechError
from narspeech.tts.synthesize.inference import Controls, generate_mels, load_model
from narspeech.tts.synthesize.onnx_engine import export_model, export_vocoder, onnx_vocoder, use_onnx
from test_tts_speak import _fs2_exp, _voc_exp

MEL_TOL = 1e-3  # max |log-mel difference| (natural-log units), ONNX vs PyTorch; frame counts must be equal
WAV_TOL = 1e-4  # max |waveform difference| relative to the peak


def _sentences(shared_data, n=8):
    from narspeech.tts.synthesize.frontend import read_data_text

    return read_data_text(shared_data / "arctic_fb" / "test")[:n]


@pytest.mark.parametrize("embedding", ["conv", "bins"])
def test_fastspeech2_parity_on_real_sentences(tmp_path, shared_data, embedding):
    exp = _fs2_exp(tmp_path, variance_embedding=embedding)
    torch_model = load_model(exp, device="cpu")
    export_model(torch_model)
    onnx_model = use_onnx(load_model(exp, device="cpu"))
    encoded, failed = torch_model.frontend.encode(_sentences(shared_data))
    assert len(encoded) == 8 and not failed
    for controls in (Controls(), Controls(speed=1.3, pitch_shift=2.0, energy_scale=1.2)):
        a = generate_mels(torch_model.model, encoded, controls, torch.device("cpu"))
        b = generate_mels(onnx_model.model, encoded, controls, torch.device("cpu"))
        assert [len(m) for m in a] == [len(m) for m in b]
        assert max(np.abs(x - y).max() for x, y in zip(a, b)) < MEL_TOL


def test_vocoder_parity_on_real_mels(tmp_path, shared_data):
    from narspeech.vocoder.bench import load_mels
    from narspeech.vocoder.pretrained import hifigan_features
    from narspeech.vocoder.registry import make_vocoder

    fs2 = load_model(_fs2_exp(tmp_path), device="cpu")
    spec = str(_voc_exp(tmp_path))
    export_vocoder(spec, fs2.model_dir / "onnx" / "vocoder.onnx")
    ref, onnx = make_vocoder(spec, hifigan_features(), "cpu"), onnx_vocoder(fs2, spec)
    mels = load_mels(shared_data / "arctic_fb" / "dev", hifigan_features(), limit=3)
    from narspeech.vocoder.base import pad_mels

    batch = pad_mels(mels, float(np.log(1e-5)))
    for x, y in zip(ref(*batch), onnx(*batch)):
        assert x.shape == y.shape and np.abs(x - y).max() < WAV_TOL * np.abs(x).max()
    with pytest.raises(NarspeechError, match="exported from"):
        onnx_vocoder(fs2, "hifigan:universal")


def test_onnx_file_from_another_model_is_one_line(tmp_path):
    a = load_model(_fs2_exp(tmp_path / "a"), device="cpu")
    export_model(a)
    b = load_model(_fs2_exp(tmp_path / "b", seed=1), device="cpu")
    for directory, match in ((a.model_dir / "onnx", "exported from another model"), (tmp_path / "none", "no ONNX export")):
        with pytest.raises(NarspeechError, match=match) as e:
            use_onnx(load_model(b.model_dir, device="cpu"), directory)
        assert "\n" not in str(e.value)
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "acoustic.onnx").write_bytes(b"not onnx")
    with pytest.raises(NarspeechError, match="cannot read ONNX file"):
        use_onnx(b, junk)
