"""Every n-th speaker held out: sorted order, speaker-disjoint, keys mapped to their utterance."""
from __future__ import annotations

import pytest

from narspeech.data.split_speakers import every_nth_speaker, split_by_speaker
from narspeech.errors import NarspeechError


def test_every_nth_speaker_in_sorted_order():
    utt2spk = {f"u{i}": f"s{i % 5}" for i in range(20)}
    assert every_nth_speaker(utt2spk, 2) == ["s0", "s2", "s4"]
    assert every_nth_speaker(utt2spk, 10) == ["s0"]
    with pytest.raises(NarspeechError, match="n >= 2"):
        every_nth_speaker(utt2spk, 1)


def test_split_is_speaker_disjoint_and_reads_the_utterance_of_each_key():
    utt2spk = {"u1": "a", "u2": "b", "u3": "a"}
    table = {"t-u1": "x", "t-u2": "y", "t-u3": "z", "t-u9": "w"}
    kept, held = split_by_speaker(table, utt2spk, ["a"], utt_of=lambda k: k.split("-", 1)[1])
    assert held == {"t-u1": "x", "t-u3": "z"}
    assert kept == {"t-u2": "y", "t-u9": "w"}  # no speaker known: kept for training
