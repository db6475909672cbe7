"""`narspeech correct` commands."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

app = typer.Typer(help="ASR error correction: FastCorrect (non-autoregressive) with edit alignment, and an AR corrector baseline.", no_args_is_help=True)


@app.command("align")
def align(
    hyp: Path = typer.Option(..., "--hyp", help="Kaldi-style hypothesis file (`utt token…`), e.g. an ASR decode dir's hyp."),
    ref: Path = typer.Option(..., "--ref", help="Reference `text` file (`utt token…`)."),
    out: Path = typer.Option(..., "--out", help="Output dir: durations, edits, src_tokens, tgt_tokens, skipped, summary.json."),
    unit: str = typer.Option("word", "--unit", help="word or char (ignored with --spm-model)."),
    spm_model: Optional[Path] = typer.Option(None, "--spm-model", help="Sentencepiece model: align subword units."),
    max_tokens: int = typer.Option(1000, "--max-tokens", help="Pairs longer than this are skipped (listed in OUT/skipped)."),
) -> None:
    """Edit-align ASR hypotheses to their references: per hypothesis token a duration (0 delete,
    1 keep/substitute, k insert k-1) and an edit flag (FastCorrect's training targets).

    Example: narspeech correct align --hyp exp/asr/decode_dev/hyp --ref data/dev/text --out exp/ec/align_dev
    """
    from narspeech.correct.alignfiles import align_files
    from narspeech.correct.units import Units

    s = align_files(hyp, ref, out, units=Units(unit, spm_model), max_tokens=max_tokens)
    typer.echo(f"aligned {s['pairs']} pairs ({s['skipped']} skipped, see {out / 'skipped'}): "
               f"{s['substitutions']} sub, {s['deletions']} del, {s['insertions']} ins over {s['target_tokens']} reference tokens "
               f"(rate {100 * s['error_rate']:.2f} %), {s['pairs_per_second'] or 0:.0f} pairs/s -> {out}")
