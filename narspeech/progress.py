"""Progress bars (tqdm) that stay quiet when stderr is not a terminal unless asked."""
from __future__ import annotations

import os
import sys
from typing import Iterable, TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")


def progress(iterable: Iterable[T] | None = None, *, total: int | None = None, desc: str = "", unit: str = "it", **kw) -> tqdm:
    """A tqdm bar with ETA on stderr; NARSPEECH_PROGRESS=0 silences it (tests, CI logs)."""
    disable = os.environ.get("NARSPEECH_PROGRESS", "1") == "0"
    return tqdm(iterable, total=total, desc=desc, unit=unit, file=sys.stderr, disable=disable, dynamic_ncols=True, **kw)
