"""Every sentence is speakable: stress marks as tokens, and unknown phones/punctuation mapped onto a token list."""
from __future__ import annotations

import time
from collections import Counter

import pytest

from narspeech.errors import NarspeechError
from narspeech.fileio import read_table
from narspeech.text.inventory import map_to_inventory
from narspeech.text.phonemes import SPACE, STRESS, _backend
from narspeech.text.tokenize import tokenize
from narspeech.text.vocab import TokenList, build_token_list
from narspeech.tts.synthesize.frontend import TextFrontend

# An English phoneme inventory as the arctic_fb train set gives it (stress split), no `! ? :`.
EN = [SPACE, "ˈ", "n", "ɪ", "t", "d", "s", "ə", "l", "æ", "ɹ", "ð", "m", "z", "ʌ", "h", "k", "ˌ", "w", "ɛ", "iː", "f",
      "aɪ", "p", "b", "eɪ", "v", "ɚ", "oʊ", "uː", "ɐ", ",", "ŋ", "ɡ", "i", "ɜː", "ɑː", "ʃ", "ᵻ", "j", "ɾ", "aʊ", "ɔː",
      "dʒ", "θ", "tʃ", "ʊ", "əl", "ɛɹ", "ɑːɹ", "ɔːɹ", "ɔ", "oːɹ", "ɔɪ", "ʊɹ", "iə", "ɪɹ", "ʒ", "aɪə", "oː", "aɪɚ",
      "n̩", "ʔ", ";", "."]
X_LINE = "After Oswald purchased the Mannlicher-Carcano rifle, he told his wife that he practiced with it."


def _list(tokens):
    return TokenList(["<blank>", "<unk>", *tokens, "<sos/eos>"])


def _map1(token, tokens=EN):
    out, notes = map_to_inventory([token], _list(tokens))
    return " ".join(out)


@pytest.mark.parametrize("src, dst", [
    ("x", "k"), ("ç", "ʃ"), ("ɣ", "ɡ"), ("β", "v"), ("ʈ", "t"), ("ħ", "h"), ("r", "ɹ"), ("ʁ", "ɹ"),  # consonants
    ("ã", "æ"), ("ɔ̃", "ɔ"), ("ũ", "uː"), ("aː", "ɑː"), ("y", "uː"), ("eː", "eɪ"), ("ɨ", "ᵻ"),  # vowels
    ("ai", "aɪ"), ("ou", "oʊ"), ("tʃʰ", "tʃ"), ("tɕ", "tʃ"), ("ts", "t s"), ("dʒː", "dʒ"),  # sequences
    ("a1", "æ"), ("5", ""), ("tS", "tʃ"), ("ʔ", "ʔ"), ("ɲ", "n j"), ("əʊ", "oʊ"),  # tones, espeak mnemonics, substitutes
])
def test_unknown_phones_map_to_the_nearest_known_phone(src, dst):
    assert _map1(src) == dst


def test_mapping_when_the_usual_target_is_missing_uses_features():
    no_schwa_variants = [t for t in EN if t not in ("ɐ", "ɑːɹ", "ʔ")]
    assert _map1("ɐ", no_schwa_variants) == "ə"  # a reduced vowel stays reduced
    assert _map1("ɑːɹ", no_schwa_variants) == "ɑː ɹ"  # split into list tokens
    assert _map1("ʔ", no_schwa_variants) == ""  # a glottal stop the model lacks is left out
    assert _map1("x", [t for t in EN if t != "k"]) == "h"
    out, notes = map_to_inventory(["ˈ", "x", "ɐ"], _list(no_schwa_variants))
    assert out == ["ˈ", "k", "ə"] and notes == ["x -> k", "ɐ -> ə"]


def test_punctuation_maps_to_the_nearest_mark_or_a_pause():
    toks = ["θ", "ˈ", "ɜː", "d", SPACE, "w", "ˈ", "ʌ", "n", "!"]
    assert map_to_inventory(toks, _list(EN)) == (toks[:-1] + ["."], ["! -> ."])
    assert map_to_inventory(toks, _list([t for t in EN if t not in ".;"]))[0][-1] == ","
    out, notes = map_to_inventory(toks + ["?"], _list([t for t in EN if t not in ".;,"]))
    assert out == toks[:-1] and notes == ["! -> (dropped)", "? -> (dropped)"]


def test_old_token_lists_with_stress_attached_still_work():
    old = [SPACE, "l", "ˈoʊ", "oʊ", "ˈɔː", "ɔː", "b", "k"]
    out, notes = map_to_inventory(["l", "ˈ", "oʊ", "b", "ˌ", "ɔː", "ˈ", "x"], _list(old))
    assert out == ["l", "ˈoʊ", "b", "ˈɔː", "k"] and notes == ["ˌɔː -> ˈɔː", "ˈx -> k"]
    # and token files of the old format map onto a new list
    assert map_to_inventory(["l", "ˈoʊ"], _list(EN)) == (["l", "ˈ", "oʊ"], [])


def test_truly_unspeakable_tokens_raise():
    chars = list("abcdefghijklmnopqrstuvwxyz") + [SPACE]
    assert map_to_inventory(["é", "ç"], _list(chars))[0] == ["e", "c"]  # accents stripped
    with pytest.raises(NarspeechError, match="no counterpart"):
        map_to_inventory(["中"], _list(chars))
    with pytest.raises(NarspeechError, match="no counterpart"):
        map_to_inventory(["a"], _list(["t", "k"]))  # no vowel at all


# --------------------------------------------------------------------------- real data (arctic_fb)


@pytest.fixture(scope="module")
def arctic(shared_data, espeak):
    """arctic_fb train and test tokenised once (~0.4 s for 850 sentences in one espeak batch)."""
    texts = {s: read_table(shared_data / "arctic_fb" / s / "text") for s in ("train", "test")}
    t0 = time.perf_counter()
    toks = {s: dict(zip(t, tokenize(list(t.values()), "phoneme"))) for s, t in texts.items()}
    seconds = time.perf_counter() - t0
    counts = Counter(tok for seq in toks["train"].values() for tok in seq)
    return toks, TokenList(build_token_list([], counts=counts)), seconds


def test_arctic_test_phones_are_all_in_the_train_inventory(arctic):
    toks, tl, seconds = arctic
    assert seconds < 20
    assert "ˌ" in toks["test"]["arctic_b0296"]  # Archibald's ˌɔː: the sentence that failed with stress attached
    missing = {u: tl.unknown(seq) for u, seq in toks["test"].items() if tl.unknown(seq)}
    assert missing == {}
    assert all(t in tl.index for t in STRESS) and not any(len(t) > 1 and t[0] in STRESS for t in tl.tokens)
    assert len(tl) < 75  # 68 with the four specials (112 with stress attached)
    for seq in toks["test"].values():
        assert map_to_inventory(seq, tl) == (seq, [])


def test_espeak_line_with_x_maps_onto_the_arctic_inventory(arctic):
    _, tl, _ = arctic
    seq = tokenize([X_LINE, "Third one!", "Messrs. Crawford and Russell?"], "phoneme")
    assert "x" in seq[0] and "x" not in tl.index and "!" not in tl.index and "?" not in tl.index
    out, notes = map_to_inventory(seq[0], tl)
    assert "x -> k" in notes and all(t in tl.index for t in out) and len(out) == len(seq[0])
    assert map_to_inventory(seq[1], tl) == (seq[1][:-1] + ["."], ["! -> ."])
    out, notes = map_to_inventory(seq[2], tl)
    assert "r -> ɹ" in notes and "? -> ." in notes


def test_third_one_synthesizes_through_the_frontend(arctic):
    """`Third one!` with a token list lacking `!`: encoded (``!`` → ``.``), warned, not failed."""
    _, tl, _ = arctic
    warned = []
    front = TextFrontend("phoneme", "en-us", tl, warn=lambda u, m: warned.append((u, m)))
    enc, failed = front.encode([("u1", "Third one!"), ("u2", X_LINE), ("u3", "Fine.")])
    assert failed == {} and [e.utt for e in enc] == ["u1", "u2", "u3"]
    assert enc[0].tokens[-1] == "." and enc[0].ids == tl.encode(enc[0].tokens)
    assert warned == [("u1", "mapped onto the model's tokens: ! -> ."), ("u2", "mapped onto the model's tokens: x -> k")]


@pytest.mark.parametrize("voice, text", [
    ("de", "Ich lache über Bäche, ach!"), ("fr-fr", "Un bon vin blanc, l'œuf."), ("es", "El perro ñandú, ¿y ahora?"),
    ("pt", "Não há pão."), ("pl", "Cześć, źdźbło trawy."), ("cs", "Příliš žluťoučký kůň."), ("ru", "Съешь же ещё этих булок."),
    ("el", "Γειά σου κόσμε."), ("cmn", "你好，世界。"), ("ja", "こんにちは世界"), ("hi", "नमस्ते दुनिया"), ("ar", "مرحبا بالعالم"),
    ("cy", "Llanfairpwllgwyngyll"), ("vi", "Xin chào thế giới"), ("ko", "안녕하세요"), ("hu", "Árvíztűrő tükörfúrógép"),
])
def test_phones_of_other_espeak_voices_map_onto_an_english_inventory(voice, text, espeak):
    """Whatever espeak-ng produces (other languages' phones, tones, its ASCII mnemonics) maps."""
    seq = tokenize([text], "phoneme", voice, on_foreign="spell")[0]
    assert seq
    out, _ = map_to_inventory(seq, _list(EN))
    assert out and all(t in EN for t in out)


def test_text_check_reports_the_mapping(tmp_path, monkeypatch, capsys, espeak):
    from tests.test_data_import import run_cli

    d = tmp_path / "d"
    d.mkdir()
    (d / "text").write_text(f"u1 Third one!\nu2 {X_LINE}\nu3 Fine.\n", encoding="utf-8")
    code, _, err = run_cli(["text", "tokenize", d], monkeypatch, capsys)
    assert code == 0, err
    (tmp_path / "tokens.txt").write_text("\n".join(_list(EN).tokens) + "\n", encoding="utf-8")
    code, _, err = run_cli(["text", "check", d, "--tokens", tmp_path / "tokens.txt"], monkeypatch, capsys)
    assert code == 1 and "utterance u1: unknown token(s) !; synthesis maps ! -> ." in err and "x -> k" in err
    code, _, err = run_cli(["text", "check", d, "--tokens", tmp_path / "tokens.txt", "--mapped-ok"], monkeypatch, capsys)
    assert code == 0 and "2 utterance(s) mapped" in err
    _backend.cache_clear()  # other voices' backends are not kept alive for the rest of the suite
