"""Batch synthesis with a stub acoustic model and with a real (untrained) FastSpeech 2."""
from __future__ import annotations

import json
import math
import string

import kaldiio
import numpy as np
import pytest
import torch
from torch import nn

from narspeech.audio.features import FeatureConfig
from narspeech.audio.io import load_audio
from narspeech.errors import NarspeechError
from narspeech.fileio import read_table
from narspeech.text.vocab import TokenList
from narspeech.tts.synthesize.inference import Controls, LoadedModel
from narspeech.tts.synthesize.frontend import TextFrontend, read_data_text, read_sentences
from narspeech.tts.synthesize.writer import synthesize_to_dir

CFG = FeatureConfig.for_rate(16000)
CHARS = list(string.ascii_lowercase) + ["<space>", ",", ".", "!", "?", "'"]
TOKENS = TokenList(["<blank>", "<unk>", *CHARS, "<sos/eos>"])
CRASH = TOKENS.index["x"]  # the stub model "crashes" on this token


class StubTTS(nn.Module):
    """`frames_per_token / speed` frames per token; each token lights one mel band."""

    def __init__(self, n_mels: int = 80, frames_per_token: int = 6):
        super().__init__()
        self.n_mels, self.fpt = n_mels, frames_per_token
        self.calls: list[int] = []

    def inference(self, tokens, token_lengths, *, speed=1.0, pitch_shift=0.0, energy_scale=1.0):
        self.calls.append(tokens.shape[0])
        if bool((tokens == CRASH).any()):
            raise RuntimeError("stub cannot say x")
        d = max(1, round(self.fpt / speed))
        lengths = token_lengths * d
        mels = torch.full((tokens.shape[0], int(lengths.max()), self.n_mels), math.log(1e-3))
        for b in range(tokens.shape[0]):
            for i in range(int(token_lengths[b])):
                band = 5 + int(tokens[b, i]) * 2
                mels[b, i * d : (i + 1) * d, band - 1 : band + 2] = math.log(0.5 * energy_scale)
        return mels, lengths


def _loaded(tmp_path, model=None) -> LoadedModel:
    cfg = {"model": {"type": "stub"}, "text": {"kind": "char", "language": "en-us"}, "feats": CFG.to_dict()}
    front = TextFrontend("char", "en-us", TOKENS)
    return LoadedModel(model or StubTTS(), cfg, CFG, front, tmp_path / "exp", tmp_path / "exp" / "best.pt", torch.device("cpu"))


def test_read_sentences_numbers_lines_and_reads_ids(tmp_path):
    f = tmp_path / "s.txt"
    f.write_text("Hello there.\n\nSecond line\n\n\n", encoding="utf-8")
    assert read_sentences(f) == [("line0001", "Hello there."), ("line0002", ""), ("line0003", "Second line")]
    f.write_text("b2 second\n\na1 first one\n", encoding="utf-8")
    assert read_sentences(f, with_ids=True) == [("b2", "second"), ("a1", "first one")]
    f.write_text("a x\na y\n", encoding="utf-8")
    with pytest.raises(NarspeechError, match="utterance a"):
        read_sentences(f, with_ids=True)


def test_synthesize_writes_one_wav_per_line_and_lists_failures(tmp_path):
    sentences = ["hello world", "", "a longer sentence, for the batch", "?!", "你好", "the dog", "say x now", "ok"]
    f = tmp_path / "in.txt"
    f.write_text("\n".join(sentences) + "\n", encoding="utf-8")
    items = read_sentences(f)
    warned = []
    model = StubTTS()
    out = tmp_path / "synth"
    res = synthesize_to_dir(_loaded(tmp_path, model), items, out, batch_size=3, source=str(f),
                            vocoder_options={"n_iter": 4}, warn=lambda u, r: warned.append(u))
    good = ["line0001", "line0003", "line0006", "line0008"]
    assert res.synthesized == good
    failed = read_table(out / "failed")
    assert sorted(failed) == ["line0002", "line0004", "line0005", "line0007"]
    assert "empty" in failed["line0002"] and "nothing speakable" in failed["line0004"]
    assert "nothing speakable" in failed["line0005"] and "你" in failed["line0005"]  # foreign script left out
    assert "acoustic model failed" in failed["line0007"]
    assert sorted(warned) == sorted(failed)
    # the batch holding the crashing line was retried one by one: the others in it survived
    assert 1 in model.calls
    wav_scp, frames = read_table(out / "wav.scp"), read_table(out / "utt2num_frames")
    feats = dict(kaldiio.load_scp(str(out / "feats.scp")))
    assert list(wav_scp) == list(frames) == sorted(feats) == good
    text = read_table(out / "text")
    for utt in good:
        wav, sr = load_audio(wav_scp[utt], utt=utt)
        n_tok = len(text[utt].replace(" ", "_"))  # one char token per character, <space> for blanks
        assert sr == 16000 and feats[utt].shape == (n_tok * 6, 80) == (int(frames[utt]), 80)
        assert len(wav) == (int(frames[utt]) - 1) * CFG.hop_length and np.abs(wav).max() > 0.01
    info = json.loads((out / "synth_info.json").read_text())
    assert info["synthesized"] == 4 and info["failed"] == 4 and info["controls"]["speed"] == 1.0
    assert info["checkpoint"].endswith("best.pt") and len(info["config_hash"]) == 12


def test_speed_control_changes_length_by_ratio(tmp_path):
    items = [("u1", "some words here"), ("u2", "more")]
    lengths = {}
    for speed in (1.0, 2.0, 0.5):
        out = tmp_path / f"s{speed}"
        synthesize_to_dir(_loaded(tmp_path), items, out, controls=Controls(speed=speed), write_wavs=False)
        lengths[speed] = {u: int(n) for u, n in read_table(out / "utt2num_frames").items()}
        assert not (out / "wav.scp").exists()
    for u in ("u1", "u2"):
        assert lengths[2.0][u] / lengths[1.0][u] == pytest.approx(0.5)
        assert lengths[0.5][u] / lengths[1.0][u] == pytest.approx(2.0)
    with pytest.raises(NarspeechError, match="speed"):
        synthesize_to_dir(_loaded(tmp_path), items, tmp_path / "bad", controls=Controls(speed=0))


def test_nothing_synthesizable_is_an_error_but_failed_is_written(tmp_path):
    with pytest.raises(NarspeechError, match="nothing could be synthesized"):
        synthesize_to_dir(_loaded(tmp_path), [("a", ""), ("b", "?")], tmp_path / "o", write_wavs=False)
    assert sorted(read_table(tmp_path / "o" / "failed")) == ["a", "b"]


def test_data_dir_input(tmp_path):
    d = tmp_path / "data"
    d.mkdir()
    (d / "text").write_text("utt1 Hello.\nutt2 \nutt3 Bye now\n", encoding="utf-8")
    assert read_data_text(d) == [("utt1", "Hello."), ("utt2", ""), ("utt3", "Bye now")]


# ------------------------------------------------------------------ real model through its exp dir


def _save_exp(exp, model_cfg: dict, model, **extra):
    """Save `model` as the trainer would: EXP/best.pt (weights + config with this file's char frontend and
    features) and EXP/tokens.txt."""
    exp.mkdir()
    cfg = {"model": model_cfg, "text": {"kind": "char", "language": "en-us"}, "feats": CFG.to_dict()}
    torch.save({"model": model.state_dict(), "config": cfg, **extra}, exp / "best.pt")
    (exp / "tokens.txt").write_text("\n".join(TOKENS.tokens) + "\n", encoding="utf-8")
    return exp


def _fastspeech2_exp(tmp_path, frames_per_token=8):
    """A tiny untrained FastSpeech 2 saved like the trainer does, with the duration predictor
    pinned to `frames_per_token` frames per token so lengths are known."""
    from narspeech.tts.models.build import build_tts_model

    model_cfg = {"type": "fastspeech2", "n_tokens": len(TOKENS), "n_mels": 80, "d_model": 32, "n_heads": 2,
                 "enc_layers": 1, "dec_layers": 1, "d_ff": 64, "predictor_channels": 16}
    model = build_tts_model(model_cfg)
    with torch.no_grad():
        model.duration_predictor.out.weight.zero_()
        model.duration_predictor.out.bias.fill_(math.log(frames_per_token + 1))
    return _save_exp(tmp_path / "exp_fs2", model_cfg, model, step=1)


def test_real_fastspeech2_from_exp_dir_speed_and_cli(tmp_path):
    from typer.testing import CliRunner

    from narspeech.cli.main import app
    from narspeech.tts.synthesize.inference import load_model

    exp = _fastspeech2_exp(tmp_path)
    loaded = load_model(exp, device="cpu")
    items = [("a", "hello"), ("b", "hi there")]
    r1 = synthesize_to_dir(loaded, items, tmp_path / "o1", write_wavs=False)
    r2 = synthesize_to_dir(loaded, items, tmp_path / "o2", controls=Controls(speed=2.0), write_wavs=False)
    n1, n2 = (read_table(r.out_dir / "utt2num_frames") for r in (r1, r2))
    assert n1 == {"a": str(5 * 8), "b": str(8 * 8)}
    assert {u: int(n2[u]) / int(n1[u]) for u in n1} == {"a": 0.5, "b": 0.5}

    f = tmp_path / "in.txt"
    f.write_text("hello\n\nok then\n", encoding="utf-8")
    out = tmp_path / "cli"
    result = CliRunner().invoke(app, ["tts", "synthesize", "--model", str(exp), "--text", str(f), "--out", str(out),
                                      "--gl-iters", "2", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert sorted(read_table(out / "wav.scp")) == ["line0001", "line0003"]
    assert list(read_table(out / "failed")) == ["line0002"]
    info = json.loads((out / "synth_info.json").read_text())
    assert info["model_type"] == "fastspeech2" and info["vocoder"]["n_iter"] == 2


def test_ar_teacher_free_running_synthesis(tmp_path):
    """The Transformer-TTS teacher goes through the same path (its stop token disabled here, so
    an untrained one runs to max_len_ratio × tokens frames)."""
    from narspeech.tts.models.build import build_tts_model
    from narspeech.tts.synthesize.inference import load_model

    model_cfg = {"type": "transformer_tts", "n_tokens": len(TOKENS), "n_mels": 80, "d_model": 32, "n_heads": 2, "enc_layers": 1,
                 "dec_layers": 1, "d_ff": 64, "d_emb": 32, "dec_prenet_units": 32, "postnet_layers": 0,
                 "max_len_ratio": 4.0, "stop_threshold": 1.01}
    exp = _save_exp(tmp_path / "exp_teacher", model_cfg, build_tts_model(model_cfg))
    res = synthesize_to_dir(load_model(exp, device="cpu"), [("a", "hi"), ("b", "hello you"), ("c", "")], tmp_path / "o",
                            vocoder_options={"n_iter": 2}, controls=Controls(speed=2.0))
    assert res.synthesized == ["a", "b"] and list(res.failed) == ["c"]
    frames = read_table(tmp_path / "o" / "utt2num_frames")
    assert frames == {"a": str(4 * 2), "b": str(4 * 9)}  # the NAR speed control does not apply to the teacher
    assert res.info["model_type"] == "transformer_tts"
    assert len(load_audio(read_table(tmp_path / "o" / "wav.scp")["b"])[0]) == (4 * 9 - 1) * CFG.hop_length


def test_ar_teacher_teacher_forced_on_recorded_mels(tmp_path):
    """`--teacher-forcing DUMP`: the teacher's postnet output on the recorded previous frames, as long as each
    recording, the same in a padded batch as alone; an utterance the dump lacks fails; FastSpeech 2 refuses."""
    import soundfile as sf

    from narspeech.audio.extract import extract_dump
    from narspeech.tts.synthesize.inference import load_model

    data = tmp_path / "data"
    data.mkdir()
    for u, n in (("a", 4000), ("b", 9000)):
        t = np.arange(n) / 16000
        sf.write(tmp_path / f"{u}.wav", (0.1 * np.sin(2 * np.pi * 150 * t * (1 + t))).astype(np.float32), 16000)
    (data / "wav.scp").write_text("".join(f"{u} {tmp_path / u}.wav\n" for u in "ab"))
    (data / "text").write_text("a hi\nb hello you\n")
    (data / "utt2spk").write_text("a s\nb s\n")
    extract_dump(data, tmp_path / "dump", CFG.to_dict(), device="cpu", jobs=0)
    def denormalised(t2):  # a normalisation that is not the identity, as a trained teacher's
        t2.stats.mel_mean.fill_(-6.0)
        t2.stats.mel_std.fill_(2.0)

    loaded = load_model(_tiny_tacotron2_exp(tmp_path, denormalised, prenet_dropout=0.0, postnet_layers=2, postnet_channels=8),
                        device="cpu")
    items = [("a", "hi"), ("b", "hello you"), ("c", "not recorded")]
    res = synthesize_to_dir(loaded, items, tmp_path / "tf", write_wavs=False, teacher_dump=tmp_path / "dump")
    assert res.synthesized == ["a", "b"] and "not in the teacher-forcing dump" in res.failed["c"]
    dumped = kaldiio.load_scp(str(tmp_path / "dump" / "feats.scp"))
    out = kaldiio.load_scp(str(tmp_path / "tf" / "feats.scp"))
    m = loaded.model
    for utt, text in items[:2]:
        rec = np.array(dumped[utt], dtype=np.float32)
        assert out[utt].shape == rec.shape
        ids = torch.tensor([loaded.frontend.encode([(utt, text)])[0][0].ids])
        with torch.no_grad():
            alone = m.teacher_forced(ids, torch.tensor([ids.size(1)]), torch.from_numpy(rec)[None], torch.tensor([len(rec)]))
        np.testing.assert_allclose(out[utt], m.stats.denorm_mel(alone["after"])[0, : len(rec)].numpy(), atol=1e-5)
    assert res.info["teacher_forced"] == str((tmp_path / "dump").resolve())
    with pytest.raises(NarspeechError, match="needs an AR teacher"):
        synthesize_to_dir(load_model(_fastspeech2_exp(tmp_path), device="cpu"), items, tmp_path / "x",
                          write_wavs=False, teacher_dump=tmp_path / "dump")


def test_ar_teacher_synthesis_is_repeatable_with_its_seed(tmp_path):
    """The teacher's prenet dropout stays on at inference: the same seed gives the same mels, another seed other
    mels (scores of one checkpoint were not repeatable before `seed`)."""
    from narspeech.tts.synthesize.inference import load_model

    loaded = load_model(_tiny_tacotron2_exp(tmp_path, max_len_ratio=3.0), device="cpu")  # prenet dropout 0.5
    items = [("a", "hi"), ("b", "hello you")]

    def mels(name, seed):
        res = synthesize_to_dir(loaded, items, tmp_path / name, write_wavs=False, seed=seed)
        assert res.info["seed"] == seed
        return {u: kaldiio.load_mat(p) for u, p in read_table(tmp_path / name / "feats.scp").items()}

    first, again, other = mels("s0", 0), mels("s0_again", 0), mels("s1", 1)
    for u in ("a", "b"):
        np.testing.assert_array_equal(first[u], again[u])
        assert first[u].shape != other[u].shape or not np.allclose(first[u], other[u], atol=1e-5)


def _tiny_tacotron2_exp(tmp_path, prepare=None, **options):
    """An untrained tiny Tacotron 2 saved as an exp dir (best.pt, tokens.txt); `prepare(model)` runs before saving."""
    from narspeech.tts.models.build import build_tts_model

    model_cfg = {"type": "tacotron2", "n_tokens": len(TOKENS), "n_mels": 80, "d_emb": 16, "enc_conv_layers": 1,
                 "enc_conv_channels": 16, "enc_lstm_units": 8, "prenet_units": 16, "attn_rnn_units": 16,
                 "dec_rnn_units": 16, "attn_dim": 8, "loc_filters": 4, "loc_kernel": 5, "postnet_layers": 0,
                 "reduction_factor": 2, **options}
    torch.manual_seed(0)
    model = build_tts_model(model_cfg)
    if prepare is not None:
        prepare(model)
    return _save_exp(tmp_path / "exp_t2", model_cfg, model)
