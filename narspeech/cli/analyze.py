"""`narspeech analyze` commands: the AR-vs-NAR trade-off report and CoMMA target-token dependency."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import List, Optional

import typer

from narspeech.outputs import out_dir, out_file

app = typer.Typer(help="Studies across tasks: CoMMA target-token dependency (why NAR trails AR).", no_args_is_help=True)
comma_app = typer.Typer(help="CoMMA (Ren et al. 2020): masked prediction with mix-attention and the attention density ratio R(p).",
                        no_args_is_help=True)
app.add_typer(comma_app, name="comma")

_TASK = "tts (phonemes -> mels) | asr (log-mel -> tokens) | correct (hypothesis -> reference)."


def _inputs(data, dump, tokens, durations, hyp, ref, unit, kd):
    from narspeech.analyze.comma_run import TaskInputs

    s = lambda p: None if p is None else str(p)  # noqa: E731
    return TaskInputs(data=s(data), dump=s(dump), tokens=s(tokens), durations=s(durations), hyp=s(hyp), ref=s(ref),
                      unit=unit, kd=s(kd))


def _ps(spec: str) -> list[float]:
    from narspeech.errors import NarspeechError

    try:
        return [float(x) for x in spec.replace(",", " ").split()]
    except ValueError:
        raise NarspeechError(f"--p must be numbers like 0.1,0.5,0.9, got {spec!r}") from None


_DATA = typer.Option(None, "--data", help="tts/asr: data dir with a `token` file.")
_DUMP = typer.Option(None, "--dump", help="tts/asr: feature dump (feats.scp) of the same set.")
_TOKENS = typer.Option(None, "--tokens", help="tts/asr: token list (tokens.txt).")
_DUR = typer.Option(None, "--durations", help="tts: phoneme durations; asr: frames per token of a forced alignment (`utt d1 … dN`). Used with --align.")
_HYP = typer.Option(None, "--hyp", help="correct: ASR hypotheses (`utt text`).")
_REF = typer.Option(None, "--ref", help="correct: references (`utt text`).")
_UNIT = typer.Option("word", "--unit", help="correct: word | char units.")
_KD = typer.Option(None, "--kd", help="Knowledge distillation targets from the AR model: tts a dump of the teacher's mels; asr a token file of its hypotheses; correct its outputs (`utt text`).")


@comma_app.command("train")
def train(
    task: str = typer.Option(..., "--task", help=_TASK),
    exp: Path = typer.Option(..., "--exp", callback=out_dir, help="Output dir (model.pt, train.json)."),
    config: Optional[Path] = typer.Option(None, "--config", help="YAML with `model` (d_model, n_heads, n_layers, d_ff, dropout) and `train` (steps, batch_items, batch_positions, lr, warmup, seed)."),
    override: Optional[List[str]] = typer.Option(None, "--set", help="Config override key.path=value (repeatable)."),
    align: bool = typer.Option(False, "--align", help="Alignment constraint: each target position sees only its aligned source window."),
    data: Optional[Path] = _DATA, dump: Optional[Path] = _DUMP, tokens: Optional[Path] = _TOKENS,
    durations: Optional[Path] = _DUR, hyp: Optional[Path] = _HYP, ref: Optional[Path] = _REF, unit: str = _UNIT,
    kd: Optional[Path] = _KD,
    device: str = typer.Option("cpu", "--device", help="cpu | cuda | auto."),
) -> None:
    """Train CoMMA on one task's training set (p ~ U(0,1) per sentence, loss on masked positions).

    Example: narspeech analyze comma train --task tts --data data/train --dump dump/train --tokens data/tokens.txt --exp exp/comma_tts
    """
    from narspeech.analyze.comma_run import train as run_train
    from narspeech.config import load_config, save_config
    from narspeech.device import resolve_device

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    cfg = load_config(config, override or [])
    s = run_train(task, _inputs(data, dump, tokens, durations, hyp, ref, unit, kd), exp, cfg, align=align,
                  device=str(resolve_device(device)))
    save_config(cfg, exp / "config.yaml")
    typer.echo(f"CoMMA {task} ({s['meta']['variant']}): {s['utterances']} utterances, {s['steps']} steps, "
               f"loss {s['final_loss']}, {s['seconds']} s -> {exp}/model.pt")


@comma_app.command("measure")
def measure(
    task: str = typer.Option(..., "--task", help=_TASK),
    comma_exp: Path = typer.Option(..., "--exp", help="A trained CoMMA exp dir (input)."),
    p: str = typer.Option("0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9", "--p", help="Mask probabilities, each inside (0, 1)."),
    layers: Optional[int] = typer.Option(None, "--layers", help="Average the attention of the last N layers (default: the last half)."),
    data: Optional[Path] = _DATA, dump: Optional[Path] = _DUMP, tokens: Optional[Path] = _TOKENS,
    durations: Optional[Path] = _DUR, hyp: Optional[Path] = _HYP, ref: Optional[Path] = _REF, unit: str = _UNIT,
    kd: Optional[Path] = _KD,
    bootstrap: int = typer.Option(1000, "--bootstrap", help="Bootstrap resamples of the sentences for the 95 % interval."),
    seed: int = typer.Option(0, "--seed", help="Seed of the measurement masks and the bootstrap."),
    out: Optional[Path] = typer.Option(None, "--out", callback=out_file, help="Result file (default EXP/comma.json)."),
    device: str = typer.Option("cpu", "--device", help="cpu | cuda | auto."),
) -> None:
    """Attention density ratio R(p) of a trained CoMMA on a test set, at fixed mask probabilities.

    Example: narspeech analyze comma measure --task tts --exp exp/comma_tts --data data/test --dump dump/test --tokens data/tokens.txt
    """
    from narspeech.analyze.comma_measure import check_ps
    from narspeech.analyze.comma_run import measure as run_measure
    from narspeech.device import resolve_device

    ps = check_ps(_ps(p))
    r = run_measure(comma_exp, task, _inputs(data, dump, tokens, durations, hyp, ref, unit, kd), ps=ps, layers=layers, seed=seed,
                    n_boot=bootstrap, device=str(resolve_device(device)), out=out)
    typer.echo(f"{task} ({r['variant']}), layers {r['layers_averaged']} of {r['n_layers']}, {r['points'][0]['sentences']} sentences")
    for pt in r["points"]:
        typer.echo(f"  R({pt['p']:g}) = {pt['R']:.3f}  [{pt['ci95'][0]:.3f}, {pt['ci95'][1]:.3f}]  ({pt['tokens']} masked tokens)")


@comma_app.command("report")
def report(
    results: List[Path] = typer.Argument(..., help="comma.json files or exp dirs holding one."),
    out: Path = typer.Option(..., "--out", callback=out_dir, help="Output dir: comma.json, comma.md and the PNGs."),
) -> None:
    """One table and the paper's figures (R(p) per task, with/without KD, with/without the alignment constraint).

    Example: narspeech analyze comma report exp/comma_*/ --out exp/comma_report
    """
    from narspeech.analyze.comma_report import markdown_table, read_results, write_report

    res = read_results(results)
    paths = write_report(res, out)
    typer.echo(markdown_table(res))
    typer.echo("-> " + ", ".join(str(v) for v in paths.values()))


@comma_app.command("ctc-align")
def ctc_align(
    asr_exp: Path = typer.Option(..., "--asr-exp", help="A trained narspeech ASR exp (Mask-CTC or AR: its CTC head)."),
    data: Path = typer.Option(..., "--data", help="Data dir with the ASR `token` file."),
    dump: Path = typer.Option(..., "--dump", help="Log-mel dump of the same set."),
    out: Path = typer.Option(..., "--out", callback=out_file, help="Durations file to write (input frames per token)."),
    device: str = typer.Option("cpu", "--device", help="cpu | cuda | auto."),
) -> None:
    """CTC forced alignment of the transcripts: the ASR alignment of `comma train --align` (as --durations).

    Example: narspeech analyze comma ctc-align --asr-exp ../asr1/exp/maskctc --data data/asr_train --dump dump/asr_train --out exp/align/asr_train/durations
    """
    from narspeech.analyze.ctc_align import align_with_asr_model
    from narspeech.device import resolve_device

    r = align_with_asr_model(asr_exp, data, dump, out, device=str(resolve_device(device)))
    typer.echo(f"aligned {r['aligned']} utterances -> {out}" + (f"; {len(r['failed'])} too short for their tokens: "
                                                                 f"{' '.join(r['failed'][:5])}" if r["failed"] else ""))


@app.command("tradeoff")
def tradeoff(
    tts: Optional[Path] = typer.Option(None, "--tts", help="A TTS recipe dir (egs/<corpus>/tts1) after its stage 8."),
    asr: Optional[Path] = typer.Option(None, "--asr", help="An ASR recipe dir (egs/<corpus>/asr1) after its stages 7-8."),
    correct: Optional[Path] = typer.Option(None, "--correct", help="A correction recipe dir (egs/<corpus>/ec1) after its stages 7-8."),
    tts_set: str = typer.Option("test", "--tts-set"),
    asr_set: str = typer.Option("test", "--asr-set"),
    correct_set: str = typer.Option("dev", "--correct-set"),
    tts_ar: str = typer.Option("teacher", "--tts-ar", help="The TTS recipe's AR exp dir name (exp/NAME/synth/<set>/results.json)."),
    asr_decodes: Optional[str] = typer.Option(None, "--asr-decodes", help="Only these ASR systems: space-separated shell patterns on EXP/DECODE names, e.g. 'maskctc/ctc maskctc/maskctc_th0.999_it* ar/*' (the AR baseline always stays)."),
    out: Optional[Path] = typer.Option(None, "--out", callback=out_dir, help="Folder for tradeoff.md, tradeoff.json and tradeoff.png."),
) -> None:
    """AR vs NAR: quality gap to AR and speed-up at batch 1 GPU / full batch GPU / batch 1 CPU, from the recipes' results files.

    Example: narspeech analyze tradeoff --tts egs/ljspeech/tts1 --asr egs/librispeech/asr1 --out exp/tradeoff
    """
    import json
    from dataclasses import asdict

    from narspeech.analyze.tradeoff import gather, markdown_table, plot
    from narspeech.fileio import atomic_write

    systems = gather(tts, asr, correct, tts_set=tts_set, asr_set=asr_set, correct_set=correct_set, tts_ar=tts_ar,
                     asr_decodes=asr_decodes.split() if asr_decodes else None)
    table = markdown_table(systems)
    typer.echo(table)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        with atomic_write(out / "tradeoff.md") as f:
            f.write(table + "\n")
        with atomic_write(out / "tradeoff.json") as f:
            json.dump([asdict(s) for s in systems], f, indent=1)
        n = plot(systems, out / "tradeoff.png")
        typer.echo(f"-> {out}/tradeoff.md, tradeoff.json, tradeoff.png ({n} points)")
