"""Duration extraction from attention, focus rate, and the durations file checks."""
import numpy as np
import pytest
import torch

from narspeech.errors import NarspeechError
from narspeech.tts.durations.files import check_durations, read_durations, read_filtered
from narspeech.tts.durations.attention import durations_from_attention, focus_rate, focus_rates, monotonic_durations


def one_hot_attention(token_of_step, n_tok, sharp=1.0):
    a = np.full((len(token_of_step), n_tok), (1 - sharp) / max(n_tok - 1, 1))
    for t, i in enumerate(token_of_step):
        a[t, i] = sharp
    return a


def test_durations_r1_known_answer():
    a = one_hot_attention([0, 0, 1, 1, 1, 3, 3], 4, sharp=0.7)
    d = durations_from_attention(a, n_frames=7, r=1)
    assert d.tolist() == [2, 3, 0, 2]
    assert d.sum() == 7


def test_durations_r2_last_step_truncated():
    # 4 decoder steps of 2 frames, but only 7 frames: the last step contributes 1 frame
    a = one_hot_attention([0, 1, 1, 2], 3)
    d = durations_from_attention(a, n_frames=7, r=2)
    assert d.tolist() == [2, 4, 1]
    assert d.sum() == 7


def test_durations_r3_ignores_extra_steps_and_sums_exactly():
    rng = np.random.default_rng(0)
    a = rng.random((10, 5))
    d = durations_from_attention(a, n_frames=25, r=3)  # needs 9 steps, step 10 is padding
    assert d.sum() == 25
    expected = np.zeros(5, int)
    for t, i in enumerate(a[:9].argmax(1)):
        expected[i] += 3 if t < 8 else 1
    assert d.tolist() == expected.tolist()


def test_durations_too_few_steps():
    with pytest.raises(ValueError):
        durations_from_attention(np.ones((3, 2)), n_frames=7, r=2)


def test_focus_rate_known_values():
    assert focus_rate(one_hot_attention([0, 1, 2], 3)) == pytest.approx(1.0)
    assert focus_rate(np.full((4, 4), 0.25)) == pytest.approx(0.25)
    assert focus_rate(np.array([[0.5, 0.5], [0.9, 0.1]])) == pytest.approx(0.7)


def test_batched_focus_rates_ignore_padding():
    sharp = torch.tensor(one_hot_attention([0, 1, 2], 3), dtype=torch.float32)
    batch = torch.zeros(2, 2, 5, 4)  # (B, heads, T_dec, N)
    batch[0, 0, :3, :3] = sharp
    batch[0, 1, :3, :3] = 1 / 3
    batch[1, 0, :2, :2] = 0.5
    batch[1, 1, :2, :2] = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    batch[:, :, :, 3] = 0.9  # garbage in padded tokens must be ignored
    fr = focus_rates(batch, torch.tensor([3, 2]), torch.tensor([3, 2]))
    assert fr.flatten().tolist() == pytest.approx([1.0, 1 / 3, 0.5, 1.0])


def test_read_durations_and_mismatch_errors(tmp_path):
    p = tmp_path / "durations"
    p.write_text("u1 1 2 3\nu2 0 4\n")
    (tmp_path / "filtered").write_text("u3 0.21\n")
    d = read_durations(p)
    assert d["u1"].tolist() == [1, 2, 3] and read_filtered(p) == {"u3": pytest.approx(0.21)}
    check_durations("u1", d["u1"], 3, 6, p)
    with pytest.raises(NarspeechError, match="u1.*3 durations but 4 tokens"):
        check_durations("u1", d["u1"], 4, 6, p)
    with pytest.raises(NarspeechError, match=r"durations.*u2.*sum to 4 frames but the features have 5"):
        check_durations("u2", d["u2"], 2, 5, p)
    p.write_text("u1 1 x\n")
    with pytest.raises(NarspeechError, match="u1"):
        read_durations(p)


def test_monotonic_durations_fix_stray_steps_and_edges():
    # argmax would give token 3 a stray step in the middle and leave token 0 / the last token empty
    steps = [1, 1, 2, 3, 2, 2, 3, 3]
    a = one_hot_attention(steps, 5, sharp=0.6)
    assert durations_from_attention(a, 8, 1).tolist() == [0, 2, 3, 3, 0]
    d = monotonic_durations(a, 8, 1)
    assert d.sum() == 8 and d[0] >= 1 and d[-1] >= 1
    path = np.repeat(np.arange(5), d)
    assert (np.diff(path) >= 0).all()  # monotonic
    # a clean diagonal is left alone, with r=2 and a truncated last step
    clean = one_hot_attention([0, 0, 1, 2, 2, 3], 4)
    assert monotonic_durations(clean, 11, 2).tolist() == durations_from_attention(clean, 11, 2).tolist() == [4, 2, 4, 1]


def test_monotonic_durations_can_skip_a_token():
    a = one_hot_attention([0, 0, 2, 2, 3], 4, sharp=0.9)  # token 1 never attended
    assert monotonic_durations(a, 5, 1).tolist() == [2, 0, 2, 1]
    assert monotonic_durations(a, 5, 1, max_skip=0).tolist()[1] >= 1


# ---- the batched extractor with a stub teacher whose heads have known focus rates ----------------------
# Layer 0 head 0: the alignment reversed (sharp 0.6); layer 0 head 1: uniform (the worst head);
# layer 1 head 0: the true alignment, sharp 0.9 (the best head); layer 1 head 1: the true alignment
# shifted by one token (sharp 0.7). Frame t of utterance u attends to token mels[t, 0] in the truth.
STUB_TRUE = {"u0": [2, 1, 3], "u1": [1, 4, 2, 1], "u2": [3, 3], "u3": [2, 2, 1, 2, 1], "u4": [1, 2, 2]}
STUB_BLURRY = "u4"  # every head of this one is at most 0.25 sharp: its best focus rate is low
STUB_TOKENS = ["a", "b", "c", "d", "e"]


class _StubTeacher(torch.nn.Module):
    r = 1
    c = {"n_heads": 2, "max_len_ratio": 10.0}

    def teacher_forced(self, tokens, token_lengths, mels, mel_lengths):
        B, T, N = tokens.shape[0], mels.shape[1], tokens.shape[1]
        heads = torch.full((B, 4, T, N), 0.8)  # garbage outside the valid region must not count
        for b in range(B):
            n, t = int(token_lengths[b]), int(mel_lengths[b])
            true = mels[b, :t, 0].round().long()
            blurry = float(mels[b, 0, 1]) > 0.5

            def head(tok, sharp):
                if blurry:
                    sharp = min(sharp, 0.25 + 0.01 * sharp)
                a = torch.full((t, n), (1 - sharp) / max(n - 1, 1))
                a[torch.arange(t), tok] = sharp
                return a

            heads[b, :, :t, :n] = torch.stack([head(n - 1 - true, 0.6), torch.full((t, n), 1.0 / n),
                                               head(true, 0.9), head((true + 1).clamp(max=n - 1), 0.7)])
        return {"attns": [heads[:, :2], heads[:, 2:]], "steps": mel_lengths.clone()}


def _stub_setup(tmp_path, monkeypatch):
    from narspeech.fileio import write_table
    import narspeech.tts.durations.extract as extraction

    data, dump, exp = tmp_path / "data", tmp_path / "dump", tmp_path / "teacher"
    for d in (data, dump, exp):
        d.mkdir()
    (exp / "tokens.txt").write_text("\n".join(["<blank>", "<unk>", *STUB_TOKENS, "<sos/eos>"]) + "\n")
    mels = {}
    for utt, dur in STUB_TRUE.items():
        m = np.zeros((sum(dur), 4), np.float32)
        m[:, 0] = np.repeat(np.arange(len(dur)), dur)
        m[:, 1] = float(utt == STUB_BLURRY)
        mels[utt] = m
    write_table(data / "token", {u: " ".join(STUB_TOKENS[: len(d)]) for u, d in STUB_TRUE.items()})
    cfg = write_teacher_dump(dump, mels)
    monkeypatch.setattr(extraction, "load_tts_model", lambda path, device="cpu": (
        _StubTeacher(), {"model": {"type": "transformer_tts"}, "feats": cfg}))
    return data, dump, exp


def write_teacher_dump(dump, mels: dict, f0: dict | None = None) -> dict:
    """A feature dump of `mels` {utt: (T, n_mels)} (f0 0 unless `f0` {utt: (T,)} is given, flat energy) as
    `tts durations` reads it; returns its feature config."""
    import kaldiio
    import yaml

    from narspeech.audio.features import FeatureConfig
    from narspeech.fileio import write_table

    cfg = FeatureConfig.for_rate(22050, n_mels=next(iter(mels.values())).shape[1]).to_dict()
    for name, tab in (("feats", mels), ("f0", f0 or {u: np.zeros(len(m), np.float32) for u, m in mels.items()}),
                      ("energy", {u: np.ones(len(m), np.float32) for u, m in mels.items()})):
        kaldiio.save_ark(str(dump / f"{name}.ark"), tab, scp=str(dump / f"{name}.scp"))
    write_table(dump / "utt2num_frames", {u: str(len(m)) for u, m in mels.items()})
    (dump / "feats.yaml").write_text(yaml.safe_dump(cfg))
    return cfg


@pytest.mark.parametrize("batch_size", [1, 3])
def test_extractor_picks_the_sharpest_head_and_filters_a_blurry_utterance(tmp_path, monkeypatch, batch_size):
    """Known answer through the batched extractor: the best of 2 layers x 2 heads gives the true durations."""
    from narspeech.fileio import read_table
    from narspeech.tts.durations.extract import extract_durations

    data, dump, exp = _stub_setup(tmp_path, monkeypatch)
    out = tmp_path / "dur"
    res = extract_durations(exp, data, dump, out, focus_threshold=0.5, batch_size=batch_size, n_plots=0, device="cpu")
    kept = {u: d for u, d in STUB_TRUE.items() if u != STUB_BLURRY}
    assert {u: d.tolist() for u, d in read_durations(out / "durations").items()} == kept
    heads = read_table(out / "heads")
    assert {u: heads[u] for u in kept} == {u: "1 0" for u in kept}  # layer 1, head 0
    rates = {u: float(v) for u, v in read_table(out / "focus_rates").items()}
    assert all(rates[u] == pytest.approx(0.9, abs=1e-3) for u in kept)
    assert rates[STUB_BLURRY] < 0.5
    assert read_filtered(out / "durations") == {STUB_BLURRY: pytest.approx(rates[STUB_BLURRY], abs=1e-4)}
    assert set(res.filtered) == {STUB_BLURRY}


def test_extractor_threshold_zero_keeps_every_utterance(tmp_path, monkeypatch):
    from narspeech.tts.durations.extract import extract_durations

    data, dump, exp = _stub_setup(tmp_path, monkeypatch)
    extract_durations(exp, data, dump, tmp_path / "dur", focus_threshold=0.0, batch_size=5, n_plots=0, device="cpu")
    assert set(read_durations(tmp_path / "dur" / "durations")) == set(STUB_TRUE)
    assert read_filtered(tmp_path / "dur" / "durations") == {}


def test_extractor_takes_a_step_checkpoint_and_reads_the_exp_dirs_tokens(tmp_path, monkeypatch):
    """`--teacher EXP/checkpoints/stepN.pt`: the tokens are EXP's, not those of the checkpoints folder."""
    from narspeech.tts.durations.extract import extract_durations

    data, dump, exp = _stub_setup(tmp_path, monkeypatch)
    (exp / "checkpoints").mkdir()
    ckpt = exp / "checkpoints" / "step00000800.pt"
    ckpt.write_bytes(b"")  # the stub loader never reads it
    extract_durations(ckpt, data, dump, tmp_path / "dur", focus_threshold=0.0, batch_size=5, n_plots=0, device="cpu")
    assert set(read_durations(tmp_path / "dur" / "durations")) == set(STUB_TRUE)
