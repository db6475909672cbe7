"""`narspeech vocoder` commands."""
from __future__ import annotations

import typer

app = typer.Typer(help="Mel to waveform: HiFi-GAN (pretrained or trained here) and Griffin-Lim; copy synthesis.", no_args_is_help=True)
