"""Text in a script the frontend's language cannot speak (CJK, emoji): found, warned, and skip | spell | fail."""
from __future__ import annotations

import pytest

from narspeech.errors import NarspeechError
from narspeech.fileio import read_table
from narspeech.text.foreign import apply_policy, split_foreign
from narspeech.text.tokenize import tokenize
from tests.test_data_import import run_cli


@pytest.mark.parametrize("text, language, found", [
    ("I like 中文 a lot", "en-us", "中文"),
    ("Hello 😀 world", "en-us", "😀"),
    ("👍🏽 ok 🇺🇸, 👨\u200d👩\u200d👧 ♥", "en-us", "👍🏽🇺🇸👨👩👧♥"),  # skin tone, flag, ZWJ family, dingbat
    ("Ωmega and пр", "en-us", "Ωпр"),
    ("こんにちは、世界。", "en-us", "こんにちは、世界。"),
    ("٣ apples", "en-us", "٣"),
    ("café naïve Straße µ © ½ € ± → ™", "en-us", ""),  # Latin letters and symbols a reader says
    ("ﬁne Ａ x²", "en-us", ""),  # compatibility forms fold to ASCII
    ("Привет мир 😀", "ru", "😀"),
    ("你好，世界。ok", "cmn", ""),
])
def test_split_foreign_finds_the_characters(text, language, found):
    assert split_foreign(text, language)[1] == found


def test_policies():
    assert apply_policy("I like 中文 a lot 😀!", "en-us", "skip") == ("I like a lot!", "中文😀")
    assert apply_policy("I like 中文.", "en-us", "spell") == ("I like 中文.", "中文")
    assert apply_policy("ﬁne tab\u200bzero", "en-us", "fail") == ("fine tab zero", "")
    with pytest.raises(NarspeechError, match="cannot speak.*: 中文"):
        apply_policy("I like 中文.", "en-us", "fail")
    with pytest.raises(NarspeechError, match="--on-foreign must be one of"):
        apply_policy("x", "en-us", "ignore")


def test_tokenize_skips_foreign_characters_instead_of_reading_their_names(espeak):
    skip, spell = (tokenize(["I like 中文 a lot 😀."], "phoneme", on_foreign=p)[0] for p in ("skip", "spell"))
    assert skip == tokenize(["I like a lot."], "phoneme")[0]
    assert len(spell) > len(skip) + 10  # "chinese letter chinese letter … grinning face" read out
    with pytest.raises(NarspeechError, match="cannot speak"):
        tokenize(["I like 中文."], "phoneme", on_foreign="fail")


def test_text_tokenize_cli_on_foreign(tmp_path, monkeypatch, capsys, espeak):
    d = tmp_path / "d"
    d.mkdir()
    (d / "text").write_text("u1 Hello world.\nu2 I like 中文 a lot 😀.\nu3 😀\n", encoding="utf-8")
    code, _, err = run_cli(["text", "tokenize", d, "--skip-bad"], monkeypatch, capsys)
    assert code == 0, err
    assert "warning: utterance u2: characters the en-us frontend cannot speak, left out: 中文😀" in err
    assert "skipped:" in err and "utterance u3" in err  # nothing left to say
    tok = read_table(d / "token")
    assert list(tok) == ["u1", "u2"] and tok["u2"].split() == tokenize(["I like a lot."], "phoneme")[0]
    code, _, err = run_cli(["text", "tokenize", d, "--on-foreign", "fail"], monkeypatch, capsys)
    assert code == 1 and err.count("\n") == 1 and "utterance u2" in err and "中文😀" in err and "Traceback" not in err
    code, _, err = run_cli(["text", "tokenize", d, "--on-foreign", "fail", "--skip-bad"], monkeypatch, capsys)
    assert code == 0 and list(read_table(d / "token")) == ["u1"]
    code, _, err = run_cli(["text", "tokenize", d, "--on-foreign", "spell"], monkeypatch, capsys)
    assert code == 0 and "read out by name" in err and len(read_table(d / "token")["u3"].split()) > 5
    code, _, err = run_cli(["text", "tokenize", d, "--on-foreign", "nope"], monkeypatch, capsys)
    assert code == 1 and "--on-foreign must be one of skip, spell, fail" in err


def test_tts_synthesize_cli_on_foreign(tmp_path):
    """Through `narspeech tts synthesize` with a tiny char model: skip speaks the rest, fail fails the line."""
    from typer.testing import CliRunner

    from narspeech.cli.main import app
    from tests.test_synthesize import _fastspeech2_exp

    exp = _fastspeech2_exp(tmp_path)
    f = tmp_path / "in.txt"
    f.write_text("hello 😀 world\nok then\n", encoding="utf-8")
    runs = {}
    for policy in ("skip", "fail"):
        out = tmp_path / policy
        r = CliRunner().invoke(app, ["tts", "synthesize", "--model", str(exp), "--text", str(f), "--out", str(out),
                                     "--no-wav", "--device", "cpu", "--on-foreign", policy])
        assert r.exit_code == 0, r.output
        runs[policy] = (read_table(out / "token"), read_table(out / "failed", allow_empty_value=True), r.output)
    tok, failed, output = runs["skip"]
    assert sorted(tok) == ["line0001", "line0002"] and failed == {}
    assert tok["line0001"] == "h e l l o <space> w o r l d"
    assert "utterance line0001: characters the en-us frontend cannot speak, left out: 😀" in output
    tok, failed, _ = runs["fail"]
    assert list(tok) == ["line0002"] and "😀" in failed["line0001"]
