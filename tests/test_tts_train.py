"""TTS data sets and the training pipeline on a tiny fake dump: teacher → durations → FastSpeech 2 → inference."""
import logging
import re
import subprocess
import sys

import kaldiio
import numpy as np
import pytest
import torch
import yaml

from narspeech.errors import NarspeechError
from narspeech.fileio import write_table

PHONES = ["a", "b", "c", "d", "e", "f", "<space>"]


pytestmark = pytest.mark.usefixtures("one_thread")


def make_corpus(root, n_utts=6, seed=0, n_mels=10):
    """data/{train,dev}/token, data/tokens.txt and dump/{train,dev} in the documented layout;
    returns the true durations."""
    from narspeech.audio.features import FeatureConfig

    rng = np.random.default_rng(seed)
    spectra = rng.normal(-4, 2, (len(PHONES), n_mels)).astype(np.float32)
    cfg = FeatureConfig.for_rate(22050, n_mels=n_mels)
    write_table(root / "data" / "tokens.txt.tmp", {})
    (root / "data" / "tokens.txt").write_text("\n".join(["<blank>", "<unk>", *PHONES, "<sos/eos>"]) + "\n")
    true = {}
    for part, n in (("train", n_utts), ("dev", 2)):
        tokens, mels, f0s, ens = {}, {}, {}, {}
        for k in range(n):
            utt = f"{part}{k:02d}"
            ph = list(rng.choice(PHONES[:-1], size=int(rng.integers(4, 8))))
            dur = np.array([1 + PHONES.index(p) % 3 * 2 for p in ph])
            ids = np.array([PHONES.index(p) for p in ph])
            mel = np.repeat(spectra[ids], dur, 0) + rng.normal(0, 0.05, (dur.sum(), n_mels)).astype(np.float32)
            f0 = np.repeat(np.where(ids % 2 == 0, 100.0 + 20 * ids, 0.0), dur).astype(np.float32)
            tokens[utt], mels[utt], f0s[utt] = " ".join(ph), mel.astype(np.float32), f0
            ens[utt] = np.exp(mel).sum(1).astype(np.float32)
            true[utt] = dur
        (root / "data" / part).mkdir(parents=True, exist_ok=True)
        write_table(root / "data" / part / "token", tokens)
        dump = root / "dump" / part
        dump.mkdir(parents=True)
        for name, d in (("feats", mels), ("f0", f0s), ("energy", ens)):
            kaldiio.save_ark(str(dump / f"{name}.ark"), d, scp=str(dump / f"{name}.scp"))
        write_table(dump / "utt2num_frames", {u: str(len(m)) for u, m in mels.items()})
        (dump / "feats.yaml").write_text(yaml.safe_dump(cfg.to_dict()))
        allm = np.concatenate(list(mels.values()))
        allf = np.concatenate(list(f0s.values()))
        alle = np.concatenate(list(ens.values()))
        np.savez(dump / "stats.npz", mel_mean=allm.mean(0), mel_std=allm.std(0), f0_mean=allf[allf > 0].mean(),
                 f0_std=allf[allf > 0].std(), energy_mean=alle.mean(), energy_std=alle.std())
    (root / "data" / "tokens.txt.tmp").unlink()
    return true


def write_durations(path, table):
    write_table(path, {u: " ".join(map(str, d)) for u, d in table.items()})


# ---- token-level targets --------------------------------------------------------------------------------
def test_token_pitch_voiced_mean_and_interpolation():
    from narspeech.tts.dataset import token_energy, token_pitch

    f0 = np.array([100, 0, 120, 0, 0, 0, 0, 200, 220], dtype=np.float32)
    d = np.array([3, 0, 4, 2])  # token 1 has no frames, token 2 only unvoiced frames
    assert token_pitch(f0, d).tolist() == pytest.approx([110, 110 + 100 / 3, 110 + 200 / 3, 210])
    assert token_pitch(np.zeros(5, np.float32), np.array([2, 3])).tolist() == [0, 0]
    e = np.arange(9, dtype=np.float32)
    assert token_energy(e, d).tolist() == pytest.approx([1.0, 0.0, 4.5, 7.5])


# ---- data set checks ----------------------------------------------------------------------------------------
def test_dataset_durations_mismatch_and_missing(tmp_path, caplog):
    from narspeech.text.vocab import TokenList
    from narspeech.tts.dataset import TTSDataset, collate

    true = make_corpus(tmp_path)
    tl = TokenList(tmp_path / "data" / "tokens.txt")
    train = {u: d for u, d in true.items() if u.startswith("train")}
    dpath = tmp_path / "dur" / "durations"
    write_durations(dpath, train)
    ds = TTSDataset(tmp_path / "data/train", tmp_path / "dump/train", tl, durations=dpath, variance=True)
    batch = collate([ds[0], ds[1]])
    assert batch["durations"].sum(1).tolist() == batch["mel_lengths"].tolist()
    assert batch["pitch"].shape == batch["tokens"].shape and batch["utts"] == ["train00", "train01"]

    bad = dict(train, train02=train["train02"] + 1)
    write_durations(dpath, bad)
    with pytest.raises(NarspeechError, match=r"durations: utterance train02: durations sum to"):
        TTSDataset(tmp_path / "data/train", tmp_path / "dump/train", tl, durations=dpath)
    ds = TTSDataset(tmp_path / "data/train", tmp_path / "dump/train", tl, durations=dpath, skip_bad=True)
    assert "train02" not in ds.utts and [d.utt for d in ds.dropped] == ["train02"]

    missing = {u: d for u, d in train.items() if u != "train03"}
    write_durations(dpath, missing)
    with pytest.raises(NarspeechError, match="train03: utterance has no durations"):
        TTSDataset(tmp_path / "data/train", tmp_path / "dump/train", tl, durations=dpath)
    write_table(dpath.parent / "filtered", {"train03": "0.12"})
    with caplog.at_level(logging.WARNING):
        ds = TTSDataset(tmp_path / "data/train", tmp_path / "dump/train", tl, durations=dpath)
    assert "train03" not in ds.utts and len(ds) == len(train) - 1 and "filtered" in caplog.text


def test_cli_error_is_one_line(tmp_path):
    make_corpus(tmp_path)
    write_durations(tmp_path / "durations", {"train00": [1, 1]})
    cmd = [sys.executable, "-m", "narspeech", "tts", "train", "--config", str(tmp_path / "none.yaml"), "--tokens",
           str(tmp_path / "data/tokens.txt"), "--train-data", str(tmp_path / "data/train"), "--train-dump",
           str(tmp_path / "dump/train"), "--durations", str(tmp_path / "durations"), "--exp", str(tmp_path / "exp")]
    (tmp_path / "none.yaml").write_text("model: {type: fastspeech2}\n")
    p = subprocess.run(cmd, capture_output=True, text=True)
    assert p.returncode == 1 and "Traceback" not in p.stderr
    assert p.stderr.strip().startswith("error:") and "train00" in p.stderr and "durations" in p.stderr


# ---- the pipeline --------------------------------------------------------------------------------------------
TEACHER = {"model": dict(d_model=32, n_heads=2, enc_layers=1, dec_layers=1, d_ff=64, d_emb=32, dec_prenet_units=32,
                         postnet_layers=2, postnet_channels=16, reduction_factor=2, enc_prenet_dropout=0.1,
                         postnet_dropout=0.1, dropout=0.0, attn_dropout=0.0, max_len_ratio=6.0),
           "train": dict(max_steps=40, batch_bins=400, valid_interval=40, log_interval=10, num_workers=0, device="cpu",
                         optim={"name": "adam", "lr": 3e-3}, scheduler={"name": "warmup", "warmup_steps": 5},
                         keep_best=1, tensorboard=True)}
FS2 = {"model": dict(type="fastspeech2", d_model=32, n_heads=2, enc_layers=1, dec_layers=1, d_ff=64, ffn_kernel=3,
                     predictor_channels=32, pitch_bins=16, energy_bins=16, dropout=0.0, attn_dropout=0.0, predictor_dropout=0.0),
       "train": dict(TEACHER["train"], max_steps=60, valid_interval=60)}


@pytest.mark.slow
def test_teacher_durations_fastspeech2_pipeline(tmp_path):
    from narspeech.tts.models.build import load_tts_model
    from narspeech.tts.durations.files import read_durations
    from narspeech.tts.durations.extract import extract_durations
    from narspeech.tts.train import train_fastspeech, train_teacher

    make_corpus(tmp_path, n_utts=8)
    d, p = tmp_path / "data", tmp_path / "dump"
    torch.manual_seed(0)
    train_teacher(TEACHER, tokens=d / "tokens.txt", train_data=d / "train", train_dump=p / "train", exp=tmp_path / "teacher",
                  valid_data=d / "dev", valid_dump=p / "dev")
    cfg = yaml.safe_load((tmp_path / "teacher" / "config.yaml").read_text())
    assert cfg["model"]["type"] == "transformer_tts" and cfg["model"]["n_tokens"] == len(PHONES) + 3
    assert cfg["feats"]["n_mels"] == 10 and cfg["text"] == {"kind": "char", "language": "en-us"}  # one-letter tokens
    assert (tmp_path / "teacher" / "tokens.txt").is_file() and (tmp_path / "teacher" / "stats.npz").is_file()

    res = extract_durations(tmp_path / "teacher", d / "train", p / "train", tmp_path / "dur", focus_threshold=0.0,
                            batch_size=3, n_plots=2, kd=True, device="cpu")
    dur = read_durations(tmp_path / "dur" / "durations")
    frames = {u: int(n) for u, n in (l.split() for l in (p / "train" / "utt2num_frames").read_text().splitlines())}
    assert set(dur) == set(frames) and all(int(dur[u].sum()) == frames[u] for u in dur)
    assert len(list((tmp_path / "dur" / "attn").glob("*.png"))) == 2
    assert set(res.rates) == set(frames) and all(0 < r <= 1 for r in res.rates.values())
    kd = read_durations(tmp_path / "dur" / "kd" / "durations")
    kd_frames = kaldiio.load_scp(str(tmp_path / "dur" / "kd" / "feats.scp"))
    assert all(int(kd[u].sum()) == kd_frames[u].shape[0] for u in kd)
    extract_durations(tmp_path / "teacher", d / "dev", p / "dev", tmp_path / "dur_dev", focus_threshold=0.0, n_plots=0, device="cpu")

    train_fastspeech(FS2, tokens=d / "tokens.txt", train_data=d / "train", train_dump=p / "train",
                     durations=tmp_path / "dur" / "durations", exp=tmp_path / "fs2", valid_data=d / "dev", valid_dump=p / "dev",
                     valid_durations=tmp_path / "dur_dev" / "durations")
    log = (tmp_path / "fs2" / "train.log").read_text()
    losses = [float(m.group(1)) for m in re.finditer(r"\d\d:\d\d:\d\d step \d+ epoch [0-9.]+: loss ([0-9.e+-]+)", log)]
    assert len(losses) >= 3 and losses[-1] < 0.5 * losses[0], losses

    # sequence-level knowledge distillation: FastSpeech on the teacher's mels and re-extracted durations
    kd_cfg = {"model": dict(FS2["model"], type="fastspeech"), "train": dict(FS2["train"], max_steps=10, valid_interval=10)}
    train_fastspeech(kd_cfg, tokens=d / "tokens.txt", train_data=d / "train", train_dump=p / "train",
                     durations=tmp_path / "dur" / "kd" / "durations", kd_dump=tmp_path / "dur" / "kd", exp=tmp_path / "fs_kd")
    with pytest.raises(NarspeechError, match="model.type fastspeech"):
        train_fastspeech(FS2, tokens=d / "tokens.txt", train_data=d / "train", train_dump=p / "train",
                         durations=tmp_path / "dur" / "kd" / "durations", kd_dump=tmp_path / "dur" / "kd", exp=tmp_path / "x")

    for exp in ("teacher", "fs2", "fs_kd"):
        model, cfg = load_tts_model(tmp_path / exp, "cpu")
        tok = torch.tensor([[2, 3, 4, 8, 5], [6, 7, 2, 0, 0]])
        mels, lengths = model.inference(tok, torch.tensor([5, 3]), speed=1.0, pitch_shift=0.0, energy_scale=1.0)
        assert mels.shape[0] == 2 and mels.shape[2] == 10 and int(lengths.max()) == mels.shape[1]
        assert torch.isfinite(mels).all()
