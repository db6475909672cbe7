"""Speak text now: paragraphs → sentences → clause pieces → mel (one piece at a time) → streamed vocoding → audio.

:class:`Speaker` yields float32 pieces as soon as they exist: the first piece's mel, then its
first vocoder chunk (:func:`narspeech.vocoder.stream.stream_vocode`), so the first audio does not
wait for the rest of the text. A long sentence is spoken in clause pieces
(:func:`~narspeech.tts.synthesize.clauses.split_clauses`): its first audio waits for the first
clause's mel only; the pieces join with a short pause, each edge at the join faded so it does not click. Sentences go through the model's own text frontend, as
``tts synthesize``; one the frontend refuses is reported and skipped, and text with nothing to
speak at all is one :class:`NarspeechError`. Sinks: :func:`write_pcm16` (raw little-endian
PCM16 for ``| aplay`` / ``| sox``) and :func:`write_wav_file`.
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Callable, Iterator

import numpy as np

from narspeech.audio.io import write_wav
from narspeech.errors import NarspeechError
from narspeech.tts.synthesize.clauses import split_clauses
from narspeech.tts.synthesize.frontend import MAX_CHARS, split_long_text, stderr_warning
from narspeech.tts.synthesize.inference import Controls, LoadedModel, generate_mels
from narspeech.vocoder.stream import CHUNK_FRAMES, FIRST_CHUNK_FRAMES, stream_length, stream_vocode

SENTENCE_PAUSE_SECONDS = 0.3  # silence between sentences
PARAGRAPH_PAUSE_SECONDS = 0.6  # and between paragraphs
CLAUSE_PAUSE_SECONDS = 0.12  # between the clause pieces of one sentence: a short breath, as at a comma
FADE_SECONDS = 0.01  # fade at a clause join: a piece cut mid-sentence does not end (or start) at zero


def split_sentences(text: str) -> list[list[str]]:
    """Paragraphs (split at blank lines) of sentences (split after ``. ! ?`` and a space); long ones cut further."""
    out = []
    for para in re.split(r"\n\s*\n", text):
        flat = " ".join(para.split())
        if not flat:
            continue
        sentences = [s for part in re.split(r"(?<=[.!?])\s+", flat) for s in split_long_text(part, MAX_CHARS) if s.strip()]
        if sentences:
            out.append(sentences)
    return out


@dataclass
class SpeakStats:
    """What one :meth:`Speaker.stream` call did: sentences spoken / refused, audio length, first-audio latency."""

    sentences: int = 0
    failed: dict[str, str] = field(default_factory=dict)
    samples: int = 0
    pieces: int = 0
    first_audio_seconds: float | None = None
    first_audio_cpu_seconds: float | None = None
    frontend_seconds: float = 0.0
    mel_seconds: float = 0.0
    vocoder_seconds: float = 0.0


class Speaker:
    """A loaded TTS model and vocoder that turn text into a stream of waveform pieces.

    `clauses`: speak long sentences in clause pieces (first audio sooner); off: each sentence in one piece.
    """

    def __init__(self, loaded: LoadedModel, vocoder, *, controls: Controls | None = None, speaker: str | None = None,
                 warn: Callable[[str, str], None] = stderr_warning, first_frames: int = FIRST_CHUNK_FRAMES,
                 chunk_frames: int = CHUNK_FRAMES, clauses: bool = True):
        self.loaded, self.vocoder, self.clauses = loaded, vocoder, clauses
        self.controls = controls or Controls()
        self.controls.check()
        self.warn = warn
        self.first_frames, self.chunk_frames = first_frames, chunk_frames
        self.sample_rate = int(vocoder.sample_rate)
        # Multi-speaker models plug in here: map `speaker` to the model's speaker id and pass it to the mel step.
        if speaker is not None:
            raise NarspeechError(f"--speaker {speaker}: this model has a single voice (it was trained without speaker ids)")
        self.speaker = speaker

    def _silence(self, seconds: float) -> np.ndarray:
        return np.zeros(int(round(seconds * self.sample_rate)), dtype=np.float32)

    def stream(self, text: str, stats: SpeakStats | None = None) -> Iterator[np.ndarray]:
        """Float32 waveform pieces of `text`, in order, with pauses between sentences and paragraphs."""
        stats = SpeakStats() if stats is None else stats
        paragraphs = split_sentences(text)
        if not paragraphs:
            raise NarspeechError("nothing to speak: the text is empty")
        t0, c0 = time.perf_counter(), time.process_time()
        n = 0
        pending_pause = 0.0
        for para in paragraphs:
            for sentence in para:
                n += 1
                utt = f"sentence{n:04d}"
                spoken = False
                for k, (mel, last) in enumerate(self._mels(utt, sentence, stats)):
                    if pending_pause:
                        yield self._silence(pending_pause)
                        stats.samples += int(round(pending_pause * self.sample_rate))
                    t = time.perf_counter()
                    for piece in self._vocoded(mel, fade_in=k > 0, fade_out=not last):
                        stats.vocoder_seconds += time.perf_counter() - t
                        if stats.first_audio_seconds is None:
                            stats.first_audio_seconds = time.perf_counter() - t0
                            stats.first_audio_cpu_seconds = time.process_time() - c0
                        stats.samples += len(piece)
                        yield piece
                        t = time.perf_counter()
                    stats.pieces += 1
                    spoken = True
                    pending_pause = CLAUSE_PAUSE_SECONDS
                if spoken:
                    stats.sentences += 1
                    pending_pause = SENTENCE_PAUSE_SECONDS
            pending_pause = PARAGRAPH_PAUSE_SECONDS if stats.sentences else 0.0
        if not stats.sentences:
            reasons = "; ".join(f"{u}: {w}" for u, w in list(stats.failed.items())[:3])
            raise NarspeechError(f"nothing could be spoken ({reasons})")

    def _mels(self, utt: str, sentence: str, stats: SpeakStats) -> Iterator[tuple[np.ndarray, bool]]:
        """The log-mel of each clause piece of `sentence` in turn, and whether it is the last piece
        (pieces refused or degenerate: warned, skipped)."""
        pieces = split_clauses(sentence) if self.clauses else [sentence]
        keys = [utt] if len(pieces) == 1 else [f"{utt}#{k}" for k in range(1, len(pieces) + 1)]
        t = time.perf_counter()
        encoded, failed = self.loaded.frontend.encode(list(zip(keys, pieces)))
        stats.frontend_seconds += time.perf_counter() - t
        done = {e.utt for e in encoded}
        for key in keys:
            if key not in done:
                stats.failed[key] = failed.get(key, "the text frontend refused it")
                self.warn(key, f"{stats.failed[key]}: skipped")
        for i, e in enumerate(encoded):
            t = time.perf_counter()
            mel = generate_mels(self.loaded.model, [e], self.controls, self.loaded.device)[0]
            stats.mel_seconds += time.perf_counter() - t
            if len(mel) < 2 or not np.isfinite(mel).all():
                stats.failed[e.utt] = f"the acoustic model produced {'NaN/inf' if len(mel) >= 2 else len(mel)} frame(s)"
                self.warn(e.utt, stats.failed[e.utt] + ": skipped")
                continue
            yield mel, i == len(encoded) - 1

    def _vocoded(self, mel: np.ndarray, *, fade_in: bool, fade_out: bool) -> Iterator[np.ndarray]:
        """`mel`'s streamed waveform; at a clause join (`fade_in` / `fade_out`, only when the sentence is
        in several pieces) the edge is faded over :data:`FADE_SECONDS`."""
        total = stream_length(self.vocoder, mel)
        n_fade, done = int(round(FADE_SECONDS * self.sample_rate)), 0
        for piece in stream_vocode(self.vocoder, mel, first_frames=self.first_frames, chunk_frames=self.chunk_frames):
            if fade_in and done == 0:
                piece = fade(piece, n_fade, rising=True)
            done += len(piece)
            if fade_out and (total is None or done >= total):
                piece = fade(piece, n_fade, rising=False)
            yield piece


def fade(piece: np.ndarray, n: int, *, rising: bool) -> np.ndarray:
    """`piece` with a raised-cosine fade over its first (`rising`) or last `n` samples (all of it when shorter)."""
    n = min(n, len(piece))
    if n <= 0:
        return piece
    ramp = (0.5 - 0.5 * np.cos(np.pi * (np.arange(n) + 0.5) / n)).astype(np.float32)
    out = piece.copy()
    if rising:
        out[:n] *= ramp
    else:
        out[-n:] *= ramp[::-1]
    return out


def to_pcm16(wav: np.ndarray) -> bytes:
    """Little-endian signed 16-bit samples of a float waveform (clipped to [-1, 1])."""
    return (np.clip(wav, -1.0, 1.0) * 32767.0).round().astype("<i2").tobytes()


def write_pcm16(pieces: Iterator[np.ndarray], sink: BinaryIO) -> int:
    """Write each piece as raw PCM16 to `sink` as it comes (flushed: a pipe plays it at once); return the samples."""
    n = 0
    try:
        for piece in pieces:
            sink.write(to_pcm16(piece))
            sink.flush()
            n += len(piece)
    except BrokenPipeError:  # the player quit (`| head`, Ctrl-C in aplay): stop quietly
        pass
    return n


def write_wav_file(pieces: Iterator[np.ndarray], path: str | Path, sample_rate: int) -> int:
    """Collect the pieces and write one 16-bit wav atomically; return the samples."""
    wav = np.concatenate(list(pieces)) if pieces is not None else np.zeros(0, np.float32)
    write_wav(path, wav, sample_rate)
    return len(wav)
