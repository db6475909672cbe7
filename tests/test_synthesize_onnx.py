"""`tts synthesize --engine onnx`: the batch path through the model's ONNX exports writes what the PyTorch path
writes (mels and wavs within the export's parity tolerance); an export of another model, a missing export or a
missing onnxruntime is one line."""
from __future__ import annotations

import json
import sys

import kaldiio
import numpy as np
import pytest
from typer.testing import CliRunner

from narspeech.audio.io import load_audio
from narspeech.cli.main import app
from narspeech.errors import NarspeechError
from narspeech.fileio import read_table
from test_onnx_export import MEL_TOL, WAV_TOL
from test_tts_speak import _fs2_exp, _voc_exp

pytest.importorskip("onnxruntime")

LINES = ["hello there.", "how are you today, my friend?", "fine.", "this sentence is a little longer than the others are.",
         "ok", "the quick brown fox jumps over the lazy dog."]


def _cli(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth_onnx")
    fs2, voc = _fs2_exp(root), _voc_exp(root)
    r = _cli("export", "onnx", "--model", fs2, "--vocoder", voc)
    assert r.exit_code == 0, (r.output, r.exception)
    text = root / "lines.txt"
    text.write_text("\n".join(LINES) + "\n", encoding="utf-8")
    return root, fs2, voc, text


def _synth(fs2, voc, text, out, *extra):
    return _cli("tts", "synthesize", "--model", fs2, "--text", text, "--vocoder", voc, "--batch-size", 4, "--device", "cpu",
                "--out", out, *extra)


def test_onnx_engine_writes_what_torch_writes(exported):
    root, fs2, voc, text = exported
    outs = {}
    for engine in ("torch", "onnx"):
        out = root / f"synth_{engine}"
        r = _synth(fs2, voc, text, out, "--engine", engine)
        assert r.exit_code == 0, (r.output, r.exception)
        assert json.loads((out / "synth_info.json").read_text())["engine"] == engine
        outs[engine] = out
    mels = {e: dict(kaldiio.load_scp(str(o / "feats.scp"))) for e, o in outs.items()}
    wavs = {e: read_table(o / "wav.scp") for e, o in outs.items()}
    assert sorted(mels["torch"]) == sorted(mels["onnx"]) and len(mels["torch"]) == len(LINES)
    for utt in mels["torch"]:
        a, b = mels["torch"][utt], mels["onnx"][utt]
        assert a.shape == b.shape and np.abs(a - b).max() < MEL_TOL, utt
        x, y = load_audio(wavs["torch"][utt])[0], load_audio(wavs["onnx"][utt])[0]
        assert x.shape == y.shape and np.abs(x - y).max() < WAV_TOL * np.abs(x).max() + 2 / 32768, utt  # + PCM16 rounding


@pytest.mark.parametrize("case", ["another model", "another vocoder", "no export", "no onnxruntime", "bad engine"])
def test_bad_onnx_input_is_one_line(exported, tmp_path, monkeypatch, case):
    root, fs2, voc, text = exported
    extra = ["--engine", "onnx"]
    if case == "another model":
        other = _fs2_exp(tmp_path, seed=1)
        extra += ["--onnx-dir", fs2 / "onnx"]
        fs2 = other
    elif case == "another vocoder":  # the export beside the model is `voc`'s
        voc = "hifigan:universal"
    elif case == "no export":
        extra += ["--onnx-dir", tmp_path / "nothing"]
    elif case == "no onnxruntime":
        monkeypatch.setitem(sys.modules, "onnxruntime", None)  # `import onnxruntime` raises ImportError
    else:
        extra = ["--engine", "tensorrt"]
    r = _synth(fs2, voc, text, tmp_path / "out", *extra)
    assert r.exit_code != 0 and isinstance(r.exception, NarspeechError), (r.output, r.exception)
    assert "\n" not in str(r.exception)
    want = {"another model": "exported from another model", "another vocoder": "exported from", "no export": "no ONNX export",
            "no onnxruntime": "needs the onnxruntime package", "bad engine": "--engine must be"}[case]
    assert want in str(r.exception)
    assert not (tmp_path / "out" / "wav").exists()
