"""Check a data dir the way Kaldi's ``utils/validate_data_dir.sh`` does, and more.

Every problem is collected (not just the first): each table parses, ids are
unique and sorted, every utterance appears in wav.scp, text and utt2spk, no
transcript is empty, spk2utt agrees with utt2spk and utterances sorted by id are
sorted by speaker, a `token` file covers every utterance, and every audio file
can be read (fully decoded, in parallel). The audio is summarised: count, hours,
min/mean/max duration, sample rates seen.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from narspeech.audio.io import audio_info, load_audio
from narspeech.data.datadir import REQUIRED, is_utt_table
from narspeech.errors import NarspeechError
from narspeech.fileio import read_text_lines, spk2utt_from_utt2spk
from narspeech.progress import progress


@dataclass
class AudioSummary:
    count: int = 0
    total_seconds: float = 0.0
    min_seconds: float = 0.0
    max_seconds: float = 0.0
    rates: dict[int, int] = field(default_factory=dict)
    rate_example: dict[int, str] = field(default_factory=dict)  # first utterance seen at each rate
    durations: dict[str, float] = field(default_factory=dict, repr=False)

    @property
    def hours(self) -> float:
        return self.total_seconds / 3600

    @property
    def mean_seconds(self) -> float:
        return self.total_seconds / self.count if self.count else 0.0

    def __str__(self) -> str:
        rates = ", ".join(f"{r} Hz ({n})" for r, n in sorted(self.rates.items())) or "none"
        return (f"{self.count} utterances, {self.hours:.3f} h, duration min/mean/max "
                f"{self.min_seconds:.2f}/{self.mean_seconds:.2f}/{self.max_seconds:.2f} s, sample rates: {rates}")


@dataclass
class Report:
    """Problems found (one line each, naming file and utterance) and the audio summary."""

    data_dir: Path
    problems: list[str] = field(default_factory=list)
    num_utts: int = 0
    num_spks: int = 0
    audio: AudioSummary | None = None

    @property
    def ok(self) -> bool:
        return not self.problems

    def add(self, file: str | Path, msg: str, utt: str | None = None) -> None:
        self.problems.append(str(NarspeechError(msg, utt=utt, path=file)))


def _parse(path: Path, rep: Report) -> dict[str, str] | None:
    """Read a table leniently, reporting duplicated/unsorted ids and malformed lines."""
    if not path.is_file():
        rep.add(path, "file not found")
        return None
    table: dict[str, str] = {}
    prev = None
    unsorted = 0
    try:
        lines = read_text_lines(path)
    except NarspeechError as e:  # not UTF-8: report the first bad line, check the rest leniently
        rep.problems.append(str(e))
        raw = path.read_bytes()
        lines = raw.removeprefix(b"\xef\xbb\xbf").decode("utf-8", errors="replace").split("\n")
        lines = [l.removesuffix("\r") for l in (lines[:-1] if lines and lines[-1] == "" else lines)]
    for n, line in enumerate(lines, 1):
        if not line.strip():
            rep.add(path, f"line {n}: empty line")
            continue
        if line != line.strip() or "\t" in line:
            rep.add(path, f"line {n}: leading/trailing whitespace or tab", line.split()[0])
        key, _, value = line.strip().partition(" ")
        if key in table:
            rep.add(path, f"line {n}: duplicated id", key)
            continue
        if prev is not None and key < prev:
            unsorted += 1
            if unsorted <= 5:
                rep.add(path, f"line {n}: not sorted ({key} after {prev}); sort with LC_ALL=C sort", key)
        table[key] = value.strip()
        prev = key
    if unsorted > 5:
        rep.add(path, f"{unsorted} unsorted lines in all")
    return table


def _check_audio(wav_scp: dict[str, str], rep: Report, wav_path: Path, decode: bool, jobs: int) -> AudioSummary:
    def one(item):
        utt, entry = item
        try:
            if decode:
                wav, sr = load_audio(entry, utt=utt)
                return utt, sr, len(wav) / sr, None
            sr, dur = audio_info(entry, utt=utt)
            return utt, sr, dur, None
        except NarspeechError as e:
            return utt, 0, 0.0, e

    summary = AudioSummary()
    durs = []
    with ThreadPoolExecutor(max(1, jobs)) as pool:
        results = pool.map(one, sorted(wav_scp.items()))
        for utt, sr, dur, err in progress(results, total=len(wav_scp), desc="audio", unit="utt"):
            if err is not None:
                rep.problems.append(f"{wav_path}: {err}")
                continue
            durs.append(dur)
            summary.durations[utt] = dur
            summary.rates[sr] = summary.rates.get(sr, 0) + 1
            summary.rate_example.setdefault(sr, utt)
    if durs:
        summary.count, summary.total_seconds = len(durs), sum(durs)
        summary.min_seconds, summary.max_seconds = min(durs), max(durs)
    return summary


def _check_utt2dur(path: Path, utt2dur: dict[str, str], measured: dict[str, float], rep: Report, tol: float = 0.02) -> None:
    """utt2dur (parsed from `path`) must agree with the audio (within `tol` seconds)."""
    bad = 0
    for utt, value in utt2dur.items():
        if utt not in measured:
            continue
        try:
            ok = abs(float(value) - measured[utt]) <= tol
        except ValueError:
            ok = False
        if not ok:
            bad += 1
            if bad <= 5:
                rep.add(path, f"duration {value} disagrees with the audio ({measured[utt]:.3f} s)", utt)


def validate_data_dir(path: str | Path, *, audio: bool = True, decode: bool = True, jobs: int = 4,
                      expect_rate: int | None = None) -> Report:
    """Check the data dir at `path`; never raises for data problems, returns a :class:`Report`."""
    path = Path(path)
    rep = Report(path)
    if not path.is_dir():
        rep.add(path, "data directory not found")
        return rep
    if (path / "segments").exists():
        rep.add(path / "segments", "segments files are not supported")
    tables = {name: _parse(path / name, rep) for name in REQUIRED + ("spk2utt",)}
    wav_scp, text, utt2spk, spk2utt = (tables[n] or {} for n in ("wav.scp", "text", "utt2spk", "spk2utt"))
    all_utts = sorted(set(wav_scp) | set(text) | set(utt2spk))
    rep.num_utts = len(wav_scp)
    for name in REQUIRED:
        t = tables[name]
        if t is None:
            continue
        missing = [u for u in all_utts if u not in t]
        for u in missing[:20]:
            rep.add(path / name, "utterance missing from this file (present in another)", u)
        if len(missing) > 20:
            rep.add(path / name, f"{len(missing)} utterances missing in all")
    for u, v in text.items():
        if not v.strip():
            rep.add(path / "text", "empty transcript", u)
    for u, v in wav_scp.items():
        if not v.strip():
            rep.add(path / "wav.scp", "empty audio entry", u)
    for u, s in utt2spk.items():
        if not s or len(s.split()) != 1:
            rep.add(path / "utt2spk", f"speaker must be exactly one id, got {s!r}", u)
    # spk2utt must be exactly the inverse of utt2spk.
    if tables["spk2utt"] is not None:
        expect = {s: utts.split() for s, utts in spk2utt_from_utt2spk(utt2spk).items()}
        for s in sorted(set(expect) | set(spk2utt)):
            got = spk2utt.get(s, "").split()
            if got != expect.get(s, []):
                extra = sorted(set(got) - set(expect.get(s, [])))
                lost = sorted(set(expect.get(s, [])) - set(got))
                detail = f"; not in utt2spk for it: {' '.join(extra[:5])}" if extra else ""
                detail += f"; missing: {' '.join(lost[:5])}" if lost else ""
                if not extra and not lost:
                    detail = "; utterances not sorted"
                rep.add(path / "spk2utt", f"speaker {s} disagrees with utt2spk{detail} (regenerate it from utt2spk)")
    rep.num_spks = len(set(utt2spk.values()))
    spks = [utt2spk[u] for u in sorted(utt2spk)]
    bad = next((i for i in range(1, len(spks)) if spks[i] < spks[i - 1]), None)
    if bad is not None:
        u = sorted(utt2spk)[bad]
        rep.add(path / "utt2spk", f"utterances sorted by id are not sorted by speaker ({spks[bad]} after {spks[bad - 1]}): "
                "make speaker ids prefixes of utterance ids", u)
    # Optional per-utterance tables: parse, and `token` must cover every utterance.
    optional: dict[str, dict[str, str]] = {}
    for f in sorted(path.iterdir()):
        if f.is_file() and f.name not in REQUIRED and is_utt_table(f.name):
            t = optional[f.name] = _parse(f, rep) or {}
            unknown = [u for u in t if u not in wav_scp]
            for u in unknown[:5]:
                rep.add(f, "utterance not in wav.scp", u)
            if f.name == "token":
                missing = [u for u in wav_scp if u not in t]
                for u in missing[:20]:
                    rep.add(f, "utterance has no tokens (rerun `narspeech text tokenize`)", u)
                for u, v in t.items():
                    if not v.strip():
                        rep.add(f, "empty token sequence", u)
    if audio and wav_scp:
        rep.audio = _check_audio({u: v for u, v in wav_scp.items() if v.strip()}, rep, path / "wav.scp", decode, jobs)
        if "utt2dur" in optional:
            _check_utt2dur(path / "utt2dur", optional["utt2dur"], rep.audio.durations, rep)
        if expect_rate is not None:
            for sr, n in sorted(rep.audio.rates.items()):
                if sr != expect_rate:
                    rep.add(path / "wav.scp", f"{n} utterance(s) at {sr} Hz (first shown), expected {expect_rate} Hz",
                            rep.audio.rate_example[sr])
    return rep
