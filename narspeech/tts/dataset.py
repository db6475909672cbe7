"""TTS training data: `data/<set>/token` + `tokens.txt` + a feature dump (+ durations).

Each item is one utterance: token ids, its log-mel (T, n_mels), frame F0/energy, and with
durations the token-level pitch/energy targets of FastSpeech 2. ``lengths`` (frames) lets
the training engine bucket by length; :func:`collate` pads and gives lengths (masks are
built from them in the models).

Consistency is checked when the set is opened, so a bad utterance is named before any
training starts: a token line without features, durations whose count differs from the
tokens or whose sum differs from the frame count. Utterances that the teacher's duration
extraction filtered out (``filtered`` beside ``durations``) are dropped with a warning; with
``skip_bad`` other problems are dropped and listed too.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from narspeech.audio.dump import read_dump
from narspeech.errors import NarspeechError, Skipped
from narspeech.fileio import read_table
from narspeech.tts.durations.files import check_durations, read_durations, read_filtered

log = logging.getLogger("narspeech.tts")


def token_pitch(f0: np.ndarray, durations: np.ndarray) -> np.ndarray:
    """Token-level F0 in Hz: mean of the voiced (f0 > 0) frames of each token.

    Tokens with no voiced frame (unvoiced consonants, pauses, zero-length tokens) get the value
    linearly interpolated between the neighbouring voiced tokens (the nearest one at the edges),
    a continuous contour as FastSpeech 2 uses; an utterance with no voiced frame is all 0."""
    ends = np.cumsum(durations)
    starts = ends - durations
    out = np.zeros(len(durations), dtype=np.float32)
    voiced = np.zeros(len(durations), dtype=bool)
    for i, (s, e) in enumerate(zip(starts, ends)):
        seg = f0[s:e]
        seg = seg[seg > 0]
        if len(seg):
            out[i], voiced[i] = seg.mean(), True
    if voiced.any() and not voiced.all():
        idx = np.arange(len(out))
        out[~voiced] = np.interp(idx[~voiced], idx[voiced], out[voiced])
    return out


def token_energy(energy: np.ndarray, durations: np.ndarray) -> np.ndarray:
    """Token-level energy: mean over each token's frames (0 for zero-length tokens)."""
    ends = np.cumsum(durations)
    sums = np.concatenate([[0.0], np.cumsum(energy, dtype=np.float64)])
    total = sums[ends] - sums[ends - durations]
    return (total / np.maximum(durations, 1)).astype(np.float32)


def _as_tokens(value: str) -> list[str]:
    return value.split()


class TTSDataset(torch.utils.data.Dataset):
    """Utterances of `data_dir` that have features in `dump_dir` (and durations when given).

    `token_list`: a :class:`narspeech.text.vocab.TokenList`. `durations`: a durations file
    (required for FastSpeech). `kd_dump`: a folder with ``feats.scp`` of teacher-generated mels
    used as targets instead of the dump's (sequence-level knowledge distillation; durations
    must then be the ones re-extracted on those mels). `variance`: also give token-level pitch
    and energy (FastSpeech 2; needs durations). `frame_f0`: also give the frame-level F0 track in Hz, 0 where
    unvoiced (the Tacotron 2 teacher's F0 feedback). `speakers`: a :class:`narspeech.tts.speakers.SpeakerInputs`
    (multi-speaker models): items also give ``sid`` and/or ``spemb``.
    """

    def __init__(self, data_dir: str | Path, dump_dir: str | Path, token_list, *, durations: str | Path | None = None,
                 kd_dump: str | Path | None = None, variance: bool = False, frame_f0: bool = False,
                 skip_bad: bool = False, utts: list[str] | None = None, speakers=None):
        self.data_dir, self.dump_dir = Path(data_dir), Path(dump_dir)
        token_path = self.data_dir / "token"
        if not token_path.is_file():
            raise NarspeechError("no token file: run `narspeech text tokenize` on this data directory first", path=token_path)
        if variance and durations is None:
            raise NarspeechError("FastSpeech 2 needs durations (pitch and energy are averaged per token)")
        texts = read_table(token_path)
        self.dump = read_dump(self.dump_dir)
        self.feature_config = self.dump.config
        self.variance, self.frame_f0, self.kd = variance, frame_f0, kd_dump is not None
        if frame_f0 and kd_dump is not None:
            raise NarspeechError("the frame-level F0 of the recordings does not match the teacher's mels (--kd-dump)")
        self.dropped: list[Skipped] = []
        n_frames = {u: int(n) for u, n in dict(self.dump.num_frames).items()}
        frames_path = self.dump_dir / "utt2num_frames"
        self.kd_feats = None
        if kd_dump is not None:
            import kaldiio

            kd_dump = Path(kd_dump)
            scp = kd_dump / "feats.scp"
            if not scp.is_file():
                raise NarspeechError("no feats.scp in the distillation folder (run `narspeech tts durations --kd`)", path=kd_dump)
            self.kd_feats = kaldiio.load_scp(str(scp))
            frames_path = kd_dump / "utt2num_frames"
            n_frames = {u: int(n) for u, n in read_table(frames_path).items()}
        dur_table, filtered = {}, {}
        if durations is not None:
            dur_table = read_durations(durations)
            filtered = read_filtered(durations)
        wanted = list(texts) if utts is None else utts
        self.speakers = speakers
        self.speaker_of: dict[str, tuple] = {}
        self.utts, self.tokens, self.durations, lengths = [], [], [], []
        filtered_dropped = []
        for utt in wanted:
            try:
                if utt not in texts:
                    raise NarspeechError("utterance not in the token file", utt=utt, path=token_path)
                ids = token_list.encode(_as_tokens(texts[utt]), utt=utt)
                if utt not in n_frames:
                    raise NarspeechError("utterance has no features in the dump", utt=utt, path=frames_path)
                d = None
                if durations is not None:
                    if utt not in dur_table:
                        if utt in filtered:
                            filtered_dropped.append(utt)
                            continue
                        raise NarspeechError("utterance has no durations (and was not filtered by the teacher)", utt=utt, path=durations)
                    d = dur_table[utt]
                    check_durations(utt, d, len(ids), n_frames[utt], durations)
                if speakers is not None:
                    self.speaker_of[utt] = speakers.get(utt)
            except NarspeechError as e:
                if not skip_bad:
                    if e.utt is None:  # unknown token: name the token file too
                        raise NarspeechError(e.message, utt=utt, path=token_path) from None
                    if e.path is None:
                        raise NarspeechError(e.message, utt=utt, path=token_path) from None
                    raise
                self.dropped.append(Skipped(utt, e.path or str(token_path), e.message))
                continue
            self.utts.append(utt)
            self.tokens.append(np.asarray(ids, dtype=np.int64))
            self.durations.append(d)
            lengths.append(n_frames[utt])
        if filtered_dropped:
            log.warning("%d utterance(s) dropped: filtered by the teacher's focus rate (%s), e.g. %s",
                        len(filtered_dropped), Path(durations).parent / "filtered", " ".join(filtered_dropped[:5]))
            self.dropped += [Skipped(u, str(Path(durations).parent / "filtered"), f"filtered (focus rate {filtered[u]:.3f})")
                             for u in filtered_dropped]
        if not self.utts:
            raise NarspeechError("no usable utterances (token file, dump and durations share none)", path=self.data_dir)
        self.lengths = lengths

    def __len__(self) -> int:
        return len(self.utts)

    def mel(self, i: int) -> np.ndarray:
        utt = self.utts[i]
        mel = self.kd_feats[utt] if self.kd_feats is not None else self.dump.feats[utt]
        mel = np.array(mel, dtype=np.float32)  # a writable copy
        if mel.shape[0] != self.lengths[i]:
            raise NarspeechError(f"features have {mel.shape[0]} frames but utt2num_frames says {self.lengths[i]}", utt=utt, path=self.dump_dir)
        return mel

    def __getitem__(self, i: int) -> dict:
        utt = self.utts[i]
        item = {"utt": utt, "tokens": torch.from_numpy(self.tokens[i]), "mels": torch.from_numpy(self.mel(i))}
        d = self.durations[i]
        if d is not None:
            item["durations"] = torch.from_numpy(d)
        if self.speakers is not None:
            sid, emb = self.speaker_of[utt]
            if sid is not None:
                item["sid"] = torch.tensor(sid, dtype=torch.long)
            if emb is not None:
                item["spemb"] = torch.from_numpy(np.asarray(emb, dtype=np.float32))
        if self.variance or self.frame_f0:
            f0 = np.array(self.dump.f0[utt], dtype=np.float32).reshape(-1)
            if len(f0) != self.lengths[i]:
                raise NarspeechError(f"f0 has {len(f0)} frames but the log-mel {self.lengths[i]}", utt=utt, path=self.dump_dir)
            if self.frame_f0:
                item["f0"] = torch.from_numpy(f0)
        if self.variance:
            en = np.array(self.dump.energy[utt], dtype=np.float32).reshape(-1)
            if len(en) != self.lengths[i]:
                raise NarspeechError(f"energy has {len(en)} frames but the log-mel {self.lengths[i]}", utt=utt, path=self.dump_dir)
            item["pitch"] = torch.from_numpy(token_pitch(f0, d))
            item["energy"] = torch.from_numpy(token_energy(en, d))
        return item


def collate(items: list[dict]) -> dict:
    """Pad a list of items: tokens (B, N) with 0, mels (B, T, n_mels) with 0, token-level
    durations/pitch/energy (B, N) with 0, a frame-level f0 (B, T) with 0; speaker ids ``sids`` (B,) and embeddings
    ``spembs`` (B, D) stacked; plus token_lengths, mel_lengths and the utt ids."""
    b = len(items)
    tl = torch.tensor([len(it["tokens"]) for it in items])
    ml = torch.tensor([it["mels"].shape[0] for it in items])
    n, t = int(tl.max()), int(ml.max())
    out = {"utts": [it["utt"] for it in items], "token_lengths": tl, "mel_lengths": ml,
           "tokens": torch.zeros(b, n, dtype=torch.long), "mels": torch.zeros(b, t, items[0]["mels"].shape[1])}
    for key, dtype in (("durations", torch.long), ("pitch", torch.float32), ("energy", torch.float32)):
        if key in items[0]:
            out[key] = torch.zeros(b, n, dtype=dtype)
    if "f0" in items[0]:
        out["f0"] = torch.zeros(b, t)
    if "sid" in items[0]:
        out["sids"] = torch.stack([it["sid"] for it in items])
    if "spemb" in items[0]:
        out["spembs"] = torch.stack([it["spemb"] for it in items])
    for k, it in enumerate(items):
        out["tokens"][k, : tl[k]] = it["tokens"]
        out["mels"][k, : ml[k]] = it["mels"]
        for key in ("durations", "pitch", "energy"):
            if key in out:
                out[key][k, : tl[k]] = it[key]
        if "f0" in out:
            out["f0"][k, : ml[k]] = it["f0"]
    return out
