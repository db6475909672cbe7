"""`narspeech tts train-teacher`, `tts durations`, `tts train`: the TTS training commands."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import List, Optional

import typer

from narspeech.outputs import out_dir

_DEVICE = "auto (CUDA if present), cpu, cuda, cuda:N."


def _setup_logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")


def train_teacher(
    config: Path = typer.Option(..., "--config", help="YAML with `model` (type transformer_tts, the default, or tacotron2, and its options) and `train` (engine) sections."),
    tokens: Path = typer.Option(..., "--tokens", help="Token list (tokens.txt) of the training text."),
    train_data: Path = typer.Option(..., "--train-data", help="Training data dir with a `token` file."),
    train_dump: Path = typer.Option(..., "--train-dump", help="Feature dump of the training set (feats.scp, stats.npz)."),
    valid_data: Optional[Path] = typer.Option(None, "--valid-data", help="Validation data dir."),
    valid_dump: Optional[Path] = typer.Option(None, "--valid-dump", help="Feature dump of the validation set."),
    durations: Optional[Path] = typer.Option(None, "--durations", help="Durations of the training set (e.g. `tts align`'s) for model.guided_attn_prior durations (Tacotron 2); ignored otherwise."),
    valid_durations: Optional[Path] = typer.Option(None, "--valid-durations", help="Durations of the validation set, with --durations."),
    exp: Path = typer.Option(..., "--exp", callback=out_dir, help="Experiment dir (config.yaml, tokens.txt, stats.npz, checkpoints, tensorboard)."),
    overrides: List[str] = typer.Option([], "--set", help="Override a config key, e.g. --set model.d_model=256 --set train.max_steps=2000."),
    resume: bool = typer.Option(False, "--resume", help="Continue from EXP/last.pt (stops if its inputs or config changed; see --retrain)."),
    retrain: bool = typer.Option(False, "--retrain", help="With --resume: if the inputs or config changed since EXP was trained, move the old run to EXP/stale-*/ and train afresh."),
    device: Optional[str] = typer.Option(None, "--device", help=_DEVICE + " Default: train.device of the config (auto)."),
    skip_bad: bool = typer.Option(False, "--skip-bad", help="Leave out (and list) utterances with bad input instead of stopping."),
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
                       "valid_dump": valid_dump, **({"durations": durations, "valid_durations": valid_durations} if prior else {})},
                 cfg, resume=resume, retrain=retrain)
    path = run(cfg, tokens=tokens, train_data=train_data, train_dump=train_dump, exp=exp, valid_data=valid_data,
               valid_dump=valid_dump, resume=resume, device=device, skip_bad=skip_bad, durations=durations,
               valid_durations=valid_durations)
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
    skip_bad: bool = typer.Option(False, "--skip-bad", help="Leave out (and list) utterances with bad input instead of stopping."),
    seed: int = typer.Option(0, "--seed", help="Seed for the teacher's always-on prenet dropout."),
    reference: Optional[Path] = typer.Option(None, "--reference", help="A durations file of the same set (e.g. `tts align`'s) to report boundary agreement with."),
    monotonic: bool = typer.Option(False, "--monotonic", help="Durations from the best monotonic path through the attention (Viterbi) instead of the per-step argmax: robust to stray steps, leading/trailing silence goes to the first/last token."),
) -> None:
    """Extract per-token durations from the teacher's encoder-decoder attention (teacher forcing, in batches).

    For each utterance the most diagonal head (highest focus rate) is used; the duration of
    token i is the number of frames whose attention argmax is i, so durations sum to the frame count.

    Example: narspeech tts durations --teacher exp/teacher --data data/train --dump dump/train --out exp/teacher/durations/train
    """
    from narspeech.tts.extract import extract_durations

    res = extract_durations(teacher, data, dump, out, focus_threshold=focus_threshold, batch_size=batch_size,
                            n_plots=plots, kd=kd, device=device, skip_bad=skip_bad, seed=seed, monotonic=monotonic,
                            reference=reference)
    for d in res.dropped:
        typer.echo(f"skipped: {d}", err=True)
    typer.echo(f"{res.summary()} -> {out}")


def train(
    config: Path = typer.Option(..., "--config", help="YAML with `model` (type fastspeech | fastspeech2 and options) and `train` sections."),
    tokens: Path = typer.Option(..., "--tokens", help="Token list (tokens.txt); the same one the teacher used."),
    train_data: Path = typer.Option(..., "--train-data", help="Training data dir with a `token` file."),
    train_dump: Path = typer.Option(..., "--train-dump", help="Feature dump of the training set (feats, f0, energy, stats.npz)."),
    durations: Path = typer.Option(..., "--durations", help="Teacher durations of the training set (`tts durations` OUT/durations)."),
    valid_data: Optional[Path] = typer.Option(None, "--valid-data", help="Validation data dir."),
    valid_dump: Optional[Path] = typer.Option(None, "--valid-dump", help="Feature dump of the validation set."),
    valid_durations: Optional[Path] = typer.Option(None, "--valid-durations", help="Teacher durations of the validation set."),
    kd_dump: Optional[Path] = typer.Option(None, "--kd-dump", help="Teacher mels as targets (`tts durations --kd` OUT/kd); use with --durations OUT/kd/durations; model.type fastspeech."),
    exp: Path = typer.Option(..., "--exp", callback=out_dir, help="Experiment dir (config.yaml, tokens.txt, stats.npz, checkpoints, tensorboard)."),
    overrides: List[str] = typer.Option([], "--set", help="Override a config key, e.g. --set model.type=fastspeech --set train.max_steps=3000."),
    resume: bool = typer.Option(False, "--resume", help="Continue from EXP/last.pt (stops if its inputs or config changed; see --retrain)."),
    retrain: bool = typer.Option(False, "--retrain", help="With --resume: if the inputs or config changed since EXP was trained, move the old run to EXP/stale-*/ and train afresh."),
    device: Optional[str] = typer.Option(None, "--device", help=_DEVICE + " Default: train.device of the config (auto)."),
    skip_bad: bool = typer.Option(False, "--skip-bad", help="Leave out (and list) utterances with bad input instead of stopping."),
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
                       "kd_dump": kd_dump}, cfg, resume=resume, retrain=retrain)
    path = train_fastspeech(cfg, tokens=tokens, train_data=train_data, train_dump=train_dump, durations=durations, exp=exp,
                            valid_data=valid_data, valid_dump=valid_dump, valid_durations=valid_durations, kd_dump=kd_dump,
                            resume=resume, device=device, skip_bad=skip_bad)
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
    device: str = typer.Option("cpu", "--device", help=_DEVICE),
    skip_bad: bool = typer.Option(False, "--skip-bad", help="Leave out (and list) utterances with bad input instead of stopping."),
) -> None:
    """Durations without a teacher: flat-start monotonic alignment (a diagonal Gaussian per token, or per HMM state
    with --states, over mel cepstra).

    The reference to score a teacher's durations against, and a fallback when no teacher aligns;
    writes the same `durations` format as `tts durations`.

    Example: narspeech tts align --data data/train --dump dump/train --tokens data/tokens.txt --out exp/align/train
    """
    from narspeech.tts.aligner import align_data_dir
    from narspeech.tts.extract import format_spread

    _, quality = align_data_dir(data, dump, tokens, out, iterations=iterations, device=device, skip_bad=skip_bad,
                                models_from=models_from, states=states, edge_silence=edge_silence,
                                word_pauses=word_pauses)
    typer.echo(f"aligned {quality['n']} utterances -> {out}/durations\n{format_spread(quality)}")


def register(app: typer.Typer) -> None:
    """Add the TTS training commands to the `narspeech tts` group."""
    app.command("train-teacher")(train_teacher)
    app.command("durations")(durations)
    app.command("align")(align)
    app.command("train")(train)
