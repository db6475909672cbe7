"""Real-pair tools of the corrector: error profiles (known answers), the learned error model
(fitted rates are reproduced by its own noise), perturbed ASR decoding of a training set
(off == `asr decode`; SpecAugment masks really applied; seeded), subword units kept in the exp dir."""
from __future__ import annotations

import random

import pytest
from conftest import cli_ok as ok

from narspeech.correct.errmodel import ErrorModel
from narspeech.correct.errstats import error_profile


def test_error_profile_known_answer():
    refs = {"a": "THE ELEPHANT WENT INTO THE HOUSE", "b": "I WANT TO GO HOME", "c": "A DOG"}
    hyps = {"a": "THE ELEFANT WENT IN TO THE HOUSE", "b": "I WANT TO GO HOME", "c": "A BIG CAT"}
    p = error_profile(refs, hyps, lexicon=["THE", "ELEPHANT", "WENT", "INTO", "HOUSE", "IN", "TO", "A", "DOG", "BIG", "CAT"])
    # a: ELEPHANT->ELEFANT (S, non-word, near miss), INTO->IN + TO inserted (one boundary region); c: DOG->BIG + CAT inserted
    assert p["wer"] == pytest.approx(5 / 13)
    assert (p["sub_share"], p["ins_share"], p["del_share"]) == pytest.approx((3 / 5, 2 / 5, 0.0))
    assert p["nonword_share"] == pytest.approx(1 / 5)  # ELEFANT of ELEFANT IN TO BIG CAT
    assert p["near_miss_share"] == pytest.approx(2 / 3)  # ELEFANT, IN/TO for INTO (similarity 0.5); not DOG/BIG or DOG/CAT
    assert p["boundary_share"] == pytest.approx(1 / 3)  # regions: ELEFANT, IN TO, BIG CAT
    assert p["sentence_error_rate"] == pytest.approx(2 / 3)
    assert p["errors_per_bad_sentence"] == pytest.approx(2.5)


def test_error_model_fits_and_reproduces_its_rates():
    rng = random.Random(3)
    words = "THE CAT SAT ON A MAT WITH SOME BIG RED ELEPHANT AND FOUR SMALL DOGS".split()
    sents = [[rng.choice(words) for _ in range(8)] for _ in range(400)]
    truth = ErrorModel(sub_rate=0.12, del_rate=0.03, ins_rate=0.02, merge_rate=0.02, split_rate=0.01, char_ins_rate=0.05,
                       char_out={c: {c: 8, chr((ord(c) - 64) % 26 + 65): 2, "": 1} for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"},
                       char_ins={"E": 1, "H": 1}, inserted_words={"UH": 3, "THE": 1}, variant_prob=0.0)
    pairs = [(" ".join(truth.corrupt(s, rng)) or s[0], " ".join(s)) for s in sents]
    fit = ErrorModel.fit(pairs)
    # alignment may attribute some errors differently, so the rates come back close, not exact
    assert fit.sub_rate == pytest.approx(0.12, abs=0.02)
    assert fit.del_rate == pytest.approx(0.03, abs=0.015)
    assert fit.ins_rate == pytest.approx(0.02, abs=0.015)
    assert fit.merge_rate + fit.split_rate == pytest.approx(0.03, abs=0.015)
    assert fit.fitted_on["wer"] > 0.12
    # every substituted word is misspelt, never copied; observed misspellings are reused
    assert all(fit.misspell(w, rng) != w for w in words for _ in range(5))
    fit.variant_prob = 1.0
    fit.sub_rate, fit.del_rate, fit.ins_rate, fit.merge_rate, fit.split_rate = 1.0, 0.0, 0.0, 0.0, 0.0
    out = fit.corrupt(["ELEPHANT"] * 50, rng)
    assert set(out) <= set(fit.variants["ELEPHANT"])


def test_error_model_char_model_ignores_merged_neighbours():
    # IN ACCORDANCE -> INACORDENCE aligns as IN -> INACORDENCE (+ ACCORDANCE deleted): a substitution whose
    # nine "inserted" characters are the next word, not a misspelling: neither the character model nor the
    # misspellings may learn it (the word-level substitution rate still counts it)
    clean = [("THE ELEFANT WENT HOME", "THE ELEPHANT WENT HOME")] * 4
    merged = [("INACORDENCE WITH THE LAW", "IN ACCORDANCE WITH THE LAW")] * 4
    only_clean, both = ErrorModel.fit(clean), ErrorModel.fit(clean + merged)
    assert both.char_ins_rate == pytest.approx(only_clean.char_ins_rate)
    assert both.char_out == only_clean.char_out
    assert "IN" not in both.variants and both.variants["ELEPHANT"] == {"ELEFANT": 4}
    assert both.sub_rate * 36 == pytest.approx(8)  # 4 ELEFANT + 4 INACORDENCE substitutions over 36 words


def test_error_model_cli_noise_round_trip(tmp_path):
    (tmp_path / "ref").write_text("u1 THE ELEPHANT WENT INTO THE HOUSE\nu2 I WANT TO GO HOME\n")
    (tmp_path / "hyp").write_text("u1 THE ELEFANT WENT IN TO THE HOUS\nu2 I WAN TO GO\n")
    ok("correct", "errmodel", "--hyp", tmp_path / "hyp", "--ref", tmp_path / "ref", "--out", tmp_path / "em.json")
    (tmp_path / "text.txt").write_text("THE ELEPHANT WENT HOME\nA HOUSE\n")
    ok("correct", "noise", "--text", tmp_path / "text.txt", "--out", tmp_path / "noisy", "--error-model", tmp_path / "em.json",
       "--copies", "20", "--scale", "2")
    hyp = (tmp_path / "noisy" / "hyp").read_text().splitlines()
    assert len(hyp) == 40 and any("ELEPHANT" not in h for h in hyp if h.startswith("s0"))
    out = ok("correct", "stats", f"real={tmp_path / 'hyp'}", f"noisy={tmp_path / 'noisy' / 'hyp'}",
             "--ref", tmp_path / "ref", "--ref", tmp_path / "noisy" / "text")
    assert "| real | 2 |" in out and "| noisy | 40 |" in out


def test_perturbed_decode(tiny_asr, monkeypatch):
    from narspeech.asr.recognize import Recognizer
    from narspeech.correct.asrhyps import perturbed_decode

    root, dump = tiny_asr
    ok("asr", "decode", "--model", root / "exp", "--dump", dump, "--out", root / "plain", "--method", "ctc", "--device", "cpu")
    perturbed_decode(root / "exp", dump, root / "off", method="ctc")
    assert (root / "off" / "hyp").read_text() == (root / "plain" / "hyp").read_text()  # nothing asked: the ASR's own decode

    seen = []
    real = Recognizer.decode_feats
    monkeypatch.setattr(Recognizer, "decode_feats", lambda self, x, lens, opts: seen.append((x.clone(), lens, self.model.mel_mean.clone())) or real(self, x, lens, opts))
    perturbed_decode(root / "exp", dump, root / "sa1", method="ctc", specaug=True, seed=5)
    masked_bins = 0
    for x, lens, mean in seen:
        for i, n in enumerate(lens.tolist()):
            masked_bins += int(torch_allclose_cols(x[i, :n], mean))
    assert masked_bins >= len(lens)  # at least one whole mel bin set to the model's mean per utterance (freq masks)
    again = []
    monkeypatch.setattr(Recognizer, "decode_feats", lambda self, x, lens, opts: again.append(x.clone()) or real(self, x, lens, opts))
    perturbed_decode(root / "exp", dump, root / "sa1b", method="ctc", specaug=True, seed=5)
    assert all((a == b[0]).all() for a, b in zip(again, seen))  # seeded: the same masks
    perturbed_decode(root / "exp", dump, root / "sp", method="ctc", speeds=[0.8])
    assert "0.8" in (root / "sp" / "perturb.json").read_text()


def torch_allclose_cols(x, mean) -> int:
    """Number of mel bins of `x` (T, F) equal to `mean` (F,) in every frame."""
    return int(((x - mean[None]).abs().max(0).values < 1e-5).sum())


def test_subword_units_travel_with_the_exp_dir(tmp_path, one_thread):
    import yaml

    sents = ["THE CAT SAT ON THE MAT", "A DOG RAN IN THE PARK", "THE ELEPHANT WENT INTO THE HOUSE"] * 5
    (tmp_path / "t.txt").write_text("\n".join(sents) + "\n")
    ok("correct", "subword", "--text", tmp_path / "t.txt", "--out", tmp_path / "u" / "bpe.model", "--vocab-size", "40")
    (tmp_path / "ref").write_text("".join(f"u{i:02d} {s}\n" for i, s in enumerate(sents)))
    (tmp_path / "hyp").write_text("".join(f"u{i:02d} {s.replace('ELEPHANT', 'ELEFANT')}\n" for i, s in enumerate(sents)))
    ok("correct", "align", "--hyp", tmp_path / "hyp", "--ref", tmp_path / "ref", "--out", tmp_path / "al", "--spm-model", tmp_path / "u" / "bpe.model")
    (tmp_path / "c.yaml").write_text(yaml.safe_dump({
        "model": {"type": "fastcorrect", "d_model": 32, "heads": 2, "d_ff": 64, "enc_layers": 1, "dec_layers": 1},
        "train": {"max_steps": 2, "batch_bins": 400, "num_workers": 0, "tensorboard": False, "device": "cpu", "log_to_stderr": False,
                  "valid_interval": 0}}))
    ok("correct", "train", "--config", tmp_path / "c.yaml", "--train", tmp_path / "al", "--out", tmp_path / "fc")
    (tmp_path / "u" / "bpe.model").unlink()  # decoding must not need the original file
    ok("correct", "decode", "--model", tmp_path / "fc", "--hyp", tmp_path / "hyp", "--out", tmp_path / "dec", "--threshold", "0")
    assert (tmp_path / "fc" / "subword.model").is_file()
    assert len((tmp_path / "dec" / "hyp").read_text().splitlines()) == len(sents)


def test_lexicon_snap_known_answers(tmp_path):
    from narspeech.correct.lexicon import LexiconSnapper

    s = LexiconSnapper({"THE": 10, "BAT": 1, "HAT": 5, "ELEPHANT": 3}, min_similarity=0.6)
    assert s.snap("THE CAT") == "THE HAT"  # BAT and HAT equally near: the more frequent wins
    assert s.snap("THE ELEFANT") == "THE ELEPHANT"  # similarity 0.75
    assert s.snap("THE XYZZY BAT") == "THE XYZZY BAT"  # nothing near enough; known words untouched
    (tmp_path / "lex.txt").write_text("the hat\nthe bat\nan elephant\n")
    (tmp_path / "hyp").write_text("u1 THE ELEFANT\nu2\n")
    ok("correct", "snap", "--hyp", tmp_path / "hyp", "--text", tmp_path / "lex.txt", "--out", tmp_path / "snap")
    assert (tmp_path / "snap" / "hyp").read_text() == "u1 THE ELEPHANT\nu2\n"
