"""`narspeech tts evaluate`: MCD/F0 of a synthesis dir against a data dir's recordings."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from narspeech.audio.features import FeatureConfig, log_mel
from narspeech.audio.io import write_wav
from narspeech.errors import NarspeechError
from narspeech.fileio import read_table, write_table
from narspeech.evaluate.synthesis import evaluate_synthesis

CFG = FeatureConfig.for_rate(16000)


def _harmonic(f0: float, sr: int, seconds: float = 0.6, noise: float = 0.0, seed: int = 0) -> np.ndarray:
    t = np.arange(int(sr * seconds)) / sr
    wav = sum(0.3 / k * np.sin(2 * np.pi * k * f0 * t) for k in range(1, 8))
    wav = wav * np.minimum(1.0, np.minimum(t, t[::-1]) / 0.05)  # soft edges
    return (wav + noise * np.random.default_rng(seed).normal(size=len(t))).astype(np.float32)


def _dirs(tmp_path, ref_wavs: dict, syn_wavs: dict, ref_sr: int = 16000, info: bool = True):
    ref, syn = tmp_path / "ref", tmp_path / "syn"
    for d, wavs, sr in ((ref, ref_wavs, ref_sr), (syn, syn_wavs, 16000)):
        scp = {}
        for utt, w in wavs.items():
            write_wav(d / "wav" / f"{utt}.wav", w, sr)
            scp[utt] = f"wav/{utt}.wav" if d is ref else str(d / "wav" / f"{utt}.wav")
        write_table(d / "wav.scp", scp)
    write_table(ref / "text", {u: "x" for u in ref_wavs})
    if info:
        (syn / "synth_info.json").write_text(json.dumps({"feats": CFG.to_dict(), "model_dir": "exp/m", "checkpoint": "exp/m/best.pt",
                                                          "config_hash": "abc", "controls": {"speed": 1.0}}))
    return syn, ref


def test_identical_audio_scores_zero_and_distortion_raises_mcd(tmp_path):
    clean = {"a": _harmonic(150, 16000), "b": _harmonic(220, 16000, 0.8)}
    syn, ref = _dirs(tmp_path / "same", clean, clean)
    r = evaluate_synthesis(syn, ref)
    assert r["utterances"] == 2 and r["mcd_db"]["mean"] == pytest.approx(0.0, abs=1e-6)
    assert r["f0_rmse_hz"]["mean"] == pytest.approx(0.0, abs=1e-6) and r["vde"]["mean"] == 0.0
    assert r["model"]["checkpoint"] == "exp/m/best.pt" and r["model"]["config_hash"] == "abc"
    assert sorted(read_table(syn / "mcd")) == ["a", "b"]
    assert json.loads((syn / "results.json").read_text())["mcd_db"]["n"] == 2

    means = []
    for level in (0.003, 0.03):
        noisy = {u: w + level * np.random.default_rng(1).normal(size=len(w)).astype(np.float32) for u, w in clean.items()}
        syn, ref = _dirs(tmp_path / f"n{level}", clean, noisy)
        means.append(evaluate_synthesis(syn, ref)["mcd_db"]["mean"])
    assert 0 < means[0] < means[1]


def test_trim_db_ignores_added_edge_silence(tmp_path):
    clean = {"a": _harmonic(150, 16000)}
    padded = {"a": np.concatenate([np.zeros(8000, np.float32), clean["a"], np.zeros(16000, np.float32)])}
    syn, ref = _dirs(tmp_path, clean, padded)
    untrimmed = evaluate_synthesis(syn, ref)
    trimmed = evaluate_synthesis(syn, ref, trim_db=40.0)
    assert untrimmed["mcd_db"]["mean"] > 0.1
    assert trimmed["mcd_db"]["mean"] < 0.1 * untrimmed["mcd_db"]["mean"]
    assert trimmed["duration_ratio"]["mean"] == pytest.approx(1.0, abs=0.05)
    assert trimmed["method"]["trim_db"] == 40.0


def test_f0_error_of_shifted_tones_with_resampled_reference(tmp_path):
    """Reference at 22.05 kHz, synthesis at 16 kHz: both are analysed at 16 kHz; 200 vs 210 Hz."""
    syn, ref = _dirs(tmp_path, {"a": _harmonic(200, 22050)}, {"a": _harmonic(210, 16000)}, ref_sr=22050)
    r = evaluate_synthesis(syn, ref, out=tmp_path / "res" / "r.json")
    assert r["f0_rmse_hz"]["mean"] == pytest.approx(10.0, abs=1.5)
    assert r["f0_rmse_cents"]["mean"] == pytest.approx(1200 * math.log2(1.05), abs=10)
    assert r["duration_ratio"]["mean"] == pytest.approx(1.0, abs=0.02)
    f0_line = read_table(tmp_path / "res" / "f0_rmse")["a"].split()
    assert len(f0_line) == 4 and float(f0_line[0]) == pytest.approx(10.0, abs=1.5)


def test_missing_and_unreadable(tmp_path):
    syn, ref = _dirs(tmp_path, {"a": _harmonic(150, 16000), "b": _harmonic(150, 16000)}, {"a": _harmonic(150, 16000)}, info=False)
    r = evaluate_synthesis(syn, ref)  # no synth_info: default features at the synthesis rate
    assert r["utterances"] == 1 and r["missing_synth"] == ["b"]
    write_table(syn / "wav.scp", {"zz": str(syn / "wav" / "a.wav")})
    with pytest.raises(NarspeechError, match="no utterance id"):
        evaluate_synthesis(syn, ref)
    write_table(syn / "wav.scp", {"a": str(syn / "wav" / "a.wav"), "b": str(syn / "wav" / "b.wav")})
    with pytest.raises(NarspeechError, match="utterance b"):  # listed but never written
        evaluate_synthesis(syn, ref)
    r = evaluate_synthesis(syn, ref, skip_bad=True)
    assert r["utterances"] == 1 and list(r["skipped"]) == ["b"]


def test_griffin_lim_resynthesis_of_real_speech_and_cli(tmp_path, shared_data):
    """Vocoding a recording's own mel gives a small but non-zero MCD; the CLI prints the summary."""
    from typer.testing import CliRunner

    from narspeech.audio.io import load_audio, resolve_entry
    from narspeech.cli.main import app
    from narspeech.vocoder.griffin_lim import GriffinLim

    base = shared_data / "arctic_fb"
    scp = read_table(base / "test" / "wav.scp")
    utt = next(iter(scp))
    wav = load_audio(resolve_entry(scp[utt], base), utt=utt)[0][: 16000 * 2]
    mel = log_mel(torch.from_numpy(wav), CFG)
    voc = GriffinLim(CFG, n_iter=32)(mel[None], torch.tensor([len(mel)]))[0]
    syn, ref = _dirs(tmp_path, {utt: wav}, {utt: voc})
    result = CliRunner().invoke(app, ["tts", "evaluate", "--synth", str(syn), "--ref", str(ref), "--device", "cpu", "--asr", "none"])
    assert result.exit_code == 0, result.output
    assert "MCD" in result.output
    r = json.loads((syn / "results.json").read_text())
    # Griffin-Lim copy synthesis; the same bounds as 0.1-9 dB before the cepstra were put on the
    # SPTK scale (÷ sqrt(2 * 80)): quiet frames still weigh heavily (see metrics.mcd)
    assert 0.1 / 12.65 < r["mcd_db"]["mean"] < 9.0 / 12.65, r["mcd_db"]
    assert r["vde"]["mean"] < 0.2 and r["f0_rmse_cents"]["mean"] < 100
    # a worse vocoder (one Griffin-Lim iteration) must score a higher MCD
    from narspeech.metrics.mcd import mcd_dtw, mel_cepstrum

    bad = GriffinLim(CFG, n_iter=1)(mel[None], torch.tensor([len(mel)]))[0]
    ref_c = mel_cepstrum(mel.numpy())
    good_mcd = mcd_dtw(ref_c, mel_cepstrum(log_mel(torch.from_numpy(voc), CFG).numpy()))[0]
    bad_mcd = mcd_dtw(ref_c, mel_cepstrum(log_mel(torch.from_numpy(bad), CFG).numpy()))[0]
    assert good_mcd < bad_mcd - 0.5 / 12.65, (good_mcd, bad_mcd)
