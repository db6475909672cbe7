"""Hold out every n-th speaker: a speaker-disjoint split, e.g. the speakers that tune a detector and
so must not be trained on."""
from __future__ import annotations

from typing import Callable, Mapping

from narspeech.errors import NarspeechError


def every_nth_speaker(utt2spk: Mapping[str, str], every: int) -> list[str]:
    """The 1st, (n+1)-th, (2n+1)-th … speaker in sorted (C-locale) order of the speakers of ``utt2spk``."""
    if every < 2:
        raise NarspeechError(f"hold out every n-th speaker needs n >= 2, got {every} (1 would hold out every speaker)")
    return sorted(set(utt2spk.values()))[::every]


def split_by_speaker(table: Mapping[str, str], utt2spk: Mapping[str, str], held_out: set[str] | list[str],
                     utt_of: Callable[[str], str] = lambda key: key) -> tuple[dict[str, str], dict[str, str]]:
    """``table`` split into (kept, held out) by the speaker of each key's utterance (``utt_of(key)``);
    keys whose utterance has no speaker are kept."""
    held = set(held_out)
    kept: dict[str, str] = {}
    out: dict[str, str] = {}
    for key, value in table.items():
        spk = utt2spk.get(utt_of(key))
        (out if spk is not None and spk in held else kept)[key] = value
    return kept, out
