"""The speaker path matters (issue 33): a tiny FastSpeech 2 trained on two espeak-ng voices of different pitch
(en-us, ~100 Hz, and en-us+f4, ~180 Hz; one fixed espeak pitch setting, so only the voice sets it) speaks the
same sentence with clearly different F0 for the two speaker ids, each near its voice's recordings.

The whole chain runs through the CLI: corpus, phonemes, features, the aligner's durations, training with
``model.spks=auto`` (EXP/spk2sid), then ``tts synthesize --speaker``. The F0 measured is the model's own
(the pitch predictor's token F0 in Hz, what FastSpeech 2 renders), averaged over the sentence."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import cli_ok

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_thread")]

VOICES = ("en-us", "en-us+f4")
SENTENCE = "The birch canoe slid on the smooth planks."


@pytest.fixture(scope="module")
def two_voice_model(tmp_path_factory, espeak):
    root = tmp_path_factory.mktemp("two_voices")
    data, dump = root / "data", root / "dump"
    cli_ok("data", "synth", data, "--num-utts", 40, "--voices", ",".join(VOICES), "--pitch", "50:50",
           "--sample-rate", 16000, "--seed", 1, "--jobs", 1)
    cli_ok("text", "tokenize", data, "--kind", "phoneme")
    cli_ok("text", "vocab", data, "--out", root / "tokens.txt")
    cli_ok("feats", "extract", data, dump, "--jobs", 0, "--device", "cpu")
    cli_ok("feats", "stats", dump)
    cli_ok("tts", "align", "--data", data, "--dump", dump, "--tokens", root / "tokens.txt", "--out", root / "align",
           "--iterations", 4)
    conf = root / "fs.yaml"
    conf.write_text(
        "model: {type: fastspeech2, d_model: 64, n_heads: 2, enc_layers: 1, dec_layers: 1, d_ff: 128, ffn_kernel: 3,\n"
        "        dropout: 0.0, attn_dropout: 0.0, predictor_channels: 64, predictor_dropout: 0.1, spks: auto}\n"
        "train: {seed: 1, max_steps: 250, batch_bins: 4000, max_batch_size: 16, optim: {name: adam, lr: 3.0e-3},\n"
        "        scheduler: {name: warmup, warmup_steps: 50}, valid_interval: 1000, log_interval: 100, num_workers: 0,\n"
        "        device: cpu}\n")
    exp = root / "exp"
    cli_ok("tts", "train", "--config", conf, "--tokens", root / "tokens.txt", "--train-data", data, "--train-dump", dump,
           "--durations", root / "align" / "durations", "--exp", exp)
    return root, exp


def _model_f0(exp, speaker: str) -> float:
    """Mean token F0 (Hz) the model predicts for SENTENCE as `speaker`, through the synthesis frontend and voices."""
    from narspeech.tts.synthesize.inference import load_model, pad_tokens, speaker_kwargs
    from narspeech.tts.synthesize.speakers import ModelSpeakers, SpeakerRequest, assign_voices

    loaded = load_model(exp, device="cpu")
    enc, _ = loaded.frontend.encode([("s", SENTENCE)])
    v = assign_voices(ModelSpeakers.of(loaded.cfg, exp), ["s"], SpeakerRequest(speaker=speaker))["s"]
    enc[0].sid, enc[0].spemb = v.sid, v.spemb
    tokens, lengths = pad_tokens(enc, torch.device("cpu"))
    m = loaded.model
    with torch.no_grad():
        x, pad = m.encode(tokens, lengths, **speaker_kwargs(enc, torch.device("cpu")))
        hz = m.pitch_predictor(x, ~pad) * m.stats.f0_std + m.stats.f0_mean
    return float(hz[~pad].mean())


def test_two_speaker_ids_speak_at_their_voices_pitch(two_voice_model, tmp_path):
    from narspeech.fileio import read_table

    root, exp = two_voice_model
    assert read_table(exp / "spk2sid") == {"en-us": "0", "en-us-f4": "1"}
    low, high = _model_f0(exp, "en-us"), _model_f0(exp, "en-us-f4")
    assert high > 1.4 * low, (low, high)  # the recordings: ~100 Hz and ~180 Hz
    assert 80 < low < 130 and 145 < high < 220, (low, high)
    (tmp_path / "s.txt").write_text(SENTENCE + "\n")
    mels = {}
    for spk in ("en-us", "en-us-f4"):
        out = tmp_path / spk
        cli_ok("tts", "synthesize", "--model", exp, "--text", tmp_path / "s.txt", "--speaker", spk, "--out", out,
               "--no-wav", "--device", "cpu")
        assert read_table(out / "utt2spk") == {"line0001": spk}
        import kaldiio

        mels[spk] = np.asarray(next(iter(kaldiio.load_scp(str(out / "feats.scp")).values())))
    n = min(len(m) for m in mels.values())
    assert np.abs(mels["en-us"][:n] - mels["en-us-f4"][:n]).mean() > 0.3  # two voices, two spectra
