"""`narspeech tts`: the AR teacher, durations (teacher attention or the aligner), FastSpeech 2, synthesis, evaluation."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import List, Optional

import typer

from narspeech.outputs import out_dir, out_file

def _speak_out(value):
    """`tts speak --out`: '-' is standard output; anything else an output file, checked before the work."""
    return value if str(value) == "-" else out_file(value)


app = typer.Typer(help="Text-to-speech: AR teacher → durations → FastSpeech 2 → synthesis.", no_args_is_help=True)


_DEVICE = "auto (CUDA if present), cpu, cuda, cuda:N."


def _speaker_inputs(spk_embed, valid_spk_embed) -> dict:
    """The speaker embedding inputs of a training run, for its input fingerprint (none: the keys stay out, so the
    fingerprints of single-speaker runs are unchanged)."""
    return {k: v for k, v in (("spk_embed", spk_embed), ("valid_spk_embed", valid_spk_embed)) if v is not None}


# options that several tts commands share
_TRAIN_DATA = typer.Option(..., "--train-data", help="Training data dir with a `token` file.")
_VALID_DATA = typer.Option(None, "--valid-data", help="Validation data dir.")
_VALID_DUMP = typer.Option(None, "--valid-dump", help="Feature dump of the validation set.")
_EXP = typer.Option(..., "--exp", callback=out_dir, help="Experiment dir (config.yaml, tokens.txt, stats.npz, checkpoints, tensorboard).")
_RESUME = typer.Option(False, "--resume", help="Continue from EXP/last.pt (stops if its inputs or config changed; see --retrain).")
_RETRAIN = typer.Option(False, "--retrain", help="With --resume: if the inputs or config changed since EXP was trained, move the old run to EXP/stale-*/ and train afresh.")
_TRAIN_DEVICE = typer.Option(None, "--device", help=_DEVICE + " Default: train.device of the config (auto).")
_SKIP_BAD = typer.Option(False, "--skip-bad", help="Leave out (and list) utterances with bad input instead of stopping.")
_SPK_EMBED = typer.Option(None, "--spk-embed", help="Speaker embeddings of the training set (kaldiio scp keyed by utterance or speaker, e.g. `narspeech feats spk-embed` OUT/utt_embed.scp): turns on model.spk_embed_dim.")
_VALID_SPK_EMBED = typer.Option(None, "--valid-spk-embed", help="Speaker embeddings of the validation set (default: the training speakers' means).")
_ENGINE = typer.Option("torch", "--engine", help="torch, or onnx: the model's `narspeech export onnx` files (MODEL/onnx) through onnxruntime, CPU.")
_ONNX_DIR = typer.Option(None, "--onnx-dir", help="With --engine onnx: where the exports are (default MODEL/onnx).")


def _setup_logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")


def train_teacher(
    config: Path = typer.Option(..., "--config", help="YAML with `model` (type transformer_tts, the default, or tacotron2, and its options) and `train` (engine) sections."),
    tokens: Path = typer.Option(..., "--tokens", help="Token list (tokens.txt) of the training text."),
    train_data: Path = _TRAIN_DATA,
    train_dump: Path = typer.Option(..., "--train-dump", help="Feature dump of the training set (feats.scp, stats.npz)."),
    valid_data: Optional[Path] = _VALID_DATA,
    valid_dump: Optional[Path] = _VALID_DUMP,
    durations: Optional[Path] = typer.Option(None, "--durations", help="Durations of the training set (e.g. `tts align`'s) for model.guided_attn_prior durations (Tacotron 2); ignored otherwise."),
    valid_durations: Optional[Path] = typer.Option(None, "--valid-durations", help="Durations of the validation set, with --durations."),
    exp: Path = _EXP,
    overrides: List[str] = typer.Option([], "--set", help="Override a config key, e.g. --set model.d_model=256 --set train.max_steps=2000."),
    resume: bool = _RESUME,
    retrain: bool = _RETRAIN,
    device: Optional[str] = _TRAIN_DEVICE,
    skip_bad: bool = _SKIP_BAD,
    spk_embed: Optional[Path] = _SPK_EMBED,
    valid_spk_embed: Optional[Path] = _VALID_SPK_EMBED,
) -> None:
    """Train the autoregressive teacher (Transformer-TTS or Tacotron 2, `model.type`) with guided-attention loss.

    Example: narspeech tts train-teacher --config conf/teacher.yaml --tokens data/tokens.txt
    --train-data data/train --train-dump dump/train --valid-data data/dev --valid-dump dump/dev --exp exp/teacher
    """
    from narspeech.config import load_config
    from narspeech.train.fingerprint import check_inputs
    from narspeech.tts.train import train_teacher as run

    _setup_logging()
    cfg = load_config(config, overrides)
    prior = (cfg.get("model") or {}).get("guided_attn_prior") == "durations"
    check_inputs(exp, {"tokens": tokens, "train_data": train_data, "train_dump": train_dump, "valid_data": valid_data,
                       "valid_dump": valid_dump, **({"durations": durations, "valid_durations": valid_durations} if prior else {}),
                       **_speaker_inputs(spk_embed, valid_spk_embed)},
                 cfg, resume=resume, retrain=retrain)
    path = run(cfg, tokens=tokens, train_data=train_data, train_dump=train_dump, exp=exp, valid_data=valid_data,
               valid_dump=valid_dump, resume=resume, device=device, skip_bad=skip_bad, durations=durations,
               valid_durations=valid_durations, spk_embed=spk_embed, valid_spk_embed=valid_spk_embed)
    typer.echo(f"teacher trained -> {path}")


def durations(
    teacher: Path = typer.Option(..., "--teacher", help="Teacher experiment dir (or checkpoint file)."),
    data: Path = typer.Option(..., "--data", help="Data dir with a `token` file."),
    dump: Path = typer.Option(..., "--dump", help="Feature dump of the same set."),
    out: Path = typer.Option(..., "--out", callback=out_dir, help="Output dir: durations, focus_rates, filtered, heads, attn/*.png (kd/ with --kd)."),
    focus_threshold: float = typer.Option(0.3, "--focus-threshold", help="Utterances whose best head's focus rate is lower go to OUT/filtered."),
    batch_size: int = typer.Option(16, "--batch-size", help="Utterances per teacher-forced batch (sorted by length)."),
    plots: int = typer.Option(4, "--plots", help="Attention PNGs for the first N utterance ids (OUT/attn/)."),
    kd: bool = typer.Option(False, "--kd", help="Also synthesise free-running teacher mels as student targets (OUT/kd/feats.scp, durations)."),
    device: str = typer.Option("auto", "--device", help=_DEVICE),
    skip_bad: bool = _SKIP_BAD,
    seed: int = typer.Option(0, "--seed", help="Seed for the teacher's always-on prenet dropout."),
    reference: Optional[Path] = typer.Option(None, "--reference", help="A durations file of the same set (e.g. `tts align`'s) to report boundary agreement with."),
    monotonic: bool = typer.Option(False, "--monotonic", help="Durations from the best monotonic path through the attention (Viterbi) instead of the per-step argmax: robust to stray steps, leading/trailing silence goes to the first/last token."),
    spk_embed: Optional[Path] = typer.Option(None, "--spk-embed", help="Multi-speaker teacher with external embeddings: this set's embeddings (default: the teacher's speaker means)."),
) -> None:
    """Extract per-token durations from the teacher's encoder-decoder attention (teacher forcing, in batches).

    For each utterance the most diagonal head (highest focus rate) is used; the duration of
    token i is the number of frames whose attention argmax is i, so durations sum to the frame count.

    Example: narspeech tts durations --teacher exp/teacher --data data/train --dump dump/train --out exp/teacher/durations/train
    """
    from narspeech.tts.durations.extract import extract_durations

    res = extract_durations(teacher, data, dump, out, focus_threshold=focus_threshold, batch_size=batch_size,
                            n_plots=plots, kd=kd, device=device, skip_bad=skip_bad, seed=seed, monotonic=monotonic,
                            reference=reference, spk_embed=spk_embed)
    for d in res.dropped:
        typer.echo(f"skipped: {d}", err=True)
    typer.echo(f"{res.summary()} -> {out}")


def train(
    config: Path = typer.Option(..., "--config", help="YAML with `model` (type fastspeech | fastspeech2 and options) and `train` sections."),
    tokens: Path = typer.Option(..., "--tokens", help="Token list (tokens.txt); the same one the teacher used."),
    train_data: Path = _TRAIN_DATA,
    train_dump: Path = typer.Option(..., "--train-dump", help="Feature dump of the training set (feats, f0, energy, stats.npz)."),
    durations: Path = typer.Option(..., "--durations", help="Teacher durations of the training set (`tts durations` OUT/durations)."),
    valid_data: Optional[Path] = _VALID_DATA,
    valid_dump: Optional[Path] = _VALID_DUMP,
    valid_durations: Optional[Path] = typer.Option(None, "--valid-durations", help="Teacher durations of the validation set."),
    kd_dump: Optional[Path] = typer.Option(None, "--kd-dump", help="Teacher mels as targets (`tts durations --kd` OUT/kd); use with --durations OUT/kd/durations; model.type fastspeech."),
    exp: Path = _EXP,
    overrides: List[str] = typer.Option([], "--set", help="Override a config key, e.g. --set model.type=fastspeech --set train.max_steps=3000."),
    resume: bool = _RESUME,
    retrain: bool = _RETRAIN,
    device: Optional[str] = _TRAIN_DEVICE,
    skip_bad: bool = _SKIP_BAD,
    spk_embed: Optional[Path] = _SPK_EMBED,
    valid_spk_embed: Optional[Path] = _VALID_SPK_EMBED,
) -> None:
    """Train FastSpeech or FastSpeech 2 (model.type) on durations from the teacher.

    Utterances the teacher filtered (OUT/filtered) are left out with a warning; any other
    utterance without durations, or with durations that do not match its tokens and frames, is an error.

    Example: narspeech tts train --config conf/fastspeech2.yaml --tokens data/tokens.txt --train-data data/train
    --train-dump dump/train --durations exp/teacher/durations/train/durations --valid-data data/dev --valid-dump dump/dev
    --valid-durations exp/teacher/durations/dev/durations --exp exp/fastspeech2
    """
    from narspeech.config import load_config
    from narspeech.train.fingerprint import check_inputs
    from narspeech.tts.train import train_fastspeech

    _setup_logging()
    cfg = load_config(config, overrides)
    check_inputs(exp, {"tokens": tokens, "train_data": train_data, "train_dump": train_dump, "durations": durations,
                       "valid_data": valid_data, "valid_dump": valid_dump, "valid_durations": valid_durations,
                       "kd_dump": kd_dump, **_speaker_inputs(spk_embed, valid_spk_embed)}, cfg, resume=resume, retrain=retrain)
    path = train_fastspeech(cfg, tokens=tokens, train_data=train_data, train_dump=train_dump, durations=durations, exp=exp,
                            valid_data=valid_data, valid_dump=valid_dump, valid_durations=valid_durations, kd_dump=kd_dump,
                            resume=resume, device=device, skip_bad=skip_bad, spk_embed=spk_embed, valid_spk_embed=valid_spk_embed)
    typer.echo(f"{cfg.get('model', {}).get('type', 'fastspeech2')} trained -> {path}")


def align(
    data: Path = typer.Option(..., "--data", help="Data dir with a `token` file."),
    dump: Path = typer.Option(..., "--dump", help="Feature dump of the same set (stats.npz here or in ../train)."),
    tokens: Path = typer.Option(..., "--tokens", help="Token list (tokens.txt)."),
    out: Path = typer.Option(..., "--out", callback=out_dir, help="Output dir: durations, spread, quality.json."),
    iterations: int = typer.Option(10, "--iterations", help="Re-estimation/Viterbi rounds."),
    models_from: Optional[Path] = typer.Option(None, "--models-from", help="OUT of an earlier run (the training set): align with its token models in one pass (for small dev/test sets)."),
    states: int = typer.Option(1, "--states", help="HMM states per phone (left to right, at least one frame each; 3 = onset, middle, offset)."),
    edge_silence: bool = typer.Option(False, "--edge-silence", help="Optional silence states before and after the text, so the first and last phone models do not learn the edge silence (its frames still go to the first/last token)."),
    word_pauses: bool = typer.Option(False, "--word-pauses", help="Word boundaries may hold a pause, scored by the silence model (Kaldi's optional silence): a pause between words goes to the boundary token instead of the neighbouring phone."),
    speaker_norm: Optional[bool] = typer.Option(None, "--speaker-norm/--no-speaker-norm", help="Subtract each speaker's mean cepstrum (Kaldi's per-speaker CMVN, from utt2spk) before the phone models are pooled. Default: as --models-from was made, else on when utt2spk names several speakers."),
    device: str = typer.Option("cpu", "--device", help=_DEVICE),
    skip_bad: bool = _SKIP_BAD,
) -> None:
    """Durations without a teacher: flat-start monotonic alignment (a diagonal Gaussian per token, or per HMM state
    with --states, over mel cepstra).

    The reference to score a teacher's durations against, and a fallback when no teacher aligns;
    writes the same `durations` format as `tts durations`.

    Example: narspeech tts align --data data/train --dump dump/train --tokens data/tokens.txt --out exp/align/train
    """
    from narspeech.tts.durations.aligner import align_data_dir
    from narspeech.tts.durations.quality import format_spread

    _, quality = align_data_dir(data, dump, tokens, out, iterations=iterations, device=device, skip_bad=skip_bad,
                                models_from=models_from, states=states, edge_silence=edge_silence,
                                word_pauses=word_pauses, speaker_norm=speaker_norm)
    typer.echo(f"aligned {quality['n']} utterances -> {out}/durations\n{format_spread(quality)}")


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
    speaker: Optional[str] = typer.Option(None, "--speaker", help="Multi-speaker model: the voice of every line, a speaker of its training set (EXP/spk2sid). With --data the default is each line's speaker in DATA/utt2spk."),
    speaker_embedding: Optional[Path] = typer.Option(None, "--speaker-embedding", help="Model trained on speaker embeddings: a .npy vector or a kaldiio scp/ark (one entry for every line, or keyed by line id / speaker)."),
    reference_audio: List[Path] = typer.Option([], "--reference-audio", help="Zero-shot, model trained on speaker embeddings: speak in the voice of this recording (its GE2E d-vector; repeat to average several)."),
    engine: str = _ENGINE,
    onnx_dir: Optional[Path] = _ONNX_DIR,
) -> None:
    """Synthesize sentences in batches with a trained TTS model (FastSpeech 2 or the AR teacher).

    Lines that cannot be synthesized (empty, nothing speakable, unknown tokens) are listed in
    OUT/failed with a one-line warning each; the others are still written.

    Example: narspeech tts synthesize --model exp/arctic_fastspeech2 --data data/test --out exp/arctic_fastspeech2/synth_test
    Example: narspeech tts synthesize --model exp/teacher --data data/test --teacher-forcing dump/test --out exp/teacher/synth_tf/test
    Example: narspeech tts synthesize --model exp/fastspeech2 --text lines.txt --speaker f0002 --out exp/fastspeech2/synth_f0002
    Example: narspeech tts synthesize --model exp/fastspeech2 --data data/test --vocoder exp/istft --engine onnx --out exp/fastspeech2/synth_onnx
    """
    from narspeech.errors import NarspeechError
    from narspeech.cli.vocoder import vocoder_options
    from narspeech.tts.synthesize.inference import Controls, load_model
    from narspeech.tts.synthesize.frontend import read_data_text, read_sentences
    from narspeech.tts.synthesize.writer import synthesize_to_dir
    from narspeech.tts.synthesize.speakers import ModelSpeakers, SpeakerRequest, assign_voices
    from narspeech.tts.speakers import read_utt2spk
    from narspeech.tts.synthesize.onnx_engine import check_engine

    if (text is None) == (data is None):
        raise NarspeechError("give exactly one of --text FILE or --data DATA_DIR")
    if teacher_forcing is not None and data is None:
        raise NarspeechError("--teacher-forcing needs --data (the utterances of the dump)")
    check_engine(engine)
    items = read_sentences(text, with_ids=with_ids) if text is not None else read_data_text(data)
    loaded = load_model(model, checkpoint=checkpoint, device="cpu" if engine == "onnx" else device)
    loaded.frontend.on_foreign = on_foreign
    request = SpeakerRequest(speaker, speaker_embedding, list(reference_audio))
    utt2spk = read_utt2spk(data, required=False) if data is not None else None
    voices = assign_voices(ModelSpeakers.of(loaded.cfg, loaded.model_dir), [u for u, _ in items], request, utt2spk,
                           device=str(loaded.device))
    res = synthesize_to_dir(loaded, items, out, batch_size=batch_size, voices=voices,
                            controls=Controls(speed=speed, pitch_shift=pitch_shift, energy_scale=energy_scale),
                            vocoder=vocoder, vocoder_options=vocoder_options(vocoder, gl_iters=gl_iters), write_wavs=not no_wav,
                            source=str(text if text is not None else data), teacher_dump=teacher_forcing, seed=seed,
                            engine=engine, onnx_dir=onnx_dir)
    i = res.info
    typer.echo(f"synthesized {i['synthesized']}/{i['inputs']} ({i['failed']} failed, see {out / 'failed'}) "
               f"with {i['model_type']} ({engine}) on {i['device']}: {i['audio_seconds']:.1f} s of audio, "
               f"mels {i['mel_seconds']:.2f} s, vocoder {i['vocoder_seconds']:.2f} s -> {out}")


def speak(
    text: Optional[str] = typer.Argument(None, help="Text to speak (quote it); none or '-': read stdin. Blank lines separate paragraphs."),
    model: Path = typer.Option(..., "--model", help="Experiment dir of a trained TTS model (config.yaml, tokens.txt, best.pt/last.pt)."),
    out: Path = typer.Option(..., "--out", callback=_speak_out, help="A .wav file to write, or '-': raw PCM16 (mono, little-endian, the model's rate) to stdout as it is made, for a pipe."),
    vocoder: str = typer.Option("griffin-lim", "--vocoder", help="As `tts synthesize --vocoder`; a neural vocoder (hifigan:universal, a `vocoder train` exp dir) streams in chunks."),
    speaker: Optional[str] = typer.Option(None, "--speaker", help="Speaker of a multi-speaker model."),
    checkpoint: Optional[Path] = typer.Option(None, "--checkpoint", help="Checkpoint file to use instead of the exp dir's best.pt/last.pt."),
    speed: float = typer.Option(1.0, "--speed", help="Speaking rate (FastSpeech: durations / speed; 2 = twice as fast)."),
    pitch_shift: float = typer.Option(0.0, "--pitch-shift", help="FastSpeech 2 pitch shift in semitones."),
    energy_scale: float = typer.Option(1.0, "--energy-scale", help="FastSpeech 2 energy multiplier."),
    gl_iters: int = typer.Option(32, "--gl-iters", help="Griffin-Lim iterations."),
    on_foreign: str = typer.Option("skip", "--on-foreign", help="As `tts synthesize --on-foreign`: skip | spell | fail."),
    device: str = typer.Option("cpu", "--device", help=_DEVICE + " (cpu by default: one sentence at a time is latency, not throughput)."),
    engine: str = _ENGINE,
    onnx_dir: Optional[Path] = _ONNX_DIR,
    clauses: bool = typer.Option(True, "--clauses/--whole-sentences", help="Speak a long sentence (over 12 words) in clause pieces, cut at , ; : and dashes, then before a conjunction, joined with a short pause: its first audio comes after the first clause's mel, not the whole sentence's. --whole-sentences: one piece per sentence."),
) -> None:
    """Speak text: split into paragraphs, sentences and (long ones) clauses, each synthesised and vocoded in streamed chunks.

    Example: narspeech tts speak "Hello there. How are you?" --model exp/fastspeech2 --vocoder hifigan:universal --out hello.wav
    Example: narspeech tts speak --model exp/fastspeech2 --vocoder hifigan:universal --out - < story.txt | aplay -f S16_LE -r 22050 -c 1
    """
    import sys

    from narspeech.cli.vocoder import vocoder_options
    from narspeech.tts.synthesize.inference import Controls, load_model
    from narspeech.tts.synthesize.onnx_engine import check_engine, prepare_engine
    from narspeech.tts.synthesize.speak import SpeakStats, Speaker, write_pcm16, write_wav_file

    if text is None or text == "-":
        text = "" if sys.stdin.isatty() and text is None else sys.stdin.read()
    check_engine(engine)
    loaded = load_model(model, checkpoint=checkpoint, device="cpu" if engine == "onnx" else device)
    loaded.frontend.on_foreign = on_foreign
    voc = prepare_engine(loaded, engine, vocoder, directory=onnx_dir, vocoder_options=vocoder_options(vocoder, gl_iters=gl_iters))
    spk = Speaker(loaded, voc, controls=Controls(speed=speed, pitch_shift=pitch_shift, energy_scale=energy_scale), speaker=speaker,
                  clauses=clauses)
    stats = SpeakStats()
    pieces = spk.stream(text, stats)
    if str(out) == "-":
        write_pcm16(pieces, sys.stdout.buffer)
        where = f"stdout (raw PCM16 mono, {spk.sample_rate} Hz)"
    else:
        write_wav_file(pieces, out, spk.sample_rate)
        where = str(out)
    first = f", first audio after {stats.first_audio_seconds * 1000:.0f} ms" if stats.first_audio_seconds is not None else ""
    typer.echo(f"spoke {stats.sentences} sentence(s) in {stats.pieces} piece(s) ({len(stats.failed)} skipped), {stats.samples / spk.sample_rate:.1f} s of audio"
               f"{first} -> {where}", err=True)


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
    spk_centroids: Optional[Path] = typer.Option(None, "--spk-centroids", help="The training speakers' mean embeddings (`feats spk-embed` OUT/spk_embed.scp of the training set): speaker identification. Speaker similarity and per-speaker scores run with it or when SYNTH has an utt2spk."),
) -> None:
    """Objective scores of a synthesis against recordings: intelligibility (ASR WER ratio), MCD with/without c0,
    voicing F1, silence and stationarity checks, F0 RMSE, duration ratio; for several voices speaker similarity
    (wrong-speaker floor → recordings ceiling), speaker identification and mean F0 per speaker.

    Prints one headline line (see narspeech.evaluate.headline). MCD uses the DCT of the log-mel
    (not SPTK mcep): compare systems with each other under the same vocoder, not with MCD
    numbers printed in papers. The recogniser runs on the recordings too, so its own errors
    cancel in the WER ratio.

    Example: narspeech tts evaluate --synth exp/arctic_fastspeech2/synth_test --ref data/test --trim-db 40
    """
    from narspeech.evaluate.headline import format_line
    from narspeech.evaluate.intelligibility import load_asr
    from narspeech.evaluate.synthesis import evaluate_synthesis

    recognizer = load_asr(asr, model=asr_model, device=device, num_workers=asr_workers)
    r = evaluate_synthesis(synth, ref, out=out, order=order, band=band, device=device, batch_size=batch_size, skip_bad=skip_bad,
                           trim_db=trim_db, asr=recognizer, floor_db=floor_db, asr_cache=asr_cache, spk_centroids=spk_centroids)
    typer.echo(f"{r['utterances']} utterances: {format_line(r['headline'])}"
               + (f"; {len(r['missing_synth'])} references without synthesis" if r["missing_synth"] else "")
               + f" -> {out or synth / 'results.json'}")
    if r.get("speaker"):
        from narspeech.evaluate.speaker import format_speaker_table

        typer.echo(format_speaker_table(r["speaker"], r.get("intelligibility")))


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


app.command("train-teacher")(train_teacher)
app.command("durations")(durations)
app.command("align")(align)
app.command("train")(train)
app.command("synthesize")(synthesize)
app.command("speak")(speak)
app.command("evaluate")(evaluate)
app.command("spectrograms")(spectrograms)
