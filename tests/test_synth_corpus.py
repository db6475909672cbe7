"""The espeak-ng corpus: a small multi-voice synth, and the round trip proving our phoneme
tokens are the phonemes espeak-ng spoke."""
from __future__ import annotations

import subprocess
import sys

import pytest

from narspeech.data.datadir import read_data_dir
from narspeech.data.prompts import DEFAULT_PROMPTS, load_prompts
from narspeech.data.synth import plan
from narspeech.data.validate import validate_data_dir
from narspeech.errors import NarspeechError
from narspeech.fileio import read_table
from narspeech.text.phonemes import is_phone
from tests.test_data_import import run_cli

VOICES = "en-us+f2,en-gb+m3"


def _cli(args) -> int:
    """The console entry point in-process (module-scoped fixtures cannot use monkeypatch)."""
    from narspeech.cli.main import main

    old, sys.argv = sys.argv, ["narspeech", *map(str, args)]
    try:
        main()
    except SystemExit as e:
        return e.code or 0
    finally:
        sys.argv = old
    return 0


@pytest.fixture(scope="module")
def synth_dir(tmp_path_factory, espeak):
    out = tmp_path_factory.mktemp("synth") / "data"
    assert _cli(["data", "synth", out, "--num-utts", "4", "--voices", VOICES, "--rate", "150:180", "--pitch", "40:60",
                 "--sample-rate", "16000", "--seed", "3", "--jobs", "2"]) == 0
    return out


def test_shipped_prompts():
    prompts = load_prompts()
    assert len(prompts) == 2000 and DEFAULT_PROMPTS.stat().st_size < 300_000
    assert all(3 <= len(p.split()) <= 20 and not any(c.isdigit() for c in p) for p in prompts)
    assert len(set(prompts)) == 2000


def test_synth_corpus_is_a_valid_multi_speaker_dir(synth_dir):
    dd = read_data_dir(synth_dir)
    assert len(dd) == 4 and set(dd.utt2spk.values()) == {"en-us-f2", "en-gb-m3"}
    assert dd.extra_utt["utt2lang"] == {u: ("en-gb" if u.startswith("en-gb") else "en-us") for u in dd.utts}
    assert dd.extra_spk["spk2gender"] == {"en-us-f2": "f", "en-gb-m3": "m"}
    prompts = set(load_prompts())
    assert all(t in prompts for t in dd.text.values())  # transcripts are the (already normal) prompts
    rep = validate_data_dir(synth_dir, expect_rate=16000)
    assert rep.ok, rep.problems
    assert rep.audio.count == 4 and rep.audio.min_seconds > 0.5
    durs = {u: float(v) for u, v in dd.extra_utt["utt2dur"].items()}
    assert sum(durs.values()) == pytest.approx(rep.audio.total_seconds, abs=0.01)


def test_plan_is_seeded_and_balanced(espeak):
    prompts = ["One two three.", "Four five six.", "Seven eight nine."]
    a = plan(prompts, ["en-us", "en-us+f1"], 5, rate=(100, 200), pitch=(0, 99), seed=1)
    b = plan(prompts, ["en-us", "en-us+f1"], 5, rate=(100, 200), pitch=(0, 99), seed=1)
    c = plan(prompts, ["en-us", "en-us+f1"], 5, rate=(100, 200), pitch=(0, 99), seed=2)
    assert a == b and a != c
    assert [u.spk for u in a].count("en-us") == 3 and sorted({u.text for u in a[:3]}) == sorted(prompts)
    assert all(100 <= u.rate <= 200 and 0 <= u.pitch <= 99 for u in a)
    with pytest.raises(NarspeechError, match="no variant"):
        plan(prompts, ["en-us+nope"], 1)


def test_round_trip_tokens_equal_espeak_phonemes(synth_dir, monkeypatch, capsys):
    """Our phoneme tokens (minus <space>/punctuation) == `espeak-ng -q --ipa` on the same text and voice."""
    code, _, err = run_cli(["text", "tokenize", synth_dir, "--kind", "phoneme"], monkeypatch, capsys)
    assert code == 0, err
    tokens = read_table(synth_dir / "token")
    text, u2s = read_table(synth_dir / "text"), read_table(synth_dir / "utt2spk")
    for utt, t in text.items():
        voice = u2s[utt].replace("-f2", "+f2").replace("-m3", "+m3")
        ipa = subprocess.run(["espeak-ng", "-q", "--ipa", "-v", voice], input=t, capture_output=True, text=True, check=True).stdout
        ours = [tok for tok in tokens[utt].split() if is_phone(tok) or tok in ("ˈ", "ˌ")]
        assert "".join(ours) == "".join(ipa.split()), utt
        assert all(not tok.startswith("ː") and not (len(tok) > 1 and tok[0] in "ˈˌ") for tok in ours)  # ː stays with its phone, stress marks stand alone


def test_exclude_prompts_leaves_out_another_sets_sentences():
    from narspeech.data.synth import exclude_prompts
    from narspeech.text.normalize import normalize

    prompts = load_prompts()[:50]
    test_texts = [normalize(p) for p in prompts[:10]]  # as a Kaldi `text` holds them
    kept = exclude_prompts(prompts, test_texts)
    assert kept == prompts[10:]
    assert exclude_prompts(prompts, []) == prompts
