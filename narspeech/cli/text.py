"""`narspeech text` commands."""
from __future__ import annotations

import typer

app = typer.Typer(help="text commands.", no_args_is_help=True)
