"""Vocoder generators as ONNX graphs (dynamic batch and frame axes) and back as generators run by onnxruntime.

:func:`export_generator` writes a generator (HiFi-GAN, weight norm folded, or the iSTFT
generator) with metadata: ``narspeech_kind``, the vocoder spec it came from, its feature config,
hop, look-ahead and output delay. :class:`OnnxGenerator` is a module whose forward runs the
session, so :class:`~narspeech.vocoder.neural.GeneratorVocoder` (batching, padding, streaming)
uses it unchanged. :func:`load_onnx_vocoder` refuses a file that is not a narspeech vocoder
export, or one made from another vocoder, in one line.
"""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from narspeech.audio.features import FeatureConfig
from narspeech.errors import NarspeechError
from narspeech.vocoder.base import check_features
from narspeech.vocoder.neural import GeneratorVocoder

KIND = "narspeech-vocoder"
OPSET = 17


def session(path: str | Path, threads: int | None = None):
    """An onnxruntime CPU session of `path` using `threads` (default: torch's thread count)."""
    try:
        import onnxruntime as ort
    except ImportError:
        raise NarspeechError("--engine onnx needs the onnxruntime package (tools/requirements.txt lists it; "
                             "run bash tools/install.sh)") from None
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = int(threads or torch.get_num_threads())
    opts.inter_op_num_threads = 1
    try:
        return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    except Exception as e:  # not an ONNX file, truncated
        raise NarspeechError(f"cannot read ONNX file: {str(e).splitlines()[0][:200]}", path=path) from None


def metadata(sess) -> dict[str, str]:
    """The ``metadata_props`` of a session's model."""
    return dict(sess.get_modelmeta().custom_metadata_map)


def export_generator(generator: nn.Module, path: str | Path, *, source: str, feats: dict) -> Path:
    """Write `generator` ((B, n_mels, T) → (B, 1, T·hop)) to `path` with its metadata."""
    import onnx

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    gen = generator.eval()  # export restores the mode it found
    n_mels = int(feats["n_mels"])
    tmp = path.with_suffix(".tmp.onnx")
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings about Python values: the graph's shapes are checked by the parity test
        torch.onnx.export(gen, (torch.randn(2, n_mels, 40) - 5.0,), str(tmp), input_names=["mels"], output_names=["wav"],
                          dynamic_axes={"mels": {0: "batch", 2: "frames"}, "wav": {0: "batch", 2: "samples"}},
                          opset_version=OPSET, dynamo=False)
    proto = onnx.load(str(tmp))
    meta = {"narspeech_kind": KIND, "source": source, "feats": json.dumps(feats, sort_keys=True),
            "hop_length": str(int(gen.hop_length)), "context_frames": str(int(gen.context_frames())),
            "output_delay": str(float(getattr(gen, "output_delay", 0.5)))}
    for k, v in meta.items():
        e = proto.metadata_props.add()
        e.key, e.value = k, v
    onnx.save(proto, str(tmp))
    tmp.replace(path)
    return path


class OnnxGenerator(nn.Module):
    """A generator whose forward runs an exported ONNX graph on the CPU (float32)."""

    def __init__(self, path: str | Path, threads: int | None = None):
        super().__init__()
        self.path = Path(path)
        self.sess = session(self.path, threads)
        self.meta = metadata(self.sess)
        if self.meta.get("narspeech_kind") != KIND:
            raise NarspeechError(f"not a narspeech vocoder export (kind {self.meta.get('narspeech_kind')!r}); "
                                 "make one with `narspeech export onnx --vocoder SPEC`", path=self.path)
        self.hop_length = int(self.meta["hop_length"])
        self.output_delay = float(self.meta["output_delay"])
        self._context = int(self.meta["context_frames"])

    def context_frames(self) -> int:
        return self._context

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        out = self.sess.run(None, {"mels": np.ascontiguousarray(mel.detach().float().cpu().numpy())})[0]
        return torch.from_numpy(out)


def load_onnx_vocoder(path: str | Path, spec: str, feature_config=None, threads: int | None = None):
    """A :class:`GeneratorVocoder` running `path`, which must be the export of vocoder `spec`."""
    path = Path(path)
    if not path.is_file():
        raise NarspeechError(f"no ONNX export of vocoder {spec} (run `narspeech export onnx --vocoder {spec} ...`)", path=path)
    gen = OnnxGenerator(path, threads)
    if gen.meta.get("source") != str(spec):
        raise NarspeechError(f"this ONNX vocoder was exported from {gen.meta.get('source')!r}, not {spec!r}; "
                             f"re-export with `narspeech export onnx --vocoder {spec}`", path=path)
    own = FeatureConfig.from_dict(json.loads(gen.meta["feats"]))
    if feature_config is not None:
        check_features(feature_config, own, str(spec))
    return GeneratorVocoder(gen, own, "cpu", name=f"{spec} (onnx)")
