"""`narspeech` entry point: registers the command groups and turns input errors into one line."""
from __future__ import annotations

import sys

import typer

from narspeech.errors import NarspeechError, unwritable_message

app = typer.Typer(
    name="narspeech",
    help="Non-autoregressive speech toolkit: data, text frontend, features, training, TTS, vocoders, ASR, error correction.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _register() -> None:
    from narspeech.cli import asr, bench, correct, data, export, feats, text, train, tts, vocoder

    app.add_typer(data.app, name="data")
    app.add_typer(text.app, name="text")
    app.add_typer(feats.app, name="feats")
    app.add_typer(train.app, name="train")
    app.add_typer(tts.app, name="tts")
    app.add_typer(vocoder.app, name="vocoder")
    app.add_typer(asr.app, name="asr")
    app.add_typer(correct.app, name="correct")
    app.add_typer(bench.app, name="bench")
    app.add_typer(export.app, name="export")


_register()


def main() -> None:
    """Console script: run the app; a :class:`NarspeechError` prints ``error: …`` and exits 1."""
    try:
        app()
    except NarspeechError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
    except OSError as e:  # unwritable / read-only / full output place: name the path, no traceback
        msg = unwritable_message(e)
        if msg is None:
            raise
        print(f"error: {NarspeechError(msg, path=e.filename or None)}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":
    main()
