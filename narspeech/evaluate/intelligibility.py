"""Intelligibility of speech as an ASR hears it: WER/CER of a recogniser on audio against its text.

A TTS system is scored by running the same recogniser on its synthesis **and** on the
held-out recordings of the same sentences, in one run: the recogniser's own errors
(accent, vocabulary, language model) then cancel in the ratio ``synth / ref``, which is
the number to compare across systems (1.0: as intelligible as the recordings).

Recognisers follow the small :class:`Recognizer` protocol (``sample_rate`` and
``transcribe(wavs, sr)``). Two are provided:

* :class:`PocketSphinx` — CMU PocketSphinx 5 (PyPI ``pocketsphinx``) with its bundled
  US-English model, no network; 16 kHz, one decoder per worker process over utterances;
* a trained narspeech ASR experiment, loaded by ``narspeech.asr.recognize.load_recognizer``.

References and hypotheses are normalised the same way before scoring
(:func:`normalize_for_scoring`: numbers and abbreviations spoken as words by
:func:`narspeech.text.normalize.normalize`, lower case, punctuation removed), so
"1908" in a prompt matches the recogniser's "nineteen oh eight".
"""
from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import Mapping, Protocol, Sequence, runtime_checkable

import numpy as np

from narspeech.audio.io import resample
from narspeech.errors import NarspeechError
from narspeech.fileio import atomic_write, write_table
from narspeech.metrics.scoring import error_rate
from narspeech.progress import progress
from narspeech.signals import children_die_on_sigterm, die_with_parent
from narspeech.text.normalize import normalize

PS_RATE = 16000


@runtime_checkable
class Recognizer(Protocol):
    """Anything that turns waveforms into text."""

    name: str
    sample_rate: int

    def transcribe(self, wavs: Sequence[np.ndarray], sr: int) -> list[str]:
        """One transcript per waveform (mono float in [-1, 1] at rate `sr`)."""
        ...


def normalize_for_scoring(text: str) -> str:
    """Text as words to compare: spoken-form numbers/abbreviations, lower case, no punctuation.

    Apostrophes inside words are kept (``don't``); hyphens split words. Both the
    prompt and the recogniser's output go through this before WER/CER.
    """
    text = normalize(text).lower()
    text = re.sub(r"[-_/]", " ", text)
    text = re.sub(r"[^\w' ]+", " ", text)
    text = re.sub(r"(?<!\w)'|'(?!\w)", " ", text)  # quotes, not apostrophes
    return " ".join(text.split())


# ---------------------------------------------------------------- PocketSphinx

def pocketsphinx_available() -> bool:
    """True if the ``pocketsphinx`` package (with its bundled model) can be imported."""
    try:
        import pocketsphinx  # noqa: F401
    except ImportError:
        return False
    return True


_DECODER = None


def _ps_init() -> None:
    global _DECODER
    from pocketsphinx import Decoder

    _DECODER = Decoder(samprate=PS_RATE, loglevel="FATAL")


def _ps_worker_init() -> None:
    """A pool worker: end with the evaluation that made it, even if that is SIGKILLed; then load the decoder."""
    die_with_parent()
    _ps_init()


def _ps_decode(job: tuple[int, bytes]) -> tuple[int, str]:
    i, pcm = job
    if _DECODER is None:
        _ps_init()
    d = _DECODER
    d.start_utt()
    if pcm:
        d.process_raw(pcm, full_utt=True)
    d.end_utt()
    hyp = d.hyp()
    return i, hyp.hypstr if hyp is not None else ""


def _pcm16(wav: np.ndarray, sr: int) -> bytes:
    wav = np.asarray(wav, dtype=np.float32).reshape(-1)
    if sr != PS_RATE:
        wav = resample(wav, sr, PS_RATE)
    return (np.clip(wav, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()


class PocketSphinx:
    """PocketSphinx 5 with its bundled en-us acoustic model, language model and dictionary.

    Decoding is single-threaded per utterance, so `num_workers` processes (default: the
    CPU count, at most 4) each hold one decoder and take utterances longest first.
    Audio is resampled to 16 kHz and sent as 16-bit PCM.
    """

    name = "pocketsphinx"
    sample_rate = PS_RATE

    def __init__(self, num_workers: int | None = None, desc: str = "pocketsphinx"):
        if not pocketsphinx_available():
            raise NarspeechError("pocketsphinx is not installed (pip install pocketsphinx, or tools/install.sh); "
                                 "use --asr none to skip intelligibility")
        self.num_workers = num_workers if num_workers is not None else min(4, os.cpu_count() or 1)
        self.desc = desc

    def transcribe(self, wavs: Sequence[np.ndarray], sr: int) -> list[str]:
        order = sorted(range(len(wavs)), key=lambda i: -len(wavs[i]))
        jobs = ((i, _pcm16(wavs[i], sr)) for i in order)
        out = [""] * len(wavs)
        workers = max(1, min(self.num_workers, len(wavs)))
        bar = progress(total=len(wavs), desc=self.desc, unit="utt")
        if workers == 1:
            for job in jobs:
                i, text = _ps_decode(job)
                out[i] = text
                bar.update(1)
        else:
            import multiprocessing as mp

            # fork: spawn/forkserver would re-import the caller's __main__ (a script without a main
            # guard would recurse); the children only run pocketsphinx, never torch/OpenMP
            ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
            with children_die_on_sigterm():
                pool = ctx.Pool(workers, initializer=_ps_worker_init)
            with pool:
                for i, text in pool.imap_unordered(_ps_decode, jobs):
                    out[i] = text
                    bar.update(1)
        bar.close()
        return out


# ---------------------------------------------------------------- narspeech ASR

class _NarspeechASR:
    """Adapter naming a trained narspeech ASR experiment as a :class:`Recognizer`. A Mask-CTC model reads
    by greedy CTC: its decoder is the part a short run leaves weakest, and a judge of other systems
    must not vary with it. An AR model reads by its beam search."""

    def __init__(self, exp_dir: Path, device: str):
        try:
            from narspeech.asr.recognize import DecodeOptions, load_recognizer
        except ImportError as e:
            raise NarspeechError(f"--asr-model needs narspeech.asr.recognize.load_recognizer, which this install lacks ({e}); "
                                 "use --asr pocketsphinx or --asr none", path=exp_dir) from e
        self._rec = load_recognizer(exp_dir, device)
        self._opts = DecodeOptions(method="ctc" if self._rec.model_type == "mask_ctc" else "beam")
        self.name = f"narspeech:{exp_dir} ({self._opts.method})"
        self.sample_rate = int(self._rec.sample_rate)

    def transcribe(self, wavs: Sequence[np.ndarray], sr: int) -> list[str]:
        return list(self._rec.transcribe(list(wavs), sr, options=self._opts))


def load_asr(asr: str = "auto", *, model: str | Path | None = None, device: str = "cpu",
             num_workers: int | None = None) -> Recognizer | None:
    """The recogniser that `tts evaluate` options name, or None to skip intelligibility.

    `model` (an ASR experiment dir) wins over `asr`; `asr` is ``pocketsphinx``, ``none``, or
    ``auto`` (pocketsphinx if installed, else none).
    """
    if model is not None:
        model = Path(model)
        if not model.is_dir():
            raise NarspeechError("ASR experiment dir not found", path=model)
        return _NarspeechASR(model, device)
    if asr == "none" or (asr == "auto" and not pocketsphinx_available()):
        return None
    if asr in ("auto", "pocketsphinx"):
        return PocketSphinx(num_workers=num_workers)
    raise NarspeechError(f"unknown --asr {asr!r} (pocketsphinx, none, or --asr-model EXP)")


# ---------------------------------------------------------------- scoring

def score_transcripts(refs: Mapping[str, str], hyps: Mapping[str, str]) -> dict:
    """Corpus WER and CER of `hyps` against `refs`, both normalised with :func:`normalize_for_scoring`."""
    r = {u: normalize_for_scoring(t) for u, t in refs.items()}
    empty = [u for u, t in r.items() if not t]
    if empty:
        raise NarspeechError("reference text is empty after normalisation", utt=empty[0])
    h = {u: normalize_for_scoring(hyps.get(u, "")) for u in r}
    wer, cer = error_rate(r, h, unit="word"), error_rate(r, h, unit="char")
    return {"wer": wer["error_rate"], "cer": cer["error_rate"], "words": wer["ref_units"], "chars": cer["ref_units"],
            "word_errors": {k: wer[k] for k in ("substitutions", "deletions", "insertions")},
            "empty_hyps": sum(not h[u] for u in r), "utterances": len(r)}


def _ratio(a: float, b: float) -> float:
    return a / b if b > 0 else float("inf") if a > 0 else 1.0


_CACHE: dict[tuple[str, int, str], str] = {}


def _cache_file(cache_dir: Path, recognizer: Recognizer) -> Path:
    return Path(cache_dir) / (re.sub(r"[^\w.-]+", "_", recognizer.name).strip("_") + ".json")


def _transcribe_cached(recognizer: Recognizer, wavs: Sequence[np.ndarray], sr: int, cache_dir: str | Path | None = None) -> list[str]:
    """Transcribe, reusing earlier transcripts of identical audio (the recordings, scored again for
    every system): in this process, and across runs in ``cache_dir/<recogniser>.json`` (sha1 of the audio -> text)."""
    keys = [(recognizer.name, sr, hashlib.sha1(np.ascontiguousarray(w, dtype=np.float32).tobytes()).hexdigest()) for w in wavs]
    disk: dict[str, str] = {}
    if cache_dir is not None and _cache_file(cache_dir, recognizer).is_file():
        disk = json.loads(_cache_file(cache_dir, recognizer).read_text(encoding="utf-8"))
        for k in keys:
            if k not in _CACHE and f"{k[1]}:{k[2]}" in disk:
                _CACHE[k] = disk[f"{k[1]}:{k[2]}"]
    todo = sorted({i for i, k in enumerate(keys) if k not in _CACHE}, key=lambda i: keys[i])
    todo = list({keys[i]: i for i in todo}.values())  # one decode per distinct waveform
    if todo:
        for i, text in zip(todo, recognizer.transcribe([wavs[i] for i in todo], sr)):
            _CACHE[keys[i]] = text
        if cache_dir is not None:
            disk.update({f"{k[1]}:{k[2]}": _CACHE[k] for k in keys})
            with atomic_write(_cache_file(cache_dir, recognizer)) as f:
                json.dump(disk, f)
    return [_CACHE[k] for k in keys]


def intelligibility(texts: Mapping[str, str], synth: Mapping[str, np.ndarray], ref: Mapping[str, np.ndarray], sr: int,
                    recognizer: Recognizer, out_dir: str | Path | None = None, cache_dir: str | Path | None = None,
                    utt2spk: Mapping[str, str] | None = None) -> dict:
    """WER/CER of `recognizer` on the synthesis and on the recordings of the same utterances, and their ratio.

    `texts`, `synth` and `ref` are keyed by utterance id (waveforms at rate `sr`). With
    `out_dir`, writes Kaldi-style ``hyp_synth``, ``hyp_ref`` (raw recogniser output) and
    ``text_scored`` (the normalised references) there. `cache_dir`: keep transcripts by audio
    content there, so the recordings are decoded once for all systems of a recipe. `utt2spk`: also score each
    speaker's utterances on their own (``per_speaker``: WER of synthesis and recordings, ratio).
    """
    utts = [u for u in synth if u in ref and u in texts]
    if not utts:
        raise NarspeechError("no utterance has synthesis, recording and text for intelligibility scoring")
    hyps = _transcribe_cached(recognizer, [synth[u] for u in utts] + [ref[u] for u in utts], sr, cache_dir)
    hyp_syn = dict(zip(utts, hyps[: len(utts)]))
    hyp_ref = dict(zip(utts, hyps[len(utts):]))
    refs = {u: texts[u] for u in utts}
    s, r = score_transcripts(refs, hyp_syn), score_transcripts(refs, hyp_ref)
    if out_dir is not None:
        out_dir = Path(out_dir)
        write_table(out_dir / "hyp_synth", {u: hyp_syn[u] for u in sorted(utts)})
        write_table(out_dir / "hyp_ref", {u: hyp_ref[u] for u in sorted(utts)})
        write_table(out_dir / "text_scored", {u: normalize_for_scoring(refs[u]) for u in sorted(utts)})
    out = {"asr": recognizer.name, "utterances": len(utts), "synth": s, "ref": r,
           "wer_ratio": _ratio(s["wer"], r["wer"]), "cer_ratio": _ratio(s["cer"], r["cer"])}
    if utt2spk:
        per = {}
        for spk in sorted({utt2spk[u] for u in utts if u in utt2spk}):
            us = [u for u in utts if utt2spk.get(u) == spk]
            ss = score_transcripts({u: refs[u] for u in us}, hyp_syn)
            rr = score_transcripts({u: refs[u] for u in us}, hyp_ref)
            per[spk] = {"utterances": len(us), "wer_synth": ss["wer"], "wer_ref": rr["wer"], "wer_ratio": _ratio(ss["wer"], rr["wer"])}
        out["per_speaker"] = per
    return out
