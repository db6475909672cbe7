"""The batched feature dump: DATA/wav.scp → DUMP/{feats,f0,energy}.{ark,scp}, utt2num_frames, feats.yaml.

Decoding and resampling run in worker processes (a torch DataLoader over length-sorted
batches); log-mel, F0 and energy are computed per padded batch on the device, each
utterance's frames cut to ``1 + n_samples // hop``.

Faults: the new dump is written into ``.NAME.new-PID`` beside DUMP and swapped in only when
complete, so a failed or killed run leaves the previous dump as it was (its ``stats.npz``
goes with it once a new dump replaces it: those statistics were of the old features); the
next run removes what a killed run left. A lock (``.NAME.lock`` beside DUMP, see
:func:`narspeech.fileio.dir_lock`) makes a second extract into the same DUMP fail fast,
naming the first one's pid; its worker processes die with it (even by SIGKILL), and SIGTERM
cleans up as Ctrl-C does. Audio shorter than ``min_duration`` is an error naming the
utterance (or skipped with ``skip_bad``): a 10 ms clip is a broken recording, not speech.

Sample rate: taken from the first file unless the config sets ``sample_rate``. Every
file is resampled to it. Downsampling is always allowed. Upsampling is allowed only
while the file's Nyquist frequency still covers the mel range (``file_rate / 2 >=
fmax``): then no mel band is empty (e.g. 16 kHz audio in a 22.05 kHz, 0–8 kHz setup);
otherwise it is an error naming the utterance. Rates below 8 kHz are unsupported.
"""
from __future__ import annotations

import contextlib
import math
import os
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch

from narspeech.audio.features import MIN_SAMPLE_RATE, FeatureConfig, compute_features
from narspeech.audio.io import audio_info, load_audio, resolve_entry
from narspeech.batching import make_batches as length_batches
from narspeech.config import save_config
from narspeech.degenerate import array_problem
from narspeech.device import resolve_device
from narspeech.errors import NarspeechError
from narspeech.fileio import dir_lock, read_table, write_table
from narspeech.progress import progress
from narspeech.signals import die_with_parent

OUTPUT_NAMES = ("feats", "f0", "energy")
STALE = ("feats.scp", "f0.scp", "energy.scp", "utt2num_frames", "feats.yaml", "stats.npz", "skipped")
OWNED = STALE + tuple(f"{name}.ark" for name in OUTPUT_NAMES)  # what a new dump replaces; the rest is carried over
DEFAULT_MIN_DURATION = 0.05  # seconds: 4 frames at a 12.5 ms hop


@dataclass
class Utterance:
    utt: str
    entry: str  # resolved path or `cmd |`
    rate: int
    seconds: float


@dataclass
class ExtractResult:
    """What a dump run did: utterances written, audio seconds, wall time, what was skipped."""

    dump_dir: Path
    config: FeatureConfig
    num_utts: int
    audio_seconds: float
    wall_seconds: float
    skipped: dict[str, str] = field(default_factory=dict)

    @property
    def realtime_factor(self) -> float:
        """Seconds of audio per second of wall time (× real time)."""
        return self.audio_seconds / max(self.wall_seconds, 1e-9)


# --------------------------------------------------------------------------- planning


def read_wav_scp(data_dir: str | Path, base: str | Path | None = None, limit: int | None = None) -> dict[str, str]:
    """DATA/wav.scp as ``utt -> entry``, relative paths resolved against `base` (else kept as
    written, i.e. relative to the working directory, as in Kaldi). Segments are not supported."""
    data_dir = Path(data_dir)
    if (data_dir / "segments").exists():
        raise NarspeechError("segments files are not supported: cut the recordings into utterances first", path=data_dir / "segments")
    table = read_table(data_dir / "wav.scp")
    if not table:
        raise NarspeechError("no utterances", path=data_dir / "wav.scp")
    items = list(table.items())[: limit if limit else None]
    return {utt: resolve_entry(entry, base) for utt, entry in items}


def probe(entries: Mapping[str, str], *, skip_bad: bool = False, skipped: dict[str, str] | None = None) -> list[Utterance]:
    """Rate and duration of every utterance from file headers (``cmd |`` entries are run and
    decoded), read by a few threads. Unreadable files raise, or with `skip_bad` land in
    `skipped`."""
    def one(item: tuple[str, str]) -> Utterance | NarspeechError:
        utt, entry = item
        try:
            rate, seconds = audio_info(entry, utt=utt)
            return Utterance(utt, entry, rate, seconds)
        except NarspeechError as e:
            return e

    out = []
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = pool.map(one, entries.items())
        for res in progress(results, total=len(entries), desc="probe audio", unit="utt"):
            if isinstance(res, NarspeechError):
                if not skip_bad:
                    raise res
                if skipped is not None:
                    skipped[res.utt or "?"] = str(res)
            else:
                out.append(res)
    return out


def resolve_config(options: Mapping[str, Any] | FeatureConfig | None, first_rate: int) -> FeatureConfig:
    """Feature config from user options: rate defaults (:meth:`FeatureConfig.for_rate`) for
    ``options['sample_rate']`` or else the first file's rate, then the options on top."""
    if isinstance(options, FeatureConfig):
        return options
    opts = dict(options or {})
    rate = opts.pop("sample_rate", None) or first_rate
    return FeatureConfig.for_rate(int(rate), **opts)


def check_duration(u: Utterance, min_duration: float) -> None:
    """Raise for audio too short to be an utterance (a clipped or empty recording)."""
    if u.seconds < min_duration:
        raise NarspeechError(f"audio is only {u.seconds * 1000:.0f} ms long, below the minimum {min_duration:g} s "
                             "(a clipped or empty recording?): fix it, skip it with --skip-bad, or lower --min-duration",
                             utt=u.utt, path=u.entry)


def check_rate(u: Utterance, cfg: FeatureConfig) -> None:
    """Raise for a file rate the configured features cannot be computed from (module docstring)."""
    if u.rate < MIN_SAMPLE_RATE:
        raise NarspeechError(f"sample rate {u.rate} Hz is below the supported minimum {MIN_SAMPLE_RATE} Hz", utt=u.utt, path=u.entry)
    if u.rate < cfg.sample_rate and u.rate / 2 < cfg.fmax:
        raise NarspeechError(
            f"sample rate {u.rate} Hz cannot be upsampled to {cfg.sample_rate} Hz: its band ends at {u.rate / 2:g} Hz, "
            f"below fmax {cfg.fmax:g} Hz (set sample_rate={u.rate} or fmax<={u.rate / 2:g})",
            utt=u.utt,
            path=u.entry,
        )


def make_batches(seconds: list[float], batch_seconds: float) -> list[list[int]]:
    """Length-sorted batches (longest first) whose padded size, count × longest, stays
    within `batch_seconds` (a longer single utterance gets a batch of its own)."""
    ms = [int(math.ceil(s * 1000)) for s in seconds]
    return [b[::-1] for b in reversed(length_batches(ms, max_padded=max(1, int(batch_seconds * 1000))))]


# --------------------------------------------------------------------------- loading


class _AudioSet(torch.utils.data.Dataset):
    """Decodes and resamples one utterance; returns the error instead of raising, so
    the main process can name the utterance (DataLoader would wrap the exception)."""

    def __init__(self, utts: list[Utterance], sample_rate: int):
        self.utts, self.sample_rate = utts, sample_rate

    def __len__(self) -> int:
        return len(self.utts)

    def __getitem__(self, i: int):
        u = self.utts[i]
        try:
            wav, _ = load_audio(u.entry, utt=u.utt, target_sr=self.sample_rate)
            if not np.isfinite(wav).all():
                raise NarspeechError("audio contains NaN or infinite samples", utt=u.utt, path=u.entry)
            return i, wav, None
        except NarspeechError as e:
            return i, None, (e.message, e.path or u.entry)


class _Collate:
    """Pads a batch; with a config (CPU runs), also computes its features right here in
    the worker process, so `jobs` workers give `jobs`-way parallelism, one thread each."""

    def __init__(self, cfg: FeatureConfig | None = None):
        self.cfg = cfg

    def __call__(self, items):
        good = [(i, w) for i, w, err in items if err is None]
        errors = [(i, err) for i, _, err in items if err is not None]
        lengths = torch.tensor([len(w) for _, w in good], dtype=torch.long)
        wav = torch.zeros((len(good), int(lengths.max()) if good else 0), dtype=torch.float32)
        for row, (_, w) in enumerate(good):
            wav[row, : len(w)] = torch.from_numpy(w)
        idx = [i for i, _ in good]
        if self.cfg is None or not good:
            return idx, wav, lengths, errors
        with torch.inference_mode():
            return idx, compute_features(wav, lengths, self.cfg).unbatch(), lengths, errors


class _WorkerInit:
    """Worker set-up: one thread, and death with the parent (a SIGKILLed extract leaves no workers)."""

    def __init__(self):
        self.parent = os.getpid()

    def __call__(self, _worker_id: int) -> None:
        die_with_parent(self.parent)
        torch.set_num_threads(1)


# --------------------------------------------------------------------------- writing


class _ArkWriter:
    """Appends float32 matrices to an open ark; remembers ``utt -> final_path:offset``."""

    def __init__(self, f, final_path: Path):
        self.f, self.final, self.scp = f, final_path, {}

    def write(self, utt: str, array: np.ndarray) -> None:
        import kaldiio

        start = self.f.tell()
        kaldiio.save_ark(self.f, {utt: np.ascontiguousarray(array, dtype=np.float32)})
        self.scp[utt] = f"{self.final}:{start + len(utt.encode('utf-8')) + 1}"


def _side(dump_dir: Path, kind: str, pid: int | str = "") -> Path:
    """``.NAME.new-PID`` / ``.NAME.old-PID`` beside the dump (same file system: renames are cheap)."""
    return dump_dir.parent / f".{dump_dir.name}.{kind}-{pid}"


def clean_leftovers(dump_dir: Path) -> list[Path]:
    """Remove what a killed run left (call under the dump's lock): half-written ``.NAME.new-*``
    folders, a ``.NAME.old-*`` folder (restored as DUMP if the kill fell between the two renames
    of the swap), and temp files of older versions inside DUMP. Returns what was removed."""
    removed = []
    olds = sorted(dump_dir.parent.glob(f".{dump_dir.name}.old-*"))
    if olds and not dump_dir.exists():
        os.rename(olds.pop(), dump_dir)
    for p in sorted(dump_dir.parent.glob(f".{dump_dir.name}.new-*")) + olds:
        shutil.rmtree(p, ignore_errors=True)
        removed.append(p)
    if dump_dir.is_dir():
        for p in dump_dir.glob(".*.tmp*"):
            if p.is_file():
                p.unlink(missing_ok=True)
                removed.append(p)
    return removed


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def swap_in(new: Path, dump_dir: Path) -> None:
    """Replace `dump_dir` by the complete dump in `new`; files of the old dump that a dump does not
    own (anything but its outputs and stale stats) are carried over. Two renames: a kill between
    them leaves ``.NAME.old-PID``, which :func:`clean_leftovers` puts back."""
    if not dump_dir.exists():
        os.rename(new, dump_dir)
        return
    for p in dump_dir.iterdir():
        if p.name in OWNED or (new / p.name).exists() or p.name.startswith("."):
            continue
        if p.is_dir():
            shutil.copytree(p, new / p.name, copy_function=_link_or_copy, symlinks=True)
        else:
            _link_or_copy(str(p), str(new / p.name))
    old = _side(dump_dir, "old", os.getpid())
    os.rename(dump_dir, old)
    os.rename(new, dump_dir)
    shutil.rmtree(old, ignore_errors=True)


def default_jobs() -> int:
    """Worker processes when not given: one per CPU core, at most 8."""
    return max(1, min(8, os.cpu_count() or 1))


def default_batch_seconds(device: torch.device) -> float:
    """Padded seconds of audio per batch: larger on GPU (the Viterbi loop is per frame)."""
    return 1200.0 if device.type == "cuda" else 120.0


def extract_dump(
    data_dir: str | Path,
    dump_dir: str | Path,
    options: Mapping[str, Any] | FeatureConfig | None = None,
    *,
    device: str = "auto",
    jobs: int | None = None,
    batch_seconds: float | None = None,
    skip_bad: bool = False,
    base: str | Path | None = None,
    limit: int | None = None,
    min_duration: float = DEFAULT_MIN_DURATION,
) -> ExtractResult:
    """Compute and write the feature dump of a Kaldi data dir (module docstring).

    `options`: FeatureConfig fields (e.g. from feats.yaml and ``--set``); `jobs`: worker
    processes (0 = all in this process; None = :func:`default_jobs`) — on CPU each worker
    decodes *and* computes the features of its batches, on GPU they decode and resample;
    `limit`: only the first N utterances; `min_duration`: shortest audio accepted (seconds).
    """
    data_dir, dump_dir = Path(data_dir), Path(dump_dir)
    with dir_lock(dump_dir, "another `feats extract` into this dump"):
        clean_leftovers(dump_dir)
        new = _side(dump_dir, "new", os.getpid())
        new.mkdir(parents=True)
        try:
            res = _extract(data_dir, dump_dir, new, options, device=device, jobs=jobs, batch_seconds=batch_seconds,
                           skip_bad=skip_bad, base=base, limit=limit, min_duration=min_duration)
            swap_in(new, dump_dir)
        except BaseException:
            shutil.rmtree(new, ignore_errors=True)
            raise
    return res


def _extract(data_dir: Path, dump_dir: Path, out: Path, options, *, device, jobs, batch_seconds, skip_bad, base, limit,
             min_duration) -> ExtractResult:
    """The work of :func:`extract_dump`: files go to `out`, scp entries name the arks under `dump_dir`."""
    t0 = time.perf_counter()
    jobs = default_jobs() if jobs is None else max(0, int(jobs))
    dev = resolve_device(device)
    entries = read_wav_scp(data_dir, base, limit)
    skipped: dict[str, str] = {}
    utts = probe(entries, skip_bad=skip_bad, skipped=skipped)
    if not utts:
        raise NarspeechError("no readable audio (all utterances skipped)", path=data_dir / "wav.scp")
    cfg = resolve_config(options, utts[0].rate)
    kept = []
    for u in utts:
        try:
            check_duration(u, min_duration)
            check_rate(u, cfg)
            kept.append(u)
        except NarspeechError as e:
            if not skip_bad:
                raise
            skipped[u.utt] = str(e)
    utts = kept
    batches = make_batches([u.seconds for u in utts], batch_seconds or default_batch_seconds(dev))

    in_workers = dev.type == "cpu" and jobs > 0
    if in_workers:  # import and cache everything once here, so forked workers start warm
        with torch.inference_mode():
            compute_features(torch.zeros(1, cfg.sample_rate // 4).uniform_(-0.1, 0.1), None, cfg)
    loader = torch.utils.data.DataLoader(
        _AudioSet(utts, cfg.sample_rate),
        batch_sampler=batches,
        num_workers=jobs,
        collate_fn=_Collate(cfg if in_workers else None),
        worker_init_fn=_WorkerInit() if jobs else None,
        pin_memory=dev.type == "cuda",
        prefetch_factor=4 if jobs else None,
    )
    num_frames: dict[str, str] = {}
    audio_seconds = 0.0
    total = sum(u.seconds for u in utts)
    with contextlib.ExitStack() as stack:
        writers = {}
        final_dir = dump_dir.parent.resolve() / dump_dir.name
        for name in OUTPUT_NAMES:
            f = stack.enter_context(open(out / f"{name}.ark", "wb"))
            writers[name] = _ArkWriter(f, final_dir / f"{name}.ark")
        bar = stack.enter_context(progress(total=int(round(total)), desc=f"features {data_dir.name}", unit="s"))
        seconds_done = 0.0

        def advance(seconds: float) -> None:  # whole seconds on the bar, no float drift past the total
            nonlocal seconds_done
            seconds_done += seconds
            bar.update(int(round(seconds_done)) - bar.n)

        with torch.inference_mode():
            for idx, payload, lengths, errors in loader:  # payload: padded audio, or features from a worker
                for i, (message, path) in errors:
                    err = NarspeechError(message, utt=utts[i].utt, path=path)
                    if not skip_bad:
                        raise err
                    skipped[utts[i].utt] = str(err)
                    advance(utts[i].seconds)
                if not idx:
                    continue
                if not in_workers:
                    payload = compute_features(payload.to(dev, non_blocking=True), lengths.to(dev), cfg).unbatch()
                for i, n, (mel, f0, en) in zip(idx, lengths.tolist(), payload):
                    utt = utts[i].utt
                    why = array_problem(mel, "log-mel")  # F0 may be constant (all unvoiced), not NaN
                    if why is None and not (np.isfinite(np.asarray(f0)).all() and np.isfinite(np.asarray(en)).all()):
                        why = "F0 or energy contains NaN or inf"
                    if why is not None:
                        err = NarspeechError(f"degenerate features: {why} (silent or broken recording?)", utt=utt, path=utts[i].entry)
                        if not skip_bad:
                            raise err
                        skipped[utt] = str(err)
                        continue
                    writers["feats"].write(utt, mel)
                    writers["f0"].write(utt, f0)
                    writers["energy"].write(utt, en)
                    num_frames[utt] = str(mel.shape[0])
                    audio_seconds += n / cfg.sample_rate
                advance(sum(utts[i].seconds for i in idx))
                bar.set_postfix_str(f"{audio_seconds / max(time.perf_counter() - t0, 1e-9):.0f}x RT")
        if not num_frames:
            raise NarspeechError("no utterance could be processed (all skipped)", path=data_dir / "wav.scp")
        for w in writers.values():
            w.f.close()
    for name, w in writers.items():
        write_table(out / f"{name}.scp", w.scp)
    write_table(out / "utt2num_frames", num_frames)
    save_config(cfg.to_dict(), out / "feats.yaml")
    if skipped:
        write_table(out / "skipped", {u: " ".join(msg.split()) for u, msg in skipped.items()})
    return ExtractResult(dump_dir, cfg, len(num_frames), audio_seconds, time.perf_counter() - t0, skipped)

