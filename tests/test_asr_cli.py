"""The ASR commands end to end on a tiny data dir (tokenize → vocab → train 2 steps → decode → score),
`asr recognize` on the audio itself, and bad input: audio too short for the subsampling (reported, empty hypothesis, nothing crashes),
a token list that does not match the model, a decode that fails half-way (no hyp written)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from narspeech.cli.main import app
from narspeech.errors import NarspeechError

TEXTS = {"u1": "a cab", "u2": "bad cab", "u3": "a dab", "u4": "Dad, 2 cabs.", "u5": "ab", "u6": "bad"}


def ok(args):
    r = CliRunner().invoke(app, [str(a) for a in args])
    assert r.exit_code == 0, (r.output, r.exception)
    return r.output


@pytest.fixture(scope="module")
def trained(tmp_path_factory, one_thread):
    from narspeech.audio.extract import extract_dump
    from narspeech.audio.stats import compute_stats, save_stats

    root = tmp_path_factory.mktemp("asr")
    data = root / "data"
    data.mkdir()
    rng = np.random.default_rng(0)
    wav_scp, text, utt2spk = [], [], []
    for i, (u, t) in enumerate(sorted(TEXTS.items())):
        n = 160 * 5 if u == "u6" else 9600  # u6: 5 frames, too short for the x4 subsampling
        path = root / f"{u}.wav"
        sec = np.arange(n) / 16000
        tone = sum(np.sin(2 * np.pi * (120 + 20 * i) * k * sec) / k for k in range(1, 6))  # voiced: F0 statistics exist
        sf.write(path, (0.05 * tone + 0.01 * rng.standard_normal(n)).astype(np.float32), 16000)
        wav_scp.append(f"{u} {path}")
        text.append(f"{u} {t}")
        utt2spk.append(f"{u} s1")
    for name, lines in (("wav.scp", wav_scp), ("text", text), ("utt2spk", utt2spk), ("spk2utt", ["s1 " + " ".join(sorted(TEXTS))])):
        (data / name).write_text("\n".join(lines) + "\n")
    dump = root / "dump"
    extract_dump(data, dump, {"sample_rate": 16000, "n_fft": 512, "hop_length": 160, "win_length": 400, "n_mels": 20,
                              "fmax": 8000}, device="cpu", jobs=0)
    save_stats(compute_stats(dump), dump / "stats.npz")
    ok(["asr", "tokenize", data])
    assert (data / "text_asr").read_text().splitlines()[3] == "u4 DAD TWO CABS"
    ok(["text", "vocab", data, "--out", root / "tokens.txt"])
    conf = root / "conf.yaml"
    conf.write_text("model: {type: mask_ctc, d_model: 16, n_heads: 2, enc_layers: 1, enc_ff: 32, dec_layers: 1, dec_ff: 32, "
                    "subsample_channels: 4}\ntrain: {max_steps: 2, batch_bins: 1000, num_workers: 0, tensorboard: false, "
                    "log_to_stderr: false, device: cpu, scheduler: {name: constant}}\n")
    exp = root / "exp"
    ok(["asr", "train", "--config", conf, "--tokens", root / "tokens.txt", "--train-data", data, "--train-dump", dump,
        "--exp", exp])
    return root, data, dump, exp


def test_train_decode_score_and_short_audio(trained):
    root, data, dump, exp = trained
    assert "<mask>" in (exp / "tokens.txt").read_text().split()
    out = root / "dec"
    ok(["asr", "decode", "--model", exp, "--dump", dump, "--out", out, "--method", "maskctc", "--batch-size", 2, "--device", "cpu"])
    hyp = (out / "hyp").read_text().splitlines()
    assert [h.split()[0] for h in hyp] == sorted(TEXTS)  # every utterance, the short one with an empty hypothesis
    assert "u6" == next(h for h in hyp if h.startswith("u6"))
    assert (out / "skipped").read_text().startswith("u6 too short")
    assert len((out / "timing").read_text().splitlines()) == 5
    text = ok(["asr", "score", data / "text_asr", out / "hyp", "--unit", "char"])
    assert "CER" in text and (out / "result.json").is_file()


def test_decode_failing_half_way_writes_no_hyp(trained, monkeypatch):
    from narspeech.asr.decode import decode_dump
    from narspeech.asr.recognize import DecodeOptions, Recognizer, load_recognizer

    root, data, dump, exp = trained
    rec = load_recognizer(exp, "cpu")
    calls = []
    real = Recognizer.decode_feats

    def flaky(self, *a, **k):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("boom")
        return real(self, *a, **k)

    monkeypatch.setattr(Recognizer, "decode_feats", flaky)
    with pytest.raises(RuntimeError):
        decode_dump(rec, dump, root / "dec_fail", DecodeOptions("ctc"), batch_size=2)
    assert not (root / "dec_fail" / "hyp").exists()


def test_token_list_mismatch_and_transcribe(trained, tmp_path):
    import shutil

    from narspeech.asr.recognize import load_recognizer

    root, data, dump, exp = trained
    rec = load_recognizer(exp, "cpu")
    assert rec.sample_rate == 16000
    wavs = [np.zeros(22050, dtype=np.float32), np.zeros(100, dtype=np.float32),
            0.1 * np.random.default_rng(1).standard_normal(30000).astype(np.float32)]
    out = rec.transcribe(wavs, 22050)  # silence, too short, noise; resampled from 22.05 kHz
    assert len(out) == 3 and all(isinstance(s, str) for s in out) and out[1] == ""
    assert [i for i, _ in rec.skipped] == [1]
    bad = tmp_path / "exp"
    shutil.copytree(exp, bad)
    with open(bad / "tokens.txt", "r+") as f:
        lines = f.read().splitlines()
        f.seek(0)
        f.write("\n".join(lines[:-1] + ["Q", lines[-1]]) + "\n")
    with pytest.raises(NarspeechError, match="do not match"):
        load_recognizer(bad, "cpu")


def test_recognize_audio_equals_decoding_its_dump(trained, tmp_path):
    """`asr recognize` computes the model's features from the audio itself: the same tokens as decoding
    the recipe's dump of the same files, the too-short one skipped in both."""
    root, data, dump, exp = trained
    ok(["asr", "decode", "--model", exp, "--dump", dump, "--out", root / "dec_ref", "--method", "ctc", "--device", "cpu"])
    ok(["asr", "recognize", "--model", exp, "--data", data, "--out", tmp_path / "rec", "--method", "ctc", "--batch-size", 2,
        "--device", "cpu"])
    # the features themselves: a padded batch of waveforms gives each utterance's dump features exactly
    import kaldiio

    from narspeech.asr.recognize import load_recognizer
    rec = load_recognizer(exp, "cpu")
    scp = dict(line.split() for line in (data / "wav.scp").read_text().splitlines())
    dumped = kaldiio.load_scp(str(dump / "feats.scp"))
    wavs = [sf.read(scp[u], dtype="float32")[0] for u in sorted(scp)]
    mel, frames = rec.features(wavs, 16000)
    for i, u in enumerate(sorted(scp)):
        np.testing.assert_array_equal(mel[i, : int(frames[i])].numpy(), np.asarray(dumped[u]))
    ref = (root / "dec_ref" / "token_hyp").read_text()
    assert any(len(line.split()) > 1 for line in ref.splitlines())  # the tiny model writes something to compare
    assert (tmp_path / "rec" / "token_hyp").read_text() == ref
    assert (tmp_path / "rec" / "skipped").read_text().startswith("u6 too short")
    # files on the command line: transcripts on stdout in the order given, ids from the file names
    wavs = [line.split()[1] for line in (data / "wav.scp").read_text().splitlines()][:3][::-1]
    r = CliRunner().invoke(app, ["asr", "recognize", "--model", str(exp), "--method", "ctc", "--device", "cpu", *wavs])
    assert r.exit_code == 0, r.output
    lines = [x for x in r.stdout.splitlines() if x and not x.startswith("ctc:")]
    ref_hyp = dict((x.split(" ", 1) + [""])[:2] for x in (root / "dec_ref" / "hyp").read_text().splitlines())
    assert lines == [f"{Path(w).stem} {ref_hyp[Path(w).stem]}".rstrip() for w in wavs]


def test_recognize_bad_audio(trained, tmp_path):
    root, data, dump, exp = trained
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF\x00\x00not a wav")
    good = (data / "wav.scp").read_text().splitlines()[0].split()[1]
    r = CliRunner().invoke(app, ["asr", "recognize", "--model", str(exp), "--method", "ctc", "--device", "cpu", good, str(broken)])
    assert isinstance(r.exception, NarspeechError) and "broken.wav: utterance broken" in str(r.exception)
    out = tmp_path / "rec"
    ok(["asr", "recognize", "--model", exp, "--method", "ctc", "--device", "cpu", "--skip-bad", "--out", out, good, broken])
    assert (out / "skipped").read_text().startswith("broken ")
    assert [x.split()[0] for x in (out / "hyp").read_text().splitlines()] == sorted(["broken", Path(good).stem])
    r = CliRunner().invoke(app, ["asr", "recognize", "--model", str(exp), "--device", "cpu", good, str(tmp_path / "x" / Path(good).name)])
    assert isinstance(r.exception, NarspeechError) and "share the utterance id" in str(r.exception)


def test_train_init_fine_tunes_from_a_checkpoint(trained, tmp_path):
    """`asr train --init` starts from the checkpoint's weights (feature normalisation included); other model
    options or another token list are a one-line error, not a silently half-loaded model."""
    import torch

    from narspeech.asr.model import build_asr_model
    from narspeech.asr.train import _load_init
    from narspeech.text.vocab import TokenList, load_token_list
    from narspeech.train.checkpoint import load_checkpoint

    root, data, dump, exp = trained
    ckpt = load_checkpoint(exp)
    cfg = {"model": dict(ckpt["config"]["model"])}
    torch.manual_seed(123)
    model = build_asr_model(cfg["model"])
    tl = TokenList(load_token_list(exp / "tokens.txt"))
    _load_init(model, cfg, tl, exp)
    assert cfg["init"] == str(exp)
    for k, v in model.state_dict().items():
        assert torch.equal(v, ckpt["model"][k]), k
    # loss weights and other training-only options may change in fine-tuning
    _load_init(model, {"model": {**cfg["model"], "ctc_weight": 0.5, "interctc_weight": 0.2, "dropout": 0.1}}, tl, exp)
    with pytest.raises(NarspeechError, match="d_model"):
        _load_init(build_asr_model({**cfg["model"], "d_model": 32}), {"model": {**cfg["model"], "d_model": 32}}, tl, exp)
    with pytest.raises(NarspeechError, match="token list"):
        _load_init(model, {"model": dict(cfg["model"])}, TokenList(tl.tokens[:-2] + ["Q", tl.tokens[-1]]), exp)
    conf = root / "conf.yaml"
    ok(["asr", "train", "--config", conf, "--tokens", root / "tokens.txt", "--train-data", data, "--train-dump", dump,
        "--exp", tmp_path / "ft", "--init", exp, "--set", "train.max_steps=1"])
    assert "init:" in (tmp_path / "ft" / "config.yaml").read_text()


def test_train_init_modules_moves_the_encoder_to_other_tokens(trained):
    """`--init-modules encoder` takes the normalisation, front-end and encoder of a model with another token
    list (char → subword) and leaves the token-dependent heads fresh; asking for those is still an error."""
    import torch

    from narspeech.asr.model import build_asr_model
    from narspeech.asr.train import ENCODER_PREFIXES, _load_init
    from narspeech.text.vocab import TokenList, load_token_list
    from narspeech.train.checkpoint import load_checkpoint

    root, data, dump, exp = trained
    ckpt = load_checkpoint(exp)
    tl = TokenList(load_token_list(exp / "tokens.txt")[:-3] + ["▁AB", "C", load_token_list(exp / "tokens.txt")[-1]])
    cfg = {"model": {**ckpt["config"]["model"], "n_tokens": len(tl)}}
    torch.manual_seed(123)
    model = build_asr_model(cfg["model"])
    fresh = {k: v.clone() for k, v in model.state_dict().items()}
    _load_init(model, cfg, tl, exp, ["encoder"])
    assert cfg["init_modules"] == ["encoder"]
    state = model.state_dict()
    loaded = [k for k in state if k.startswith(ENCODER_PREFIXES)]
    assert any(k.startswith("encoder.") for k in loaded) and "mel_mean" in loaded
    for k, v in state.items():
        assert torch.equal(v, ckpt["model"][k] if k in loaded else fresh[k]), k
    assert not torch.equal(state["ctc.weight"][:5], ckpt["model"]["ctc.weight"][:5])
    with pytest.raises(NarspeechError, match="token list"):
        _load_init(model, {"model": dict(cfg["model"])}, tl, exp, ["encoder", "decoder.out."])
    with pytest.raises(NarspeechError, match="no tensors under"):
        _load_init(model, {"model": dict(cfg["model"])}, tl, exp, ["enc0der."])


def test_subsample_two_trains_decodes_and_old_configs_init(trained, tmp_path):
    """`model.subsample: 2` trains and decodes end to end, the too-short reasons name its factor; a checkpoint
    from before the option (no key in its config) still initialises a ×4 model, and not a ×2 one."""
    import torch

    from narspeech.asr.dataset import ASRDataset
    from narspeech.asr.model import build_asr_model
    from narspeech.asr.train import _load_init
    from narspeech.text.vocab import TokenList, load_token_list
    from narspeech.train.checkpoint import load_checkpoint

    root, data, dump, exp = trained
    exp2 = tmp_path / "sub2"
    ok(["asr", "train", "--config", root / "conf.yaml", "--tokens", root / "tokens.txt", "--train-data", data,
        "--train-dump", dump, "--exp", exp2, "--set", "model.subsample=2"])
    assert "subsample: 2" in (exp2 / "config.yaml").read_text()
    out = tmp_path / "dec"
    ok(["asr", "decode", "--model", exp2, "--dump", dump, "--out", out, "--method", "ctc", "--device", "cpu"])
    assert (out / "skipped").read_text().startswith("u6 too short: 6 frames, the x2 subsampling")
    tl = TokenList(load_token_list(exp / "tokens.txt"))
    ds = ASRDataset(data, dump, tl, subsample=2)
    assert [d.utt for d in ds.dropped] == ["u6"] and "(x2 subsampling)" in ds.dropped[0].reason
    ckpt = load_checkpoint(exp)
    old = {**ckpt, "config": {**ckpt["config"], "model": {k: v for k, v in ckpt["config"]["model"].items() if k != "subsample"}}}
    torch.save(old, tmp_path / "old.pt")
    cfg = {"model": dict(ckpt["config"]["model"])}
    _load_init(build_asr_model(cfg["model"]), cfg, tl, tmp_path / "old.pt")
    with pytest.raises(NarspeechError, match="subsample 4 vs 2"):
        cfg2 = {"model": {**cfg["model"], "subsample": 2}}
        _load_init(build_asr_model(cfg2["model"]), cfg2, tl, tmp_path / "old.pt")
