"""`tts speak` says a long sentence in clause pieces (first audio after the first clause's mel): the cutting rule,
and the joined audio (every piece, a short pause between, faded edges at the joins only)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from narspeech.tts.synthesize.clauses import LONG_WORDS, split_clauses
from narspeech.tts.synthesize.inference import load_model
from narspeech.tts.synthesize.speak import CLAUSE_PAUSE_SECONDS, SpeakStats, Speaker
from narspeech.vocoder.registry import make_vocoder
from test_tts_speak import FEATS, FPT, _fs2_exp, _voc_exp

BOAT = "The little boat drifted slowly past the harbour wall while the fishermen waved and shouted greetings from the crowded pier."


@pytest.mark.parametrize("sentence, pieces", [
    (BOAT, ["The little boat drifted slowly past the harbour wall",
            "while the fishermen waved and shouted greetings from the crowded pier."]),  # before a conjunction
    ("We will meet at the station tomorrow at nine, and then take the early train north to the coast.",
     ["We will meet at the station tomorrow at nine,", "and then take the early train north to the coast."]),  # comma
    ("Yes, we know: the committee reviewed every proposal; only two were chosen for the spring programme.",
     ["Yes, we know:", "the committee reviewed every proposal;", "only two were chosen for the spring programme."]),
    ("Please turn off the lights, and close the door, we are leaving.", None),  # not long: whole
    ("She had never seen so many stars above the quiet valley before that night.", None),  # "so", "before": not cut
    ("Buy apples, pears, plums, figs, and then walk home along the river to the old stone bridge.",
     ["Buy apples, pears,", "plums, figs, and then walk home along the river to the old stone bridge."]),  # ≥ 3 words
])
def test_split_clauses(sentence, pieces):
    got = split_clauses(sentence)
    assert got == (pieces or [sentence])
    assert " ".join(got) == sentence
    assert all(len(p.split()) >= 3 for p in got)


def test_a_piece_still_long_is_cut_again_nearest_its_middle():
    words = ("one two three four five six seven and eight nine ten eleven twelve while thirteen fourteen fifteen "
             "sixteen seventeen because eighteen nineteen twenty").split()
    got = split_clauses(" ".join(words))  # 23 words: cut before "while" (nearest the middle), then its 13-word left
    assert [p.split()[0] for p in got] == ["one", "and", "while"]  # side before "and"
    assert all(len(p.split()) <= LONG_WORDS for p in got) and " ".join(got) == " ".join(words)


@pytest.fixture(scope="module")
def speaker_parts(tmp_path_factory):
    root = tmp_path_factory.mktemp("clauses")
    loaded = load_model(_fs2_exp(root), device="cpu")
    return loaded, make_vocoder(str(_voc_exp(root)), FEATS, torch.device("cpu"))


def test_long_sentence_is_spoken_in_pieces_joined_by_a_faded_pause(speaker_parts):
    loaded, voc = speaker_parts
    text = "we will meet at the station at nine, and then we take the early train to the coast."
    stats = SpeakStats()
    wav = np.concatenate(list(Speaker(loaded, voc).stream(text, stats)))
    first, second = split_clauses(text)
    hop, sr = FEATS.hop_length, FEATS.sample_rate
    enc, _ = loaded.frontend.encode([("a", first), ("b", second), ("w", text)])
    n1, n2, nw = ((len(e.ids) * FPT - 1) * hop for e in enc)  # FPT frames per token
    pause = int(round(CLAUSE_PAUSE_SECONDS * sr))
    assert stats.pieces == 2 and stats.sentences == 1 and len(wav) == n1 + pause + n2
    assert np.all(wav[n1 : n1 + pause] == 0)
    assert abs(wav[n1 - 1]) < 1e-3 * np.abs(wav).max() and abs(wav[n1 + pause]) < 1e-3 * np.abs(wav).max()  # faded
    assert np.abs(wav[n1 - 2000 : n1 - 1000]).max() > 0.05 * np.abs(wav).max()  # only the edge, not the piece

    stats = SpeakStats()
    whole = np.concatenate(list(Speaker(loaded, voc, clauses=False).stream(text, stats)))
    assert stats.pieces == 1 and len(whole) == nw
    short = "hello there, friend."
    a, b = (np.concatenate(list(Speaker(loaded, voc, clauses=c).stream(short))) for c in (True, False))
    assert np.array_equal(a, b)  # a short sentence: one piece, no fade
