"""What every corpus importer shares: the result type and the missing-audio policy."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from narspeech.data.datadir import DataDir
from narspeech.errors import NarspeechError, Skipped


@dataclass
class ImportResult:
    data: DataDir
    skipped: list[Skipped] = field(default_factory=list)


def audio_problem(path: Path) -> str | None:
    """Why `path` cannot be the audio of an utterance (missing or empty), or None."""
    if not path.is_file():
        return "audio file not found"
    if path.stat().st_size == 0:
        return "audio file is empty"
    return None


def keep_or_skip(utt: str, path: Path | str, reason: str | None, skip_bad: bool, skipped: list[Skipped]) -> bool:
    """True when the utterance is fine; otherwise raise, or record it in `skipped` with --skip-bad."""
    if reason is None:
        return True
    if not skip_bad:
        raise NarspeechError(f"{reason} (use --skip-bad to leave it out)", utt=utt, path=path)
    skipped.append(Skipped(utt, str(path), reason))
    return False


def require_dir(path: Path, what: str) -> Path:
    if not path.is_dir():
        raise NarspeechError(f"{what} not found", path=path)
    return path
