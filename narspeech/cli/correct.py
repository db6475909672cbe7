"""`narspeech correct` commands."""
from __future__ import annotations

import typer

app = typer.Typer(help="ASR error correction: FastCorrect (non-autoregressive) with edit alignment, and an AR corrector baseline.", no_args_is_help=True)
