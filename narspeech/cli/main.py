"""`narspeech` entry point: registers the command groups and turns input errors into one line."""
from __future__ import annotations

import os
import sys

import typer

from narspeech.errors import NarspeechError, path_error_message

app = typer.Typer(
    name="narspeech",
    help="Non-autoregressive speech toolkit: data, text frontend, features, training, TTS, vocoders, ASR, error correction.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _register() -> None:
    from narspeech.cli import analyze, asr, bench, correct, data, export, feats, text, train, tts, vocoder

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
    app.add_typer(analyze.app, name="analyze")


_register()


@app.callback()
def _global_options(
    trust_checkpoint: bool = typer.Option(False, "--trust-checkpoint", help="Allow checkpoint files that need a full, "
                                          "code-running unpickle (older narspeech files); only for files from a source you trust. "
                                          "Same as NARSPEECH_TRUST_CHECKPOINT=1."),
    no_pipes: bool = typer.Option(False, "--no-pipes", help="Refuse Kaldi `cmd |` entries of wav.scp (they run a shell "
                                  "command) instead of running them; for data dirs from others. Same as NARSPEECH_NO_PIPES=1."),
) -> None:
    """Options for every command (put them before the command group); as environment variables they reach subprocesses."""
    if not (trust_checkpoint or no_pipes):
        return  # narspeech.trust imports torch: seconds of start-up that text, data and scoring commands do without
    from narspeech import trust

    if trust_checkpoint:
        os.environ[trust.TRUST_ENV] = "1"
    if no_pipes:
        os.environ[trust.NO_PIPES_ENV] = "1"


def main() -> None:
    """Console script: run the app; a :class:`NarspeechError` prints ``error: …`` and exits 1;
    Ctrl-C exits 130 and SIGTERM 143, both after the same clean-up."""
    from narspeech.signals import EXIT_TERMINATED, Terminated, terminate_like_interrupt

    terminate_like_interrupt()
    try:
        app()
    except NarspeechError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
    except OSError as e:  # unwritable / read-only / full output place, a file where a folder goes: name the path
        msg = path_error_message(e)
        if msg is None:
            raise
        print(f"error: {NarspeechError(msg, path=e.filename or None)}", file=sys.stderr)
        sys.exit(1)
    except Terminated:
        print("terminated (SIGTERM)", file=sys.stderr)
        sys.exit(EXIT_TERMINATED)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":
    main()
