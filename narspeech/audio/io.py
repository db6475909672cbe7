"""Reading audio named by a `wav.scp` entry (a path or a Kaldi ``command |``) and writing wavs.

Errors name the utterance and the file: a missing, empty, truncated or corrupt file, or an
unreadable command, raises :class:`NarspeechError`. A ``command |`` entry runs a shell
command, as in Kaldi; ``NARSPEECH_NO_PIPES=1`` makes it an error instead (:mod:`narspeech.trust`).
"""
from __future__ import annotations

import io
import subprocess
from pathlib import Path

import numpy as np
import soundfile as sf

from narspeech.errors import NarspeechError
from narspeech.fileio import atomic_path
from narspeech.trust import check_pipe


def resolve_entry(entry: str, base: str | Path | None = None) -> str:
    """Make a relative path in a wav.scp entry absolute against `base` (commands are left alone)."""
    entry = entry.strip()
    if entry.endswith("|") or base is None:
        return entry
    p = Path(entry)
    return str(p if p.is_absolute() else Path(base) / p)


def load_audio(entry: str, *, utt: str | None = None, target_sr: int | None = None, mono: bool = True) -> tuple[np.ndarray, int]:
    """Load float32 samples in [-1, 1] and the rate; resample to `target_sr` when given.

    `entry` is a file path or a Kaldi pipe (``sox x.flac -t wav - |``).
    """
    entry = entry.strip()
    try:
        if entry.endswith("|"):
            check_pipe(entry, utt)  # the one place a wav.scp entry runs a command
            proc = subprocess.run(entry[:-1], shell=True, capture_output=True, check=False)
            if proc.returncode != 0 or not proc.stdout:
                raise NarspeechError(f"command failed: {proc.stderr.decode(errors='replace').strip()[:200]}", utt=utt, path=entry)
            wav, sr = sf.read(io.BytesIO(proc.stdout), dtype="float32", always_2d=True)
        else:
            p = Path(entry)
            if not p.is_file():
                raise NarspeechError("audio file not found", utt=utt, path=entry)
            if p.stat().st_size == 0:
                raise NarspeechError("audio file is empty", utt=utt, path=entry)
            try:
                wav, sr = sf.read(entry, dtype="float32", always_2d=True)
            except sf.LibsndfileError:
                _raise_if_damaged(entry, utt)
                wav, sr = _load_with_librosa(entry, utt)
    except NarspeechError:
        raise
    except Exception as e:  # soundfile/libsndfile raise several types for corrupt data
        raise NarspeechError(f"cannot read audio ({type(e).__name__}: {e})", utt=utt, path=entry) from None
    if wav.shape[0] == 0:
        raise NarspeechError("audio has no samples", utt=utt, path=entry)
    wav = wav.mean(axis=1) if mono else wav.T
    if target_sr is not None and sr != target_sr:
        wav = resample(wav, sr, target_sr)
        sr = target_sr
    return np.ascontiguousarray(wav, dtype=np.float32), int(sr)


_MAGIC = {b"fLaC": "FLAC", b"RIFF": "WAV", b"OggS": "Ogg", b"FORM": "AIFF"}


def _raise_if_damaged(entry: str, utt: str | None) -> None:
    """After libsndfile failed to decode: a file whose header libsndfile reads (or whose magic
    bytes name a format it knows) is truncated or corrupt; say so, with how far it decodes."""
    try:
        info = sf.info(entry)
    except Exception:
        with open(entry, "rb") as f:
            kind = _MAGIC.get(f.read(4))
        if kind is not None:
            raise NarspeechError(f"truncated or corrupt {kind} file: its header cannot be read "
                                 "(re-download or re-encode it)", utt=utt, path=entry) from None
        return  # a format libsndfile does not know: let the fallback decoder try
    done = 0
    try:
        with sf.SoundFile(entry) as f:
            for block in f.blocks(1024, dtype="float32"):
                done += len(block)
    except Exception:
        pass
    rate = max(int(info.samplerate), 1)
    raise NarspeechError(f"truncated or corrupt {info.format} file: the header says {info.frames / rate:.2f} s, "
                         f"decoding stops near {done / rate:.2f} s (re-download or re-encode it)", utt=utt, path=entry) from None


def _load_with_librosa(entry: str, utt: str | None) -> tuple[np.ndarray, int]:
    """Fallback for formats libsndfile lacks (e.g. some mp3): audioread via librosa."""
    import warnings

    import librosa

    try:
        with warnings.catch_warnings():  # librosa warns on every fallback; a failure raises below
            warnings.simplefilter("ignore")
            wav, sr = librosa.load(entry, sr=None, mono=False)
    except Exception as e:
        raise NarspeechError(f"cannot decode audio: unknown format, or a corrupt or truncated file ({type(e).__name__})",
                             utt=utt, path=entry) from None
    wav = np.atleast_2d(wav).T
    return wav.astype(np.float32), int(sr)


def resample(wav: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    """Band-limited resampling (torchaudio's windowed-sinc, Kaiser window)."""
    import torch
    import torchaudio.functional as AF

    if orig_sr == target_sr:
        return wav
    x = torch.from_numpy(np.ascontiguousarray(wav, dtype=np.float32))
    return AF.resample(x, orig_sr, target_sr, lowpass_filter_width=16, rolloff=0.95, resampling_method="sinc_interp_kaiser", beta=8.555).numpy()


def audio_info(entry: str, *, utt: str | None = None) -> tuple[int, float]:
    """(sample rate, duration in seconds) without decoding the whole file where possible."""
    if not entry.strip().endswith("|"):
        p = Path(entry.strip())
        if not p.is_file():
            raise NarspeechError("audio file not found", utt=utt, path=entry)
        try:
            info = sf.info(str(p))
            if info.frames <= 0:
                raise NarspeechError("audio has no samples", utt=utt, path=entry)
            return int(info.samplerate), info.frames / info.samplerate
        except NarspeechError:
            raise
        except Exception:
            pass
    wav, sr = load_audio(entry, utt=utt)
    return sr, len(wav) / sr


def write_wav(path: str | Path, wav: np.ndarray, sr: int) -> None:
    """Write 16-bit PCM wav atomically (clipped to [-1, 1])."""
    path = Path(path)
    with atomic_path(path) as tmp:
        sf.write(str(tmp), np.clip(np.asarray(wav, dtype=np.float32), -1.0, 1.0), sr, subtype="PCM_16", format="WAV")
