"""`narspeech train` commands: inspect an experiment, average its checkpoints.

Training itself is started by each task's command (e.g. `narspeech tts train`), which
calls :func:`narspeech.train.engine.fit`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from narspeech.outputs import out_file

app = typer.Typer(help="Training experiments: inspect checkpoints, average them.", no_args_is_help=True)


@app.command("info")
def info(exp_dir: Path = typer.Argument(..., help="Experiment directory written by training (exp/<name>).")) -> None:
    """List an experiment's last/best state and kept checkpoints with their validation metrics.

    Example: narspeech train info exp/ljspeech_fastspeech2
    """
    from narspeech.train.checkpoint import describe_exp

    typer.echo(describe_exp(exp_dir))


@app.command("average")
def average(
    exp_dir: Path = typer.Argument(..., help="Experiment directory written by training."),
    num: int = typer.Option(5, "--num", "-n", help="How many checkpoints to average."),
    metric: Optional[str] = typer.Option(None, "--metric", help="Validation metric to pick the best by (default: the run's train.best_metric)."),
    mode: Optional[str] = typer.Option(None, "--mode", help="min or max: whether lower or higher --metric is better (default: the run's best_mode for its own metric, else min)."),
    last: bool = typer.Option(False, "--last", help="Average the NUM most recent checkpoints instead of the best ones."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", callback=out_file, help="Output checkpoint (default EXP_DIR/avg<NUM>.pt)."),
    fewer_ok: bool = typer.Option(False, "--fewer-ok", help="Average all kept checkpoints when fewer than NUM are kept (a short run) instead of failing."),
) -> None:
    """Average the weights of the N best (or latest) checkpoints into one checkpoint file.

    Example: narspeech train average exp/ljspeech_fastspeech2 --num 5 --metric loss --out exp/ljspeech_fastspeech2/avg5.pt
    """
    from narspeech.train.checkpoint import average_exp

    if last and metric is not None:
        raise typer.BadParameter("use either --metric or --last")
    path, srcs = average_exp(exp_dir, num, None if last else (metric or ""), mode, out, fewer_ok=fewer_ok)
    typer.echo(f"averaged {len(srcs)} checkpoints ({', '.join(p.name for p in srcs)}) -> {path}")
