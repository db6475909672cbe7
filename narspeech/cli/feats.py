"""`narspeech feats` commands: extract log-mel / F0 / energy dumps, global statistics, speaker embeddings."""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from narspeech.outputs import out_dir, out_file

app = typer.Typer(help="Features: log-mel, F0 and energy dumps (kaldiio ark/scp), normalisation statistics.", no_args_is_help=True)


@app.command("extract")
def extract(
    data: Path = typer.Argument(..., help="Kaldi data dir with wav.scp (paths or `cmd |` pipes). `cmd |` entries of wav.scp run that shell command (Kaldi); `narspeech --no-pipes` refuses them."),
    dump: Path = typer.Argument(..., callback=out_dir, help="Output dir: feats/f0/energy .ark+.scp, utt2num_frames, feats.yaml."),
    config: Optional[Path] = typer.Option(None, "--config", help="YAML of feature options (sample_rate, n_fft, hop_length, win_length, n_mels, fmin, fmax, f0_min, f0_max, …)."),
    overrides: List[str] = typer.Option([], "--set", help="Override one option: --set hop_length=256 (repeatable)."),
    device: str = typer.Option("auto", "--device", help="auto (CUDA if present), cpu, cuda, cuda:N."),
    jobs: Optional[int] = typer.Option(None, "--jobs", "-j", help="Worker processes (default: one per CPU core, at most 8; 0: all in the main process). On CPU each also computes features."),
    batch_seconds: Optional[float] = typer.Option(None, "--batch-seconds", help="Padded audio seconds per batch (default 120 on CPU, 1200 on CUDA)."),
    skip_bad: bool = typer.Option(False, "--skip-bad", help="Skip missing/corrupt/empty audio, list it in DUMP/skipped, and go on."),
    base: Optional[Path] = typer.Option(None, "--base", help="Resolve relative wav.scp paths against this folder (default: the working directory)."),
    limit: Optional[int] = typer.Option(None, "--limit", help="Only the first N utterances."),
    min_duration: float = typer.Option(0.05, "--min-duration", help="Shortest audio accepted, in seconds; shorter is an error naming the utterance (or skipped with --skip-bad)."),
) -> None:
    """Compute log-mel, F0 and energy for every utterance of DATA into DUMP, in length-sorted batches.

    The sample rate is the first file's unless set (--set sample_rate=22050); the other defaults follow it (see narspeech.audio.features). Files are resampled to it; upsampling only while the file still covers fmax; below 8 kHz is unsupported.

    Example: narspeech feats extract data/train dump/train --config conf/feats.yaml --set hop_length=256 --device auto --jobs 4
    """
    from narspeech.audio.extract import extract_dump
    from narspeech.config import load_config

    options = load_config(config, overrides)
    if isinstance(options.get("feats"), dict):  # a recipe config with a `feats:` section
        options = options["feats"]
    res = extract_dump(data, dump, options, device=device, jobs=jobs, batch_seconds=batch_seconds, skip_bad=skip_bad, base=base, limit=limit,
                      min_duration=min_duration)
    typer.echo(
        f"{dump}: {res.num_utts} utterances, {res.audio_seconds / 3600:.2f} h of audio at {res.config.sample_rate} Hz "
        f"in {res.wall_seconds:.1f} s ({res.realtime_factor:.0f}x real time)"
    )
    if res.skipped:
        typer.echo(f"skipped {len(res.skipped)} utterance(s) (listed in {dump / 'skipped'}):", err=True)
        for utt, why in res.skipped.items():
            typer.echo(f"  {utt}: {why}", err=True)


@app.command("spk-embed")
def spk_embed(
    data: Path = typer.Argument(..., help="Kaldi data dir with wav.scp and utt2spk."),
    out: Path = typer.Argument(..., callback=out_dir, help="Output dir: utt_embed.scp/.ark (per utterance), spk_embed.scp/.ark (per speaker)."),
    device: str = typer.Option("auto", "--device", help="auto (CUDA if present), cpu, cuda, cuda:N."),
    batch_size: int = typer.Option(32, "--batch-size", help="Utterances whose 1.6 s windows run through the encoder together."),
) -> None:
    """Speaker embeddings (256-dim GE2E d-vectors) of every utterance and the mean of every speaker, kaldiio ark/scp.

    The encoder weights are read from the installed PyPI package resemblyzer (tools/requirements.txt), never fetched.
    Train a multi-speaker model on them with `narspeech tts train --spk-embed OUT/utt_embed.scp`.

    Example: narspeech feats spk-embed data/train dump/spk_embed/train
    """
    from narspeech.audio.spk_embed import embed_data_dir

    n_utt, n_spk = embed_data_dir(data, out, device=device, batch_size=batch_size)
    typer.echo(f"{out}: {n_utt} utterance and {n_spk} speaker embeddings (256-dim GE2E d-vectors)")


@app.command("stats")
def stats(
    dump: Path = typer.Argument(..., help="A dump dir written by `narspeech feats extract`."),
    out: Optional[Path] = typer.Option(None, "--out", callback=out_file, help="Output .npz (default DUMP/stats.npz)."),
) -> None:
    """Global mean/std of log-mel (per bin), F0 (voiced frames, Hz) and energy, for normalisation.

    Example: narspeech feats stats dump/train --out dump/train/stats.npz
    """
    from narspeech.audio.stats import compute_stats, save_stats

    out = out or dump / "stats.npz"
    st = compute_stats(dump)
    save_stats(st, out)
    typer.echo(
        f"{out}: {int(st['num_utts'])} utterances, {int(st['mel_count'])} frames ({int(st['f0_count'])} voiced); "
        f"F0 {float(st['f0_mean']):.1f} ± {float(st['f0_std']):.1f} Hz, energy {float(st['energy_mean']):.2f} ± {float(st['energy_std']):.2f}, "
        f"log-mel mean {float(st['mel_mean'].mean()):.2f}"
    )


@app.command("combine")
def combine(
    out: Path = typer.Argument(..., callback=out_dir, help="Output dump dir (scp tables over the inputs' arks; nothing is copied)."),
    dumps: List[Path] = typer.Argument(..., help="Dumps with identical feature configs (feats.yaml)."),
    stats: bool = typer.Option(True, "--stats/--no-stats", help="Also compute OUT/stats.npz over the combined dump."),
) -> None:
    """Combine feature dumps (e.g. of `data combine`'s inputs) into one.

    Example: narspeech feats combine dump/train_espeak dump/train dump/espeak
    """
    from narspeech.data.combine import combine_dumps

    n = combine_dumps(dumps, out)
    typer.echo(f"{out}: {n} utterances from {len(dumps)} dumps")
    if stats:
        from narspeech.audio.stats import compute_stats, save_stats

        save_stats(compute_stats(out), out / "stats.npz")
