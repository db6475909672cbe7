"""Batch synthesis: sentences → tokens → mels (acoustic model) → waveforms (vocoder) → files.

Inputs are ``(utt, text)`` pairs from a sentence file (:func:`read_sentences`) or a data
dir's ``text`` (:func:`read_data_text`). Each text goes through the model's own frontend
(``cfg["text"]``: kind, language; the exp dir's ``tokens.txt``); a text that cannot be
spoken (empty, nothing speakable after normalisation, tokens the model never saw) is
reported and left out while the rest is synthesised. Items are sorted by token count
and run in batches; a batch that fails at inference is retried one utterance at a time
so one bad input never costs the others.

Output directory (:func:`synthesize_to_dir`):

* ``feats.scp`` + ``feats.ark`` — generated log-mels (T, n_mels), kaldiio;
  ``utt2num_frames``;
* ``wav/<utt>.wav`` (PCM16 at the feature sample rate), ``wav.scp`` (absolute paths),
  ``text`` (what was synthesised), ``token``;
* ``failed`` — ``utt reason`` for every input left out (empty file when none);
* a rerun into the same folder removes the wavs the new run did not write (no stale files).

Long input: a line over ``max_chars`` characters is synthesised in pieces cut at sentence
boundaries (:func:`split_long_text`, with a notice) and joined back into one utterance with
short pauses. Batches hold items of similar length (the longest at most twice the shortest),
so no short line is padded, and vocoded, at the length of a long one.
* ``synth_info.json`` — model dir, checkpoint, config hash, controls, vocoder, timings:
  what ``narspeech tts evaluate`` copies into its results.
"""
from __future__ import annotations

import hashlib
import json
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator, Mapping, Sequence

import numpy as np
import torch
import yaml

from narspeech.errors import NarspeechError
from narspeech.fileio import atomic_path, atomic_write, read_table, read_text_lines, write_table
from narspeech.tts.stats import PAD_LOG_MEL

# --------------------------------------------------------------------------- inputs


def read_sentences(path: str | Path, *, with_ids: bool = False) -> list[tuple[str, str]]:
    """``(utt, text)`` from a sentence file.

    Plain: one sentence per line, ids ``line0001``… by line number (blank lines keep
    their number and come back with empty text, so they are reported, not silently
    dropped; blank lines at the end of the file are ignored). `with_ids`: ``id text``
    lines (Kaldi ``text`` style, any order), blank lines ignored.
    """
    path = Path(path)
    if not path.is_file():
        raise NarspeechError("text file not found", path=path)
    lines = read_text_lines(path)  # not UTF-8: one error naming the line; a BOM is dropped
    while lines and not lines[-1].strip():
        lines.pop()
    if not with_ids:
        width = max(4, len(str(len(lines))))
        return [(f"line{n:0{width}d}", line.strip()) for n, line in enumerate(lines, 1)]
    out: list[tuple[str, str]] = []
    seen: set[str] = set()
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        utt, _, text = line.strip().partition(" ")
        if utt in seen:
            raise NarspeechError(f"line {n}: duplicated id", utt=utt, path=path)
        seen.add(utt)
        out.append((utt, text.strip()))
    return out


def read_data_text(data_dir: str | Path) -> list[tuple[str, str]]:
    """``(utt, text)`` from ``DATA/text`` (empty transcripts are kept, to be reported)."""
    table = read_table(Path(data_dir) / "text", allow_empty_value=True)
    return list(table.items())


# --------------------------------------------------------------------------- frontend


@dataclass
class Encoded:
    """One input that survived the frontend: its id, text, tokens and token ids."""

    utt: str
    text: str
    tokens: list[str]
    ids: list[int]


@dataclass
class TextFrontend:
    """The model's text frontend: ``cfg["text"]`` (kind, language) + its token list.

    Tokens the list lacks are mapped onto it (:func:`narspeech.text.inventory.map_to_inventory`:
    nearest phone, nearest punctuation mark or pause) with a warning; characters the language
    cannot speak follow `on_foreign` (:mod:`narspeech.text.foreign`: skip | spell | fail).
    Warnings go to `warn(utt, message)` (default: one line on stderr).
    """

    kind: str
    language: str
    token_list: "object"  # narspeech.text.vocab.TokenList
    append_eos: bool = False
    on_foreign: str = "skip"
    warn: Callable[[str, str], None] | None = None

    def _warn(self, utt: str, message: str) -> None:
        (self.warn or _stderr_warning)(utt, message)

    @classmethod
    def for_model(cls, exp_dir: str | Path, cfg: dict) -> "TextFrontend":
        """Frontend of a trained model: ``EXP/tokens.txt`` (or ``cfg["text"]["token_list"]``)."""
        from narspeech.text.vocab import TokenList

        text_cfg = cfg.get("text") or {}
        exp_dir = Path(exp_dir)
        exp_dir = exp_dir if exp_dir.is_dir() else exp_dir.parent
        candidates = [Path(text_cfg["token_list"])] if text_cfg.get("token_list") else []
        candidates += [exp_dir / "tokens.txt", exp_dir.parent / "tokens.txt"]
        tok_path = next((p for p in candidates if p.is_file()), None)
        if tok_path is None:
            raise NarspeechError("no tokens.txt for this model (looked in the exp dir and config text.token_list)", path=exp_dir)
        return cls(kind=str(text_cfg.get("kind", "phoneme")), language=str(text_cfg.get("language", "en-us")),
                   token_list=TokenList(tok_path), append_eos=bool(text_cfg.get("append_eos", False)))

    def encode(self, items: Sequence[tuple[str, str]]) -> tuple[list[Encoded], dict[str, str]]:
        """Tokenise and encode `items` in one batched frontend call; returns (encoded, failed reasons)."""
        from narspeech.text.foreign import POLICIES, describe, split_foreign
        from narspeech.text.inventory import map_to_inventory
        from narspeech.text.tokenize import has_content

        if self.on_foreign not in POLICIES:
            raise NarspeechError(f"--on-foreign must be one of {', '.join(POLICIES)} (got {self.on_foreign!r})")
        failed: dict[str, str] = {}
        todo = []
        for utt, text in items:
            found = split_foreign(text, self.language)[1]
            if not text.strip():
                failed[utt] = "empty text"
            elif any(c.isspace() for c in utt) or "/" in utt or utt in (".", ".."):
                failed[utt] = "id cannot be used as a file name"
            elif found and self.on_foreign == "fail":
                failed[utt] = describe(found, self.language, self.on_foreign)
            else:
                if found:
                    self._warn(utt, describe(found, self.language, self.on_foreign))
                todo.append((utt, text))
        token_seqs = self._tokenize([t for _, t in todo], [u for u, _ in todo], failed)
        out: list[Encoded] = []
        for (utt, text), toks in zip(todo, token_seqs):
            if toks is None:
                continue
            if not toks or not has_content(toks):
                failed[utt] = f"nothing speakable in {text[:60]!r} (the {self.kind} frontend gives no {self.kind}s)"
                continue
            try:
                toks, notes = map_to_inventory(toks, self.token_list)
            except NarspeechError as e:
                failed[utt] = e.message
                continue
            if notes:
                self._warn(utt, f"mapped onto the model's tokens: {', '.join(notes)}")
            if not has_content(toks):
                failed[utt] = f"nothing speakable in {text[:60]!r} with the model's tokens"
                continue
            ids = self.token_list.encode(toks, utt=utt)
            if self.append_eos:
                ids.append(self.token_list.sos_eos)
            out.append(Encoded(utt, text, list(toks), ids))
        return out, failed

    def _tokenize(self, texts: list[str], utts: list[str], failed: dict[str, str]) -> list[list[str] | None]:
        """Batched tokenize; if the batch call fails, redo one text at a time to find the culprit."""
        from narspeech.text.tokenize import tokenize

        if not texts:
            return []
        policy = "spell" if self.on_foreign == "fail" else self.on_foreign  # failing texts are already out
        try:
            return [list(t) for t in tokenize(texts, self.kind, self.language, on_foreign=policy)]
        except Exception:
            pass
        seqs: list[list[str] | None] = []
        for utt, text in zip(utts, texts):
            try:
                seqs.append(list(tokenize([text], self.kind, self.language, on_foreign=policy)[0]))
            except Exception as e:  # the frontend (phonemizer, normaliser) rejects this text
                failed[utt] = f"text frontend failed: {str(e).splitlines()[0][:200] if str(e) else type(e).__name__}"
                seqs.append(None)
        return seqs


# --------------------------------------------------------------------------- synthesis


@dataclass
class Controls:
    """FastSpeech 2 controls (the AR teacher ignores them)."""

    speed: float = 1.0
    pitch_shift: float = 0.0
    energy_scale: float = 1.0

    def check(self) -> None:
        if not self.speed > 0:
            raise NarspeechError(f"--speed must be > 0 (got {self.speed})")
        if not self.energy_scale > 0:
            raise NarspeechError(f"--energy-scale must be > 0 (got {self.energy_scale})")


@dataclass
class Synthesized:
    """One synthesised utterance: log-mel (T, n_mels) float32 and, with a vocoder, its waveform."""

    utt: str
    mel: np.ndarray
    wav: np.ndarray | None = None


def pad_tokens(batch: Sequence[Encoded], device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, N) LongTensor padded with 0 (``<blank>``) and the lengths (B,)."""
    lengths = torch.tensor([len(e.ids) for e in batch], dtype=torch.long)
    tokens = torch.zeros(len(batch), int(lengths.max()), dtype=torch.long)
    for i, e in enumerate(batch):
        tokens[i, : len(e.ids)] = torch.tensor(e.ids, dtype=torch.long)
    return tokens.to(device), lengths.to(device)


def make_batches(items: Sequence[Encoded], batch_size: int, max_ratio: float | None = None) -> list[list[Encoded]]:
    """Items sorted by token count (longest first, so padding is small and OOM shows early), at
    most `batch_size` per batch; with `max_ratio`, a batch's longest item is at most that many times
    its shortest (synthesis uses 2: a short line is never padded, and vocoded, to a long one's length)."""
    if batch_size < 1:
        raise NarspeechError(f"--batch-size must be >= 1 (got {batch_size})")
    order = sorted(items, key=lambda e: (-len(e.ids), e.utt))
    batches: list[list[Encoded]] = []
    for e in order:
        if not batches or len(batches[-1]) >= batch_size or (max_ratio and len(e.ids) * max_ratio < len(batches[-1][0].ids)):
            batches.append([])
        batches[-1].append(e)
    return batches


LENGTH_RATIO = 2.0  # in a synthesis batch the longest item has at most twice the tokens of the shortest
MAX_CHARS = 400  # longer input lines are synthesised in sentence pieces and joined back
PIECE_PAUSE_SECONDS = 0.25


def split_long_text(text: str, max_chars: int = MAX_CHARS) -> list[str]:
    """Cut `text` into pieces of at most `max_chars` characters: after sentence ends (``. ! ? ; :``),
    else after commas, else at spaces (a single longer word is cut where it must be)."""
    text = " ".join(text.split())
    if len(text) <= max_chars:
        return [text]

    def pack(parts: list[str], finer) -> list[str]:
        out: list[str] = []
        for part in parts:
            if len(part) > max_chars:
                out.extend(finer(part))
            elif out and len(out[-1]) + 1 + len(part) <= max_chars:
                out[-1] += " " + part
            else:
                out.append(part)
        return out

    def by_chars(t: str) -> list[str]:
        return [t[i : i + max_chars] for i in range(0, len(t), max_chars)]

    def by_words(t: str) -> list[str]:
        return pack(t.split(" "), by_chars)

    def by_commas(t: str) -> list[str]:
        return pack(re.split(r"(?<=,)\s+", t), by_words)

    return pack(re.split(r"(?<=[.!?;:])\s+", text), by_commas)


def _split_items(items: Sequence[tuple[str, str]], max_chars: int, warn: Callable[[str, str], None]):
    """Long items → piece items ``utt#001``…; returns (items to encode, piece → (parent, k, n))."""
    out, pieces = [], {}
    for utt, text in items:
        parts = split_long_text(text, max_chars) if max_chars and len(text) > max_chars else [text]
        if len(parts) == 1:
            out.append((utt, text))
            continue
        warn(utt, f"{len(text)} characters: synthesized in {len(parts)} pieces split at sentence boundaries "
                  f"(at most {max_chars} characters each) and joined with {PIECE_PAUSE_SECONDS:g} s pauses")
        for k, part in enumerate(parts, 1):
            pieces[f"{utt}#{k:03d}"] = (utt, k, len(parts))
            out.append((f"{utt}#{k:03d}", part))
    return out, pieces


def _join_pieces(model, pieces: list[Encoded], parent_of: dict, texts: dict[str, str], *, batch_size, controls, device,
                 vocoder, hop_seconds: float, failed: dict[str, str], timings: dict) -> Iterator[tuple[Synthesized, Encoded]]:
    """Synthesise the pieces of long lines (batched by length with no vocoder), join each line's
    mels with pauses, vocode the joined mel; yield it with the joined :class:`Encoded`."""
    from narspeech.metrics.timing import Timer

    mels: dict[str, dict[int, np.ndarray]] = {}
    piece_failed: dict[str, str] = {}
    for r in synthesize_batches(model, pieces, batch_size=batch_size, controls=controls, device=device, vocoder=None,
                                failed=piece_failed, timings=timings, show_progress=False):
        parent, k, _ = parent_of[r.utt]
        mels.setdefault(parent, {})[k] = r.mel
    for p, why in piece_failed.items():
        parent, k, n = parent_of[p]
        failed.setdefault(parent, f"piece {k} of {n}: {why}")
    by_piece = {e.utt: e for e in pieces}
    pause = int(round(PIECE_PAUSE_SECONDS / hop_seconds))
    for parent in sorted(mels):
        if parent in failed:
            continue
        n = next(v[2] for v in parent_of.values() if v[0] == parent)
        parts = [mels[parent][k] for k in range(1, n + 1)]
        gap = np.full((pause, parts[0].shape[1]), PAD_LOG_MEL, dtype=np.float32)
        mel = np.concatenate([x for m in parts for x in (m, gap)][:-1], axis=0)
        wav = None
        if vocoder is not None:
            with Timer(device) as t:
                wav = vocode(vocoder, [mel])[0]
            timings["vocoder_seconds"] = timings.get("vocoder_seconds", 0.0) + t.seconds
        keys = [f"{parent}#{k:03d}" for k in range(1, n + 1)]
        enc = Encoded(parent, texts[parent], [t for key in keys for t in by_piece[key].tokens],
                      [i for key in keys for i in by_piece[key].ids])
        yield Synthesized(parent, mel, wav), enc


def generate_mels(model: torch.nn.Module, batch: Sequence[Encoded], controls: Controls, device: torch.device,
                  teacher_mels: Mapping[str, np.ndarray] | None = None) -> list[np.ndarray]:
    """Run the acoustic model on one batch → per-utterance float32 log-mels (T_i, n_mels). With
    `teacher_mels` (utt → recorded log-mel) an AR teacher runs teacher-forced on them instead of free."""
    from narspeech.device import autocast

    tokens, lengths = pad_tokens(batch, device)
    with torch.no_grad(), autocast(device):
        if teacher_mels is not None:
            mels, mel_lengths = _teacher_forced(model, tokens, lengths, [teacher_mels[e.utt] for e in batch], device)
        else:
            mels, mel_lengths = model.inference(tokens, lengths, speed=controls.speed, pitch_shift=controls.pitch_shift,
                                                energy_scale=controls.energy_scale)
    mels = mels.float().cpu().numpy()
    return [np.ascontiguousarray(mels[i, : int(n)]) for i, n in enumerate(mel_lengths.cpu().tolist())]


def _teacher_forced(model, tokens: torch.Tensor, lengths: torch.Tensor, targets: Sequence[np.ndarray],
                    device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """The AR teacher's postnet output when each step is fed the recorded previous frame (denormalised)."""
    pad, mel_lengths = pad_mels(targets)
    mel_lengths = mel_lengths.to(device)
    out = model.teacher_forced(tokens, lengths, pad.to(device), mel_lengths)
    return model.stats.denorm_mel(out["after"].float())[:, : pad.size(1)], mel_lengths


def vocode(vocoder, mels: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Waveforms of a list of log-mels, as one padded batch through `vocoder`."""
    return vocoder(*pad_mels(mels))


def pad_mels(mels: Sequence[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    """Log-mels (T_i, n_mels) → one float32 batch (B, max T, n_mels) padded with the log-mel floor, and the lengths."""
    lengths = torch.tensor([len(m) for m in mels], dtype=torch.long)
    pad = np.full((len(mels), int(lengths.max()), mels[0].shape[1]), PAD_LOG_MEL, dtype=np.float32)
    for i, m in enumerate(mels):
        pad[i, : len(m)] = m
    return torch.from_numpy(pad), lengths


def synthesize_batches(model: torch.nn.Module, items: Sequence[Encoded], *, batch_size: int = 16, controls: Controls | None = None,
                       device: torch.device | str = "cpu", vocoder=None, failed: dict[str, str] | None = None,
                       timings: dict[str, float] | None = None, show_progress: bool = True,
                       teacher_mels: Mapping[str, np.ndarray] | None = None) -> Iterator[Synthesized]:
    """Yield one :class:`Synthesized` per item (batched, sorted by length).

    A batch whose inference raises is retried one item at a time; an item that still
    fails is recorded in `failed` (``utt -> reason``) and skipped. `timings` (if given)
    accumulates ``mel_seconds`` and ``vocoder_seconds``. `teacher_mels`: see :func:`generate_mels`.
    """
    from narspeech.metrics.timing import Timer
    from narspeech.progress import progress

    controls = controls or Controls()
    controls.check()
    device = torch.device(device)
    failed = {} if failed is None else failed
    timings = {} if timings is None else timings
    timings.setdefault("mel_seconds", 0.0)
    timings.setdefault("vocoder_seconds", 0.0)
    batches = make_batches(items, batch_size, max_ratio=LENGTH_RATIO)
    bar = progress(total=len(items), desc="synthesize", unit="utt") if show_progress else None
    for batch in batches:
        results = _run_batch(model, batch, controls, device, vocoder, failed, timings, Timer, teacher_mels)
        for r in results:
            yield r
        if bar is not None:
            bar.update(len(batch))
    if bar is not None:
        bar.close()


def _run_batch(model, batch, controls, device, vocoder, failed, timings, Timer, teacher_mels=None) -> list[Synthesized]:
    try:
        with Timer(device) as t:
            mels = generate_mels(model, batch, controls, device, teacher_mels)
        timings["mel_seconds"] += t.seconds
    except Exception as e:  # bad input reaching the model, CUDA OOM on a long batch, …
        if len(batch) > 1:
            if device.type == "cuda":
                torch.cuda.empty_cache()
            out = []
            for item in batch:
                out.extend(_run_batch(model, [item], controls, device, vocoder, failed, timings, Timer, teacher_mels))
            return out
        failed[batch[0].utt] = f"acoustic model failed: {type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}"
        return []
    empty = [i for i, m in enumerate(mels) if len(m) < 2]
    for i in empty:
        failed[batch[i].utt] = f"acoustic model produced {len(mels[i])} frame(s)"
    from narspeech.degenerate import array_problem, audio_problem

    why = {i: array_problem(m, "mel") for i, m in enumerate(mels) if i not in empty}
    bad = [i for i, w in why.items() if w is not None]
    for i in bad:  # NaN/inf or constant: a vocoder would refuse the whole batch, or speak nothing
        failed[batch[i].utt] = f"acoustic model output: {why[i]}"
    keep = [i for i in range(len(batch)) if i not in empty and i not in bad]
    if not keep:
        return []
    wavs: list[np.ndarray | None] = [None] * len(keep)
    if vocoder is not None:
        with Timer(device) as t:
            wavs = vocode(vocoder, [mels[i] for i in keep])
        timings["vocoder_seconds"] += t.seconds
    out = []
    for i, w in zip(keep, wavs):
        if w is not None and audio_problem(w) is not None:
            failed[batch[i].utt] = f"vocoder output: {audio_problem(w)}"
        else:
            out.append(Synthesized(batch[i].utt, mels[i], w))
    return out


# --------------------------------------------------------------------------- output dir


def config_hash(cfg: dict) -> str:
    """Short SHA-256 of the resolved config (canonical YAML), to tell runs apart."""
    blob = yaml.safe_dump(cfg, sort_keys=True, default_flow_style=True).encode()
    return hashlib.sha256(blob).hexdigest()[:12]


def _stderr_warning(utt: str, reason: str) -> None:
    print(f"warning: utterance {utt}: {reason}", file=sys.stderr)


@dataclass
class SynthesisResult:
    """What :func:`synthesize_to_dir` did."""

    out_dir: Path
    synthesized: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    info: dict = field(default_factory=dict)


@dataclass
class LoadedModel:
    """A trained acoustic model with everything synthesis needs from its exp dir."""

    model: torch.nn.Module
    cfg: dict
    feats: "object"  # narspeech.audio.features.FeatureConfig
    frontend: TextFrontend
    model_dir: Path
    checkpoint: Path
    device: torch.device

    @property
    def model_type(self) -> str | None:
        return (self.cfg.get("model") or {}).get("type")


def load_model(model_dir: str | Path, *, checkpoint: str | Path | None = None, device: str | torch.device = "auto") -> LoadedModel:
    """Load the model of an exp dir (its best.pt, else last.pt; or `checkpoint`), its feature config and frontend."""
    from narspeech.audio.features import FeatureConfig
    from narspeech.device import resolve_device
    from narspeech.train.checkpoint import resolve_checkpoint
    from narspeech.tts import load_tts_model

    model_dir = Path(model_dir)
    ckpt_path = resolve_checkpoint(checkpoint or model_dir)
    dev = resolve_device(device) if isinstance(device, str) else device
    model, cfg = load_tts_model(ckpt_path, dev)
    if not cfg.get("feats"):
        raise NarspeechError("model config has no feats section (feature config)", path=ckpt_path)
    feats = FeatureConfig.from_dict(cfg["feats"])
    return LoadedModel(model, cfg, feats, TextFrontend.for_model(model_dir, cfg), model_dir, Path(ckpt_path), dev)


def synthesize_to_dir(loaded: LoadedModel, items: Sequence[tuple[str, str]], out_dir: str | Path, *,
                      batch_size: int = 16, controls: Controls | None = None,
                      vocoder: str = "griffin-lim", vocoder_options: dict | None = None,
                      write_wavs: bool = True, source: str | None = None,
                      warn: Callable[[str, str], None] = _stderr_warning, max_chars: int = MAX_CHARS,
                      teacher_dump: str | Path | None = None, seed: int | None = 0) -> SynthesisResult:
    """Synthesise `items` (``(utt, text)``) with a :func:`load_model` result into `out_dir`.

    See the module docstring for the files written. Inputs that cannot be synthesised are
    listed in ``out_dir/failed`` and passed to `warn` (one line each); the rest are written.
    Raises :class:`NarspeechError` when nothing at all could be synthesised. With `teacher_dump` (a
    feature dump of the same utterances) an AR teacher runs teacher-forced on the recorded mels: its
    spectrum without its own free-running errors, to tell a weak acoustic model from a failing attention.
    `seed` seeds torch's generators first: an AR teacher's prenet dropout stays on at inference, so without
    it two runs of the same checkpoint give different speech (and scores); None leaves them as they are.
    """
    import kaldiio

    from narspeech.audio.io import write_wav
    from narspeech.tts.vocoder import make_vocoder

    controls = controls or Controls()
    controls.check()
    if seed is not None:
        torch.manual_seed(int(seed))
    if not items:
        raise NarspeechError("no sentences to synthesize", path=source)
    dup = _first_duplicate(u for u, _ in items)
    if dup is not None:
        raise NarspeechError("duplicated utterance id", utt=dup, path=source)
    model, cfg, fcfg, frontend, dev = loaded.model, loaded.cfg, loaded.feats, loaded.frontend, loaded.device
    texts = dict(items)
    teacher_mels, tf_failed = None, {}
    if teacher_dump is not None:
        if not hasattr(model, "teacher_forced"):
            raise NarspeechError(f"teacher forcing needs an AR teacher (tacotron2 or transformer_tts), not {loaded.model_type}",
                                 path=loaded.model_dir)
        teacher_mels, items = _teacher_mels(teacher_dump, items, fcfg, tf_failed)
        max_chars = 0  # the recording is one piece
    split, parent_of = _split_items(items, max_chars, warn)
    encoded, failed = frontend.encode(split)
    failed.update(tf_failed)
    for p in [p for p in failed if p in parent_of]:  # a piece the frontend refused: the whole line fails
        parent, k, n = parent_of[p]
        failed.setdefault(parent, f"piece {k} of {n}: {failed.pop(p)}")
    pieces = [e for e in encoded if e.utt in parent_of and parent_of[e.utt][0] not in failed]
    encoded = [e for e in encoded if e.utt not in parent_of]

    voc = make_vocoder(vocoder, fcfg, dev, **(vocoder_options or {})) if write_wavs else None
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    wav_dir = out_dir / "wav"
    ark_path = (out_dir / "feats.ark").resolve()
    scp: dict[str, str] = {}
    frames: dict[str, str] = {}
    wav_scp: dict[str, str] = {}
    timings: dict[str, float] = {}
    audio_seconds = 0.0
    t0 = time.perf_counter()
    joined: dict[str, Encoded] = {}

    def results() -> Iterator[Synthesized]:
        yield from synthesize_batches(model, encoded, batch_size=batch_size, controls=controls, device=dev, vocoder=voc,
                                      failed=failed, timings=timings, teacher_mels=teacher_mels)
        for res, enc in _join_pieces(model, pieces, parent_of, texts, batch_size=batch_size, controls=controls, device=dev,
                                     vocoder=voc, hop_seconds=fcfg.hop_length / fcfg.sample_rate, failed=failed, timings=timings):
            joined[res.utt] = enc
            yield res

    with atomic_path(ark_path) as tmp_ark, open(tmp_ark, "wb") as ark:
        for res in results():
            pos = ark.tell()
            kaldiio.save_ark(ark, {res.utt: res.mel.astype(np.float32)})
            scp[res.utt] = f"{ark_path}:{pos + len(res.utt.encode()) + 1}"
            frames[res.utt] = str(len(res.mel))
            if res.wav is not None:
                wav_path = (wav_dir / f"{res.utt}.wav").resolve()
                write_wav(wav_path, res.wav, voc.sample_rate)
                wav_scp[res.utt] = str(wav_path)
                audio_seconds += len(res.wav) / voc.sample_rate
        ark.flush()
    wall = time.perf_counter() - t0

    for utt in sorted(failed):
        warn(utt, failed[utt])
    by_utt = {e.utt: e for e in encoded} | joined
    _remove_stale_wavs(wav_dir, set(wav_scp.values()))
    for name in EVAL_OUTPUTS:  # scores of an earlier run's audio (`tts evaluate`) no longer describe this one
        (out_dir / name).unlink(missing_ok=True)
    if not write_wavs:
        (out_dir / "wav.scp").unlink(missing_ok=True)
    write_table(out_dir / "feats.scp", scp)
    write_table(out_dir / "utt2num_frames", frames)
    write_table(out_dir / "text", {u: by_utt[u].text for u in scp})
    write_table(out_dir / "token", {u: " ".join(by_utt[u].tokens) for u in scp})
    if write_wavs:
        write_table(out_dir / "wav.scp", wav_scp)
    with atomic_write(out_dir / "failed") as f:
        for utt in sorted(failed):
            f.write(f"{utt} {failed[utt]}\n")

    info = {
        "model_dir": str(Path(loaded.model_dir).resolve()),
        "checkpoint": str(Path(loaded.checkpoint).resolve()),
        "model_type": loaded.model_type,
        "config_hash": config_hash(cfg),
        "controls": {"speed": controls.speed, "pitch_shift": controls.pitch_shift, "energy_scale": controls.energy_scale},
        "seed": seed,
        "teacher_forced": str(Path(teacher_dump).resolve()) if teacher_dump is not None else None,
        "vocoder": {"name": vocoder, **(vocoder_options or {})} if write_wavs else None,
        "feats": fcfg.to_dict(),
        "text": {"kind": frontend.kind, "language": frontend.language},
        "device": str(dev),
        "batch_size": batch_size,
        "source": source,
        "inputs": len(items),
        "synthesized": len(scp),
        "failed": len(failed),
        "frames": int(sum(int(v) for v in frames.values())),
        "audio_seconds": round(audio_seconds, 3),
        "mel_seconds": round(timings.get("mel_seconds", 0.0), 4),
        "vocoder_seconds": round(timings.get("vocoder_seconds", 0.0), 4),
        "wall_seconds": round(wall, 4),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    with atomic_write(out_dir / "synth_info.json") as f:
        json.dump(info, f, indent=1)
    if not scp:
        raise NarspeechError(f"nothing could be synthesized ({len(failed)} inputs failed; reasons in {out_dir / 'failed'})", path=source)
    return SynthesisResult(out_dir, sorted(scp), failed, info)


def _teacher_mels(dump_dir: str | Path, items, fcfg, failed: dict[str, str]):
    """Recorded log-mels of `items` from a dump with the model's features; items the dump lacks fail."""
    from narspeech.audio.dump import read_dump

    dump = read_dump(dump_dir)
    try:
        if dump.config.to_dict() != fcfg.to_dict():
            raise NarspeechError("the dump's features differ from the model's", path=Path(dump_dir) / "feats.yaml")
        keep = []
        for utt, text in items:
            if utt in dump.num_frames:
                keep.append((utt, text))
            else:
                failed[utt] = f"not in the teacher-forcing dump {dump_dir}"
        return {u: np.asarray(dump.feats[u], dtype=np.float32) for u, _ in keep}, keep
    finally:
        dump.close()


EVAL_OUTPUTS = ("results.json", "utt_scores.json", "mcd", "f0_rmse", "hyp_synth", "hyp_ref", "text_scored")


def _remove_stale_wavs(wav_dir: Path, keep: set[str]) -> None:
    """Delete wavs of earlier runs into the same folder (what this run did not write)."""
    if wav_dir.is_dir():
        for p in wav_dir.glob("*.wav"):
            if str(p.resolve()) not in keep:
                p.unlink(missing_ok=True)


def _first_duplicate(keys: Iterable[str]) -> str | None:
    seen: set[str] = set()
    for k in keys:
        if k in seen:
            return k
        seen.add(k)
    return None
