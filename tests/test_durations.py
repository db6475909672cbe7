"""Duration extraction from attention, focus rate, and the durations file checks."""
import numpy as np
import pytest
import torch

from narspeech.errors import NarspeechError
from narspeech.tts.durations import (check_durations, durations_from_attention, focus_rate, focus_rates,
                                     monotonic_durations, read_durations, read_filtered)


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
