"""A flat-start monotonic aligner: token durations straight from the audio, without a teacher.

The reference the teacher's durations are scored against (and a fallback when no teacher
aligns): the classic flat-start forced alignment of HMM speech recognisers (Young et al.,
the HTK book; Kaldi's monophone training), with one diagonal-Gaussian state per token type
over cepstra of the dump's normalised log-mel (c0..c{order-1}) and their deltas:

1. every utterance's frames are split evenly over its speakable tokens (punctuation, which
   may be a pause, starts as a model of the quietest frames; the word boundary is no sound
   and always gets 0 frames: as a skippable state with a broad model it swallowed whole words);
2. each token type's mean and variance are estimated from the frames it owns;
3. Viterbi: the most likely monotonic path through the utterance's tokens (each token ≥ 1
   frame, except word boundaries and punctuation, which may take 0 frames or a pause) gives
   new durations; repeat 2-3 until the alignment settles.

Batched over utterances in torch (padded, length-masked); the dynamic programme runs over
frames with the whole batch of token sequences at once.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from narspeech.audio.stats import load_stats
from narspeech.errors import NarspeechError
from narspeech.fileio import atomic_path, atomic_write, write_table
from narspeech.progress import progress
from narspeech.text.vocab import TokenList
from narspeech.trust import torch_load
from narspeech.tts.dataset import TTSDataset
from narspeech.tts.durations.quality import duration_quality, spread_summary
from narspeech.tts.durations.speaker_norm import set_speakers, speaker_cmvn, speaker_norm_wanted
from narspeech.tts.durations.speaker_report import speaker_report

#: tokens that are never sounds (word boundary, stress marks, specials): they get 0 frames
SILENT = frozenset({"<space>", "ˈ", "ˌ", "<blank>", "<unk>", "<sos/eos>"})
#: the word boundary token: no sound, or (``word_pauses``) a pause between words
WORD_BOUNDARY = "<space>"
#: tokens that may be a pause or nothing (0 frames): punctuation
SKIPPABLE = frozenset({",", ".", "?", "!", ";", ":", "-", '"', "…"})
NEG = -1e30


def cepstra(mel_norm: torch.Tensor, order: int = 20) -> torch.Tensor:
    """(…, T, n_mels) normalised log-mel → (…, T, 2·order): DCT-II cepstra c0..c{order-1} and their deltas."""
    n = mel_norm.shape[-1]
    k = torch.arange(order, dtype=mel_norm.dtype, device=mel_norm.device)[:, None]
    m = torch.arange(n, dtype=mel_norm.dtype, device=mel_norm.device)[None, :]
    dct = torch.cos(math.pi / n * (m + 0.5) * k) * math.sqrt(2.0 / n)
    c = mel_norm @ dct.t()
    padded = torch.cat([c[..., :1, :], c, c[..., -1:, :]], dim=-2)
    delta = 0.5 * (padded[..., 2:, :] - padded[..., :-2, :])
    return torch.cat([c, delta], dim=-1)


@dataclass
class GaussianTokens:
    """One diagonal Gaussian per token id (rows), variance floored."""

    mean: torch.Tensor  # (V, D)
    var: torch.Tensor   # (V, D)

    def log_likelihood(self, x: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """x (B, T, D), tokens (B, N) → (B, T, N) log N(x_t; μ_tok_n, σ²_tok_n)."""
        mu, var = self.mean[tokens], self.var[tokens]  # (B, N, D)
        inv = 1.0 / var
        quad = (x * x) @ inv.transpose(1, 2) - 2.0 * x @ (mu * inv).transpose(1, 2) + (mu * mu * inv).sum(-1)[:, None, :]
        return -0.5 * (quad + torch.log(var).sum(-1)[:, None, :] + x.shape[-1] * math.log(2 * math.pi))


def estimate(x: torch.Tensor, tokens: list[np.ndarray], durations: list[np.ndarray], vocab: int,
             var_floor: float = 0.01) -> GaussianTokens:
    """Maximum-likelihood means/variances of each token type from the frames the durations give it;
    `x` (ΣT, D) holds the utterances' frames one after another, in the order of `tokens`.
    Token types without frames get the global mean and variance."""
    ids = torch.cat([torch.repeat_interleave(torch.as_tensor(t), torch.as_tensor(d)) for t, d in zip(tokens, durations)])
    d = x.shape[1]
    count = torch.zeros(vocab, dtype=x.dtype).index_add_(0, ids, torch.ones(len(ids), dtype=x.dtype))
    s1 = torch.zeros(vocab, d, dtype=x.dtype).index_add_(0, ids, x)
    s2 = torch.zeros(vocab, d, dtype=x.dtype).index_add_(0, ids, x * x)
    g_mean, g_var = x.mean(0), x.var(0).clamp(min=var_floor)
    n = count[:, None].clamp(min=1)
    mean = torch.where(count[:, None] > 0, s1 / n, g_mean)
    var = torch.where(count[:, None] > 1, (s2 / n - mean * mean), g_var).clamp(min=var_floor)
    return GaussianTokens(mean, var)


def viterbi(loglik: torch.Tensor, frame_lengths: torch.Tensor, token_lengths: torch.Tensor,
            skippable: torch.Tensor) -> list[np.ndarray]:
    """Best monotonic token path per utterance → durations (frames per token).

    loglik (B, T, N); a token may be skipped (0 frames) where `skippable` (B, N) is True;
    the path starts at the first token not skipped and ends at the last one."""
    b, t_max, n_max = loglik.shape
    dev = loglik.device
    ar = torch.arange(n_max, device=dev)
    n_ok = ar[None] < token_lengths[:, None]
    # allowed start states: token 0, or token k if tokens 0..k-1 are all skippable
    lead_skip = torch.cumprod(torch.cat([torch.ones(b, 1, dtype=torch.bool, device=dev), skippable[:, :-1]], 1).long(), 1).bool()
    score = torch.where(lead_skip & n_ok, loglik[:, 0], torch.full_like(loglik[:, 0], NEG))
    back = torch.zeros(b, t_max, n_max, dtype=torch.int8, device=dev)  # 0 stay, 1 advance, 2 skip one
    skip_prev = torch.cat([torch.zeros(b, 1, dtype=torch.bool, device=dev), skippable[:, :-1]], 1)  # token n-1 skippable
    neg_col = torch.full((b, 1), NEG, dtype=score.dtype, device=dev)
    for t in range(1, t_max):
        adv = torch.cat([neg_col, score[:, :-1]], 1)
        skip = torch.cat([neg_col, neg_col, score[:, :-2]], 1) if n_max > 1 else torch.full_like(score, NEG)
        skip = torch.where(skip_prev, skip, torch.full_like(skip, NEG))
        cand = torch.stack([score, adv, skip], -1)
        best, arg = cand.max(-1)
        new = torch.where(n_ok, best + loglik[:, t], torch.full_like(best, NEG))
        active = (t < frame_lengths)[:, None]
        score = torch.where(active, new, score)
        back[:, t] = torch.where(active, arg, torch.zeros_like(arg)).to(torch.int8)
    out = []
    back_np, score_np = back.cpu().numpy(), score.cpu().numpy()
    for i in range(b):
        n, t_len = int(token_lengths[i]), int(frame_lengths[i])
        ends = [n - 1]
        k = n - 1
        while k > 0 and bool(skippable[i, k]):  # trailing skippable tokens may stay empty
            k -= 1
            ends.append(k)
        end = max(ends, key=lambda e: score_np[i, e])
        d = np.zeros(n, dtype=np.int64)
        s = end
        for t in range(t_len - 1, -1, -1):
            d[s] += 1
            if t > 0:
                s -= int(back_np[i, t, s])
        out.append(d)
    return out


@dataclass
class AlignResult:
    durations: dict[str, np.ndarray]
    log_likelihood: list[float] = field(default_factory=list)  # mean per frame, per iteration
    model: GaussianTokens | None = None  # the token models of the last round
    utt_log_likelihood: dict[str, tuple[float, int]] = field(default_factory=dict)  # last round: (sum, frames)


def expand_states(tokens: np.ndarray, skippable_ids: set[int], states: int, sil_id: int | None,
                  pause_ids: set[int] = frozenset(), edges: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Token ids → HMM state ids and the token index each state belongs to (−1: an edge-silence state).

    A speakable token becomes `states` left-to-right states (ids ``tok·states + s``), a skippable one
    (punctuation: a pause or nothing) a single state; with `sil_id`, a skippable silence state
    opens and closes the utterance (unless `edges` is False), and each token in `pause_ids` (word
    boundaries, and punctuation when it shares the silence) becomes that same silence state: Kaldi's
    optional silence between words."""
    ids, owner = [], []
    if sil_id is not None and edges:
        ids.append(sil_id)
        owner.append(-1)
    for k, t in enumerate(tokens):
        if int(t) in pause_ids:
            if sil_id is None:
                raise ValueError("word-boundary pauses need the silence state (sil_id)")
            ids.append(sil_id)
            owner.append(k)
            continue
        for s in range(1 if int(t) in skippable_ids else states):
            ids.append(int(t) * states + s)
            owner.append(k)
    if sil_id is not None and edges:
        ids.append(sil_id)
        owner.append(-1)
    return np.array(ids, dtype=np.int64), np.array(owner, dtype=np.int64)


def collapse_states(state_durations: np.ndarray, owner: np.ndarray, n_tokens: int) -> np.ndarray:
    """State durations → token durations; edge-silence frames go to the first / last token that has frames
    (the TTS durations format has no token for them, and the model must still produce those frames)."""
    d = np.zeros(n_tokens, dtype=np.int64)
    inner = owner >= 0
    np.add.at(d, owner[inner], state_durations[inner])
    if not inner.all():
        voiced = np.flatnonzero(d > 0)
        first, last = (int(voiced[0]), int(voiced[-1])) if len(voiced) else (0, n_tokens - 1)
        if owner[0] < 0:
            d[first] += int(state_durations[0])
        if owner[-1] < 0 and len(owner) > 1:
            d[last] += int(state_durations[-1])
    return d


def align(feats: dict[str, torch.Tensor], tokens: dict[str, np.ndarray], skippable_ids: set[int], vocab: int, *,
          silent_ids: set[int] = frozenset(), iterations: int = 10, batch_size: int = 64, device: str | torch.device = "cpu",
          progress_desc: str | None = "align", var_floor: float = 0.01, model: GaussianTokens | None = None,
          states: int = 1, edge_silence: bool = False, pause_ids: set[int] = frozenset()) -> AlignResult:
    """Flat-start alignment of utterances `feats[utt]` (T, D, c0 first) to token ids `tokens[utt]` (N,).
    Tokens in `silent_ids` get 0 frames; those in `skippable_ids` 0 frames or a pause. With `model`
    (token models from a larger set, e.g. the training set for a small dev set), one Viterbi pass
    with those models replaces the flat start and the re-estimation.

    `states` > 1: each speakable token is a left-to-right HMM of that many states (onset, middle,
    offset: a diphthong or a stop's closure and burst are not one Gaussian), at least one frame each.
    `edge_silence`: optional silence states before and after the tokens, so the first and last phone
    models are not trained on the recording's edge silence (those frames still go to the first/last
    token). Models (`model`, ``result.model``) are then per state: ``vocab·states + 1`` rows.
    `pause_ids` (word boundaries; taken out of `silent_ids`): each may hold a pause, scored by the same
    silence state as the edges (a broad model of its own swallowed whole words), as is punctuation, so a
    pause between words is given to the boundary (or the punctuation before it) instead of being folded
    into the neighbouring phone.

    An utterance with fewer frames than speakable tokens cannot be aligned: it raises ValueError naming it."""
    silent_ids = set(silent_ids) - set(pause_ids)
    keep = {u: np.array([int(t) not in silent_ids for t in tokens[u]], dtype=bool) for u in tokens}
    if pause_ids:  # a boundary right after punctuation stays empty: the punctuation holds that pause
        for u, k in keep.items():
            k[1:] &= ~(np.isin(tokens[u][1:], list(pause_ids)) & np.isin(tokens[u][:-1], list(skippable_ids)))
    if not all(k.all() for k in keep.values()):
        inner = align(feats, {u: tokens[u][keep[u]] for u in feats}, skippable_ids, vocab, iterations=iterations,
                      batch_size=batch_size, device=device, progress_desc=progress_desc, var_floor=var_floor, model=model,
                      states=states, edge_silence=edge_silence, pause_ids=pause_ids)
        for u, d in inner.durations.items():
            full = np.zeros(len(tokens[u]), dtype=np.int64)
            full[keep[u]] = d
            inner.durations[u] = full
        return inner
    if states > 1 or edge_silence or pause_ids:
        sil = vocab * states if (edge_silence or pause_ids) else None
        sil_tokens = set(pause_ids) | set(skippable_ids) if pause_ids else set()  # punctuation pauses share it too
        expanded = {u: expand_states(tokens[u], skippable_ids, states, sil, sil_tokens, edges=edge_silence) for u in feats}
        state_skip = {t * states for t in skippable_ids} | ({sil} if sil is not None else set())
        inner = align(feats, {u: e[0] for u, e in expanded.items()}, state_skip, vocab * states + 1, iterations=iterations,
                      batch_size=batch_size, device=device, progress_desc=progress_desc, var_floor=var_floor, model=model)
        inner.durations = {u: collapse_states(d, expanded[u][1], len(tokens[u])) for u, d in inner.durations.items()}
        return inner

    utts = sorted(feats)
    dev = torch.device(device)
    for u in utts:
        need = sum(1 for t in tokens[u] if int(t) not in skippable_ids)
        if feats[u].shape[0] < max(need, 1):
            raise ValueError(f"{u}: {feats[u].shape[0]} frames cannot hold {need} speakable tokens")
    durs = {}
    for u in utts:  # 1. flat start: frames split evenly over the speakable tokens
        speak = np.array([int(t) not in skippable_ids for t in tokens[u]])
        if not speak.any():
            speak[:] = True
        d = np.zeros(len(tokens[u]), dtype=np.int64)
        t_len, k = feats[u].shape[0], int(speak.sum())
        d[speak] = t_len // k
        d[np.flatnonzero(speak)[: t_len % k]] += 1
        durs[u] = d
    order = sorted(utts, key=lambda u: -feats[u].shape[0])
    batches = []  # padded once: the same for every round
    for names in (order[i: i + batch_size] for i in range(0, len(order), batch_size)):
        tok = torch.nn.utils.rnn.pad_sequence([torch.as_tensor(tokens[u]) for u in names], batch_first=True).to(dev)
        skip = torch.zeros_like(tok, dtype=torch.bool)
        for sid in skippable_ids:
            skip |= tok == sid
        batches.append((names, torch.nn.utils.rnn.pad_sequence([feats[u] for u in names], batch_first=True).to(dev), tok,
                        torch.tensor([feats[u].shape[0] for u in names], device=dev),
                        torch.tensor([len(tokens[u]) for u in names], device=dev), skip))
    result = AlignResult(durs)
    steps = range(iterations)
    all_x = torch.cat([feats[u] for u in utts])
    quiet = all_x[all_x[:, 0] <= torch.quantile(all_x[:, 0].float(), 0.1).to(all_x.dtype)]
    given = model
    if given is not None:
        steps = range(1)
    for it in (progress(steps, total=len(steps), desc=progress_desc) if progress_desc else steps):
        if given is None:
            model = estimate(all_x, [tokens[u] for u in utts], [durs[u] for u in utts], vocab, var_floor)
            if it == 0 and len(quiet) > 1:  # pauses start as the quietest frames, not as everything
                for sid in skippable_ids:
                    model.mean[sid], model.var[sid] = quiet.mean(0), quiet.var(0).clamp(min=var_floor)
        model = GaussianTokens(model.mean.to(dev, all_x.dtype), model.var.to(dev, all_x.dtype))
        total, frames = 0.0, 0
        for names, x, tok, fl, tl, skip in batches:
            ll = model.log_likelihood(x, tok)
            for u, d in zip(names, viterbi(ll, fl, tl, skip)):
                durs[u] = d
            for i, u in enumerate(names):
                seg = torch.repeat_interleave(torch.arange(len(durs[u]), device=dev), torch.as_tensor(durs[u], device=dev))
                utt_ll = float(ll[i, torch.arange(len(seg), device=dev), seg].sum())
                result.utt_log_likelihood[u] = (utt_ll, len(seg))
                total += utt_ll
                frames += len(seg)
        result.log_likelihood.append(total / max(frames, 1))
    result.model = GaussianTokens(model.mean.cpu(), model.var.cpu())
    return result


def align_data_dir(data_dir, dump_dir, tokens_path, out_dir, *, iterations: int = 10, order: int = 20,
                   device: str = "cpu", skip_bad: bool = False, models_from=None, states: int = 1,
                   edge_silence: bool = False, word_pauses: bool = False,
                   speaker_norm: bool | None = None) -> tuple[AlignResult, dict[str, float]]:
    """Align every utterance of `data_dir` (its `token` file) to its features in `dump_dir`; write
    OUT/durations (the TTS durations format), OUT/spread, OUT/quality.json (the teacher's report) and
    OUT/models.pt (the token models). `models_from`: an earlier OUT whose models align this set in one
    pass (a dev set is too small to estimate its own). `states`, `edge_silence`: see :func:`align`;
    `word_pauses`: word boundaries may hold a pause (:func:`align`'s `pause_ids`). `speaker_norm`: subtract
    each speaker's mean cepstrum (:mod:`~narspeech.tts.durations.speaker_norm`); None (auto): as the `models_from`
    models were made, else when the set's utt2spk names more than one speaker. A multi-speaker set's
    quality.json also reports each speaker (``by_speaker``, :func:`speaker_report`).
    Returns the result and the quality summary."""
    out_dir, dump_dir = Path(out_dir), Path(dump_dir)
    token_list = TokenList(tokens_path)
    ds = TTSDataset(data_dir, dump_dir, token_list, skip_bad=skip_bad)
    stats_path = dump_dir / "stats.npz"
    if not stats_path.is_file():  # a dev/test dump: the training set's stats sit beside it
        stats_path = dump_dir.parent / "train" / "stats.npz"
    stats = load_stats(stats_path) if stats_path.is_file() else None
    feats, toks, mels = {}, {}, {}
    for i, utt in enumerate(ds.utts):
        mel = torch.from_numpy(ds.mel(i)).double()
        mels[utt] = mel
        if stats is not None:
            mel = (mel - torch.from_numpy(stats["mel_mean"]).double()) / torch.from_numpy(stats["mel_std"]).double()
        else:
            mel = (mel - mel.mean(0)) / mel.std(0).clamp(min=1e-3)
        feats[utt] = cepstra(mel, order)
        toks[utt] = ds.tokens[i]
    skip_ids = {i for i, t in enumerate(token_list.tokens) if t in SKIPPABLE}
    silent_ids = {i for i, t in enumerate(token_list.tokens) if t in SILENT}
    pause_ids = {i for i, t in enumerate(token_list.tokens) if t == WORD_BOUNDARY} if word_pauses else set()
    layout = {"states": states, "edge_silence": edge_silence, "word_pauses": word_pauses}
    spk = set_speakers(data_dir, ds.utts)
    given, saved = None, None
    if models_from is not None:
        path = Path(models_from) / "models.pt"
        if not path.is_file():
            raise NarspeechError("no models.pt (align the training set first)", path=path)

        saved = torch_load(path, "cpu", what="aligner models")
        if saved.get("tokens") != token_list.tokens or saved.get("order") != order:
            raise NarspeechError("the aligner models were made with another token list or cepstral order", path=path)
    speaker_norm = speaker_norm_wanted(speaker_norm, spk, None if saved is None else saved.get("speaker_norm", False))
    if saved is not None:
        had = {"states": saved.get("states", 1), "edge_silence": saved.get("edge_silence", False),
               "word_pauses": saved.get("word_pauses", False), "speaker_norm": saved.get("speaker_norm", False)}
        asked = {**layout, "speaker_norm": speaker_norm}
        if had != asked:
            raise NarspeechError(f"the aligner models were made with {had}; asked for {asked}", path=path)
        given = GaussianTokens(saved["mean"], saved["var"])
    if speaker_norm:  # one voice in this set (e.g. a dev set of normalised models): its own mean all the same
        feats = speaker_cmvn(feats, spk or {u: "_" for u in feats})
        layout["speaker_norm"] = True  # written only when on: single-voice outputs stay as they were
    try:
        res = align(feats, toks, skip_ids, len(token_list), silent_ids=silent_ids, iterations=iterations, device=device,
                    model=given, states=states, edge_silence=edge_silence, pause_ids=pause_ids)
    except ValueError as e:
        raise NarspeechError(f"alignment: {e}", path=data_dir) from None
    spread = {u: duration_quality(mels[u], d) for u, d in res.durations.items()}
    out_dir.mkdir(parents=True, exist_ok=True)
    write_table(out_dir / "durations", {u: " ".join(map(str, d.tolist())) for u, d in res.durations.items()})
    write_table(out_dir / "spread", {u: " ".join(f"{v:.4f}" for v in vals) for u, vals in spread.items()})
    quality = {**spread_summary(list(spread.values())), "log_likelihood_per_frame": res.log_likelihood,
               "method": "flat-start monotonic aligner", **layout}
    if spk is not None:
        quality["by_speaker"] = speaker_report(res.durations, toks, {u: m.numpy() for u, m in mels.items()}, spk,
                                               pause_ids=skip_ids | pause_ids, spread=spread, log_likelihood=res.utt_log_likelihood,
                                               min_frames=states)
    with atomic_write(out_dir / "quality.json") as f:
        json.dump(quality, f, indent=1)
    with atomic_path(out_dir / "models.pt") as tmp:
        torch.save({"mean": res.model.mean, "var": res.model.var, "tokens": token_list.tokens, "order": order, **layout}, tmp)
    return res, quality
