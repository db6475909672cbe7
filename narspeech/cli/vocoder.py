"""`narspeech vocoder` commands: copy synthesis and HiFi-GAN training."""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from narspeech.outputs import out_dir

app = typer.Typer(help="Mel to waveform: HiFi-GAN (pretrained or trained here) and Griffin-Lim; copy synthesis.", no_args_is_help=True)

_VOC = "griffin-lim, hifigan:universal, hifigan:ljspeech, or a `narspeech vocoder train` exp dir / checkpoint."


def vocoder_options(vocoder: str, *, gl_iters: int = 32, precision: str = "auto", max_batch_frames: Optional[int] = None) -> dict:
    """The constructor options of `vocoder` from the shared CLI flags."""
    from narspeech.vocoder.registry import is_griffin_lim

    if is_griffin_lim(vocoder):
        return {"n_iter": gl_iters}
    opts = {"precision": precision}
    if max_batch_frames:
        opts["max_batch_frames"] = max_batch_frames
    return opts


@app.command("copy")
def copy(
    data: Path = typer.Argument(..., help="Data dir with the recordings (wav.scp). `cmd |` entries of wav.scp run that shell command (Kaldi); `narspeech --no-pipes` refuses them."),
    out: Path = typer.Argument(..., callback=out_dir, help="Output dir: wav/, wav.scp, failed, synth_info.json, results.json, quality."),
    vocoder: str = typer.Option("hifigan:universal", "--vocoder", help=_VOC),
    feats: Optional[Path] = typer.Option(None, "--feats", help="Feature config YAML (default: the neural vocoder's own; for griffin-lim the HiFi-GAN preset, 22.05 kHz)."),
    gl_iters: int = typer.Option(32, "--gl-iters", help="Griffin-Lim iterations."),
    precision: str = typer.Option("auto", "--precision", help="Neural vocoder on CUDA: fp16 (auto), bf16 or fp32; CPU runs fp32."),
    batch_size: int = typer.Option(8, "--batch-size", help="Utterances per batch."),
    device: str = typer.Option("auto", "--device", help="auto (CUDA if present), cpu, cuda, cuda:N."),
    limit: Optional[int] = typer.Option(None, "--limit", help="Only the first N utterances."),
    no_score: bool = typer.Option(False, "--no-score", help="Write the wavs only (no PESQ/STOI/MCD/F0)."),
    trim_db: Optional[float] = typer.Option(None, "--trim-db", help="MCD/F0: cut edge silence this many dB below the peak (as `tts evaluate --trim-db`)."),
) -> None:
    """Copy synthesis: each recording's own log-mel through the vocoder, scored with PESQ (wb), STOI, MCD and F0 RMSE.

    The ceiling every TTS score is read against. Unreadable recordings and bad mels are listed in
    OUT/failed (one line each); the rest is written.

    Example: narspeech vocoder copy ../shared/data/arctic_fb/test exp/copy_hifigan --vocoder hifigan:universal
    """
    from narspeech.audio.features import FeatureConfig
    from narspeech.config import load_config
    from narspeech.evaluate.copy_synthesis import score_copy
    from narspeech.vocoder.copy import copy_synthesis

    fcfg = None
    if feats is not None:
        d = load_config(feats)
        fcfg = FeatureConfig.for_rate(d.pop("sample_rate", 22050), **d)
    info = copy_synthesis(data, out, vocoder, feature_config=fcfg, device=device, batch_size=batch_size,
                          vocoder_options=vocoder_options(vocoder, gl_iters=gl_iters, precision=precision), limit=limit,
                          warn=lambda u, r: typer.echo(f"warning: utterance {u}: {r}", err=True))
    if not no_score:
        info["results"] = score_copy(out, data, device=device, trim_db=trim_db)
    line = (f"copy synthesis with {vocoder}: {info['synthesized']} written, {info['failed']} failed; "
            f"{info['audio_seconds']:.1f} s of audio, vocoder RTF {info['vocoder_rtf']:.3f} on {info['device']}")
    r = info.get("results")
    if r:
        line += (f"; PESQ-wb {r['pesq_wb']['mean']:.3f}, STOI {r['stoi']['mean']:.4f}, MCD {r['mcd_db']['mean']:.3f} dB, "
                 f"F0 RMSE {r['f0_rmse_hz']['mean']:.2f} Hz")
    typer.echo(line + f" -> {out}")


@app.command("train")
def train(
    config: Optional[Path] = typer.Option(None, "--config", help="YAML with `vocoder` (generator v1|v3, init, segment_frames, …), `feats` and `train` sections (default: HiFi-GAN V1, the released recipe)."),
    train_data: Path = typer.Option(..., "--train-data", help="Data dir with the training recordings (wav.scp). `cmd |` entries of wav.scp run that shell command (Kaldi); `narspeech --no-pipes` refuses them."),
    valid_data: Optional[Path] = typer.Option(None, "--valid-data", help="Validation data dir (mel L1 of whole utterances)."),
    mels: Optional[Path] = typer.Option(None, "--mels", help="Dump dir of input mels for --train-data (e.g. FastSpeech 2's ground-truth-aligned mels); default: computed from the audio."),
    valid_mels: Optional[Path] = typer.Option(None, "--valid-mels", help="Dump dir of input mels for --valid-data."),
    init: Optional[str] = typer.Option(None, "--init", help="Start the generator from these weights (fine-tuning): hifigan:universal, hifigan:ljspeech or a checkpoint."),
    exp: Path = typer.Option(..., "--exp", callback=out_dir, help="Experiment dir (config.yaml, checkpoints, train.log, tensorboard)."),
    overrides: List[str] = typer.Option([], "--set", help="Override a config key, e.g. --set vocoder.generator=v3 --set train.max_steps=1000."),
    resume: bool = typer.Option(False, "--resume", help="Continue from EXP/last.pt."),
    device: Optional[str] = typer.Option(None, "--device", help="auto (CUDA if present), cpu, cuda, cuda:N. Default: train.device (auto)."),
    limit: Optional[int] = typer.Option(None, "--limit", help="Only the first N utterances of each set (smoke runs)."),
) -> None:
    """Train or fine-tune HiFi-GAN (mel L1 ×45 + feature matching + LSGAN; MPD + MSD) through the training engine.

    Multi-GPU: the same command under torchrun. Use the exp dir as --vocoder afterwards.

    Example: narspeech vocoder train --config conf/hifigan_finetune.yaml --train-data data/train --valid-data data/dev --init hifigan:universal --exp exp/hifigan_ft
    """
    import logging

    from narspeech.config import load_config
    from narspeech.vocoder.train import train_vocoder

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    cfg = load_config(config, overrides)
    if init is not None:
        cfg.setdefault("vocoder", {})["init"] = init
    path = train_vocoder(cfg, train_data=train_data, exp=exp, valid_data=valid_data, mels=mels, valid_mels=valid_mels,
                         resume=resume, device=device, limit=limit)
    typer.echo(f"vocoder trained -> {path}")
