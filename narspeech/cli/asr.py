"""`narspeech asr` commands."""
from __future__ import annotations

import typer

app = typer.Typer(help="Speech recognition: Mask-CTC (non-autoregressive) and a joint CTC/attention AR baseline.", no_args_is_help=True)
