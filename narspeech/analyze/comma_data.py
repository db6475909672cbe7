"""CoMMA's data: (source, target, alignment) examples for TTS, ASR, correction and synthetic token tasks,
the masking (per-sentence p; 10-frame chunks for mels) and padded batches.

An example's `align` is an optional (N, 2) array: for each target position, the [lo, hi) span of source
positions it is aligned to (TTS: its phoneme, from durations; ASR: the frames of its token, from a
forced alignment; correction: its source token, from the edit alignment's durations). The alignment
constraint lets target position i see the source from its left neighbour's span to its right
neighbour's (the paper's E_{i-1}..E_{i+1} window for ASR).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from narspeech.audio.dump import ArkTable
from narspeech.batching import make_batches
from narspeech.correct.align import align_many
from narspeech.correct.units import Units
from narspeech.errors import NarspeechError
from narspeech.fileio import read_table
from narspeech.nets.subsampling import subsampled_lengths
from narspeech.text.vocab import TokenList
from narspeech.tts.durations.files import read_durations

MEL_CHUNK = 10  # mel frames are masked in chunks of this many (the paper's footnote 1)


@dataclass
class Example:
    utt: str
    src: np.ndarray                 # (M,) int64 ids or (T, F) float32 features
    tgt: np.ndarray                 # (N,) int64 ids or (N, F) float32 mels
    align: np.ndarray | None = None  # (N, 2) int64 [lo, hi) source span per target position (input positions)


def spans_from_source_durations(durations: np.ndarray) -> np.ndarray:
    """Source token k produces durations[k] target positions (TTS frames per phoneme; correction target tokens
    per hypothesis token): each target position's span is its one source token, [k, k+1)."""
    k = np.repeat(np.arange(len(durations)), durations)
    return np.stack([k, k + 1], axis=1).astype(np.int64)


def spans_from_target_durations(durations: np.ndarray) -> np.ndarray:
    """Target token i covers durations[i] source frames (ASR forced alignment): span [start_i, end_i),
    at least one frame wide (a zero-length token gets the frame where it sits)."""
    ends = np.cumsum(durations)
    starts = ends - durations
    return np.stack([starts, np.maximum(ends, starts + 1)], axis=1).astype(np.int64)


def windows(spans: np.ndarray, n_src: int, subsample: int = 1) -> np.ndarray:
    """(N, 2) [lo, hi) windows from aligned spans: from the previous position's span start to the next's end,
    in source positions after `subsample`, clipped to [0, n_src) and never empty."""
    lo = spans[:, 0] // subsample
    hi = -(-spans[:, 1] // subsample)
    prev_lo = np.concatenate([lo[:1], lo[:-1]])
    next_hi = np.concatenate([hi[1:], hi[-1:]])
    w_lo = np.clip(np.minimum(prev_lo, lo), 0, max(n_src - 1, 0))
    w_hi = np.clip(np.maximum(next_hi, hi), 1, n_src)
    return np.stack([w_lo, np.maximum(w_hi, w_lo + 1)], axis=1)


def draw_mask(n: int, p: float, rng: np.random.Generator, chunk: int = 1) -> np.ndarray:
    """Bool (n,): each chunk of `chunk` positions masked with probability p; at least one chunk is masked."""
    n_chunks = -(-n // chunk)
    m = rng.random(n_chunks) < p
    if not m.any():
        m[rng.integers(n_chunks)] = True
    return np.repeat(m, chunk)[:n]


def mask_chunk(task: str, reduction: int = 1) -> int:
    """Target positions masked together: 10 mel frames for TTS (rounded to whole positions of `reduction` frames), else 1."""
    return max(1, round(MEL_CHUNK / reduction)) if task == "tts" else 1


def stack_frames(mel: np.ndarray, align: np.ndarray | None, reduction: int) -> tuple[np.ndarray, np.ndarray | None]:
    """Stack `reduction` consecutive frames into one target position (Transformer-TTS's reduction factor; the last
    frame repeated to fill the final group); a position's aligned span covers its frames' spans."""
    if reduction <= 1:
        return mel, align
    n = len(mel)
    pad = (-n) % reduction
    idx = np.concatenate([np.arange(n), np.full(pad, n - 1)])
    out = mel[idx].reshape(-1, reduction * mel.shape[1])
    if align is None:
        return out, None
    a = align[idx].reshape(-1, reduction, 2)
    return out, np.stack([a[:, :, 0].min(1), a[:, :, 1].max(1)], axis=1)


def batch_examples(examples: list[Example], max_items: int, max_positions: int) -> list[list[int]]:
    """Index batches of similar target length: at most `max_items` examples and `max_positions` target positions (padded)."""
    return make_batches([len(e.tgt) for e in examples], max_items=max_items, max_padded=max_positions)


def collate(examples: list[Example], masks: list[np.ndarray], *, task: str, constrain: bool) -> dict[str, torch.Tensor]:
    """Pad a batch: src, src_len, tgt, tgt_len, masked, and (when `constrain`) src_window in pre-net output positions."""
    b = len(examples)
    src_len = torch.tensor([len(e.src) for e in examples])
    tgt_len = torch.tensor([len(e.tgt) for e in examples])
    ms, ns = int(src_len.max()), int(tgt_len.max())

    def pad(arrays, n, dtype):
        first = arrays[0]
        out = torch.zeros((b, n) + tuple(first.shape[1:]), dtype=dtype)
        for k, a in enumerate(arrays):
            out[k, : len(a)] = torch.from_numpy(np.asarray(a))
        return out

    speech_src, speech_tgt = examples[0].src.ndim == 2, examples[0].tgt.ndim == 2
    batch = {"src": pad([e.src for e in examples], ms, torch.float32 if speech_src else torch.long), "src_len": src_len,
             "tgt": pad([e.tgt for e in examples], ns, torch.float32 if speech_tgt else torch.long), "tgt_len": tgt_len,
             "masked": pad(masks, ns, torch.bool)}
    if constrain:
        sub = 4 if speech_src else 1
        m_len = subsampled_lengths(src_len) if speech_src else src_len
        win = torch.zeros((b, ns, 2), dtype=torch.long)
        win[..., 1] = 1
        for k, e in enumerate(examples):
            if e.align is None:
                raise NarspeechError("no alignment for this utterance: the alignment constraint needs one for every example", utt=e.utt)
            win[k, : len(e.tgt)] = torch.from_numpy(windows(e.align, int(m_len[k]), sub))
        batch["src_window"] = win
    return batch


# ---- loaders -------------------------------------------------------------------------------------------------

def _token_table(path: Path) -> dict[str, list[str]]:
    if not path.is_file():
        raise NarspeechError("token file not found (run `narspeech text tokenize` on the data dir)", path=path)
    return {u: v.split() for u, v in read_table(path).items()}


def _durations(path: str | Path | None) -> dict[str, np.ndarray]:
    if path is None:
        return {}

    return read_durations(path)


def _feats_table(dump: str | Path):
    scp = Path(dump) / "feats.scp"
    if not scp.is_file():
        raise NarspeechError("no feats.scp: not a feature dump (run `narspeech feats extract`)", path=dump)
    return ArkTable(scp)


def load_tts(data: str | Path, dump: str | Path, tokens: str | Path, *, durations: str | Path | None = None,
             kd_dump: str | Path | None = None, reduction: int = 1) -> list[Example]:
    """Phoneme ids → mel frames (the recordings', or an AR teacher's with `kd_dump`), `reduction` frames per target
    position; durations give the alignment."""
    tl = TokenList(tokens)
    tok = _token_table(Path(data) / "token")
    feats = _feats_table(kd_dump if kd_dump is not None else dump)
    dur = _durations(durations)
    out = []
    for utt, toks in tok.items():
        if utt not in feats:
            continue
        mel = np.asarray(feats[utt], dtype=np.float32)
        src = np.array(tl.encode(toks, utt=utt, unk_ok=True), dtype=np.int64)  # a phoneme unseen in training: <unk>
        align = None
        if durations is not None:
            if utt not in dur:
                continue  # dropped by the aligner / teacher filter
            d = dur[utt]
            if len(d) != len(src) or int(d.sum()) != len(mel):
                raise NarspeechError(f"durations ({len(d)} tokens, {int(d.sum())} frames) do not match tokens ({len(src)}) "
                                     f"and frames ({len(mel)})", utt=utt, path=durations)
            align = spans_from_source_durations(d)
        mel, align = stack_frames(mel, align, reduction)
        out.append(Example(utt, src, mel, align))
    if not out:
        raise NarspeechError("no utterance has tokens, features (and durations): nothing to use", path=data)
    return out


KD_UNKNOWN_MAX = 0.01  # KD hypotheses may hold a few tokens the training transcripts lack; more means another token list


def check_kd_tokens(table: dict[str, list[str]], tl: TokenList, path: str | Path) -> None:
    """An AR recogniser's hypotheses must be in the token list's units (e.g. characters with ``<space>``): more than
    1 % unknown tokens means its model used another unit or token list."""
    toks = [t for v in table.values() for t in v]
    unknown = [t for t in toks if t not in tl.index]
    if toks and len(unknown) > KD_UNKNOWN_MAX * len(toks):
        shown = " ".join(sorted(set(unknown))[:8])
        raise NarspeechError(f"{len(unknown)} of {len(toks)} KD tokens ({shown} …) are not in the token list: the AR model's "
                             "units or token list differ from this data's", path=path)


def load_asr(data: str | Path, dump: str | Path, tokens: str | Path, *, alignment: str | Path | None = None,
             kd_token: str | Path | None = None) -> list[Example]:
    """Log-mel frames → token ids (the transcripts', or an AR recogniser's hypotheses with `kd_token`, a token file);
    `alignment`: frames per target token (a durations file: sum = frame count), e.g. a CTC forced alignment."""
    tl = TokenList(tokens)
    tok = _token_table(Path(kd_token) if kd_token is not None else Path(data) / "token")
    if kd_token is not None:
        check_kd_tokens(tok, tl, kd_token)
    feats = _feats_table(dump)
    dur = _durations(alignment)
    out = []
    for utt, toks in tok.items():
        if utt not in feats or not toks:
            continue
        x = np.asarray(feats[utt], dtype=np.float32)
        tgt = np.array(tl.encode(toks, utt=utt, unk_ok=kd_token is not None), dtype=np.int64)
        align = None
        if alignment is not None:
            if utt not in dur:
                continue
            d = dur[utt]
            if len(d) != len(tgt) or int(d.sum()) != len(x):
                raise NarspeechError(f"alignment ({len(d)} tokens, {int(d.sum())} frames) does not match tokens ({len(tgt)}) "
                                     f"and frames ({len(x)})", utt=utt, path=alignment)
            align = spans_from_target_durations(d)
        out.append(Example(utt, x, tgt, align))
    if not out:
        raise NarspeechError("no utterance has tokens and features: nothing to use", path=data)
    return out


def split_units(text: str, unit: str) -> list[str]:
    """Word or character units of a correction sentence (characters: ``<space>`` between words)."""
    return Units(unit).encode(text)


def load_correct(hyp: str | Path, ref: str | Path, unit: str, vocab: list[str]) -> list[Example]:
    """ASR hypothesis units → reference units (or an AR corrector's outputs, given as `ref`); the edit
    alignment's per-hypothesis-token durations give the alignment. `vocab` maps units to ids (index 0 = <unk>)."""
    hyps, refs = read_table(hyp, allow_empty_value=True), read_table(ref, allow_empty_value=True)
    utts = [u for u in hyps if u in refs]
    if not utts:
        raise NarspeechError("no utterance is in both the hypothesis and the reference file", path=hyp)
    index = {t: i for i, t in enumerate(vocab)}
    pairs = [(split_units(hyps[u], unit), split_units(refs[u], unit)) for u in utts]
    keep = [k for k, (s, t) in enumerate(pairs) if s and t]
    aligned = align_many([pairs[k] for k in keep])
    out = []
    for k, a in zip(keep, aligned):
        s, t = pairs[k]
        d = np.asarray(a.durations, dtype=np.int64)
        out.append(Example(utts[k], np.array([index.get(x, 0) for x in s], dtype=np.int64),
                           np.array([index.get(x, 0) for x in t], dtype=np.int64), spans_from_source_durations(d)))
    return out


def correction_vocab(hyp: str | Path, ref: str | Path, unit: str) -> list[str]:
    """Units of a training set's hypotheses and references, ``<unk>`` first."""
    hyps, refs = read_table(hyp, allow_empty_value=True), read_table(ref, allow_empty_value=True)
    seen = dict.fromkeys(x for table in (hyps, refs) for v in table.values() for x in split_units(v, unit))
    return ["<unk>"] + sorted(seen)


# ---- synthetic known-answer tasks ----------------------------------------------------------------------------

def synthetic_task(kind: str, n: int, *, vocab: int = 16, length: tuple[int, int] = (8, 16), seed: int = 0) -> list[Example]:
    """Token tasks whose dependency structure is known by construction.

    ``source``: target_i = (3 * source_i + 1) mod V — a function of the aligned source token alone.
    ``target``: each target token is repeated from the previous one in pairs (a a b b …) and the source is
    noise — a masked token is only predictable from its unmasked twin in the target.
    """
    rng = np.random.default_rng(seed)
    out = []
    for k in range(n):
        m = int(rng.integers(length[0], length[1] + 1))
        if kind == "source":
            src = rng.integers(0, vocab, m)
            tgt = (3 * src + 1) % vocab
        elif kind == "target":
            src = rng.integers(0, vocab, m)
            tgt = np.repeat(rng.integers(0, vocab, -(-m // 2)), 2)[:m]
        else:
            raise ValueError(f"synthetic task kind must be 'source' or 'target', got {kind!r}")
        out.append(Example(f"{kind}{k:05d}", src.astype(np.int64), tgt.astype(np.int64),
                           np.stack([np.arange(m), np.arange(m) + 1], axis=1)))
    return out
