"""ASR learning test through the real engine: a tiny Mask-CTC model on synthetic 'speech' (each
letter is a fixed spectral pattern held for a few frames, with noise and pauses) must reach a
CER far below chance with greedy CTC and with Mask-CTC decoding; the AR model's beam search too."""
from __future__ import annotations

import random

import pytest
import torch

from narspeech.asr.dataset import collate

LETTERS = ["A", "B", "C", "D", "E"]
TOKENS = ["<blank>", "<unk>", *LETTERS, "<mask>", "<sos/eos>"]
N_MELS = 16


class SynthSet(torch.utils.data.Dataset):
    def __init__(self, n, seed):
        rng = random.Random(seed)
        g = torch.Generator().manual_seed(0)  # the same letter patterns for every set
        self.patterns = torch.randn(len(LETTERS) + 1, N_MELS, generator=g) * 2  # last row: pause
        gn = torch.Generator().manual_seed(seed)
        self.items, self.lengths = [], []
        for i in range(n):
            ids = [rng.randrange(len(LETTERS)) for _ in range(rng.randint(3, 6))]
            frames = [self.patterns[-1].expand(rng.randint(4, 8), N_MELS)]
            for k in ids:
                frames.append(self.patterns[k].expand(rng.randint(8, 14), N_MELS))
                frames.append(self.patterns[-1].expand(rng.randint(4, 8), N_MELS))
            x = torch.cat(frames) + 0.5 * torch.randn(sum(f.shape[0] for f in frames), N_MELS, generator=gn)
            self.items.append({"utt": f"u{i:03d}", "feats": x, "tokens": torch.tensor([2 + k for k in ids])})
            self.lengths.append(x.shape[0])

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i]


def cer(refs, hyps):
    import jiwer

    def text(ids):
        return "".join(TOKENS[i] if len(TOKENS[i]) == 1 else "?" for i in ids) or "?"

    return jiwer.cer([text(r) for r in refs], [text(h) for h in hyps])


def train(tmp_path, typ, steps, **opts):
    from narspeech.asr.model import ASRModel
    from narspeech.train.engine import fit
    from narspeech.train.rng import seed_everything

    cfg = {"train": {"seed": 1, "device": "cpu", "max_steps": steps, "batch_bins": 3000, "max_batch_size": 16,
                     "optim": {"name": "adam", "lr": 5e-3}, "scheduler": {"name": "warmup", "warmup_steps": 20},
                     "valid_interval": steps, "log_interval": 1000, "keep_best": 1, "num_workers": 0,
                     "tensorboard": False, "log_to_stderr": False}}
    seed_everything(1)
    model = ASRModel({"type": typ, "d_model": 48, "n_heads": 2, "enc_layers": 2, "enc_ff": 96, "conv_kernel": 7,
                      "subsample_channels": 8, "dec_layers": 1, "dec_ff": 96, "dropout": 0.0,
                      "specaug": {"freq_masks": 1, "freq_width": 2, "time_masks": 1, "time_width": 0.05}, **opts},
                     len(TOKENS), N_MELS)
    fit(cfg, model, SynthSet(64, 1), SynthSet(8, 2), collate, tmp_path / typ)
    return model.eval()


def recognizer(model):
    from narspeech.asr.recognize import Recognizer
    from narspeech.asr.text import ASRTokenizer
    from narspeech.audio.features import FeatureConfig
    from narspeech.text.vocab import TokenList

    return Recognizer(model, TokenList(TOKENS), ASRTokenizer(), FeatureConfig.for_rate(16000), torch.device("cpu"), {})


def test_mask_ctc_and_ar_learn_synthetic_letters(tmp_path, one_thread):
    from narspeech.asr.recognize import DecodeOptions

    test = SynthSet(16, 7)
    batch = collate(test.items)
    refs = [it["tokens"].tolist() for it in test.items]
    chance = cer(refs, [[2] * len(r) for r in refs])
    m = recognizer(train(tmp_path, "mask_ctc", 200, length_predictor=True))
    greedy = m.decode_feats(batch["feats"], batch["feat_lengths"], DecodeOptions("ctc"))
    mask = m.decode_feats(batch["feats"], batch["feat_lengths"], DecodeOptions("maskctc", threshold=0.999, iterations=3))
    adjusted = m.decode_feats(batch["feats"], batch["feat_lengths"],
                              DecodeOptions("maskctc", threshold=0.999, iterations=3, length_adjust=True))
    # chance: a hypothesis of the right length, all one letter (~0.8)
    assert chance > 0.7
    # measured (200 steps, with the length predictor): greedy CTC 0.0, Mask-CTC 0.16, length-adjusted 0.18
    # (the decoder learns later than the CTC: at 100 steps Mask-CTC was at 0.18-0.46; threshold 0.999 masks
    # nearly every letter here, so whole utterances become one merged mask whose length the head must count)
    assert cer(refs, greedy) < 0.1, (cer(refs, greedy), greedy[:3], refs[:3])
    assert cer(refs, mask) < 0.2, (cer(refs, mask), mask[:3], refs[:3])
    assert cer(refs, adjusted) < 0.25, (cer(refs, adjusted), adjusted[:3], refs[:3])
    a = recognizer(train(tmp_path, "ar", 60))
    beam = a.decode_feats(batch["feats"], batch["feat_lengths"], DecodeOptions("beam", beam=3, ctc_weight=0.3))
    assert cer(refs, beam) < 0.35, (cer(refs, beam), beam[:3], refs[:3])  # measured 0.16


def test_self_conditioned_ctc_learns_and_feeds_its_guess_forward(tmp_path, one_thread):
    """Self-conditioned CTC: the intermediate head (after encoder layer 1 of 2) is trained by its own loss
    (far lower than with that loss weighted 0), and the final layer uses its posteriors (taking the
    conditioning away changes the final states)."""
    from narspeech.asr.ctc_decode import ctc_greedy

    test = SynthSet(16, 7)
    batch = collate(test.items)
    refs = [it["tokens"].tolist() for it in test.items]
    m = train(tmp_path / "sc", "mask_ctc", 150, interctc_layers=[1], interctc_weight=0.5)
    untrained_inter = train(tmp_path / "w0", "mask_ctc", 150, interctc_layers=[1], interctc_weight=0.0)
    with torch.no_grad():
        torch.manual_seed(0)
        inter_loss = float(m(batch)[1]["ctc_inter"])
        torch.manual_seed(0)
        inter_loss_w0 = float(untrained_inter(batch)[1]["ctc_inter"])
        enc, elen, inter = m.encode_with_intermediate(batch["feats"], batch["feat_lengths"])
        assert len(inter) == 1
        final, first = ([t[:n].tolist() for t, n in zip(tok, lens)]
                        for tok, _, lens in (ctc_greedy(torch.log_softmax(x, -1), elen) for x in (m.ctc(enc), inter[0])))
        assert torch.equal(m.encode(batch["feats"], batch["feat_lengths"])[0], enc)  # decoding conditions too
        w = m.inter_cond.weight.clone()
        m.inter_cond.weight.zero_()
        unconditioned, _ = m.encode(batch["feats"], batch["feat_lengths"])
        m.inter_cond.weight.copy_(w)
    # measured: CER final 0.0, intermediate 0.0; intermediate CTC loss 0.006 vs 0.045 with its weight at 0
    assert cer(refs, final) < 0.1, (cer(refs, final), final[:3], refs[:3])
    assert cer(refs, first) < 0.3, (cer(refs, first), first[:3], refs[:3])
    assert inter_loss < inter_loss_w0 / 3, (inter_loss, inter_loss_w0)
    assert w.abs().max() > 1e-3  # zero at the start: only training moves it
    assert (unconditioned - enc).abs().max() > 1e-2


def test_self_conditioning_starts_as_the_plain_encoder():
    """The conditioning projection starts at zero: an encoder moved into a self-conditioned model
    (`--init-modules encoder`) gives the same states as before."""
    from narspeech.asr.model import ASRModel, build_asr_model

    opts = {"d_model": 32, "n_heads": 2, "enc_layers": 3, "enc_ff": 64, "conv_kernel": 5, "subsample_channels": 8,
            "dec_layers": 1, "dec_ff": 64, "dropout": 0.0}
    torch.manual_seed(0)
    plain = ASRModel(opts, len(TOKENS), N_MELS).eval()
    sc = ASRModel({**opts, "interctc_layers": [1, 2]}, len(TOKENS), N_MELS).eval()
    missing, unexpected = sc.load_state_dict(plain.state_dict(), strict=False)
    assert sorted(missing) == ["inter_cond.bias", "inter_cond.weight"] and not unexpected
    x, n = torch.randn(2, 60, N_MELS), torch.tensor([60, 41])
    with torch.no_grad():
        a, _ = plain.encode(x, n)
        b, _, inter = sc.encode_with_intermediate(x, n)
    assert len(inter) == 2 and torch.allclose(a, b)
    from narspeech.errors import NarspeechError

    with pytest.raises(NarspeechError, match="interctc_layers must lie in 1..2"):  # a one-line error from the CLI
        build_asr_model({**opts, "interctc_layers": [3], "n_tokens": len(TOKENS), "n_mels": N_MELS})
