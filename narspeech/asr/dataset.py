"""ASR training data: ``data/<set>/token`` (from ``narspeech asr tokenize``) + a feature dump.

Items are (log-mel (T, n_mels), token ids); ``lengths`` are frame counts for the engine's
bucketing. Utterances too short for the model's subsampling (×4 or ×2), or with fewer encoder frames than CTC
needs for their tokens, are dropped and reported (they cannot train CTC); unknown tokens and
missing features are errors naming the utterance and file, or dropped with ``skip_bad``.
"""
from __future__ import annotations

import logging
import random
from pathlib import Path

import numpy as np
import torch

from narspeech.asr.specaug import speed_perturb_mel
from narspeech.audio.dump import read_dump
from narspeech.errors import NarspeechError, Skipped
from narspeech.fileio import read_table
from narspeech.nets.subsampling import subsampled_length

log = logging.getLogger("narspeech.asr")


def ctc_min_frames(tokens: list[int]) -> int:
    """Encoder frames CTC needs for `tokens`: one per token plus one blank between repeats."""
    return len(tokens) + sum(a == b for a, b in zip(tokens, tokens[1:]))


def enc_frames(n: int, factor: int = 4) -> int:
    """Encoder frames of `n` feature frames after the ×`factor` conv front-end."""
    return subsampled_length(n, factor)


class ASRDataset(torch.utils.data.Dataset):
    """Utterances of `data_dir` with features in `dump_dir`; `speed_perturb` factors (e.g. [0.9, 1.0, 1.1])
    pick one factor per item and epoch (feature-domain approximation, :func:`speed_perturb_mel`); `subsample` is the
    model's time subsampling, which decides how many encoder frames CTC gets."""

    def __init__(self, data_dir: str | Path, dump_dir: str | Path, token_list, *, skip_bad: bool = False,
                 speed_perturb: list[float] | None = None, utts: list[str] | None = None, subsample: int = 4):
        self.data_dir = Path(data_dir)
        token_path = self.data_dir / "token"
        if not token_path.is_file():
            raise NarspeechError("no token file: run `narspeech asr tokenize` on this data directory first", path=token_path)
        texts = read_table(token_path, allow_empty_value=True)
        self.dump = read_dump(dump_dir)
        self.config = self.dump.config
        self.speed_perturb = [float(f) for f in speed_perturb] if speed_perturb else None
        self.subsample = subsample
        self.dropped: list[Skipped] = []
        self.utts, self.tokens, self.lengths = [], [], []
        for utt in (list(texts) if utts is None else utts):
            try:
                toks = texts.get(utt, "").split()
                if not toks:
                    raise NarspeechError("empty transcript", utt=utt, path=token_path)
                ids = token_list.encode(toks, utt=utt)
                if utt not in self.dump.num_frames:
                    raise NarspeechError("utterance has no features in the dump", utt=utt, path=Path(dump_dir) / "utt2num_frames")
            except NarspeechError as e:
                if not skip_bad:
                    raise NarspeechError(e.message, utt=utt, path=e.path or token_path) from None
                self.dropped.append(Skipped(utt, str(e.path or token_path), e.message))
                continue
            n = self.dump.num_frames[utt]
            need = ctc_min_frames(ids)
            got = enc_frames(n, subsample)
            if got < max(1, need):
                self.dropped.append(Skipped(utt, str(Path(dump_dir) / "utt2num_frames"),
                                            f"too short: {n} frames give {got} encoder frames (x{subsample} subsampling), CTC needs {need}"))
                continue
            self.utts.append(utt)
            self.tokens.append(np.asarray(ids, dtype=np.int64))
            self.lengths.append(n)
        if self.dropped:
            log.warning("%s: %d utterance(s) left out, e.g. %s", self.data_dir, len(self.dropped), self.dropped[0])
        if not self.utts:
            raise NarspeechError("no usable utterances (token file and dump share none that can train)", path=self.data_dir)

    def __len__(self) -> int:
        return len(self.utts)

    def __getitem__(self, i: int) -> dict:
        utt = self.utts[i]
        mel = np.array(self.dump.feats[utt], dtype=np.float32)
        if self.speed_perturb:
            f = random.choice(self.speed_perturb)
            c = self.config
            shorter = speed_perturb_mel(mel, f, sample_rate=c.sample_rate, fmin=c.fmin, fmax=c.fmax or c.sample_rate / 2)
            if enc_frames(len(shorter), self.subsample) >= ctc_min_frames(self.tokens[i].tolist()):
                mel = shorter
        return {"utt": utt, "feats": torch.from_numpy(mel), "tokens": torch.from_numpy(self.tokens[i])}


def collate(items: list[dict]) -> dict:
    """Pad: feats (B, T, n_mels) with 0, tokens (B, L) with 0 (``<blank>``); lengths and utt ids."""
    b = len(items)
    fl = torch.tensor([it["feats"].shape[0] for it in items])
    tl = torch.tensor([len(it["tokens"]) for it in items])
    out = {"utts": [it["utt"] for it in items], "feat_lengths": fl, "token_lengths": tl,
           "feats": torch.zeros(b, int(fl.max()), items[0]["feats"].shape[1]), "tokens": torch.zeros(b, int(tl.max()), dtype=torch.long)}
    for k, it in enumerate(items):
        out["feats"][k, : fl[k]] = it["feats"]
        out["tokens"][k, : tl[k]] = it["tokens"]
    return out
