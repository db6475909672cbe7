"""`narspeech asr` commands: tokenize, subword, train, decode, recognize, tune, score, summary."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import List, Optional

import typer

from narspeech.outputs import out_dir, out_file

app = typer.Typer(help="Speech recognition: Mask-CTC (non-autoregressive) and a joint CTC/attention AR baseline.", no_args_is_help=True)

_DEVICE = "auto (CUDA if present), cpu, cuda, cuda:N."


@app.command("subword")
def subword(
    data: Path = typer.Argument(..., help="Training data dir (its `text`, normalised as the ASR does)."),
    out: Path = typer.Option(..., "--out", callback=out_file, help="Model file to write (…/name.model; .vocab beside it)."),
    vocab_size: int = typer.Option(300, "--vocab-size", help="Pieces including sentencepiece's <unk>."),
    model_type: str = typer.Option("unigram", "--type", help="unigram | bpe."),
) -> None:
    """Train a sentencepiece subword model on the normalised transcripts of DATA.

    Example: narspeech asr subword data/train --out data/subword/unigram300.model --vocab-size 300
    """
    from narspeech.asr.text import normalize_transcript
    from narspeech.fileio import read_table
    from narspeech.text.subword import train_subword_model

    texts = [normalize_transcript(t) for t in read_table(data / "text").values()]
    path = train_subword_model(texts, out, vocab_size=vocab_size, model_type=model_type)
    typer.echo(f"subword model ({model_type}, {vocab_size}) -> {path}")


@app.command("tokenize")
def tokenize(
    data: Path = typer.Argument(..., help="Data dir with `text`."),
    unit: str = typer.Option("char", "--unit", help="char | subword."),
    subword_model: Optional[Path] = typer.Option(None, "--subword-model", help="sentencepiece model (`asr subword`) for --unit subword."),
) -> None:
    """Normalise transcripts (DATA/text_asr: upper-case words, numbers spelled out, punctuation dropped) and write ASR tokens (DATA/token).

    Example: narspeech asr tokenize data/train --unit char; then narspeech text vocab data/train --out data/tokens.txt
    """
    from narspeech.asr.text import tokenize_data_dir

    res = tokenize_data_dir(data, "subword" if subword_model and unit == "char" else unit, subword_model)
    typer.echo(f"{data}: {res['utterances']} utterances, {res['tokens']} tokens -> token, text_asr")


@app.command("train")
def train(
    config: Path = typer.Option(..., "--config", help="YAML with `model` (type mask_ctc | ar, sizes), `train` (engine) and optional `data` (speed_perturb)."),
    tokens: Path = typer.Option(..., "--tokens", help="Token list of the training `token` file (`narspeech text vocab`); <mask> is added."),
    train_data: Path = typer.Option(..., "--train-data", help="Training data dir with a `token` file (`asr tokenize`)."),
    train_dump: Path = typer.Option(..., "--train-dump", help="Feature dump (log-mel) of the training set with stats.npz."),
    valid_data: Optional[Path] = typer.Option(None, "--valid-data", help="Validation data dir."),
    valid_dump: Optional[Path] = typer.Option(None, "--valid-dump", help="Feature dump of the validation set."),
    subword_model: Optional[Path] = typer.Option(None, "--subword-model", help="The sentencepiece model the tokens came from (subword units)."),
    exp: Path = typer.Option(..., "--exp", callback=out_dir, help="Experiment dir."),
    overrides: List[str] = typer.Option([], "--set", help="Override a config key, e.g. --set model.type=ar --set train.max_steps=2000."),
    resume: bool = typer.Option(False, "--resume", help="Continue from EXP/last.pt."),
    device: Optional[str] = typer.Option(None, "--device", help=_DEVICE + " Default: train.device of the config (auto)."),
    skip_bad: bool = typer.Option(False, "--skip-bad", help="Leave out (and list) utterances with bad input instead of stopping."),
    init: Optional[Path] = typer.Option(None, "--init", help="Fine-tune: start from this checkpoint (or exp dir) with a fresh optimiser and schedule; same model options and tokens."),
    init_modules: Optional[str] = typer.Option(None, "--init-modules", help="With --init: load only these (comma-separated state-dict prefixes; `encoder` = feature normalisation, subsampling and encoder), so the tokens may differ, e.g. char → subword."),
) -> None:
    """Train a Mask-CTC (model.type mask_ctc) or joint CTC/attention AR (model.type ar) Conformer model.

    Example: narspeech asr train --config conf/maskctc.yaml --tokens data/tokens.txt --train-data data/train
    --train-dump dump/train --valid-data data/dev --valid-dump dump/dev --exp exp/maskctc
    """
    from narspeech.asr.train import train_asr
    from narspeech.config import load_config

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    cfg = load_config(config, overrides)
    path = train_asr(cfg, tokens=tokens, train_data=train_data, train_dump=train_dump, exp=exp, valid_data=valid_data,
                     valid_dump=valid_dump, subword_model=subword_model, resume=resume, device=device, skip_bad=skip_bad,
                     init=init, init_modules=[m.strip() for m in (init_modules or "").split(",") if m.strip()])
    typer.echo(f"{cfg['model']['type']} trained -> {path}")


# decoding options shared by `decode` and `recognize`
_METHOD = typer.Option(None, "--method", help="ctc | maskctc | beam | greedy (default: maskctc for Mask-CTC models, beam for AR).")
_TUNED = " Default: the value tuned on dev and stored with the model (`asr tune`), else "
_THRESHOLD = typer.Option(None, "--threshold", help="Mask-CTC: re-predict tokens whose CTC confidence is below this (0 = greedy CTC)." + _TUNED + "0.999.")
_ITERATIONS = typer.Option(None, "--iterations", help="Mask-CTC: decoder passes at most (0 = greedy CTC: nothing is masked)." + _TUNED + "10.")
_LENGTH_ADJUST = typer.Option(None, "--length-adjust/--no-length-adjust", help="Mask-CTC: re-size masked spans with the length predictor first (Improved Mask-CTC; model.length_predictor: true)." + _TUNED + "off.")
_LENGTH_SLACK = typer.Option(None, "--length-slack", help="With --length-adjust: a run of n masked tokens may become n-k .. n+k tokens (-1: any length the predictor says)." + _TUNED + "1.")
_CTC_FUSION = typer.Option(None, "--ctc-fusion", help="Mask-CTC: add this x CTC's log-posteriors at a mask's frame to the decoder's when filling it (0 = decoder alone)." + _TUNED + "0.")
_BEAM = typer.Option(10, "--beam", help="AR beam size.")
_CTC_WEIGHT = typer.Option(0.3, "--ctc-weight", help="AR beam search: weight of the CTC prefix score.")
_PENALTY = typer.Option(0.0, "--penalty", help="AR beam search: score added per output token.")
_BATCH_SIZE = typer.Option(32, "--batch-size", help="Utterances per batch (1 = one at a time).")
_CHECKPOINT = typer.Option(None, "--checkpoint", help="Checkpoint file (default EXP/best.pt, else last.pt).")
_QUANTIZE = typer.Option("none", "--quantize", help="none | int8: int8 dynamic quantization of the model's linear layers before decoding (CPU only).")


def _options(rec, method, threshold, iterations, length_adjust, length_slack, beam, ctc_weight, penalty, ctc_fusion=None):
    """The options given on the command line over the model's stored Mask-CTC defaults."""
    opts = rec.default_options(method, threshold=threshold, iterations=iterations, length_adjust=length_adjust,
                               beam=beam, ctc_weight=ctc_weight, penalty=penalty, ctc_fusion=ctc_fusion)
    if length_slack is not None:
        opts.length_slack = None if length_slack < 0 else length_slack
    return opts


def _describe(opts) -> str:
    if opts.method != "maskctc":
        return opts.method
    return (f"maskctc (threshold {opts.threshold}, {opts.iterations} it.{', length adjust' if opts.length_adjust else ''}"
            f"{f', CTC fusion {opts.ctc_fusion}' if opts.ctc_fusion else ''})")


@app.command("decode")
def decode(
    model: Path = typer.Option(..., "--model", help="ASR experiment dir."),
    dump: Path = typer.Option(..., "--dump", help="Feature dump to decode (same feature config as training)."),
    out: Path = typer.Option(..., "--out", callback=out_dir, help="Decode dir: hyp, token_hyp, timing, skipped, decode.json."),
    method: Optional[str] = _METHOD,
    threshold: float = _THRESHOLD,
    iterations: int = _ITERATIONS,
    length_adjust: bool = _LENGTH_ADJUST,
    length_slack: int = _LENGTH_SLACK,
    ctc_fusion: float = _CTC_FUSION,
    beam: int = _BEAM,
    ctc_weight: float = _CTC_WEIGHT,
    penalty: float = _PENALTY,
    batch_size: int = _BATCH_SIZE,
    batch_frames: int = typer.Option(0, "--batch-frames", help="Cap on padded frames per batch (0 = none)."),
    checkpoint: Optional[Path] = _CHECKPOINT,
    device: str = typer.Option("auto", "--device", help=_DEVICE),
    limit: Optional[int] = typer.Option(None, "--limit", help="Decode only the first N utterances."),
    quantize: str = _QUANTIZE,
) -> None:
    """Recognise a feature dump in batches; writes Kaldi-style OUT/hyp (atomically, when all is done) and per-utterance timing.
    Mask-CTC settings not given come from EXP/decode_defaults.json (`asr tune`) when the model has one.

    Example: narspeech asr decode --model exp/maskctc --dump dump/dev --out exp/maskctc/decode_dev_maskctc --method maskctc --threshold 0.999 --iterations 10
    """
    from narspeech.asr.decode import decode_dump
    from narspeech.asr.recognize import load_recognizer

    rec = load_recognizer(model, device, checkpoint, quantize=quantize)
    opts = _options(rec, method, threshold, iterations, length_adjust, length_slack, beam, ctc_weight, penalty, ctc_fusion)
    s = decode_dump(rec, dump, out, opts, batch_size=batch_size, batch_frames=batch_frames, limit=limit)
    typer.echo(f"{_describe(opts)}: {s['decoded']} decoded, {s['empty']} empty, {s['skipped']} skipped, {s['decode_seconds']:.2f} s, RTF {s['rtf'] or 0:.4f} -> {out}/hyp")


@app.command("recognize")
def recognize(
    audio: Optional[List[Path]] = typer.Argument(None, help="Audio files (wav, flac, …; any rate); the utterance id is the file name without its extension."),
    model: Path = typer.Option(..., "--model", help="ASR experiment dir."),
    wav_scp: Optional[Path] = typer.Option(None, "--wav-scp", help="Kaldi wav.scp (`utt path` or `utt cmd |`) instead of files; relative paths are read from the current folder. `cmd |` entries of wav.scp run that shell command (Kaldi); `narspeech --no-pipes` refuses them."),
    data: Optional[Path] = typer.Option(None, "--data", help="A data dir whose wav.scp to recognise."),
    out: Optional[Path] = typer.Option(None, "--out", callback=out_dir, help="Decode dir (hyp, token_hyp, timing, skipped, decode.json, as `asr decode`); without it the transcripts go to stdout as `utt words`."),
    method: Optional[str] = _METHOD,
    threshold: float = _THRESHOLD,
    iterations: int = _ITERATIONS,
    length_adjust: bool = _LENGTH_ADJUST,
    length_slack: int = _LENGTH_SLACK,
    ctc_fusion: float = _CTC_FUSION,
    beam: int = _BEAM,
    ctc_weight: float = _CTC_WEIGHT,
    penalty: float = _PENALTY,
    batch_size: int = _BATCH_SIZE,
    batch_seconds: float = typer.Option(0.0, "--batch-seconds", help="Cap on padded audio seconds per batch (0 = none)."),
    checkpoint: Optional[Path] = _CHECKPOINT,
    device: str = typer.Option("auto", "--device", help=_DEVICE),
    skip_bad: bool = typer.Option(False, "--skip-bad", help="List unreadable audio in OUT/skipped (empty transcript) instead of stopping."),
) -> None:
    """Transcribe audio files with a trained model: the model's own features are computed on the fly (no dump needed).

    Example: narspeech asr recognize --model exp/maskctc --method maskctc --threshold 0.8 --length-adjust a.wav b.flac
    Example: narspeech asr recognize --model exp/ar --data data/dev --out exp/ar/recog_dev; then narspeech correct decode --hyp exp/ar/recog_dev/hyp …
    """
    from narspeech.asr.decode import decode_audio
    from narspeech.asr.recognize import load_recognizer
    from narspeech.audio.extract import read_wav_scp
    from narspeech.errors import NarspeechError
    from narspeech.fileio import read_table

    given = [x for x in (audio, wav_scp, data) if x]
    if len(given) != 1:
        raise NarspeechError("give audio files, or --wav-scp, or --data (exactly one of them)")
    if audio:
        entries: dict[str, str] = {}
        for p in audio:
            if p.stem in entries:
                raise NarspeechError(f"two files share the utterance id {p.stem!r} ({entries[p.stem]}); use --wav-scp to name them", path=p)
            entries[p.stem] = str(p)
    elif data is not None:
        entries = read_wav_scp(data)
    else:
        entries = dict(read_table(wav_scp, check_sorted=False))
        if not entries:
            raise NarspeechError("no utterances", path=wav_scp)
    rec = load_recognizer(model, device, checkpoint)
    opts = _options(rec, method, threshold, iterations, length_adjust, length_slack, beam, ctc_weight, penalty, ctc_fusion)
    hyps, s = decode_audio(rec, entries, out, opts, batch_size=batch_size, batch_seconds=batch_seconds, skip_bad=skip_bad)
    if out is None:
        for u in entries:
            typer.echo(f"{u} {hyps[u]}".rstrip())
    msg = f"{_describe(opts)}: {s['decoded']} decoded, {s['empty']} empty, {s['skipped']} skipped, {s['decode_seconds']:.2f} s, RTF {s['rtf'] or 0:.4f}"
    typer.echo(msg + (f" -> {out}/hyp" if out is not None else ""), err=out is None)


@app.command("tune")
def tune(
    model: Path = typer.Option(..., "--model", help="The Mask-CTC experiment dir the settings are stored in."),
    dirs: Optional[List[Path]] = typer.Argument(None, help="Its scored dev decode dirs: greedy CTC (method ctc) and a grid of Mask-CTC settings."),
    metric: str = typer.Option("cer", "--metric", help="cer | wer: the rate to minimise (the other breaks ties)."),
    out: Optional[Path] = typer.Option(None, "--out", callback=out_file, help="Also write the dev curve here (markdown)."),
    show: bool = typer.Option(False, "--show", help="Only print MODEL's stored settings as `--threshold X --iterations N` (nothing if untuned)."),
) -> None:
    """Choose the Mask-CTC threshold, iterations and length adjustment on dev and store them in MODEL/decode_defaults.json,
    the defaults of `asr decode` / `asr recognize` from then on; threshold 0 (= greedy CTC) if no setting beats greedy CTC.

    Example: narspeech asr tune --model exp/maskctc exp/maskctc/decode_dev/*/
    """
    from narspeech.asr.tune import choose_decode, curve_markdown, read_scored, write_decode_defaults
    from narspeech.errors import NarspeechError
    from narspeech.fileio import atomic_write

    if show:
        from narspeech.asr.tune import load_decode_defaults

        d = load_decode_defaults(model)
        typer.echo(f"--threshold {d['threshold']} --iterations {d['iterations']}" if "threshold" in d else "")
        return
    if not dirs:
        raise NarspeechError("give the scored dev decode dirs to choose from")
    rows = read_scored(dirs)
    others = sorted({r["exp"] for r in rows if r["exp"] and Path(r["exp"]).resolve() != model.resolve()})
    if others:
        raise NarspeechError(f"decode dirs of another model ({', '.join(others)}) among the arguments", path=model)
    rec = choose_decode(rows, metric)
    path = write_decode_defaults(model, rec, tuned_on=str(Path(dirs[0]).parent))
    text = curve_markdown(rec)
    if out is not None:
        with atomic_write(out) as f:
            f.write(text)
    typer.echo(text, nl=False)
    typer.echo(f"-> {path}")


@app.command("score")
def score(
    ref: Path = typer.Argument(..., help="Reference text (`utt words…`), e.g. data/dev/text_asr."),
    hyp: Path = typer.Argument(..., help="Hypothesis file (`asr decode` OUT/hyp)."),
    unit: str = typer.Option("word", "--unit", help="word | char: the rate printed last (both are computed)."),
    by: Optional[Path] = typer.Option(None, "--by", help="utt2X or spk2X table for a breakdown (e.g. spk2age)."),
    group: Optional[str] = typer.Option(None, "--group", help="Grouping of --by values: value | adult_child[:N] | bins:a,b,…"),
    utt2spk: Optional[Path] = typer.Option(None, "--utt2spk", help="For a spk2X table (default: utt2spk beside REF)."),
    out: Optional[Path] = typer.Option(None, "--out", callback=out_dir, help="Write result.txt, result.json, per_utt, utt2wer here (default: beside HYP)."),
) -> None:
    """WER and CER (sub/del/ins), a per-utterance alignment report, and a breakdown by a utt2X/spk2X table.

    Example: narspeech asr score data/dev/text_asr exp/maskctc/decode_dev/hyp --by data/dev/spk2age --group adult_child
    """
    from narspeech.errors import NarspeechError
    from narspeech.metrics.scoring import score_files, write_report

    if unit not in ("word", "char"):
        raise NarspeechError(f"--unit must be word or char, got {unit!r}")
    if by is not None and group is None and by.name.endswith("2age"):
        group = "adult_child"
    rep = score_files(ref, hyp, by=by, utt2spk=utt2spk, grouping=group)
    write_report(rep, out or hyp.parent)
    typer.echo(rep.summary())
    r = rep.wer if unit == "word" else rep.cer
    typer.echo(f"{'WER' if unit == 'word' else 'CER'} {100 * r.error_rate:.2f}%")


@app.command("summary")
def summary(
    dirs: list[Path] = typer.Argument(..., help="Scored decode dirs (with result.json), e.g. exp/*/decode_dev/*."),
    out: Optional[Path] = typer.Option(None, "--out", callback=out_file, help="Also write the table here (markdown)."),
) -> None:
    """One table of scored decode dirs: WER (per group), CER, change vs the same model's greedy CTC, RTF;
    warns when Mask-CTC is worse than the greedy CTC it refines.

    Example: narspeech asr summary exp/*/decode_dev/* --out exp/results_dev.md
    """
    from narspeech.asr.summary import markdown, read_rows
    from narspeech.errors import NarspeechError
    from narspeech.fileio import atomic_write

    rows = read_rows(dirs)
    if not rows:
        raise NarspeechError("no scored decode dir among the arguments (run `narspeech asr score` first)")
    text = markdown(rows)
    if out is not None:
        with atomic_write(out) as f:
            f.write(text)
    typer.echo(text, nl=False)
