"""`narspeech export`: trained models as files other runtimes read (ONNX)."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from narspeech.outputs import out_dir, out_file


def _onnx_out(value):
    """An .onnx file (a vocoder alone), else the output folder; checked before the export."""
    return value if value is None else (out_file(value) if str(value).endswith(".onnx") else out_dir(value))

app = typer.Typer(help="Export trained models (ONNX) for onnxruntime and other runtimes.", no_args_is_help=True)


@app.command("onnx")
def onnx(
    model: Optional[Path] = typer.Option(None, "--model", help="Experiment dir of a trained FastSpeech / FastSpeech 2."),
    vocoder: Optional[str] = typer.Option(None, "--vocoder", help="A neural vocoder to export too: hifigan:universal, hifigan:ljspeech or a `vocoder train` exp dir."),
    out: Optional[Path] = typer.Option(None, "--out", callback=_onnx_out, help="Output dir (default MODEL/onnx): acoustic.onnx, vocoder.onnx; without --model, the vocoder's .onnx file."),
    checkpoint: Optional[Path] = typer.Option(None, "--checkpoint", help="Checkpoint file instead of the exp dir's best.pt/last.pt."),
) -> None:
    """Export FastSpeech 2 (tokens → log-mels) and a vocoder (log-mels → waveform) to ONNX, dynamic batch and length axes.

    `--engine onnx` (tts speak, bench e2e) then runs them through onnxruntime.

    Example: narspeech export onnx --model exp/fastspeech2 --vocoder hifigan:universal
    """
    from narspeech.errors import NarspeechError
    from narspeech.tts.synthesize.onnx_engine import export_model, export_vocoder

    if model is None:
        if vocoder is None or out is None:
            raise NarspeechError("give --model EXP (and optionally --vocoder), or --vocoder SPEC with --out FILE.onnx")
        paths = [export_vocoder(vocoder, out)]
    else:
        from narspeech.tts.synthesize.inference import load_model

        loaded = load_model(model, checkpoint=checkpoint, device="cpu")
        paths = export_model(loaded, out, vocoder=vocoder)
    typer.echo("exported " + ", ".join(str(p) for p in paths))
