"""Speak text now: paragraphs → sentences → mel (one sentence at a time) → streamed vocoding → audio pieces.

:class:`Speaker` yields float32 pieces as soon as they exist: the first sentence's mel, then its
first vocoder chunk (:func:`narspeech.vocoder.stream.stream_vocode`), so the first audio does not
wait for the rest of the text. Sentences go through the model's own text frontend, as
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
from narspeech.tts.synthesize.frontend import MAX_CHARS, split_long_text, stderr_warning
from narspeech.tts.synthesize.inference import Controls, LoadedModel, generate_mels
from narspeech.vocoder.stream import CHUNK_FRAMES, FIRST_CHUNK_FRAMES, stream_vocode

SENTENCE_PAUSE_SECONDS = 0.3  # silence between sentences
PARAGRAPH_PAUSE_SECONDS = 0.6  # and between paragraphs


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
    first_audio_seconds: float | None = None
    mel_seconds: float = 0.0
    vocoder_seconds: float = 0.0


class Speaker:
    """A loaded TTS model and vocoder that turn text into a stream of waveform pieces."""

    def __init__(self, loaded: LoadedModel, vocoder, *, controls: Controls | None = None, speaker: str | None = None,
                 warn: Callable[[str, str], None] = stderr_warning, first_frames: int = FIRST_CHUNK_FRAMES,
                 chunk_frames: int = CHUNK_FRAMES):
        self.loaded, self.vocoder = loaded, vocoder
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
        t0 = time.perf_counter()
        n = 0
        pending_pause = 0.0
        for para in paragraphs:
            for sentence in para:
                n += 1
                utt = f"sentence{n:04d}"
                encoded, failed = self.loaded.frontend.encode([(utt, sentence)])
                if not encoded:
                    why = failed.get(utt, "the text frontend refused it")
                    stats.failed[utt] = why
                    self.warn(utt, f"{why}: skipped")
                    continue
                t = time.perf_counter()
                mel = generate_mels(self.loaded.model, encoded, self.controls, self.loaded.device)[0]
                stats.mel_seconds += time.perf_counter() - t
                if len(mel) < 2 or not np.isfinite(mel).all():
                    stats.failed[utt] = f"the acoustic model produced {'NaN/inf' if len(mel) >= 2 else len(mel)} frame(s)"
                    self.warn(utt, stats.failed[utt] + ": skipped")
                    continue
                if pending_pause:
                    yield self._silence(pending_pause)
                    stats.samples += int(round(pending_pause * self.sample_rate))
                t = time.perf_counter()
                for piece in stream_vocode(self.vocoder, mel, first_frames=self.first_frames, chunk_frames=self.chunk_frames):
                    stats.vocoder_seconds += time.perf_counter() - t
                    if stats.first_audio_seconds is None:
                        stats.first_audio_seconds = time.perf_counter() - t0
                    stats.samples += len(piece)
                    yield piece
                    t = time.perf_counter()
                stats.sentences += 1
                pending_pause = SENTENCE_PAUSE_SECONDS
            pending_pause = PARAGRAPH_PAUSE_SECONDS if stats.sentences else 0.0
        if not stats.sentences:
            reasons = "; ".join(f"{u}: {w}" for u, w in list(stats.failed.items())[:3])
            raise NarspeechError(f"nothing could be spoken ({reasons})")


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
