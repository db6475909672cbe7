"""Intelligibility scoring (normalisation, WER ratio, recogniser choice) and the level/voicing measures
that keep silent or stationary output from scoring well; fast, synthetic audio and a fake recogniser."""
from __future__ import annotations

import json
import math
import sys
import types

import numpy as np
import pytest

from narspeech.errors import NarspeechError
from narspeech.fileio import read_table
from narspeech.metrics.f0 import f0_errors, voicing_f1
from narspeech.evaluate.headline import format_line, format_table, headline
from narspeech.asr.recognize import DecodeOptions
from narspeech.evaluate.intelligibility import intelligibility, load_asr, normalize_for_scoring
from narspeech.metrics.mcd import mcd_dtw, mel_cepstrum
from narspeech.metrics.spectral import frame_level_db, level_scores, temporal_variance


class FakeASR:
    """Says the sentence when the waveform is loud, nothing when it is silent; counts its calls."""

    name, sample_rate = "fake", 16000

    def __init__(self, words: dict[float, str]):
        self.words, self.calls = words, 0

    def transcribe(self, wavs, sr):
        self.calls += len(wavs)
        return [self.words.get(round(float(np.abs(w).max()), 2), "") for w in wavs]


class FakeRecognizer(FakeASR):
    """What `load_recognizer` returns: a Mask-CTC model; records the decoding options it is asked for."""

    model_type = "mask_ctc"

    def transcribe(self, wavs, sr, *, options=None):
        self.options = options
        return super().transcribe(wavs, sr)


def fake_recognize_module(words: dict[float, str]) -> types.ModuleType:
    fake = types.ModuleType("narspeech.asr.recognize")
    fake.DecodeOptions = DecodeOptions
    fake.load_recognizer = lambda exp, device: FakeRecognizer(words)
    return fake


def test_normalize_for_scoring_speaks_numbers_and_drops_punctuation():
    assert normalize_for_scoring("In 1908, Dr. Smith's \"car\" -- it's Red!") == "in nineteen oh eight doctor smith's car it's red"
    assert normalize_for_scoring("well-known  'quotes'") == "well known quotes"


def test_wer_ratio_hyp_files_and_recordings_recognised_once(tmp_path):
    texts = {"a": "The 2 cats sat.", "b": "a dog ran"}
    ref = {"a": np.full(800, 0.5, np.float32), "b": np.full(800, 0.25, np.float32)}
    syn = {"a": np.full(800, 0.5, np.float32), "b": np.zeros(800, np.float32)}  # b is silent
    asr = FakeASR({0.5: "the two cats sat", 0.25: "a dog ran"})
    r = intelligibility(texts, syn, ref, 16000, asr, out_dir=tmp_path)
    assert r["ref"]["wer"] == 0.0 and r["synth"]["wer"] == pytest.approx(3 / 7)
    assert r["wer_ratio"] == math.inf and r["synth"]["empty_hyps"] == 1
    assert read_table(tmp_path / "hyp_ref")["a"] == "the two cats sat"
    assert read_table(tmp_path / "hyp_synth", allow_empty_value=True)["b"] == ""
    assert read_table(tmp_path / "text_scored")["a"] == "the two cats sat"
    assert asr.calls == 3  # syn "a" and ref "a" are the same audio: decoded once
    intelligibility(texts, syn, ref, 16000, asr)
    assert asr.calls == 3  # a second system in the same process reuses the recordings' transcripts


def test_asr_cache_on_disk_spares_decoding_the_recordings_again(tmp_path, monkeypatch):
    import narspeech.evaluate.intelligibility as intel

    texts = {"a": "x y"}
    ref, syn = {"a": np.full(800, 0.5, np.float32)}, {"a": np.full(800, 0.25, np.float32)}
    asr = FakeASR({0.5: "x y"})
    intelligibility(texts, syn, ref, 16000, asr, cache_dir=tmp_path / "cache")
    monkeypatch.setattr(intel, "_CACHE", {})  # a new process
    r = intelligibility(texts, syn, ref, 16000, asr, cache_dir=tmp_path / "cache")
    assert asr.calls == 2 and r["ref"]["wer"] == 0.0 and (tmp_path / "cache" / "fake.json").is_file()


def test_load_asr_choices_and_missing_narspeech_asr(tmp_path, monkeypatch):
    assert load_asr("none") is None
    with pytest.raises(NarspeechError, match="unknown --asr"):
        load_asr("whisper")
    with pytest.raises(NarspeechError, match="not found"):
        load_asr(model=tmp_path / "nope")
    monkeypatch.setitem(sys.modules, "narspeech.asr.recognize", None)  # the ASR issue not landed
    with pytest.raises(NarspeechError, match="load_recognizer"):
        load_asr(model=tmp_path)
    monkeypatch.setitem(sys.modules, "narspeech.asr.recognize", fake_recognize_module({}))
    rec = load_asr(model=tmp_path, device="cpu")
    assert rec.sample_rate == 16000 and rec.transcribe([np.zeros(10)], 16000) == [""]
    assert rec._rec.options.method == "ctc" and rec.name.endswith("(ctc)")  # a Mask-CTC judge reads by greedy CTC


def test_voicing_f1_and_f0_rmse_do_not_flatter_an_unvoiced_system():
    ref = np.array([0, 120, 125, 130, 0, 0, 110, 0], float)
    e = f0_errors(ref, np.zeros_like(ref))
    assert e["voiced_pairs"] == 0 and math.isnan(e["f0_rmse_hz"]) and e["vde"] == 0.5  # VDE: only half wrong
    assert voicing_f1(0, e["ref_voiced"], e["syn_voiced"])["f1"] == 0.0
    same = f0_errors(ref, ref)
    assert voicing_f1(same["voiced_pairs"], same["ref_voiced"], same["syn_voiced"])["f1"] == 1.0
    assert math.isnan(voicing_f1(0, 0, 3)["f1"])
    everything_voiced = voicing_f1(both=5, ref_voiced=5, syn_voiced=10)  # recall 1 bought by voicing every frame
    assert everything_voiced["recall"] == 1.0 and everything_voiced["f1"] == pytest.approx(2 / 3)


def _moving_mel(t=120, n=80, seed=0):
    rng = np.random.default_rng(seed)
    env = np.where((np.arange(t) // 15) % 2 == 0, 0.0, -6.0)  # syllables and pauses, 6 nats (52 dB) apart
    return env[:, None] - np.linspace(0, 3, n)[None, :] + 0.3 * rng.standard_normal((t, n))


def test_level_scores_catch_silence_quiet_and_stationary_output():
    ref = _moving_mel()
    diag = np.stack([np.arange(len(ref))] * 2, 1)
    same = level_scores(ref, ref, diag)
    assert same["level_corr"] == pytest.approx(1.0) and same["floor_error"] == 0 and same["variance_ratio"] == 1.0
    assert 0.4 < same["silence_ref"] < 0.6
    floor = np.full_like(ref, math.log(1e-5))
    s = level_scores(ref, floor, diag)
    assert s["silence_synth"] == 1.0 and s["level_corr"] == 0.0 and s["variance_ratio"] < 1e-12 and s["floor_error"] > 0.4
    blur = ref.mean(0, keepdims=True) + 0.05 * np.random.default_rng(1).standard_normal(ref.shape)  # stationary
    b = level_scores(ref, blur, diag)
    assert b["variance_ratio"] < 0.01 and b["silence_synth"] == 0.0 and abs(b["level_corr"]) < 0.3
    # the correlation is scale-free: a blur whose level still moves in step correlates; the variance ratio names it
    faint = level_scores(ref, blur + 0.05 * (ref - ref.mean(0)), diag)
    assert faint["level_corr"] > 0.9 and faint["variance_ratio"] < 0.01
    quiet = level_scores(ref, ref - 6.0, diag)  # the same speech 52 dB down: near the recording's floor
    assert quiet["silence_synth"] == 1.0 and quiet["level_corr"] == pytest.approx(1.0)
    assert temporal_variance(ref) > 5 and frame_level_db(ref).shape == (len(ref),)


def test_mcd_with_c0_charges_a_level_error_that_mcd_without_c0_ignores():
    ref = _moving_mel()
    assert mel_cepstrum(ref, with_c0=True)[:, 0] == pytest.approx(ref.mean(1))
    plain = mcd_dtw(mel_cepstrum(ref), mel_cepstrum(ref - 2.0))[0]
    with_c0 = mcd_dtw(mel_cepstrum(ref, with_c0=True), mel_cepstrum(ref - 2.0, with_c0=True))[0]
    assert plain == pytest.approx(0.0, abs=1e-9) and with_c0 > 10.0


def test_headline_line_and_table_without_asr(tmp_path, capsys):
    from narspeech.evaluate.headline import main

    r = {"mcd_c0_db": {"mean": 1.5}, "level_corr": {"mean": 0.9}, "voicing": {"f1": None}, "voiced_pairs": 0,
         "silence": {"synth": {"mean": 1.0}, "ref": {"mean": 0.1}}, "variance_ratio": {"mean": 0.0}, "intelligibility": None}
    h = headline(r)
    line = format_line(h)
    assert "WER n/a" in line and "MCD+c0 1.50 dB" in line and "F0 RMSE n/a" in line and "voicing F1 n/a" in line
    assert "n/a" in format_table([("sys", h)])
    (tmp_path / "results.json").write_text(json.dumps(r))
    main([str(tmp_path / "results.json")])
    assert "MCD+c0" in capsys.readouterr().out


def test_evaluate_cli_with_a_narspeech_asr_model(tmp_path, monkeypatch):
    """`tts evaluate --asr-model EXP` scores synthesis and recordings with the model's recogniser."""
    from typer.testing import CliRunner

    from narspeech.audio.features import FeatureConfig
    from narspeech.cli.main import app
    from narspeech.fileio import write_table
    from narspeech.evaluate.baselines import write_synthesis_dir

    cfg = FeatureConfig.for_rate(16000)
    t = np.arange(8000) / 16000
    speech = (0.5 * np.sin(2 * np.pi * 150 * t) * (np.sin(2 * np.pi * 3 * t) > 0)).astype(np.float32)
    ref = write_synthesis_dir(tmp_path / "ref", ["u1"], [speech], cfg)
    write_table(ref / "text", {"u1": "hello world"})
    syn = write_synthesis_dir(tmp_path / "syn", ["u1"], [np.zeros_like(speech)], cfg)
    monkeypatch.setitem(sys.modules, "narspeech.asr.recognize", fake_recognize_module({0.5: "hello world"}))
    (tmp_path / "exp").mkdir()
    res = CliRunner().invoke(app, ["tts", "evaluate", "--synth", str(syn), "--ref", str(ref), "--device", "cpu",
                                   "--asr-model", str(tmp_path / "exp")])
    assert res.exit_code == 0, res.output
    assert "WER 100.0 % (recordings 0.0 %" in res.output
    r = json.loads((syn / "results.json").read_text())
    assert r["intelligibility"]["wer_ratio"] is None  # inf over a perfect reference: strict JSON null
    assert r["mcd_db"]["n"] == 1 and r["headline"]["level_corr"] == 0.0 and r["voicing"]["f1"] == 0.0
    assert read_table(syn / "hyp_ref")["u1"] == "hello world"
