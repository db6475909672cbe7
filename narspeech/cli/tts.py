"""`narspeech tts` commands: teacher, durations, FastSpeech training, synthesis, evaluation."""
from __future__ import annotations

import typer

from narspeech.cli import tts_infer, tts_train

app = typer.Typer(help="Text-to-speech: AR teacher → durations → FastSpeech 2 → synthesis.", no_args_is_help=True)
tts_train.register(app)
tts_infer.register(app)
