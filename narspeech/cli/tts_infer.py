"""`narspeech tts synthesize` and `narspeech tts evaluate`: batch synthesis and objective scores."""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from narspeech.outputs import out_dir, out_file


def synthesize(
    model: Path = typer.Option(..., "--model", help="Experiment dir of a trained TTS model (config.yaml, tokens.txt, best.pt/last.pt)."),
    text: Optional[Path] = typer.Option(None, "--text", help="Sentences, one per line (ids line0001…; see --with-ids)."),
    data: Optional[Path] = typer.Option(None, "--data", help="Data dir whose `text` to synthesize (keeps its utterance ids)."),
    out: Path = typer.Option(..., "--out", callback=out_dir, help="Output dir: feats.scp/ark, wav/, wav.scp, text, failed, synth_info.json."),
    with_ids: bool = typer.Option(False, "--with-ids", help="--text lines are `id sentence`."),
    checkpoint: Optional[Path] = typer.Option(None, "--checkpoint", help="Checkpoint file to use instead of the exp dir's best.pt/last.pt."),
    batch_size: int = typer.Option(16, "--batch-size", help="Sentences per batch (sorted by length)."),
    speed: float = typer.Option(1.0, "--speed", help="Speaking rate (FastSpeech: durations / speed; 2 = twice as fast)."),
    pitch_shift: float = typer.Option(0.0, "--pitch-shift", help="FastSpeech 2 pitch shift in semitones."),
    energy_scale: float = typer.Option(1.0, "--energy-scale", help="FastSpeech 2 energy multiplier."),
    vocoder: str = typer.Option("griffin-lim", "--vocoder", help="Vocoder: griffin-lim, hifigan:universal, hifigan:ljspeech, or a `narspeech vocoder train` exp dir / checkpoint (HiFi-GAN needs features that match it)."),
    gl_iters: int = typer.Option(32, "--gl-iters", help="Griffin-Lim iterations."),
    device: str = typer.Option("auto", "--device", help="auto (CUDA if present), cpu, cuda, cuda:N."),
    no_wav: bool = typer.Option(False, "--no-wav", help="Write the mels only (no vocoder)."),
    on_foreign: str = typer.Option("skip", "--on-foreign", help="Characters the model's language cannot speak (another script, emoji): skip (leave them out, warn) | spell (espeak-ng reads their names, warn) | fail (the line fails)."),
    teacher_forcing: Optional[Path] = typer.Option(None, "--teacher-forcing", help="AR teacher only, with --data: a feature dump of those recordings (e.g. dump/test); each decoder step is fed the recorded previous frame, so the output shows the teacher's spectrum without its free-running errors (a diagnosis: weak acoustic model or failing attention?)."),
    seed: int = typer.Option(0, "--seed", help="Seed for the AR teacher's always-on prenet dropout: the same seed gives the same speech."),
) -> None:
    """Synthesize sentences in batches with a trained TTS model (FastSpeech 2 or the AR teacher).

    Lines that cannot be synthesized (empty, nothing speakable, unknown tokens) are listed in
    OUT/failed with a one-line warning each; the others are still written.

    Example: narspeech tts synthesize --model exp/arctic_fastspeech2 --data data/test --out exp/arctic_fastspeech2/synth_test
    Example: narspeech tts synthesize --model exp/teacher --data data/test --teacher-forcing dump/test --out exp/teacher/synth_tf/test
    """
    from narspeech.errors import NarspeechError
    from narspeech.cli.vocoder import vocoder_options
    from narspeech.tts.synthesize import Controls, load_model, read_data_text, read_sentences, synthesize_to_dir

    if (text is None) == (data is None):
        raise NarspeechError("give exactly one of --text FILE or --data DATA_DIR")
    if teacher_forcing is not None and data is None:
        raise NarspeechError("--teacher-forcing needs --data (the utterances of the dump)")
    items = read_sentences(text, with_ids=with_ids) if text is not None else read_data_text(data)
    loaded = load_model(model, checkpoint=checkpoint, device=device)
    loaded.frontend.on_foreign = on_foreign
    res = synthesize_to_dir(loaded, items, out, batch_size=batch_size,
                            controls=Controls(speed=speed, pitch_shift=pitch_shift, energy_scale=energy_scale),
                            vocoder=vocoder, vocoder_options=vocoder_options(vocoder, gl_iters=gl_iters), write_wavs=not no_wav,
                            source=str(text if text is not None else data), teacher_dump=teacher_forcing, seed=seed)
    i = res.info
    typer.echo(f"synthesized {i['synthesized']}/{i['inputs']} ({i['failed']} failed, see {out / 'failed'}) "
               f"with {i['model_type']} on {i['device']}: {i['audio_seconds']:.1f} s of audio, "
               f"mels {i['mel_seconds']:.2f} s, vocoder {i['vocoder_seconds']:.2f} s -> {out}")


def evaluate(
    synth: Path = typer.Option(..., "--synth", help="Output dir of `narspeech tts synthesize` (wav.scp, synth_info.json)."),
    ref: Path = typer.Option(..., "--ref", help="Data dir with the held-out recordings (wav.scp) of the same utterance ids. `cmd |` entries of wav.scp run that shell command (Kaldi); `narspeech --no-pipes` refuses them."),
    out: Optional[Path] = typer.Option(None, "--out", callback=out_file, help="Results JSON (default SYNTH/results.json); per-utterance `mcd`, `f0_rmse` beside it."),
    order: int = typer.Option(24, "--order", help="Mel-cepstral coefficients 1..ORDER in the MCD (c0 excluded)."),
    band: Optional[int] = typer.Option(None, "--band", help="Sakoe-Chiba band for DTW, in frames (default: none)."),
    trim_db: Optional[float] = typer.Option(None, "--trim-db", help="Cut leading/trailing silence (frames more than this many dB below the utterance's peak) from synthesis and recording before scoring, e.g. 40."),
    device: str = typer.Option("auto", "--device", help="Device for feature/F0 extraction."),
    batch_size: int = typer.Option(16, "--batch-size", help="Waveforms per feature-extraction batch."),
    skip_bad: bool = typer.Option(False, "--skip-bad", help="Skip unreadable wavs (listed in the results) instead of stopping."),
    asr: str = typer.Option("auto", "--asr", help="Recogniser for intelligibility (WER/CER of synthesis and recordings): pocketsphinx, none, auto (pocketsphinx if installed)."),
    asr_model: Optional[Path] = typer.Option(None, "--asr-model", help="A trained narspeech ASR experiment dir to use as the recogniser instead."),
    asr_workers: Optional[int] = typer.Option(None, "--asr-workers", help="PocketSphinx worker processes (default: CPU count, at most 4)."),
    floor_db: float = typer.Option(40.0, "--floor-db", help="A frame is near the floor (silent) when more than this many dB below the recording's peak."),
    asr_cache: Optional[Path] = typer.Option(None, "--asr-cache", callback=out_dir, help="Folder keeping ASR transcripts by audio content, so the recordings are recognised once for all systems (e.g. exp/asr_cache)."),
) -> None:
    """Objective scores of a synthesis against recordings: intelligibility (ASR WER ratio), MCD with/without c0,
    voicing F1, silence and stationarity checks, F0 RMSE, duration ratio.

    Prints one headline line (see narspeech.metrics.headline). MCD uses the DCT of the log-mel
    (not SPTK mcep): compare systems with each other under the same vocoder, not with MCD
    numbers printed in papers. The recogniser runs on the recordings too, so its own errors
    cancel in the WER ratio.

    Example: narspeech tts evaluate --synth exp/arctic_fastspeech2/synth_test --ref data/test --trim-db 40
    """
    from narspeech.metrics.headline import format_line
    from narspeech.metrics.intelligibility import load_asr
    from narspeech.metrics.tts_eval import evaluate_synthesis

    recognizer = load_asr(asr, model=asr_model, device=device, num_workers=asr_workers)
    r = evaluate_synthesis(synth, ref, out=out, order=order, band=band, device=device, batch_size=batch_size, skip_bad=skip_bad,
                           trim_db=trim_db, asr=recognizer, floor_db=floor_db, asr_cache=asr_cache)
    typer.echo(f"{r['utterances']} utterances: {format_line(r['headline'])}"
               + (f"; {len(r['missing_synth'])} references without synthesis" if r["missing_synth"] else "")
               + f" -> {out or synth / 'results.json'}")


def spectrograms(
    ref: Path = typer.Option(..., "--ref", help="Data dir with the recordings (wav.scp, text). `cmd |` entries of wav.scp run that shell command (Kaldi); `narspeech --no-pipes` refuses them."),
    synth: List[Path] = typer.Option(..., "--synth", help="Synthesis dir (`tts synthesize` OUT); repeat for several systems (one row each)."),
    utts: str = typer.Option(..., "--utts", help="Comma-separated utterance ids (one column each)."),
    out: Path = typer.Option(..., "--out", callback=out_file, help="PNG to write."),
    labels: Optional[str] = typer.Option(None, "--labels", help="Comma-separated row names for the --synth dirs (default: their exp names)."),
    trim_db: Optional[float] = typer.Option(40.0, "--trim-db", help="Cut edge silence more than this many dB below the peak, as `tts evaluate --trim-db` scores."),
) -> None:
    """Spectrograms of recordings and syntheses side by side, to look at formant movement and pauses.

    Example: narspeech tts spectrograms --ref data/test --synth exp/fastspeech2/synth/test --synth exp/teacher/synth/test
    --utts arctic_b0251,arctic_b0254 --out exp/spectrograms.png
    """
    from narspeech.tts.plots import spectrogram_comparison

    path = spectrogram_comparison(ref, synth, [u for u in utts.split(",") if u], out,
                                  labels=labels.split(",") if labels else None, trim_db=trim_db)
    typer.echo(f"wrote {path}")


def register(app: typer.Typer) -> None:
    """Add `synthesize`, `evaluate` and `spectrograms` to the `narspeech tts` group."""
    app.command("synthesize")(synthesize)
    app.command("evaluate")(evaluate)
    app.command("spectrograms")(spectrograms)
