"""A synthetic multi-speaker corpus spoken by the espeak-ng command line, exactly transcribed.

Each voice (``en-us``, ``en-gb+f2``: espeak-ng language plus optional variant
``+m1``…``+m8``, ``+f1``…``+f5``…) is one speaker, id ``en-gb-f2``. Prompts are drawn
with a seeded RNG (each used once before any repeats), speakers take turns, and
each utterance gets a random speaking rate (words/min) and pitch (0–99) within the
given ranges, so the corpus is the same for the same seed whatever ``jobs`` is.
The prompt is normalised (numbers, abbreviations) before espeak-ng speaks it, and
the normalised text is the transcript: ``text`` holds exactly what was said.

Writes wav.scp, text, utt2spk, spk2utt, and ``utt2lang`` (the espeak-ng language,
which ``narspeech text tokenize`` uses for the phonemes), ``utt2dur``, ``spk2gender``.
"""
from __future__ import annotations

import random
import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from narspeech.audio.io import audio_info, load_audio, write_wav
from narspeech.data.datadir import DataDir
from narspeech.errors import NarspeechError
from narspeech.fileio import atomic_path
from narspeech.progress import progress
from narspeech.text.normalize import normalize

DEFAULT_VOICES = ("en-us", "en-us+f2", "en-us+m3", "en-us+f4")


@dataclass(frozen=True)
class Utterance:
    utt: str
    spk: str
    voice: str
    language: str
    text: str
    rate: int
    pitch: int


def espeak_exe() -> str:
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise NarspeechError("espeak-ng not found on PATH; install it (tools/install.sh does)")
    return exe


def _data_dir() -> Path | None:
    out = subprocess.run([espeak_exe(), "--version"], capture_output=True, text=True).stdout
    m = re.search(r"Data at:\s*(\S+)", out)
    return Path(m.group(1)) if m else None


def check_voice(voice: str) -> tuple[str, str | None]:
    """(language, variant) of ``lang[+variant]``; raises if espeak-ng lacks either."""
    lang, _, variant = voice.partition("+")
    if not re.fullmatch(r"[a-z]{2,3}(-[A-Za-z0-9]+)*", lang) or (variant and not re.fullmatch(r"[A-Za-z0-9_]+", variant)):
        raise NarspeechError(f"bad voice {voice!r}: expected a language with an optional variant, e.g. en-us+f2")
    probe = subprocess.run([espeak_exe(), "-v", lang, "-q", "x"], capture_output=True, text=True)
    if probe.returncode != 0:
        raise NarspeechError(f"espeak-ng has no voice {lang!r} ({probe.stderr.strip()}); see `espeak-ng --voices`")
    data = _data_dir()
    if variant and data is not None and not (data / "voices" / "!v" / variant).is_file():
        raise NarspeechError(f"espeak-ng has no variant {variant!r}; see `espeak-ng --voices=variant`")
    return lang, variant or None


def speaker_id(voice: str) -> str:
    return voice.replace("+", "-")


def gender(variant: str | None) -> str | None:
    """m/f for espeak's numbered variants (the plain voices are male); None otherwise."""
    if variant is None:
        return "m"
    m = re.fullmatch(r"([mf])\d+", variant)
    return m.group(1) if m else None


def parse_range(spec: str, name: str, lo: int, hi: int) -> tuple[int, int]:
    """``"140:190"`` → (140, 190), checked against [lo, hi]."""
    try:
        a, b = (int(x) for x in spec.split(":")) if ":" in spec else (int(spec),) * 2
    except ValueError:
        raise NarspeechError(f"--{name} must be MIN:MAX integers, got {spec!r}") from None
    if not lo <= a <= b <= hi:
        raise NarspeechError(f"--{name} {spec} must satisfy {lo} <= MIN <= MAX <= {hi}")
    return a, b


def exclude_prompts(prompts: list[str], texts: list[str]) -> list[str]:
    """`prompts` without those whose normalised text is one of `texts` (e.g. another recipe's test
    transcripts, so a recogniser trained here never saw the sentences it will score)."""
    drop = {" ".join(t.split()) for t in texts}
    return [p for p in prompts if " ".join(normalize(p).split()) not in drop]


def plan(prompts: list[str], voices: list[str], num_utts: int, *, rate: tuple[int, int] = (140, 190),
         pitch: tuple[int, int] = (35, 65), seed: int = 0) -> list[Utterance]:
    """The utterances to synthesise (deterministic for a seed)."""
    if num_utts < 1:
        raise NarspeechError("--num-utts must be at least 1")
    if not voices:
        raise NarspeechError("no voices given")
    if len(set(voices)) != len(voices):
        raise NarspeechError(f"voices repeat: {','.join(voices)}")
    langs = {v: check_voice(v)[0] for v in voices}
    rng = random.Random(seed)
    order: list[str] = []
    while len(order) < num_utts:
        batch = list(prompts)
        rng.shuffle(batch)
        order += batch
    width = max(5, len(str(num_utts)))
    out, counts = [], {v: 0 for v in voices}
    for i, prompt in enumerate(order[:num_utts]):
        voice = voices[i % len(voices)]
        counts[voice] += 1
        spk = speaker_id(voice)
        text = normalize(prompt)
        if not text.strip():
            raise NarspeechError(f"prompt {prompt!r} is empty after normalisation")
        out.append(Utterance(f"{spk}-{counts[voice]:0{width}d}", spk, voice, langs[voice], text,
                             rng.randint(*rate), rng.randint(*pitch)))
    return out


def speak(u: Utterance, wav_path: Path, sample_rate: int | None) -> float:
    """Run espeak-ng for one utterance into `wav_path` (resampled when asked); returns seconds."""
    with atomic_path(wav_path) as tmp:
        cmd = [espeak_exe(), "-v", u.voice, "-s", str(u.rate), "-p", str(u.pitch), "-w", str(tmp)]
        proc = subprocess.run(cmd, input=u.text, capture_output=True, text=True)
        if proc.returncode != 0 or not tmp.is_file() or tmp.stat().st_size <= 44:
            raise NarspeechError(f"espeak-ng failed ({proc.stderr.strip()[:200]})", utt=u.utt, path=wav_path)
        sr, _ = audio_info(str(tmp), utt=u.utt)
        if sample_rate is not None and sr != sample_rate:
            wav, sr = load_audio(str(tmp), utt=u.utt, target_sr=sample_rate)
            write_wav(tmp, wav, sr)
    return audio_info(str(wav_path), utt=u.utt)[1]


def synthesize(utts: list[Utterance], wav_dir: str | Path, *, sample_rate: int | None = 22050, jobs: int = 2) -> DataDir:
    """Speak `utts` into `wav_dir` with `jobs` espeak-ng processes at once; returns the data dir tables."""
    wav_dir = Path(wav_dir).absolute()
    wav_dir.mkdir(parents=True, exist_ok=True)
    paths = {u.utt: wav_dir / f"{u.utt}.wav" for u in utts}
    with ThreadPoolExecutor(max(1, jobs)) as pool:
        durs = dict(zip((u.utt for u in utts),
                        progress(pool.map(lambda u: speak(u, paths[u.utt], sample_rate), utts), total=len(utts),
                                 desc="espeak-ng", unit="utt")))
    genders = {u.spk: gender(u.voice.partition("+")[2] or None) for u in utts}
    dd = DataDir({u.utt: str(paths[u.utt]) for u in utts}, {u.utt: u.text for u in utts}, {u.utt: u.spk for u in utts},
                 extra_utt={"utt2lang": {u.utt: u.language for u in utts},
                            "utt2dur": {u: f"{d:.3f}" for u, d in durs.items()}})
    if all(g is not None for g in genders.values()):
        dd.extra_spk["spk2gender"] = genders  # type: ignore[assignment]
    return dd
