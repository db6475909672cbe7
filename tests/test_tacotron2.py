"""Tacotron 2 teacher: location-sensitive attention learns to align, the model overfits a few utterances
free-running, its attention feeds the same duration extraction as Transformer-TTS, padding is invisible."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from narspeech.tts.durations.attention import focus_rate, monotonic_durations
from narspeech.tts.models.build import build_tts_model
from tests.test_durations import write_teacher_dump
from tests.test_tts_models import stats_of, train

pytestmark = pytest.mark.usefixtures("one_thread")

N_TOK, N_MELS = 10, 8
TINY = dict(type="tacotron2", d_emb=32, enc_conv_channels=32, enc_conv_layers=2, enc_lstm_units=16, prenet_units=32,
            attn_rnn_units=64, dec_rnn_units=64, attn_dim=32, loc_filters=8, loc_kernel=7, postnet_channels=32, postnet_layers=2,
            enc_dropout=0.0, postnet_dropout=0.0, zoneout=0.0, reduction_factor=1, guided_attn_weight=1.0)


def toy_corpus(n_utts=6, seed=0):
    """Utterances whose mel is each token's fixed spectrum held for 2-4 frames (the truth durations)."""
    g = torch.Generator().manual_seed(seed)
    spectra = torch.randn(N_TOK, N_MELS, generator=g) * 1.5 - 3
    items = []
    for _ in range(n_utts):
        n = int(torch.randint(4, 7, (1,), generator=g))
        tok = torch.randint(2, N_TOK, (n,), generator=g)
        dur = torch.randint(2, 5, (n,), generator=g)
        mel = spectra[tok].repeat_interleave(dur, 0) + 0.05 * torch.randn(int(dur.sum()), N_MELS, generator=g)
        items.append(dict(tokens=tok, durations=dur, mels=mel))
    return items


def collate(items):
    b, n, t = len(items), max(len(i["tokens"]) for i in items), max(len(i["mels"]) for i in items)
    out = dict(tokens=torch.zeros(b, n, dtype=torch.long), mels=torch.zeros(b, t, N_MELS),
               token_lengths=torch.tensor([len(i["tokens"]) for i in items]), mel_lengths=torch.tensor([len(i["mels"]) for i in items]))
    for k, i in enumerate(items):
        out["tokens"][k, : len(i["tokens"])] = i["tokens"]
        out["mels"][k, : len(i["mels"])] = i["mels"]
    return out


def trained(items, steps=250, seed=0, **over):
    torch.manual_seed(seed)
    model = build_tts_model(dict(TINY, **over, n_tokens=N_TOK, n_mels=N_MELS), stats_of(items))
    batch = collate(items)
    if over.get("guided_attn_prior") == "durations":
        batch["durations"] = torch.nn.utils.rnn.pad_sequence([it["durations"] for it in items], batch_first=True)
    losses, stats = train(model, batch, steps, lr=4e-3)
    return model.eval(), losses, stats


@pytest.fixture(scope="module")
def learned():
    items = toy_corpus()
    return items, *trained(items)


def test_tacotron2_learns_to_align_and_its_attention_gives_the_durations(learned):
    """Teacher-forced attention of the trained model is sharp and its monotonic reading recovers the true
    token durations (sum == frames), the input the FastSpeech students train on."""
    items, model, losses, stats = learned
    assert np.mean(losses[-5:]) < 0.25 * np.mean(losses[:3]), losses[::25]
    batch = collate(items)
    with torch.no_grad():
        out = model.teacher_forced(batch["tokens"], batch["token_lengths"], batch["mels"], batch["mel_lengths"])
    assert len(out["attns"]) == 1 and out["attns"][0].shape[:2] == (len(items), 1)
    errors = []
    for b, it in enumerate(items):
        t, n = int(out["steps"][b]), len(it["tokens"])
        att = out["attns"][0][b, 0, :t, :n]
        assert focus_rate(att) > 0.7
        d = monotonic_durations(att, len(it["mels"]), model.r)
        assert int(d.sum()) == len(it["mels"])
        errors.append(np.abs(np.cumsum(d) - np.cumsum(it["durations"].numpy())).mean())
    assert np.mean(errors) < 0.5, errors


def test_tacotron2_free_runs_the_utterances_it_learned(learned):
    """Free-running synthesis (own output fed back, stop token) reproduces the training utterances: right
    length, and a mel close to the recording's, which a model that only learned teacher forcing does not."""
    items, model, _, _ = learned
    batch = collate(items)
    torch.manual_seed(0)
    mels, lengths = model.inference(batch["tokens"], batch["token_lengths"], max_len_ratio=8.0)
    for b, it in enumerate(items):
        assert abs(int(lengths[b]) - len(it["mels"])) <= 2, (int(lengths[b]), len(it["mels"]))
        n = min(int(lengths[b]), len(it["mels"]))
        err = float((mels[b, :n] - it["mels"][:n]).abs().mean())
        spread = float((it["mels"] - it["mels"].mean(0)).abs().mean())
        assert err < 0.35 * spread, (err, spread)


def test_tacotron2_batched_equals_one_at_a_time():
    """Packed BiLSTM encoder and masked attention: padding of a batch does not reach any utterance."""
    items = toy_corpus(3, seed=1)
    torch.manual_seed(0)
    model = build_tts_model(dict(TINY, prenet_dropout=0.0, n_tokens=N_TOK, n_mels=N_MELS), stats_of(items)).eval()
    batch = collate(items)
    with torch.no_grad():
        full = model.teacher_forced(batch["tokens"], batch["token_lengths"], batch["mels"], batch["mel_lengths"])
        mels, lengths = model.inference(batch["tokens"], batch["token_lengths"], max_len_ratio=3.0)
        for b, it in enumerate(items):
            one = model.teacher_forced(it["tokens"][None], torch.tensor([len(it["tokens"])]), it["mels"][None],
                                       torch.tensor([len(it["mels"])]))
            t, n = len(it["mels"]), len(it["tokens"])
            torch.testing.assert_close(one["after"][0, :t], full["after"][b, :t], atol=1e-5, rtol=1e-4)
            torch.testing.assert_close(one["attns"][0][0, 0, :t, :n], full["attns"][0][b, 0, :t, :n], atol=1e-5, rtol=1e-4)
            m1, l1 = model.inference(it["tokens"][None], torch.tensor([n]), max_len_ratio=3.0)
            assert int(l1[0]) == int(lengths[b])
            torch.testing.assert_close(m1[0], mels[b, : int(l1[0])], atol=1e-4, rtol=1e-4)


def test_tacotron2_teacher_feeds_duration_extraction(tmp_path, monkeypatch, learned):
    """`tts durations` (the batched extractor) reads Tacotron 2's single attention as layer 0 head 0:
    durations for every utterance, sum == frames, close to the truth."""
    import narspeech.tts.durations.extract as extraction
    from narspeech.fileio import read_table, write_table
    from narspeech.tts.durations.files import read_durations
    from narspeech.tts.durations.extract import extract_durations

    items, model, _, _ = learned
    names = [chr(ord("a") + i) for i in range(N_TOK - 2)]  # ids 2.. as in the toy corpus
    data, dump, exp = tmp_path / "data", tmp_path / "dump", tmp_path / "teacher"
    for d in (data, dump, exp):
        d.mkdir()
    (exp / "tokens.txt").write_text("\n".join(["<blank>", "<unk>", *names, "<sos/eos>"]) + "\n")
    utts = {f"u{i}": it for i, it in enumerate(items)}
    write_table(data / "token", {u: " ".join(names[int(t) - 2] for t in it["tokens"]) for u, it in utts.items()})
    cfg = write_teacher_dump(dump, {u: it["mels"].numpy().astype(np.float32) for u, it in utts.items()})
    monkeypatch.setattr(extraction, "load_tts_model", lambda path, device="cpu": (
        model, {"model": {"type": "tacotron2"}, "feats": cfg}))
    res = extract_durations(exp, data, dump, tmp_path / "dur", focus_threshold=0.5, batch_size=4, n_plots=1, device="cpu",
                            monotonic=True)
    durs = read_durations(tmp_path / "dur" / "durations")
    assert set(durs) == set(utts) and not res.filtered
    assert set(read_table(tmp_path / "dur" / "heads").values()) == {"0 0"}
    errors = []
    for u, it in utts.items():
        assert int(durs[u].sum()) == len(it["mels"])
        errors.append(np.abs(np.cumsum(durs[u]) - np.cumsum(it["durations"].numpy())).mean())
    assert np.mean(errors) < 0.5, errors
    assert (tmp_path / "dur" / "attn" / "u0.png").is_file()


def test_tacotron2_guided_attention_weight_halves_and_unknown_options_fail():
    model = build_tts_model(dict(TINY, guided_attn_weight=2.0, guided_attn_halflife=10, guided_attn_min_weight=0.5,
                                 n_tokens=N_TOK, n_mels=N_MELS))
    assert model.guided_attn_weight() == pytest.approx(2.0)
    model.batches_seen.fill_(10)
    assert model.guided_attn_weight() == pytest.approx(1.0)
    model.batches_seen.fill_(100)
    assert model.guided_attn_weight() == pytest.approx(0.5)
    from narspeech.errors import NarspeechError

    with pytest.raises(NarspeechError, match="unknown tacotron2 options"):
        build_tts_model(dict(TINY, n_heads=4, n_tokens=N_TOK, n_mels=N_MELS))


def test_location_features_equal_the_convolution():
    from narspeech.tts.models.tacotron2 import LocationSensitiveAttention

    att = LocationSensitiveAttention(8, 6, 5, filters=4, kernel=7)
    alpha = torch.rand(3, 2, 11)
    torch.testing.assert_close(att.location_features(alpha), att.loc_conv(alpha).transpose(1, 2))


def test_tacotron2_stop_token_counts_only_once_the_attention_reached_the_end(learned):
    """A stop token that fires at once (a young model's) must not cut the sentence, and one that never fires
    must not run on to the frame cap: the attention's arrival at the last tokens decides, plus a short tail."""
    import copy

    items, model, _, _ = learned
    batch = collate(items)
    true = batch["mel_lengths"]
    eager, silent = copy.deepcopy(model), copy.deepcopy(model)
    eager.c["stop_margin_tokens"] = silent.c["stop_margin_tokens"] = 0  # the stop counts from the last token on
    silent.c["stop_tail_frames"] = 5
    with torch.no_grad():
        eager.stop_out.bias.fill_(20.0)
        silent.stop_out.bias.fill_(-20.0)
        torch.manual_seed(0)
        _, early = eager.inference(batch["tokens"], batch["token_lengths"], max_len_ratio=8.0)
        _, late = silent.inference(batch["tokens"], batch["token_lengths"], max_len_ratio=8.0)
        eager.c["stop_margin_tokens"] = -1  # the rule off: the stop token alone decides
        _, cut = eager.inference(batch["tokens"], batch["token_lengths"], max_len_ratio=8.0)
    assert (cut == model.r).all()
    last = torch.tensor([int(it["durations"][-1]) for it in items])
    assert (early >= true - last - 1).all() and (early <= true + 2).all(), (early, true)  # at most the last token cut
    tail = silent.c["stop_tail_frames"]
    assert (late >= early).all() and (late <= true + tail + 2).all() and (late < batch["token_lengths"] * 8).all(), (late, true)


def test_alignment_prior_points_at_the_aligned_token():
    from narspeech.tts.models.losses import alignment_prior_weights, prior_attention_loss

    d = torch.tensor([[2, 0, 3, 1], [1, 2, 0, 0]])  # utterance 2: 3 frames, its last two tokens never sound
    w = alignment_prior_weights(d, torch.tensor([6, 3]), r=1, sigma=1.0)
    assert w.shape == (2, 6, 4)
    on_path = [[0, 0, 2, 2, 2, 3], [0, 1, 1]]  # the token owning each frame
    for b, path in enumerate(on_path):
        for t, k in enumerate(path):
            assert float(w[b, t, k]) == 0.0 and float(w[b, t].sum()) > 0.3
    assert float(w[1, :, 2:].abs().sum()) == 0.0 and float(w[1, 3:].abs().sum()) == 0.0  # outside utterance 2: no weight
    w2 = alignment_prior_weights(d[:1], torch.tensor([2]), r=3, sigma=1.0)  # r=3: steps at frames 1 and 4
    assert float(w2[0, 0, 0]) == 0.0 and float(w2[0, 1, 2]) == 0.0
    good = torch.zeros(1, 6, 4)
    good[0, torch.arange(6), torch.tensor(on_path[0])] = 1.0
    assert float(prior_attention_loss(good, w[:1], torch.tensor([6]))) == 0.0
    assert float(prior_attention_loss(good.flip(-1), w[:1], torch.tensor([6]))) > 0.3


def boundary_errors(model, items) -> list[float]:
    """Per utterance: mean |frame offset| of the token boundaries read (monotonic path) off the teacher-forced
    attention from the true ones."""
    batch = collate(items)
    with torch.no_grad():
        out = model.teacher_forced(batch["tokens"], batch["token_lengths"], batch["mels"], batch["mel_lengths"])
    return [np.abs(np.cumsum(monotonic_durations(out["attns"][0][b, 0, : int(out["steps"][b]), : len(it["tokens"])],
                                                 len(it["mels"]), 1)) - np.cumsum(it["durations"].numpy())).mean()
            for b, it in enumerate(items)]


def test_tacotron2_with_the_aligner_prior_aligns_to_the_durations():
    items = toy_corpus()
    for it in items:
        it["durations"] = it["durations"].clone()
    model, losses, stats = trained(items, steps=150, guided_attn_prior="durations", guided_attn_prior_sigma=1.0)
    err = boundary_errors(model, items)
    assert np.mean(err) < 0.5, err
    with pytest.raises(ValueError, match="durations"):
        model.train()(collate(items))


def test_tacotron2_attention_window_keeps_each_step_near_the_last_peak():
    """With the inference-time attention constraint a step may look at most `backward` tokens behind and
    `forward` ahead of the previous step's peak; an untrained model's attention jumps about without it."""
    torch.manual_seed(0)
    model = build_tts_model(dict(TINY, n_tokens=N_TOK, n_mels=N_MELS), None).eval()
    tokens = torch.randint(2, N_TOK, (3, 12))
    lengths = torch.tensor([12, 10, 7])

    def peak_moves(back, fwd):
        model.c.update(attn_window_backward=back, attn_window_forward=fwd)
        torch.manual_seed(1)
        _, mel_lengths, (attn,) = model.inference(tokens, lengths, max_len_ratio=4.0, return_attention=True)
        moves = []
        for b in range(3):
            peaks = attn[b, 0, : int(mel_lengths[b])].argmax(-1)
            assert int(peaks.max()) < int(lengths[b])  # never on padding
            moves.append(torch.diff(torch.cat([torch.zeros(1, dtype=torch.long), peaks])))
        return torch.cat(moves)

    free = peak_moves(-1, -1)
    assert (free < -1).any() or (free > 3).any()
    held = peak_moves(1, 3)
    assert (held >= -1).all() and (held <= 3).all()


def test_forward_attention_stays_or_advances_one_token_per_step():
    """Forward attention (Zhang et al. 2018): each step's weights come from the previous step's, kept or moved
    one token on, so the attention's mean position never goes back and moves at most one token per step, free
    running or teacher-forced, even untrained; the location-sensitive attention alone jumps about."""
    torch.manual_seed(0)
    tokens = torch.randint(2, N_TOK, (3, 12))
    lengths = torch.tensor([12, 10, 7])
    mels = torch.randn(3, 30, N_MELS)
    mel_lengths = torch.tensor([30, 25, 14])

    def position_moves(forward_attention: bool):
        torch.manual_seed(0)
        model = build_tts_model(dict(TINY, forward_attention=forward_attention, n_tokens=N_TOK, n_mels=N_MELS), None).eval()
        torch.manual_seed(1)
        with torch.no_grad():
            _, free_lengths, (free,) = model.inference(tokens, lengths, max_len_ratio=4.0, return_attention=True)
            forced = model.teacher_forced(tokens, lengths, mels, mel_lengths)["attns"][0]
        moves = []
        for attn, steps in ((free, free_lengths), (forced, mel_lengths)):
            for b in range(3):
                a = attn[b, 0, : int(steps[b])]
                assert float(a[:, int(lengths[b]):].sum()) == 0.0  # never on padding
                pos = a @ torch.arange(a.size(1), dtype=a.dtype)
                moves.append(torch.diff(torch.cat([pos.new_zeros(1), pos])))
        return torch.cat(moves)

    free = position_moves(False)
    assert (free < -0.5).any() or (free > 1.5).any()
    held = position_moves(True)
    assert (held >= -1e-3).all() and (held <= 1.0 + 1e-3).all(), (float(held.min()), float(held.max()))


def test_tacotron2_with_forward_attention_learns_the_durations():
    """Forward attention guided by the aligner's prior (the recipe's setting) aligns to the true durations."""
    items = toy_corpus()
    model, losses, _ = trained(items, steps=200, forward_attention=True, guided_attn_prior="durations",
                               guided_attn_prior_sigma=1.0)
    err = boundary_errors(model, items)
    assert np.mean(err) < 0.5, err


def pitched_corpus(n_utts=6, seed=0):
    """The toy corpus with a rising F0 (Hz) per utterance at a random level the tokens do not tell, and a
    mel whose frames carry it (an F0-scaled pattern added to each token's spectrum), as harmonics do."""
    g = torch.Generator().manual_seed(seed + 7)
    pattern = torch.randn(N_MELS, generator=g)
    items = toy_corpus(n_utts, seed)
    for it in items:
        t = len(it["mels"])
        it["f0"] = float(torch.empty(1).uniform_(90, 210, generator=g)) + 2.0 * torch.arange(t, dtype=torch.float32)
        it["mels"] = it["mels"] + ((it["f0"] - 150) / 40)[:, None] * pattern
    return items


def test_tacotron2_f0_feedback_is_learned_and_used():
    """With ``f0_feedback`` the decoder predicts the F0 and reads the previous frames' F0 beside the prenet:
    trained on utterances whose pitch the text does not tell, it predicts the F0 and its mel follows the F0 it
    is fed (teacher-forced with a mirrored F0 the error grows by a wide margin)."""
    items = pitched_corpus()
    torch.manual_seed(0)
    model = build_tts_model(dict(TINY, f0_feedback=True, n_tokens=N_TOK, n_mels=N_MELS), stats_of(items))
    model.stats.f0_mean.fill_(150.0)
    model.stats.f0_std.fill_(40.0)
    batch = collate(items)
    batch["f0"] = torch.nn.utils.rnn.pad_sequence([it["f0"] for it in items], batch_first=True)
    losses, stats = train(model, batch, 250, lr=4e-3)
    assert np.mean(losses[-5:]) < 0.25 * np.mean(losses[:3])
    model.eval()

    def l1(f0):
        torch.manual_seed(0)
        with torch.no_grad():
            out = model.teacher_forced(batch["tokens"], batch["token_lengths"], batch["mels"], batch["mel_lengths"], f0=f0)
        m = out["frame_mask"]
        return float(((out["after"] - out["y"]).abs().mean(-1) * m).sum() / m.sum()), out

    right, out = l1(batch["f0"])
    other = torch.where(batch["f0"] > 0, 300.0 - batch["f0"], 0.0)  # the pitch mirrored about 150 Hz
    wrong, _ = l1(other)
    assert wrong > 2.0 * right, (right, wrong)
    m = out["frame_mask"]
    f0_err = float(((out["f0"][..., 0] - model.f0_features(batch["f0"])[..., 0]).abs() * m).sum() / m.sum())
    assert f0_err < 0.5, f0_err  # normalised units (the levels spread ±1.5)
    with pytest.raises(ValueError, match="frame F0"):
        model.train()(collate(items))
    mels, mel_lengths = model.eval().inference(batch["tokens"], batch["token_lengths"], max_len_ratio=8.0)
    assert mels.shape[0] == len(items) and (mel_lengths > 0).all()


def test_dataset_gives_the_frame_f0(tmp_path):
    from narspeech.fileio import write_table
    from narspeech.text.vocab import TokenList
    from narspeech.tts.dataset import TTSDataset, collate as tts_collate
    from tests.test_durations import write_teacher_dump

    mels = {"u1": np.zeros((5, N_MELS), np.float32), "u2": np.zeros((3, N_MELS), np.float32)}
    f0 = {"u1": np.array([0, 100, 110, 0, 120], np.float32), "u2": np.array([90, 0, 95], np.float32)}
    data, dump = tmp_path / "data", tmp_path / "dump"
    data.mkdir(), dump.mkdir()
    write_table(data / "token", {"u1": "a b", "u2": "b"})
    write_teacher_dump(dump, mels, f0)
    (tmp_path / "tokens.txt").write_text("<blank>\n<unk>\na\nb\n<sos/eos>\n")
    tokens = TokenList(tmp_path / "tokens.txt")
    assert "f0" not in TTSDataset(data, dump, tokens)[0]
    ds = TTSDataset(data, dump, tokens, frame_f0=True)
    batch = tts_collate([ds[ds.utts.index(u)] for u in ("u1", "u2")])
    assert batch["f0"].tolist() == [[0, 100, 110, 0, 120], [90, 0, 95, 0, 0]]


def test_duration_extraction_feeds_the_recordings_f0_to_a_teacher_that_reads_it(tmp_path, monkeypatch, learned):
    """`tts durations` on a teacher with F0 feedback teacher-forces it on the dump's F0 track as well."""
    import narspeech.tts.durations.extract as extraction
    from narspeech.fileio import write_table
    from narspeech.tts.durations.extract import extract_durations
    from tests.test_durations import write_teacher_dump

    items, model, _, _ = learned
    seen = []

    class ReadsF0(torch.nn.Module):
        needs_f0 = True

        def __init__(self):
            super().__init__()
            self.inner, self.r, self.c, self.n_heads = model, model.r, model.c, 1

        def teacher_forced(self, tokens, token_lengths, mels, mel_lengths, f0=None):
            seen.append(f0)
            return self.inner.teacher_forced(tokens, token_lengths, mels, mel_lengths)

    names = [chr(ord("a") + i) for i in range(N_TOK - 2)]
    data, dump, exp = tmp_path / "data", tmp_path / "dump", tmp_path / "teacher"
    for d in (data, dump, exp):
        d.mkdir()
    (exp / "tokens.txt").write_text("\n".join(["<blank>", "<unk>", *names, "<sos/eos>"]) + "\n")
    utts = {f"u{i}": it for i, it in enumerate(items[:2])}
    write_table(data / "token", {u: " ".join(names[int(t) - 2] for t in it["tokens"]) for u, it in utts.items()})
    f0 = {u: np.full(len(it["mels"]), 100.0 + 10 * k, np.float32) for k, (u, it) in enumerate(utts.items())}
    cfg = write_teacher_dump(dump, {u: it["mels"].numpy().astype(np.float32) for u, it in utts.items()}, f0)
    monkeypatch.setattr(extraction, "load_tts_model", lambda path, device="cpu": (
        ReadsF0(), {"model": {"type": "tacotron2"}, "feats": cfg}))
    extract_durations(exp, data, dump, tmp_path / "dur", focus_threshold=0.0, batch_size=1, n_plots=0, device="cpu",
                      monotonic=True)
    assert sorted(float(x[0, 0]) for x in seen) == [100.0, 110.0]
    assert sorted(x.shape[1] for x in seen) == sorted(len(it["mels"]) for it in utts.values())


def test_scheduled_sampling_feeds_the_models_own_frames_in_training_only():
    """``sampling_prob`` 1: in training every decoder step after the first reads the model's own previous frame,
    so the recorded frames (which teacher forcing would feed) no longer reach the output; 0, or at inference
    time, they do."""
    items = toy_corpus(2, seed=3)
    torch.manual_seed(0)
    model = build_tts_model(dict(TINY, reduction_factor=2, sampling_prob=1.0, n_tokens=N_TOK, n_mels=N_MELS),
                            stats_of(items))
    batch = collate(items)
    other = batch["mels"].clone()
    other[:, 2:] += 1.0  # the same first group, different frames after it

    def before(mels, train=True, p=1.0):
        model.train(train)
        model.c["sampling_prob"] = p
        torch.manual_seed(1)  # the same prenet dropout masks for both inputs
        with torch.no_grad():
            return model.teacher_forced(batch["tokens"], batch["token_lengths"], mels, batch["mel_lengths"])["before"]

    torch.testing.assert_close(before(batch["mels"]), before(other))
    assert not torch.allclose(before(batch["mels"], p=0.0), before(other, p=0.0))
    assert not torch.allclose(before(batch["mels"], train=False), before(other, train=False))
