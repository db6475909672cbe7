"""`narspeech feats` commands."""
from __future__ import annotations

import typer

app = typer.Typer(help="feats commands.", no_args_is_help=True)
