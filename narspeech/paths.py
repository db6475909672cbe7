"""Where shared real data lives: ``$NARSPEECH_SHARED_DATA`` or ``../shared/data`` beside the checkout."""
from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
RESOURCES = Path(__file__).resolve().parent / "resources"


def shared_data_dir() -> Path:
    return Path(os.environ.get("NARSPEECH_SHARED_DATA", PROJECT_ROOT.parent / "shared" / "data"))
