"""CTC forced alignment: which frames each transcript token occupies, from a trained CTC model's posteriors.

The Viterbi path through the blank-extended label sequence (blank y1 blank y2 … blank) gives the first
encoder frame where each token is emitted; token i then covers the input frames from its first emission to
the next token's (the first token from frame 0, the last to the end). Written as a durations file
(``utt d1 … dN``, frames per token, summing to the utterance's input frame count) — the ASR alignment
of the CoMMA alignment constraint (Ren et al. 2020 restrict ASR target i to the source between its
neighbours' aligned positions).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from narspeech.asr.recognize import load_recognizer
from narspeech.audio.dump import ArkTable
from narspeech.errors import NarspeechError
from narspeech.fileio import read_table, write_table


def ctc_viterbi_starts(log_probs: np.ndarray, targets: list[int], blank: int = 0) -> np.ndarray:
    """First frame of each target token on the best CTC path; `log_probs` (T, V). Raises when T is too short."""
    t_len, n = log_probs.shape[0], len(targets)
    ext = [blank]
    for y in targets:
        ext += [y, blank]
    s_len = len(ext)
    repeats = sum(1 for a, b in zip(targets, targets[1:]) if a == b)
    if t_len < n + repeats:
        raise ValueError(f"{t_len} frames cannot hold {n} tokens under CTC")
    neg = -np.inf
    score = np.full(s_len, neg)
    score[0] = log_probs[0, ext[0]]
    if s_len > 1:
        score[1] = log_probs[0, ext[1]]
    back = np.zeros((t_len, s_len), dtype=np.int8)  # 0 stay, 1 from s-1, 2 from s-2
    ext_arr = np.asarray(ext)
    skip_ok = np.zeros(s_len, dtype=bool)
    skip_ok[3::2] = ext_arr[3::2] != ext_arr[1:-2:2]  # a token may follow the previous token directly unless equal
    for t in range(1, t_len):
        stay = score
        step = np.concatenate([[neg], score[:-1]])
        skip = np.where(skip_ok, np.concatenate([[neg, neg], score[:-2]]), neg)
        cand = np.stack([stay, step, skip])
        back[t] = cand.argmax(0)
        score = cand.max(0) + log_probs[t, ext_arr]
    s = s_len - 1 if s_len == 1 or score[-1] >= score[-2] else s_len - 2
    starts = np.full(n, -1, dtype=np.int64)
    for t in range(t_len - 1, -1, -1):
        if s % 2 == 1:
            starts[s // 2] = t
        s -= int(back[t, s]) if t > 0 else 0
    return starts


def durations_from_starts(starts: np.ndarray, n_frames: int, subsample: int = 1) -> np.ndarray:
    """Frames per token at the input rate: from each token's first emission (× `subsample`) to the next's."""
    b = np.minimum(np.asarray(starts) * subsample, n_frames)
    b[0] = 0
    bounds = np.concatenate([b, [n_frames]])
    return np.diff(np.maximum.accumulate(bounds))


def align_with_asr_model(asr_exp: str | Path, data: str | Path, dump: str | Path, out: str | Path, *,
                         device: str = "cpu", batch_size: int = 16) -> dict:
    """Force-align DATA/token to the features of DUMP with the CTC head of a narspeech ASR exp; writes OUT (durations)."""
    rec = load_recognizer(asr_exp, device)
    token_path = Path(data) / "token"
    if not token_path.is_file():
        raise NarspeechError("token file not found (run `narspeech asr tokenize`)", path=token_path)
    toks = read_table(token_path)
    feats = ArkTable(Path(dump) / "feats.scp")
    utts = [u for u in toks if u in feats]
    out_rows, failed = {}, []
    for k in range(0, len(utts), batch_size):
        group = utts[k:k + batch_size]
        xs = [np.asarray(feats[u], dtype=np.float32) for u in group]
        lens = torch.tensor([len(x) for x in xs])
        pad = torch.zeros(len(xs), int(lens.max()), xs[0].shape[1])
        for i, x in enumerate(xs):
            pad[i, : len(x)] = torch.from_numpy(x)
        with torch.no_grad():
            enc, enc_len = rec.model.encode(pad.to(rec.device), lens.to(rec.device))
            lp = rec.model.ctc_log_probs(enc).cpu().numpy()
        for i, u in enumerate(group):
            ids = rec.token_list.encode(toks[u].split(), utt=u)
            try:
                starts = ctc_viterbi_starts(lp[i, : int(enc_len[i])], ids, blank=rec.model.blank)
            except ValueError:
                failed.append(u)
                continue
            out_rows[u] = " ".join(str(int(d)) for d in durations_from_starts(starts, len(xs[i]), subsample=rec.subsample_factor))
    if not out_rows:
        raise NarspeechError("no utterance could be aligned", path=data)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    write_table(out, sorted(out_rows.items()))
    return {"aligned": len(out_rows), "failed": failed}
