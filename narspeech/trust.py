"""What narspeech trusts in a data file: nothing that runs code, unless the user opts in.

* Checkpoints and weight files are read with ``torch.load(weights_only=True)``, which
  unpickles tensors and plain containers only. A file that needs a full (code-running)
  unpickle — a checkpoint written by an older narspeech, or a foreign pickle — is refused
  with one line naming it, unless the user opts in with ``narspeech --trust-checkpoint …``
  or ``NARSPEECH_TRUST_CHECKPOINT=1`` (only for files from a source you trust).
* Kaldi ``cmd |`` entries in ``wav.scp`` run a shell command by design (Kaldi compatibility).
  ``NARSPEECH_NO_PIPES=1`` (or ``narspeech --no-pipes …``) makes such an entry an error, for
  services that run narspeech on data directories they did not write.
"""
from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any

import torch

from narspeech.errors import NarspeechError

TRUST_ENV = "NARSPEECH_TRUST_CHECKPOINT"
NO_PIPES_ENV = "NARSPEECH_NO_PIPES"
_TRUE = ("1", "true", "yes", "on")


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in _TRUE


def trust_checkpoints() -> bool:
    """Whether the user opted in to full (code-running) unpickling of checkpoint files."""
    return _flag(TRUST_ENV)


def pipes_allowed() -> bool:
    """Whether ``cmd |`` entries of wav.scp may be run (the Kaldi default; off with NARSPEECH_NO_PIPES=1)."""
    return not _flag(NO_PIPES_ENV)


def check_pipe(entry: str, utt: str | None = None) -> None:
    """Raise for a ``cmd |`` entry when pipes are switched off."""
    if not pipes_allowed():
        raise NarspeechError(f"wav.scp entry is a shell command (`cmd |`), and {NO_PIPES_ENV}=1 forbids running them: "
                             "convert the audio to files first", utt=utt, path=entry.strip())


def torch_load(path: str | Path, map_location: Any = "cpu", *, what: str = "checkpoint", mmap: bool = False) -> Any:
    """``torch.load`` with ``weights_only=True``; a file that needs more is refused (module docstring).

    Every failure is a :class:`NarspeechError` naming the file: truncated, not a torch file, or
    a pickle that a safe load cannot read.
    """
    path = Path(path)
    try:
        return torch.load(path, map_location=map_location, weights_only=True, mmap=mmap)
    except pickle.UnpicklingError as e:
        if not trust_checkpoints():
            if "GLOBAL" not in str(e):  # not a class or function it refused: a corrupt or foreign file
                raise NarspeechError(f"cannot read {what} (truncated, corrupt or not a torch file)", path=path) from None
            raise NarspeechError(f"{what} needs a full unpickle, which can run code (an older narspeech file or a foreign "
                                 f"pickle): if you trust its source, rerun with `narspeech --trust-checkpoint …` or "
                                 f"{TRUST_ENV}=1", path=path) from None
    except Exception as e:  # truncated file, not a zip/pickle at all
        raise NarspeechError(f"cannot read {what} (truncated or not a torch file?): {_first_line(e)}", path=path) from None
    try:
        return torch.load(path, map_location=map_location, weights_only=False, mmap=mmap)
    except Exception as e:
        raise NarspeechError(f"cannot read {what}: {_first_line(e)}", path=path) from None


def _first_line(e: BaseException) -> str:
    s = str(e).strip()
    return f"{type(e).__name__}: {s.splitlines()[0][:200]}" if s else type(e).__name__
