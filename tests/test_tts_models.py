"""TTS models on tiny synthetic data: length regulator, guided attention, learning, inference, controls."""
import math

import numpy as np
import pytest
import torch

from narspeech.tts.models.fastspeech import FastSpeech
from narspeech.nets.length_regulator import regulate_length, scale_durations
from narspeech.tts.models.losses import guided_attention_loss, guided_attention_weights
from narspeech.tts.models.build import build_tts_model
from narspeech.tts.models.transformer_tts import TransformerTTS

N_TOK, N_MELS = 12, 8


pytestmark = pytest.mark.usefixtures("one_thread")


def toy_corpus(n_utts=8, seed=0):
    """Utterances whose mel is each token's fixed spectrum held for a token-dependent duration."""
    g = torch.Generator().manual_seed(seed)
    spectra = torch.randn(N_TOK, N_MELS, generator=g) * 2 - 3
    items = []
    for _ in range(n_utts):
        n = int(torch.randint(4, 8, (1,), generator=g))
        tok = torch.randint(2, N_TOK, (n,), generator=g)
        dur = 1 + tok % 4
        mel = spectra[tok].repeat_interleave(dur, 0) + 0.05 * torch.randn(int(dur.sum()), N_MELS, generator=g)
        items.append(dict(tokens=tok, durations=dur, mels=mel, pitch=100.0 + 10 * tok.float(), energy=1.0 + tok.float() / 4))
    return items


def collate(items):
    b = len(items)
    nmax = max(len(i["tokens"]) for i in items)
    tmax = max(len(i["mels"]) for i in items)
    out = dict(tokens=torch.zeros(b, nmax, dtype=torch.long), durations=torch.zeros(b, nmax, dtype=torch.long),
               pitch=torch.zeros(b, nmax), energy=torch.zeros(b, nmax), mels=torch.zeros(b, tmax, N_MELS),
               token_lengths=torch.tensor([len(i["tokens"]) for i in items]),
               mel_lengths=torch.tensor([len(i["mels"]) for i in items]))
    for k, i in enumerate(items):
        n, t = len(i["tokens"]), len(i["mels"])
        out["tokens"][k, :n], out["durations"][k, :n] = i["tokens"], i["durations"]
        out["pitch"][k, :n], out["energy"][k, :n] = i["pitch"], i["energy"]
        out["mels"][k, :t] = i["mels"]
    return out


def stats_of(items):
    mels = torch.cat([i["mels"] for i in items])
    return dict(mel_mean=mels.mean(0).numpy(), mel_std=mels.std(0).numpy(), f0_mean=np.float32(150), f0_std=np.float32(30),
                energy_mean=np.float32(2), energy_std=np.float32(0.8))


def train(model, batch, steps, lr=2e-3):
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    losses = []
    for _ in range(steps):
        loss, stats = model(batch)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        losses.append(float(loss.detach()))
    return losses, stats


# ---- length regulator and speed control ---------------------------------------------------------------
def test_length_regulator_known_expansion():
    h = torch.tensor([[[1.0], [2.0], [3.0]], [[4.0], [5.0], [0.0]]])
    d = torch.tensor([[2, 0, 3], [1, 2, 0]])
    out, lengths = regulate_length(h, d)
    assert lengths.tolist() == [5, 3]
    assert out[0, :, 0].tolist() == [1, 1, 3, 3, 3]
    assert out[1, :, 0].tolist() == [4, 5, 5, 0, 0]


def test_speed_control_scales_durations():
    d = torch.tensor([[10, 6, 0, 1, 4]])
    assert scale_durations(d, 2.0).tolist() == [[5, 3, 0, 1, 2]]  # 1 frame stays 1, 0 stays 0
    assert scale_durations(d, 0.5).tolist() == [[20, 12, 0, 2, 8]]
    long = torch.full((1, 20), 8)
    assert scale_durations(long, 1.6).sum() / long.sum() == pytest.approx(1 / 1.6, rel=0.01)


# ---- guided attention -----------------------------------------------------------------------------------
def test_guided_attention_known_values():
    w = guided_attention_weights(torch.tensor([2]), torch.tensor([2]), sigma=0.2)
    off = 1 - math.exp(-0.25 / 0.08)
    assert w[0].flatten().tolist() == pytest.approx([0.0, off, off, 0.0], abs=1e-6)
    diag = torch.eye(2)[None]
    anti = torch.tensor([[[0.0, 1.0], [1.0, 0.0]]])
    assert float(guided_attention_loss(diag, torch.tensor([2]), torch.tensor([2]))) == pytest.approx(0.0, abs=1e-6)
    assert float(guided_attention_loss(anti, torch.tensor([2]), torch.tensor([2]))) == pytest.approx(off, rel=1e-5)


def test_guided_attention_masks_padding():
    # utterance 2 is shorter: weight outside its (3 × 2) region is 0 and not counted
    w = guided_attention_weights(torch.tensor([4, 3]), torch.tensor([3, 2]))
    assert w.shape == (2, 4, 3) and float(w[1, 3].abs().sum()) == 0 and float(w[1, :, 2].abs().sum()) == 0
    attn = torch.zeros(2, 1, 4, 3)
    attn[1, 0, 3, :] = 1.0  # mass only in utterance 2's padding
    assert float(guided_attention_loss(attn, torch.tensor([4, 3]), torch.tensor([3, 2]))) == 0.0


# ---- learning ---------------------------------------------------------------------------------------------
TINY_TEACHER = dict(type="transformer_tts", d_model=32, n_heads=2, enc_layers=1, dec_layers=2, d_ff=64, d_emb=32,
                    dec_prenet_units=32, postnet_channels=32, postnet_layers=3, reduction_factor=2, dropout=0.0, attn_dropout=0.0,
                    enc_prenet_dropout=0.1, postnet_dropout=0.1)


def test_teacher_loss_falls_and_attention_is_guided():
    torch.manual_seed(0)
    items = toy_corpus()
    batch = collate(items)
    model = build_tts_model(dict(TINY_TEACHER, n_tokens=N_TOK, n_mels=N_MELS), stats_of(items))
    losses, stats = train(model, batch, 60, lr=3e-3)
    assert np.mean(losses[-5:]) < 0.4 * np.mean(losses[:3]), losses[::10]
    assert float(stats["guided_attn"]) < 0.1


def test_teacher_inference_and_teacher_forced_shapes():
    torch.manual_seed(0)
    items = toy_corpus(3)
    batch = collate(items)
    model = TransformerTTS(N_TOK, N_MELS, stats_of(items), **{k: v for k, v in TINY_TEACHER.items() if k != "type"}).eval()
    out = model.teacher_forced(batch["tokens"], batch["token_lengths"], batch["mels"], batch["mel_lengths"])
    steps = -(-int(batch["mel_lengths"].max()) // 2)
    assert len(out["attns"]) == 2 and out["attns"][0].shape == (3, 2, steps, batch["tokens"].size(1))
    mels, lengths = model.inference(batch["tokens"], batch["token_lengths"], max_len_ratio=3.0)
    assert mels.shape[0] == 3 and mels.shape[2] == N_MELS and mels.shape[1] == int(lengths.max())
    assert (lengths <= (batch["token_lengths"] * 3)).all() and (lengths >= 1).all()


TINY_FS = dict(d_model=32, n_heads=2, enc_layers=1, dec_layers=1, d_ff=64, ffn_kernel=3, dropout=0.0, attn_dropout=0.0,
               predictor_channels=32, pitch_bins=16, energy_bins=16, predictor_dropout=0.0)


@pytest.mark.parametrize("kind", ["fastspeech", "fastspeech2"])
def test_fastspeech_loss_falls(kind):
    torch.manual_seed(0)
    items = toy_corpus()
    batch = collate(items)
    model = build_tts_model(dict(TINY_FS, type=kind, n_tokens=N_TOK, n_mels=N_MELS, postnet_layers=2, postnet_channels=16), stats_of(items))
    losses, stats = train(model, batch, 60, lr=3e-3)
    assert np.mean(losses[-5:]) < 0.3 * np.mean(losses[:3]), losses[::10]
    assert float(stats["duration"]) < 0.1
    if kind == "fastspeech2":
        assert float(stats["pitch"]) < 0.2 and float(stats["energy"]) < 0.2


def test_fastspeech2_inference_controls():
    torch.manual_seed(0)
    items = toy_corpus()
    batch = collate(items)
    model = FastSpeech(N_TOK, N_MELS, stats_of(items), variance=True, **TINY_FS)
    train(model, batch, 80, lr=3e-3)
    model.eval()
    tok, tl = batch["tokens"], batch["token_lengths"]
    mels, lengths, d = model.inference(tok, tl, return_durations=True)
    assert mels.shape == (len(items), int(lengths.max()), N_MELS)
    assert lengths.tolist() == d.sum(1).tolist()
    # learned durations are close to the true ones (1..4 frames per token)
    assert (d - batch["durations"]).abs().float().mean() < 0.5
    # speed control: forced long durations make the ratio exact up to rounding
    forced = torch.where(batch["durations"] > 0, batch["durations"] * 4, 0)
    _, l1 = model.inference(tok, tl, durations=forced)
    _, l2 = model.inference(tok, tl, durations=forced, speed=2.0)
    assert (l2.float() / l1.float()).tolist() == pytest.approx([0.5] * len(items), abs=0.02)
    _, slow = model.inference(tok, tl, speed=0.5)
    assert (slow.float() / lengths.float()).mean() == pytest.approx(2.0, rel=0.1)
    # pitch and energy controls change the output; denormalised mels live in the dump's domain
    m_hi, _ = model.inference(tok, tl, pitch_shift=12.0)
    m_loud, _ = model.inference(tok, tl, energy_scale=3.0)
    assert not torch.allclose(m_hi, mels) and not torch.allclose(m_loud, mels)
    valid = torch.arange(mels.size(1))[None] < lengths[:, None]
    assert abs(float(mels[valid].mean()) - float(torch.cat([i["mels"] for i in items]).mean())) < 1.0


@pytest.mark.parametrize("kind", ["fastspeech", "fastspeech2"])
def test_fastspeech_output_does_not_depend_on_batch_padding(kind):
    # a wide conv FFN (kernel 9) next to padding must not read it: batched == one at a time
    torch.manual_seed(0)
    items = toy_corpus()
    model = FastSpeech(N_TOK, N_MELS, stats_of(items), variance=kind == "fastspeech2", **{**TINY_FS, "ffn_kernel": 9}).eval()
    batch = collate(items)
    mels, lengths = model.inference(batch["tokens"], batch["token_lengths"])
    for i in range(len(items)):
        n = int(batch["token_lengths"][i])
        one, one_len = model.inference(batch["tokens"][i : i + 1, :n], batch["token_lengths"][i : i + 1])
        assert int(one_len[0]) == int(lengths[i])
        torch.testing.assert_close(one[0], mels[i, : int(one_len[0])], atol=1e-4, rtol=1e-4)


def test_teacher_incremental_decoding_matches_full_pass():
    """Cached step-by-step decoding gives the same frames and attention as re-running the whole decoder."""
    torch.manual_seed(0)
    items = toy_corpus(2)
    batch = collate(items)
    model = TransformerTTS(N_TOK, N_MELS, stats_of(items), **{k: v for k, v in TINY_TEACHER.items() if k != "type"}).eval()
    model.c["dec_prenet_dropout"] = 0.0
    model.dec_prenet.p = 0.0  # deterministic prenet so both paths see the same inputs
    cached_frames = []  # what the cached path generated at each step (normalised, pre-postnet)
    step_fn = model.decode_step

    def spy(*a, **k):
        out = step_fn(*a, **k)
        cached_frames.append(out[0].detach().clone())
        return out

    model.decode_step = spy
    mels, lengths, attns = model.inference(batch["tokens"], batch["token_lengths"], max_len_ratio=2.0, stop_threshold=2.0,
                                           return_attention=True)
    del model.decode_step
    # replay: the decoder inputs are the generated (normalised, pre-postnet) frames
    memory, mpad = model.encode(batch["tokens"], batch["token_lengths"])
    steps = attns[0].size(2)
    frames = torch.zeros(2, 1, N_MELS)
    for s in range(steps):
        mel, _, full = model.decode(frames, memory, mpad)
        frames = torch.cat([frames, mel[:, -1:]], dim=1)
    assert len(cached_frames) == steps
    torch.testing.assert_close(torch.cat(cached_frames, dim=1), mel, atol=1e-5, rtol=1e-5)  # the frames, not only attention
    for layer in range(len(attns)):  # every layer's attention, not only the last
        torch.testing.assert_close(full[layer], attns[layer], atol=1e-5, rtol=1e-5)


@pytest.mark.gpu
@pytest.mark.parametrize("kind", ["transformer_tts", "fastspeech2"])
def test_models_train_and_infer_on_cuda_bf16(kind):
    from narspeech.device import autocast

    torch.manual_seed(0)
    dev = torch.device("cuda")
    items = toy_corpus()
    batch = {k: v.to(dev) for k, v in collate(items).items()}
    base = TINY_TEACHER if kind == "transformer_tts" else dict(TINY_FS, type=kind)
    model = build_tts_model(dict(base, n_tokens=N_TOK, n_mels=N_MELS), stats_of(items)).to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(40):
        with autocast(dev):
            loss, _ = model(batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.6 * losses[0]
    model.eval()
    with autocast(dev):
        mels, lengths = model.inference(batch["tokens"], batch["token_lengths"], speed=1.0, pitch_shift=2.0, energy_scale=1.0)
    assert mels.is_cuda and torch.isfinite(mels.float()).all() and mels.shape[1] == int(lengths.max())
