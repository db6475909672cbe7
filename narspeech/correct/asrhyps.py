"""Fine-tuning pairs from an ASR model's own training set, decoded with perturbed features.

FastCorrect fine-tunes on (hypothesis, reference) pairs of real ASR output. A model decodes
its own training utterances far better than unseen speakers, so their hypotheses hold too
few errors. Cheap ways to get more, dev-like errors without training N-fold models:

* an early checkpoint (the paper's choice);
* the model's training **SpecAugment** left on at decoding (frequency bands and time spans
  masked, as in training, drawn anew per utterance and seed);
* feature-domain **speed perturbation** (a factor per utterance, drawn from `speeds`).

Each run decodes every utterance of a dump once with one setting and writes a Kaldi ``hyp``;
several settings and seeds give several pairs per utterance. Whether they resemble the dev
hypotheses is measured with :mod:`narspeech.correct.errstats`, not assumed.
"""
from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from narspeech.asr.recognize import DecodeOptions, load_recognizer
from narspeech.asr.specaug import spec_augment, speed_perturb_mel
from narspeech.audio.dump import read_dump
from narspeech.errors import NarspeechError
from narspeech.fileio import atomic_write
from narspeech.progress import progress


def perturbed_decode(asr_exp: str | Path, dump_dir: str | Path, out_dir: str | Path, *, checkpoint: str | Path | None = None,
                     method: str = "maskctc", specaug: bool = False, speeds: Sequence[float] = (), seed: int = 1,
                     batch_size: int = 32, device: str = "cpu", limit: int | None = None) -> dict:
    """Decode `dump_dir` with the ASR model of `asr_exp`, features perturbed as asked; writes
    ``OUT/hyp`` and ``OUT/perturb.json`` (the settings and the model step). Returns the latter."""
    rec = load_recognizer(asr_exp, device, checkpoint)
    opts = DecodeOptions(method=method)
    rec.check_method(opts)
    sa_cfg = (rec.model.cfg.get("specaug") or {}) if specaug else {}
    if specaug and not sa_cfg:
        raise NarspeechError("the ASR model was trained without SpecAugment (model.specaug): nothing to leave on", path=asr_exp)
    dump = read_dump(dump_dir)
    fc = dump.config
    utts = list(dump.num_frames)[:limit] if limit else list(dump.num_frames)
    rng = random.Random(seed)
    torch.manual_seed(seed)
    mels = {}
    for u in utts:
        m = np.asarray(dump.feats[u], dtype=np.float32)
        if speeds:
            m = speed_perturb_mel(m, rng.choice(list(speeds)), sample_rate=fc.sample_rate, fmin=fc.fmin, fmax=fc.fmax or fc.sample_rate / 2)
        if m.shape[0] >= rec.min_frames:
            mels[u] = m
    order = sorted(mels, key=lambda u: mels[u].shape[0])
    mean, std = rec.model.mel_mean.cpu(), rec.model.mel_std.cpu()
    hyps = {u: "" for u in utts if u not in mels}
    batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    for us in progress(batches, total=len(batches), desc="decode"):
        lens = torch.tensor([mels[u].shape[0] for u in us])
        x = torch.zeros(len(us), int(lens.max()), mels[us[0]].shape[1])
        for i, u in enumerate(us):
            x[i, : lens[i]] = torch.from_numpy(np.array(mels[u]))
        if sa_cfg:  # the model's own masks, in its normalised domain (0 = the mean)
            x = spec_augment((x - mean) / std, lens, **sa_cfg) * std + mean
        ids = rec.decode_feats(x, lens, opts)
        for u, seq in zip(us, ids):
            hyps[u] = rec.ids_to_text(seq)
    out = Path(out_dir)
    with atomic_write(out / "hyp") as f:
        f.writelines(f"{u} {hyps[u]}".rstrip() + "\n" for u in sorted(hyps))
    info = {"asr_exp": str(asr_exp), "checkpoint": str(checkpoint or ""), "step": rec.info.get("step"), "method": method,
            "specaug": sa_cfg or None, "speeds": list(speeds), "seed": seed, "dump": str(dump_dir), "utterances": len(hyps),
            "too_short": len(utts) - len(mels)}
    with atomic_write(out / "perturb.json") as f:
        json.dump(info, f, indent=2)
        f.write("\n")
    return info
