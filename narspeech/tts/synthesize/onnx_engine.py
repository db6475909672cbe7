"""``--engine onnx``: a model's exported graphs (``narspeech export onnx``) in place of its PyTorch modules.

:func:`use_onnx` swaps a loaded model's acoustic model for :class:`OnnxFastSpeech` (same
``inference`` signature, so batching, streaming and writers do not change) after checking that
the file is a narspeech FastSpeech export of *this* checkpoint; :func:`onnx_vocoder` does the
same for the vocoder. Anything else is one :class:`NarspeechError` line.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from narspeech.errors import NarspeechError
from narspeech.tts.onnx_export import KIND, export_fastspeech, file_sha, model_metadata
from narspeech.tts.synthesize.inference import LoadedModel
from narspeech.vocoder.onnx import export_generator, load_onnx_vocoder, metadata, session
from narspeech.vocoder.registry import is_griffin_lim, make_vocoder

ACOUSTIC_FILE = "acoustic.onnx"
VOCODER_FILE = "vocoder.onnx"
ENGINES = ("torch", "onnx")


def check_engine(engine: str) -> None:
    if engine not in ENGINES:
        raise NarspeechError(f"--engine must be torch or onnx (got {engine!r})")


def prepare_engine(loaded: LoadedModel, engine: str, vocoder: str | None, *, directory: str | Path | None = None,
                   vocoder_options: dict | None = None, threads: int | None = None):
    """Set `loaded` up for `engine` and return vocoder `vocoder` as that engine runs it (None: no vocoder).

    ``torch``: `loaded` unchanged, ``make_vocoder``. ``onnx``: the acoustic model swapped for its checked
    export (:func:`use_onnx`) and a neural vocoder for the export beside it (:func:`onnx_vocoder`); Griffin-Lim
    has no network and runs as it is.
    """
    check_engine(engine)
    if engine == "onnx":
        use_onnx(loaded, directory, threads)
    if vocoder is None:
        return None
    if engine == "onnx" and not is_griffin_lim(vocoder):
        return onnx_vocoder(loaded, vocoder, directory, threads)
    return make_vocoder(vocoder, loaded.feats, loaded.device, **(vocoder_options or {}))


def onnx_dir(loaded: LoadedModel, given: str | Path | None = None) -> Path:
    """Where a model's exports live: `given`, else ``EXP/onnx``."""
    return Path(given) if given is not None else loaded.model_dir / "onnx"


class OnnxFastSpeech:
    """An exported FastSpeech graph with the PyTorch model's ``inference`` signature."""

    def __init__(self, path: str | Path, threads: int | None = None):
        self.path = Path(path)
        self.sess = session(self.path, threads)
        self.meta = metadata(self.sess)
        if self.meta.get("narspeech_kind") != KIND:
            raise NarspeechError(f"not a narspeech FastSpeech export (kind {self.meta.get('narspeech_kind')!r}); "
                                 "make one with `narspeech export onnx --model EXP`", path=self.path)

    def inference(self, tokens: torch.Tensor, token_lengths: torch.Tensor, *, speed: float = 1.0, pitch_shift: float = 0.0,
                  energy_scale: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
        f = lambda v: np.array([v], dtype=np.float32)  # noqa: E731
        mels, lengths = self.sess.run(None, {"tokens": tokens.cpu().numpy().astype(np.int64),
                                             "token_lengths": token_lengths.cpu().numpy().astype(np.int64),
                                             "speed": f(speed), "pitch_shift": f(pitch_shift), "energy_scale": f(energy_scale)})
        return torch.from_numpy(mels), torch.from_numpy(lengths)


def use_onnx(loaded: LoadedModel, directory: str | Path | None = None, threads: int | None = None) -> LoadedModel:
    """`loaded` with its acoustic model replaced by the ONNX export of the same checkpoint (CPU)."""
    path = onnx_dir(loaded, directory) / ACOUSTIC_FILE
    if not path.is_file():
        raise NarspeechError(f"no ONNX export of this model (run `narspeech export onnx --model {loaded.model_dir}`)", path=path)
    model = OnnxFastSpeech(path, threads)
    want = file_sha(loaded.checkpoint)
    if model.meta.get("checkpoint_sha") != want:
        raise NarspeechError(f"this ONNX file was exported from another model (checkpoint {model.meta.get('checkpoint_sha')}, "
                             f"this model's is {want}); re-export with `narspeech export onnx --model {loaded.model_dir}`", path=path)
    loaded.model, loaded.device = model, torch.device("cpu")
    return loaded


def onnx_vocoder(loaded: LoadedModel, spec: str, directory: str | Path | None = None, threads: int | None = None):
    """The ONNX export of vocoder `spec` kept beside the model's export, checked against the model's features."""
    return load_onnx_vocoder(onnx_dir(loaded, directory) / VOCODER_FILE, spec, loaded.feats, threads)


def export_model(loaded: LoadedModel, out_dir: str | Path | None = None, *, vocoder: str | None = None) -> list[Path]:
    """Export the loaded FastSpeech (and, with `vocoder`, that neural vocoder) into ``out_dir`` (default ``EXP/onnx``)."""
    out = onnx_dir(loaded, out_dir)
    paths = [export_fastspeech(loaded.model, out / ACOUSTIC_FILE, metadata=model_metadata(loaded.cfg, loaded.checkpoint))]
    if vocoder is not None:
        paths.append(export_vocoder(vocoder, out / VOCODER_FILE, loaded.feats))
    return paths


def export_vocoder(spec: str, path: str | Path, feature_config=None) -> Path:
    """Export neural vocoder `spec` (checked against `feature_config` when given) to `path`."""
    if is_griffin_lim(spec):
        raise NarspeechError("Griffin-Lim has no network to export (it runs as it is under --engine onnx)")
    voc = make_vocoder(spec, feature_config, "cpu")
    return export_generator(voc.generator, path, source=str(spec), feats=voc.feature_config.to_dict())
