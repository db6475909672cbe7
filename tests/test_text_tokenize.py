"""Tokenizer kinds, the `token` file of a data dir, and token lists."""
from __future__ import annotations

import pytest

from narspeech.errors import NarspeechError
from narspeech.fileio import read_table
from narspeech.text.phonemes import SPACE, split_phonemized
from narspeech.text.tokenize import tokenize, tokenize_data_dir
from narspeech.text.vocab import BLANK, SOS_EOS, UNK, TokenList, build_token_list, load_token_list, write_token_list
from tests.test_data_import import run_cli


def test_char_and_word_tokens():
    c, w = tokenize(["Dr. Who's 2nd, OK?"], "char")[0], tokenize(["Dr. Who's 2nd, OK?"], "word")[0]
    assert c == list("doctor") + [SPACE] + list("who's") + [SPACE] + list("second,") + [SPACE] + list("ok?")
    assert w == ["doctor", "who's", "second", ",", "ok", "?"]
    assert tokenize(["A  b"], "char", normalize=False)[0] == ["a", SPACE, "b"]
    with pytest.raises(NarspeechError, match="unknown token kind"):
        tokenize(["x"], "bpe")


def test_split_phonemized_rules():
    # stress marks are tokens of their own, ː stays with its phone, punctuation split off before the word boundary
    assert split_phonemized("h|ə|l|ˈoʊ, _ w|ˈɜː|l|d|.") == ["h", "ə", "l", "ˈ", "oʊ", ",", SPACE, "w", "ˈ", "ɜː", "l", "d", "."]
    assert split_phonemized("ˈiː.ˌɛ|s") == ["ˈ", "iː", ".", "ˌ", "ɛ", "s"]


def test_phoneme_tokens_known_answers(espeak):
    toks = tokenize(["Hello world, how are you?", "The judge's chair."], "phoneme", "en-us")
    assert toks[0] == ["h", "ə", "l", "ˈ", "oʊ", SPACE, "w", "ˈ", "ɜː", "l", "d", ",", SPACE, "h", "ˈ", "aʊ", SPACE, "ɑːɹ",
                       SPACE, "j", "uː", "?"]
    assert toks[1] == ["ð", "ə", SPACE, "dʒ", "ˈ", "ʌ", "dʒ", "ᵻ", "z", SPACE, "tʃ", "ˈ", "ɛɹ", "."]
    # numbers and abbreviations go through the normaliser: "1908" is spoken as a year
    year = tokenize(["In 1908."], "phoneme")[0]
    assert year == tokenize(["In nineteen oh eight."], "phoneme")[0]
    assert tokenize(["Dr. No"], "phoneme")[0][:6] == tokenize(["doctor No"], "phoneme")[0][:6]
    gb = tokenize(["Hello"], "phoneme", "en-gb")[0]
    assert gb == ["h", "ə", "l", "ˈ", "əʊ"]


def _data(tmp_path, lines):
    d = tmp_path / "d"
    d.mkdir()
    (d / "text").write_text("".join(f"{u} {t}\n" for u, t in lines))
    return d


def test_tokenize_data_dir_and_skip_bad(tmp_path, monkeypatch, capsys, espeak):
    d = _data(tmp_path, [("u1", "Hello world."), ("u2", ""), ("u3", "..."), ("u4", "It cost $5.")])
    code, _, err = run_cli(["text", "tokenize", d, "--kind", "phoneme"], monkeypatch, capsys)
    assert code == 1 and "Traceback" not in err and err.count("\n") == 1
    assert "utterance u2" in err and "empty transcript" in err and str(d / "text") in err
    assert not (d / "token").exists()
    code, _, err = run_cli(["text", "tokenize", d, "--kind", "phoneme", "--skip-bad"], monkeypatch, capsys)
    assert code == 0, err
    assert "skipped:" in err and "utterance u2" in err and "utterance u3" in err and "no phoneme tokens" in err
    tok = read_table(d / "token")
    assert list(tok) == ["u1", "u4"] and tok["u4"].split()[-1] == "." and "d ˈ ɑː l ɚ z" in tok["u4"]
    (d / "text").write_text("u1 Hello\nu3 ...\n")
    with pytest.raises(NarspeechError, match="utterance u3: text yields no char tokens"):
        tokenize_data_dir(d, "char")


def test_tokenize_uses_utt2lang(tmp_path, espeak):
    d = _data(tmp_path, [("a", "Hello"), ("b", "Hello")])
    (d / "utt2lang").write_text("a en-us\nb en-gb\n")
    tokenize_data_dir(d, "phoneme")
    tok = read_table(d / "token")
    assert tok["a"].split()[-1] == "oʊ" and tok["b"].split()[-1] == "əʊ"
    tokenize_data_dir(d, "phoneme", "en-us")  # an explicit language wins
    assert read_table(d / "token")["b"].split()[-1] == "oʊ"


def test_token_list_layout_and_unknown_tokens(tmp_path, monkeypatch, capsys):
    (tmp_path / "token").write_text("u1 b a a <space> c\nu2 a b\n")
    tokens = build_token_list([tmp_path / "token"])
    assert tokens == [BLANK, UNK, "a", "b", "<space>", "c", SOS_EOS]
    assert build_token_list([tmp_path / "token"], min_count=2) == [BLANK, UNK, "a", "b", SOS_EOS]
    write_token_list(tmp_path / "tokens.txt", tokens)
    tl = TokenList(tmp_path / "tokens.txt")
    assert load_token_list(tmp_path / "tokens.txt") == tokens and len(tl) == 7
    ids = tl.encode(["a", "<space>", "c"], utt="u9")
    assert ids == [2, 4, 5] and tl.decode(ids) == ["a", "<space>", "c"]
    with pytest.raises(NarspeechError, match=r"utterance u9: unknown token\(s\) z"):
        tl.encode(["a", "z"], utt="u9")
    assert tl.encode(["a", "z"], unk_ok=True) == [2, 1]
    # CLI: vocab reports tokens cut by --min-count; check names utterances with unknown tokens
    d = tmp_path / "d"
    d.mkdir()
    (d / "token").write_text("u1 b a a <space> c\nu2 a b\n")
    code, _, err = run_cli(["text", "vocab", d, "--out", tmp_path / "t2.txt", "--min-count", "2"], monkeypatch, capsys)
    assert code == 0 and "2 token(s) seen < 2 times map to <unk>" in err and "c(1)" in err
    code, _, err = run_cli(["text", "check", d, "--tokens", tmp_path / "t2.txt"], monkeypatch, capsys)
    assert code == 1 and "utterance u1: unknown token(s) <space> c" in err
    (tmp_path / "bad.txt").write_text("a\nb\n")
    with pytest.raises(NarspeechError, match="not a token list"):
        load_token_list(tmp_path / "bad.txt")


def test_phoneme_batch_stays_aligned_with_empty_and_multiline_texts(espeak):
    out = tokenize(["yes", "", "hello\nworld", "(", "ok"], "phoneme", normalize=False)
    assert out[1] == [] and out[3] == []
    assert out[2] == tokenize(["hello world"], "phoneme")[0] and out[4] == tokenize(["ok"], "phoneme", normalize=False)[0]
    assert out[0] == ["j", "ˈ", "ɛ", "s"]
