"""CoMMA: the density ratio ranks two synthetic tasks whose dependency structure is known, and bad input
gets one clear line."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from narspeech.analyze.comma_data import (collate, draw_mask, spans_from_source_durations, spans_from_target_durations,
                                          synthetic_task, windows)
from narspeech.analyze.comma_measure import check_ps, density_ratios, measure_ratio
from narspeech.analyze.comma_model import CoMMA, CommaConfig
from narspeech.analyze.comma_train import load_comma, train_comma
from narspeech.errors import NarspeechError

PS = [0.1, 0.5, 0.9]


def _tiny(kind: str, tmp_path, steps: int = 500) -> dict:
    torch.set_num_threads(1)
    cfg = CommaConfig(task="tokens", n_src=16, n_tgt=16, d_model=32, n_heads=2, n_layers=2, d_ff=64, dropout=0.0)
    train_comma(synthetic_task(kind, 400, seed=0), cfg, tmp_path / kind, steps=steps, lr=3e-3, warmup=50, log_every=1000)
    model, _ = load_comma(tmp_path / kind)
    return {pt["p"]: pt for pt in measure_ratio(model, synthetic_task(kind, 60, seed=1), PS, n_boot=200)["points"]}


def _check_ranking(src: dict, tgt: dict) -> None:
    for p in PS:
        assert tgt[p]["R"] - src[p]["R"] > 0.1, (p, src[p], tgt[p])
        assert tgt[p]["ci95"][0] > src[p]["ci95"][1], (p, src[p], tgt[p])


def test_known_answer_ranking_fast(tmp_path):
    """Targets copied from the previous target token depend on the target; targets computed from the
    aligned source token do not: R(p) must be higher for the first at every p, intervals apart."""
    _check_ranking(_tiny("source", tmp_path, steps=250), _tiny("target", tmp_path, steps=250))


@pytest.mark.slow
def test_known_answer_ranking(tmp_path):
    """The same, trained until the source task is learnt."""
    src, tgt = _tiny("source", tmp_path), _tiny("target", tmp_path)
    _check_ranking(src, tgt)
    assert src[0.1]["loss"] < 0.5  # deterministic given the source: learnt


def test_mix_attention_is_one_softmax():
    """Each decoder query's weights over [target ; source] sum to 1; target keys come first."""
    torch.manual_seed(0)
    m = CoMMA(CommaConfig(task="tokens", n_src=8, n_tgt=8, d_model=16, n_heads=2, n_layers=2, d_ff=32, dropout=0.0)).eval()
    src, tgt = torch.randint(0, 8, (2, 5)), torch.randint(0, 8, (2, 7))
    masked = torch.zeros(2, 7, dtype=torch.bool)
    masked[:, 2] = True
    with torch.no_grad():
        _, ws = m(src, torch.tensor([5, 3]), tgt, torch.tensor([7, 4]), masked)
    assert len(ws) == 2 and ws[0].shape == (2, 2, 7, 12)
    w = ws[-1]
    assert torch.allclose(w[1, :, :4].sum(-1), torch.ones(2, 4), atol=1e-5)
    assert float(w[1, :, :4, 4:7].abs().sum()) == 0.0 and float(w[1, :, :4, 10:].abs().sum()) == 0.0  # padding
    a = density_ratios(w.mean(1), torch.tensor([7, 4]), torch.tensor([5, 3]), masked)
    assert [len(x) for x in a] == [1, 1] and all(0 < float(x[0]) < 1 for x in a)


def test_alignment_windows_and_masks():
    assert windows(spans_from_source_durations(np.array([2, 0, 1, 2])), 4).tolist() == [[0, 1], [0, 3], [0, 4], [2, 4], [3, 4]]
    assert spans_from_target_durations(np.array([3, 0, 5])).tolist() == [[0, 3], [3, 4], [3, 8]]
    assert windows(spans_from_target_durations(np.array([4, 8, 4])), 4, subsample=4).tolist() == [[0, 3], [0, 4], [1, 4]]
    m = draw_mask(35, 0.5, np.random.default_rng(0), chunk=10)
    assert m.any() and all(len(set(m[i:i + 10])) == 1 for i in range(0, 35, 10))
    assert draw_mask(5, 1e-9, np.random.default_rng(0)).sum() == 1


def test_alignment_constraint_blocks_outside_window():
    torch.manual_seed(0)
    ex = synthetic_task("source", 2, seed=3)
    m = CoMMA(CommaConfig(task="tokens", n_src=16, n_tgt=16, d_model=16, n_heads=2, n_layers=1, d_ff=32, dropout=0.0)).eval()
    b = collate(ex, [np.ones(len(e.tgt), bool) for e in ex], task="tokens", constrain=True)
    with torch.no_grad():
        _, ws = m(b["src"], b["src_len"], b["tgt"], b["tgt_len"], b["masked"], b["src_window"])
    n = b["tgt"].size(1)
    w = ws[0][0, :, 3, n:]  # item 0, target 3: only source 2..4 allowed
    assert float(w[:, :2].abs().sum()) == 0.0 and float(w[:, 5:].abs().sum()) == 0.0 and float(w[:, 2:5].sum()) > 0


def test_bad_p():
    with pytest.raises(NarspeechError, match="outside"):
        check_ps([0.5, 1.0])
    with pytest.raises(NarspeechError, match="outside"):
        check_ps([0.0])


def test_cli_task_mismatch_and_bad_p(tmp_path):
    cfg = CommaConfig(task="tokens", n_src=16, n_tgt=16, d_model=16, n_heads=2, n_layers=1, d_ff=32)
    train_comma(synthetic_task("source", 8), cfg, tmp_path / "m", steps=1)
    run = lambda *a: subprocess.run([sys.executable, "-m", "narspeech", "analyze", "comma", *a],  # noqa: E731
                                    capture_output=True, text=True)
    r = run("measure", "--task", "asr", "--exp", str(tmp_path / "m"))
    assert r.returncode == 1 and "trained for task tokens, not asr" in r.stderr and "Traceback" not in r.stderr
    r = run("measure", "--task", "tts", "--exp", str(tmp_path / "m"), "--p", "0.5,1.5")
    assert r.returncode == 1 and r.stderr.strip() == "error: mask probability p=1.5 is outside (0, 1)"


def test_ctc_forced_alignment():
    from narspeech.analyze.ctc_align import ctc_viterbi_starts, durations_from_starts

    lp = np.full((12, 5), -5.0)
    lp[:, 0] = -0.1
    for t, y in [(2, 1), (3, 1), (6, 2), (9, 2)]:
        lp[t, y], lp[t, 0] = -0.01, -5.0
    starts = ctc_viterbi_starts(lp, [1, 2, 2])  # a repeated token needs the blank between its two emissions
    assert starts.tolist() == [2, 6, 9]
    assert durations_from_starts(starts, 48, subsample=4).tolist() == [24, 12, 12]
    with pytest.raises(ValueError):
        ctc_viterbi_starts(lp[:2], [1, 2, 2])
    lp = np.full((12, 5), -5.0)
    lp[:, 0] = -0.1
    for t, y in [(2, 1), (6, 2), (7, 2)]:
        lp[t, y], lp[t, 0] = -0.01, -5.0
    assert ctc_viterbi_starts(lp, [1, 2, 2]).tolist() == [2, 3, 6]  # "2 2" on adjacent frames is ONE token 2


def test_stack_frames_keeps_alignment_spans():
    from narspeech.analyze.comma_data import mask_chunk, stack_frames

    mel = np.arange(14, dtype=np.float32).reshape(7, 2)
    spans = spans_from_source_durations(np.array([2, 5]))
    out, a = stack_frames(mel, spans, 3)
    assert out.shape == (3, 6) and out[2].tolist() == [12, 13, 12, 13, 12, 13]  # last frame repeats
    assert a.tolist() == [[0, 2], [1, 2], [1, 2]]  # the first position holds frames of both tokens
    assert mask_chunk("tts", 3) == 3 and mask_chunk("tts") == 10 and mask_chunk("asr", 3) == 1


def test_correction_train_measure_and_kd(tmp_path):
    """Correction end to end from `utt text` files; --kd swaps the references for the AR corrector's outputs."""
    from narspeech.analyze.comma_run import TaskInputs, measure, train

    refs = {f"u{k:02d}": " ".join(["THE", "CAT", "SAT", "ON", "A", "MAT"][: 3 + k % 4]) for k in range(12)}
    hyp, ref, kd = tmp_path / "hyp", tmp_path / "ref", tmp_path / "kd"
    hyp.write_text("".join(f"{u} {t.replace('CAT', 'CAP')}\n" for u, t in refs.items()))
    ref.write_text("".join(f"{u} {t}\n" for u, t in refs.items()))
    kd.write_text("".join(f"{u} {t.replace('CAT', 'KAT')}\n" for u, t in refs.items()))
    cfg = {"model": {"d_model": 16, "n_heads": 2, "n_layers": 2, "d_ff": 32}, "train": {"steps": 3, "log_every": 10}}
    s = train("correct", TaskInputs(hyp=str(hyp), ref=str(ref), kd=str(kd)), tmp_path / "kd_exp", cfg, align=True)
    assert s["meta"]["variant"] == "kd+align" and "KAT" in s["meta"]["vocab"] and "CAT" not in s["meta"]["vocab"]
    r = measure(tmp_path / "kd_exp", "correct", TaskInputs(hyp=str(hyp), ref=str(ref), kd=str(kd)), ps=[0.5], n_boot=10)
    assert r["variant"] == "kd+align" and r["points"][0]["sentences"] == 12 and (tmp_path / "kd_exp" / "comma.json").is_file()
    with pytest.raises(NarspeechError, match="word units, not char"):
        measure(tmp_path / "kd_exp", "correct", TaskInputs(hyp=str(hyp), ref=str(ref), unit="char"), ps=[0.5])


def test_asr_kd_tokens_must_share_the_token_list(tmp_path):
    """An AR recogniser's hypotheses in other units (here words) are one clear error, not a run on <unk>s;
    a rare character the list lacks is let through as <unk>."""
    from narspeech.analyze.comma_data import check_kd_tokens
    from narspeech.text.vocab import TokenList

    tl = TokenList(["<blank>", "<unk>", "<space>", "A", "B", "C", "<sos/eos>"])
    chars = {f"u{k}": ["A", "B", "<space>", "C"] * 30 for k in range(3)}
    check_kd_tokens(chars, tl, tmp_path / "token_hyp")
    check_kd_tokens({**chars, "u9": ["Z"]}, tl, tmp_path / "token_hyp")  # 1 of 361: a rare unknown character
    with pytest.raises(NarspeechError, match="2 of 3 KD tokens .* not in the token list"):
        check_kd_tokens({"u0": ["AB", "<space>", "CAB"]}, tl, tmp_path / "token_hyp")


def test_ctc_align_with_a_trained_asr_exp(tiny_asr, tmp_path):
    """`analyze comma ctc-align` end to end on a (tiny) ASR exp: one duration per token, summing to the frames."""
    from narspeech.analyze.ctc_align import align_with_asr_model
    from narspeech.audio.dump import ArkTable
    from narspeech.fileio import read_table

    root, dump = tiny_asr
    r = align_with_asr_model(root / "exp", root / "data", dump, tmp_path / "durations")
    assert r["aligned"] == 5 and not r["failed"]
    feats, toks = ArkTable(dump / "feats.scp"), read_table(root / "data" / "token")
    for u, d in read_table(tmp_path / "durations").items():
        d = [int(x) for x in d.split()]
        assert len(d) == len(toks[u].split()) and sum(d) == len(feats[u])
