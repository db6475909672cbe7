"""Reading audio named by a `wav.scp` entry (a path or a Kaldi ``command |``) and writing wavs.

Errors name the utterance and the file: a missing, empty, truncated or corrupt file, or an
unreadable command, raises :class:`NarspeechError`. A ``command |`` entry runs a shell
command, as in Kaldi; ``NARSPEECH_NO_PIPES=1`` makes it an error instead (:mod:`narspeech.trust`).
"""
from __future__ import annotations

import io
import struct
import subprocess
import warnings
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
import torchaudio.functional as AF

from narspeech.errors import NarspeechError
from narspeech.fileio import atomic_path
from narspeech.trust import check_pipe


def guess_base(src: Path, wav_scp: dict[str, str]) -> Path:
    """The folder relative wav.scp paths are relative to: src, or its parent, or the current dir."""
    rel = [v for v in wav_scp.values() if not v.endswith("|") and not Path(v).is_absolute()]
    if not rel:
        return src
    sample = rel[: min(len(rel), 20)]
    for cand in (src, src.parent, Path.cwd()):
        if all((cand / v).is_file() for v in sample):
            return cand
    return src.parent


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
            _check_complete(proc.stdout[:_HEAD], len(proc.stdout), utt, entry)
            wav, sr = sf.read(io.BytesIO(proc.stdout), dtype="float32", always_2d=True)
        else:
            p = Path(entry)
            if not p.is_file():
                raise NarspeechError("audio file not found", utt=utt, path=entry)
            if p.stat().st_size == 0:
                raise NarspeechError("audio file is empty", utt=utt, path=entry)
            _check_file_complete(p, utt, entry)
            try:
                with sf.SoundFile(entry) as f:
                    wav, sr, declared = f.read(dtype="float32", always_2d=True), f.samplerate, f.frames
                if 0 < len(wav) < declared:
                    raise NarspeechError(f"truncated or corrupt {f.format} file: the header says {declared / sr:.2f} s, "
                                         f"decoding stops at {len(wav) / sr:.2f} s (re-download or re-encode it)", utt=utt, path=entry)
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


_HEAD = 1 << 16  # bytes read to find the audio chunk of a header


def _check_file_complete(p: Path, utt: str | None, entry: str) -> None:
    with open(p, "rb") as f:
        head = f.read(_HEAD)
    _check_complete(head, p.stat().st_size, utt, entry)


def _check_complete(head: bytes, size: int, utt: str | None, entry: str) -> None:
    """Raise when the header declares more audio bytes than the file holds. libsndfile silently
    clamps a cut WAV/AIFF/AU/W64 to what is there, so a truncated file would pass as a short one."""
    found = declared_audio_bytes(head)
    if found is None:
        return
    kind, offset, nbytes = found
    have = size - offset
    if nbytes > have:
        raise NarspeechError(f"truncated {kind} file: the header declares {nbytes} bytes of audio, the file holds "
                             f"{max(have, 0)} ({100 * max(have, 0) / nbytes:.0f}%; re-download or re-encode it)",
                             utt=utt, path=entry)


_UNKNOWN32 = (0, 0xFFFFFFFF)  # streaming writers leave the size unset


def declared_audio_bytes(head: bytes) -> tuple[str, int, int] | None:
    """(format, offset of the audio data, its size) as the header of a RIFF/RF64 WAV, AIFF(-C), AU or
    W64 file declares it; None for other formats, or when the header leaves the size open."""
    def chunks(pos: int, endian: str):
        while pos + 8 <= len(head):
            cid, csize = head[pos:pos + 4], struct.unpack(endian + "I", head[pos + 4:pos + 8])[0]
            yield cid, pos + 8, csize
            pos += 8 + csize + (csize & 1)

    magic = head[:4]
    if magic in (b"RIFF", b"RIFX", b"RF64") and head[8:12] == b"WAVE":
        endian = ">" if magic == b"RIFX" else "<"
        ds64 = None
        for cid, off, csize in chunks(12, endian):
            if cid == b"ds64" and csize >= 16:
                ds64 = struct.unpack("<Q", head[off + 8:off + 16])[0]
            if cid == b"data":
                n = ds64 if magic == b"RF64" and csize == 0xFFFFFFFF else csize
                return None if n is None or n in _UNKNOWN32 else ("WAV", off, n)
        return None
    if magic == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        for cid, off, csize in chunks(12, ">"):
            if cid == b"SSND":
                return None if csize in _UNKNOWN32 else ("AIFF", off, csize)
        return None
    if magic == b".snd" and len(head) >= 12:
        off, n = struct.unpack(">II", head[4:12])
        return None if n in _UNKNOWN32 else ("AU", off, n)
    if head[:16] == b"riff\x2e\x91\xcf\x11\xa5\xd6\x28\xdb\x04\xc1\x00\x00" and len(head) >= 24:  # Sony Wave64
        total = struct.unpack("<Q", head[16:24])[0]
        return None if total == 0 else ("W64", 0, total)
    return None


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
        _check_file_complete(p, utt, entry)
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
