"""`narspeech correct` commands."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from narspeech.outputs import out_dir, out_file

app = typer.Typer(help="ASR error correction: FastCorrect (non-autoregressive) with edit alignment, and an AR corrector baseline.", no_args_is_help=True)


@app.command("align")
def align(
    hyp: Path = typer.Option(..., "--hyp", help="Kaldi-style hypothesis file (`utt token…`), e.g. an ASR decode dir's hyp."),
    ref: Path = typer.Option(..., "--ref", help="Reference `text` file (`utt token…`)."),
    out: Path = typer.Option(..., "--out", callback=out_dir, help="Output dir: durations, edits, src_tokens, tgt_tokens, skipped, summary.json."),
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


@app.command("noise")
def noise(
    text: Path = typer.Option(..., "--text", help="Plain text, one sentence per line, or LJSpeech-style `id|raw|normalized` metadata."),
    out: Path = typer.Option(..., "--out", callback=out_dir, help="Output dir: hyp (corrupted), text (clean), neighbours.json, noise.json."),
    substitution: float = typer.Option(0.10, "--sub", help="Per-word rate of substitution by a phonetically similar word."),
    deletion: float = typer.Option(0.025, "--del", help="Per-word deletion rate."),
    insertion: float = typer.Option(0.025, "--ins", help="Per-word insertion rate."),
    copies: int = typer.Option(1, "--copies", help="Corrupted versions of each sentence."),
    limit: Optional[int] = typer.Option(None, "--limit", help="Use the first N sentences only."),
    vocab_size: int = typer.Option(4000, "--vocab-size", help="Most frequent words that get phonetic neighbours."),
    extra_words: list[Path] = typer.Option([], "--extra-words", help="Kaldi text files whose words also get neighbours (e.g. the fine-tuning transcripts)."),
    neighbours: Optional[Path] = typer.Option(None, "--neighbours", help="Reuse a neighbours.json from an earlier run (skips phonemisation)."),
    error_model: Optional[Path] = typer.Option(None, "--error-model", help="Corrupt with a learned error model (`correct errmodel`) instead of phonetic word noise."),
    scale: float = typer.Option(1.0, "--scale", help="With --error-model: multiply its word-level error rates."),
    case: str = typer.Option("upper", "--case", help="upper, lower or keep."),
    seed: int = typer.Option(1, "--seed"),
    prefix: str = typer.Option("s", "--prefix", help="Utterance id prefix."),
) -> None:
    """Corrupt a text corpus with synthetic ASR-like errors (phonetic substitutions, insertions,
    deletions) for text-only pretraining: writes a Kaldi `hyp`/`text` pair.

    Example: narspeech correct noise --text ../shared/data/ljspeech_text/metadata.csv --out data/lj_noisy --copies 2
    """
    import json

    from narspeech.correct.noise import NoiseConfig, Noiser, build_noiser, make_noisy_pairs, read_text_corpus
    from narspeech.fileio import atomic_write, read_table, write_table

    cfg = NoiseConfig.from_dict({"substitution": substitution, "deletion": deletion, "insertion": insertion,
                                 "vocab_size": vocab_size, "seed": seed})
    sents = read_text_corpus(text, limit=limit, case=case)
    if error_model is not None:
        from narspeech.correct.errmodel import ErrorModel

        noiser = ErrorModel.load(error_model)
        noiser.scale = scale
        hyps, refs = make_noisy_pairs(sents, noiser, copies=copies, prefix=prefix, seed=seed)
        write_table(out / "hyp", hyps)
        write_table(out / "text", refs)
        with atomic_write(out / "noise.json") as f:
            json.dump({"text": str(text), "sentences": len(sents), "pairs": len(hyps), "error_model": str(error_model),
                       "scale": scale, "seed": seed}, f, indent=2)
        typer.echo(f"{len(hyps)} noisy pairs from {len(sents)} sentences (error model {error_model}) -> {out}")
        return
    if neighbours is not None:
        noiser = Noiser.load(neighbours)
        noiser.config = cfg
    else:
        extra = [w for f in extra_words for v in read_table(f).values() for w in v.split()]
        noiser = build_noiser(sents, cfg, extra_words=extra)
    hyps, refs = make_noisy_pairs(sents, noiser, copies=copies, prefix=prefix)
    write_table(out / "hyp", hyps)
    write_table(out / "text", refs)
    noiser.save(out / "neighbours.json")
    with atomic_write(out / "noise.json") as f:
        json.dump({"text": str(text), "sentences": len(sents), "pairs": len(hyps), **cfg.__dict__}, f, indent=2)
    typer.echo(f"{len(hyps)} noisy pairs from {len(sents)} sentences -> {out}")


@app.command("subword")
def subword(
    text: list[Path] = typer.Option(..., "--text", help="Plain text file(s) (one sentence per line, or LJSpeech metadata), cleaned as `correct noise` does."),
    out: Path = typer.Option(..., "--out", callback=out_file, help="Sentencepiece model to write (…/name.model)."),
    vocab_size: int = typer.Option(1000, "--vocab-size"),
    model_type: str = typer.Option("bpe", "--type", help="bpe | unigram."),
) -> None:
    """Train the corrector's subword units on its pretraining text (for `correct align --spm-model`):
    a misspelled word is still spelt out in known pieces, where a word list would see one unknown token.

    Example: narspeech correct subword --text data/text/train.txt --out data/units/bpe1000.model
    """
    from narspeech.correct.noise import read_text_corpus
    from narspeech.text.subword import train_subword_model

    sents = [s for t in text for s in read_text_corpus(t)]
    train_subword_model(sents, out, vocab_size=vocab_size, model_type=model_type)
    typer.echo(f"{model_type} model with {vocab_size} pieces from {len(sents)} sentences -> {out}")


@app.command("snap")
def snap(
    hyp: Path = typer.Option(..., "--hyp", help="Kaldi-style hypothesis file."),
    text: list[Path] = typer.Option(..., "--text", help="Lexicon source(s): plain text or LJSpeech metadata (cleaned as `correct noise` does)."),
    out: Path = typer.Option(..., "--out", callback=out_dir, help="Output dir: hyp (snapped)."),
    min_similarity: float = typer.Option(0.5, "--min-sim", help="Lowest normalised character similarity for a replacement (speechocean762's held-out speakers: 0.5)."),
) -> None:
    """Replace every hypothesis word outside the lexicon by its most similar lexicon word (no
    context, no model): a reference point for the correctors, or their front end.

    Example: narspeech correct snap --hyp ../asr1/exp/maskctc/decode_dev/ctc/hyp --text data/ft_snap/lexicon.txt --out exp/snap/dev_ctc
    """
    from narspeech.correct.lexicon import LexiconSnapper
    from narspeech.correct.noise import read_text_corpus
    from narspeech.fileio import atomic_write, read_table

    snapper = LexiconSnapper.from_sentences((s for t in text for s in read_text_corpus(t)), min_similarity=min_similarity)
    hyps = read_table(hyp, allow_empty_value=True)
    new = {u: snapper.snap(h) for u, h in hyps.items()}
    with atomic_write(out / "hyp") as f:  # an empty hypothesis stays `utt` alone, as decoders write it
        f.writelines(f"{u} {new[u]}".rstrip() + "\n" for u in sorted(new))
    typer.echo(f"{sum(new[u] != hyps[u] for u in hyps)} of {len(hyps)} sentences changed ({len(snapper.words)} lexicon words) -> {out / 'hyp'}")


@app.command("errmodel")
def errmodel(
    hyp: list[Path] = typer.Option(..., "--hyp", help="ASR hypothesis file(s) (not of the test set)."),
    ref: list[Path] = typer.Option(..., "--ref", help="Reference text file(s); every hypothesis id must be in one."),
    out: Path = typer.Option(..., "--out", callback=out_file, help="Error model file (JSON)."),
    variant_prob: float = typer.Option(0.5, "--variant-prob", help="Share of substitutions taken from observed misspellings of the word."),
) -> None:
    """Fit a learned ASR error model (word rates, observed misspellings, character confusions) on
    real hypothesis/reference pairs, for `correct noise --error-model`.

    Example: narspeech correct errmodel --hyp exp/asr_train/sa1/hyp --ref ../asr1/data/train/text_asr --out data/errmodel.json
    """
    from narspeech.correct.errmodel import ErrorModel
    from narspeech.errors import NarspeechError
    from narspeech.fileio import read_table

    refs = {u: t for r in ref for u, t in read_table(r).items()}
    pairs = []
    for h in hyp:
        for u, t in read_table(h, allow_empty_value=True).items():
            if u not in refs:
                raise NarspeechError("hypothesis id not in the references", utt=u, path=h)
            pairs.append((t, refs[u]))
    m = ErrorModel.fit(pairs, variant_prob=variant_prob)
    m.save(out)
    typer.echo(f"error model from {len(pairs)} pairs (WER {100 * m.fitted_on['wer']:.1f} %): per word sub {m.sub_rate:.3f} "
               f"del {m.del_rate:.3f} ins {m.ins_rate:.3f} merge {m.merge_rate:.3f} split {m.split_rate:.3f}; "
               f"{len(m.variants)} words with misspellings -> {out}")


@app.command("train")
def train(
    config: Path = typer.Option(..., "--config", help="YAML: model (type fastcorrect|ar, sizes), tokens, train (engine)."),
    train_dirs: list[Path] = typer.Option(..., "--train", help="Alignment dir(s) of `correct align` to train on (repeatable)."),
    valid_dirs: list[Path] = typer.Option([], "--valid", help="Alignment dir(s) for validation."),
    out: Path = typer.Option(..., "--out", callback=out_dir, help="Experiment dir."),
    init: Optional[Path] = typer.Option(None, "--init", help="Start from this corrector (exp dir or checkpoint) and its token list: fine-tuning."),
    vocab_text: list[Path] = typer.Option([], "--vocab-text", help="Kaldi text files whose words join a new token list."),
    resume: bool = typer.Option(False, "--resume", help="Continue from OUT/last.pt."),
    overrides: list[str] = typer.Option([], "--set", help="Config override a.b=value (repeatable)."),
) -> None:
    """Train FastCorrect (or the AR corrector) on aligned pairs: pretraining on noisy text, then
    fine-tuning on ASR hypotheses with --init.

    Example: narspeech correct train --config conf/fastcorrect.yaml --train exp/ec/align_lj --valid exp/ec/align_dev --out exp/ec/fc_pretrain
    """
    from narspeech.config import load_config
    from narspeech.correct.train import train_corrector

    cfg = load_config(config, overrides)
    best = train_corrector(cfg, train_dirs, valid_dirs or None, out, init=init, vocab_text=vocab_text, resume=resume)
    typer.echo(f"trained -> {best}")


@app.command("decode")
def decode(
    model: Path = typer.Option(..., "--model", help="Corrector exp dir (config.yaml, tokens.txt, best.pt/last.pt, detector.json)."),
    hyp: Path = typer.Option(..., "--hyp", help="Kaldi-style hypothesis file to correct."),
    out: Path = typer.Option(..., "--out", callback=out_dir, help="Output dir: hyp (corrected), passed, corrections, correct_info.json."),
    ref: Optional[Path] = typer.Option(None, "--ref", help="Reference text: also report WER before/after in correct_info.json."),
    checkpoint: Optional[Path] = typer.Option(None, "--checkpoint"),
    batch_size: int = typer.Option(64, "--batch-size"),
    beam: int = typer.Option(5, "--beam", help="Beam size (AR corrector)."),
    threshold: Optional[float] = typer.Option(None, "--threshold", help="Detector confidence threshold (default: EXP/detector.json, else 0)."),
    detect_threshold: Optional[float] = typer.Option(None, "--detect-threshold", help="FastCorrect: min edit probability of some token (default: detector.json, else 0)."),
    max_tokens: int = typer.Option(256, "--max-tokens", help="Longer lines are passed through (listed in OUT/passed)."),
    oov: str = typer.Option("pass", "--oov", help="Lines with words outside the vocabulary: pass (through, listed) or correct (as <unk>)."),
    granularity: Optional[str] = typer.Option(None, "--granularity", help="FastCorrect detector: sentence (all edits or none) or region (each confident edit region); default detector.json, else sentence."),
    detector: Optional[Path] = typer.Option(None, "--detector", help="Detector settings file instead of EXP/detector.json (e.g. one tuned on another ASR system's hypotheses)."),
    device: str = typer.Option("auto", "--device"),
    quantize: str = typer.Option("none", "--quantize", help="none | int8: int8 dynamic quantization of the model's linear layers (CPU only)."),
) -> None:
    """Correct ASR hypotheses in batches; a detector leaves a sentence alone when the model is unsure.

    Example: narspeech correct decode --model exp/ec/fc_finetune --hyp exp/asr/decode_dev/hyp --out exp/ec/fc_finetune/decode_dev
    """
    from narspeech.correct.decode import decode_file, load_corrector

    loaded = load_corrector(model, checkpoint=checkpoint, device=device, detector=detector, quantize=quantize)
    i = decode_file(loaded, hyp, out, batch_size=batch_size, beam=beam, threshold=threshold,
                    detect_threshold=detect_threshold, max_tokens=max_tokens, ref=ref, oov=oov, granularity=granularity)
    wer = f", WER {100 * i['wer_before']:.2f} -> {100 * i['wer_after']:.2f} %" if "wer_before" in i else ""
    typer.echo(f"{i['type']}: {i['applied']} of {i['utterances']} sentences changed ({i['proposed']} proposed, "
               f"{i['passed']} passed through) in {i['seconds']:.2f} s{wer} -> {out / 'hyp'}")


@app.command("tune")
def tune(
    model: Path = typer.Option(..., "--model", help="Corrector exp dir; writes EXP/detector.json."),
    hyp: Path = typer.Option(..., "--hyp", help="Held-out hypotheses (not the test set)."),
    ref: Path = typer.Option(..., "--ref", help="Their reference text."),
    batch_size: int = typer.Option(64, "--batch-size"),
    beam: int = typer.Option(5, "--beam"),
    detect_threshold: float = typer.Option(0.0, "--detect-threshold"),
    oov: str = typer.Option("pass", "--oov", help="pass or correct (as in decode)."),
    out: Optional[Path] = typer.Option(None, "--out", callback=out_file, help="Write the settings here instead of EXP/detector.json (a detector per ASR system; decode --detector reads it)."),
    device: str = typer.Option("auto", "--device"),
) -> None:
    """Pick the detector threshold on held-out pairs (lowest WER; "never change" if nothing helps)."""
    from narspeech.correct.decode import load_corrector, tune_file

    loaded = load_corrector(model, device=device)
    t = tune_file(loaded, hyp, ref, batch_size=batch_size, beam=beam, detect_threshold=detect_threshold, oov=oov, out=out)
    typer.echo(f"threshold {t['threshold']:g} ({t['granularity']}): WER {100 * t['wer_before']:.2f} -> {100 * t['wer_after']:.2f} % "
               f"on {hyp} -> {out or model / 'detector.json'}")


@app.command("hyps")
def hyps(
    asr: Path = typer.Option(..., "--asr", help="ASR exp dir (narspeech asr train)."),
    dump: Path = typer.Option(..., "--dump", help="Feature dump to decode (e.g. the ASR's dump/train)."),
    out: Path = typer.Option(..., "--out", callback=out_dir, help="Output dir: hyp, perturb.json."),
    checkpoint: Optional[Path] = typer.Option(None, "--checkpoint", help="ASR checkpoint (early ones err more; default best/last)."),
    method: str = typer.Option("maskctc", "--method", help="ctc | maskctc | beam | greedy (as asr decode)."),
    specaug: bool = typer.Option(False, "--specaug", help="Leave the model's training SpecAugment on (new masks per utterance)."),
    speeds: str = typer.Option("", "--speeds", help="Comma-separated speed factors, one drawn per utterance (e.g. 0.9,1.1)."),
    seed: int = typer.Option(1, "--seed"),
    batch_size: int = typer.Option(32, "--batch-size"),
    limit: Optional[int] = typer.Option(None, "--limit"),
    device: str = typer.Option("cpu", "--device"),
) -> None:
    """Decode an ASR training set with perturbed features (SpecAugment left on, speed) to get
    fine-tuning pairs whose errors resemble unseen speakers'.

    Example: narspeech correct hyps --asr ../asr1/exp/maskctc --dump ../asr1/dump/train --out exp/asr_train/sa1 --specaug --seed 1
    """
    from narspeech.correct.asrhyps import perturbed_decode

    sp = [float(s) for s in speeds.split(",") if s.strip()]
    i = perturbed_decode(asr, dump, out, checkpoint=checkpoint, method=method, specaug=specaug, speeds=sp, seed=seed,
                         batch_size=batch_size, device=device, limit=limit)
    typer.echo(f"decoded {i['utterances']} utterances (step {i['step']}, specaug {'on' if i['specaug'] else 'off'}, speeds {sp or '-'}) -> {out / 'hyp'}")


@app.command("stats")
def stats(
    pairs: list[str] = typer.Argument(..., help="NAME=HYP pairs of hypothesis files (all scored against --ref)."),
    ref: list[Path] = typer.Option(..., "--ref", help="Reference text file(s); ids of every HYP must be in one."),
    lexicon: list[Path] = typer.Option([], "--lexicon", help="Kaldi text files whose words are the lexicon (default: the references')."),
    json_out: Optional[Path] = typer.Option(None, "--json", callback=out_file, help="Write the profiles here."),
) -> None:
    """Error profiles of hypothesis sets (WER, CER, S/D/I, non-words, near misses, word-boundary
    errors), side by side, to check that training pairs resemble the test hypotheses.

    Example: narspeech correct stats dev=../asr1/exp/maskctc/decode_dev/maskctc/hyp train_sa=exp/asr_train/sa1/hyp --ref ../asr1/data/dev/text_asr --ref ../asr1/data/train/text_asr
    """
    import json

    from narspeech.correct.errstats import error_profile, profile_table
    from narspeech.errors import NarspeechError
    from narspeech.fileio import atomic_write, read_table

    refs = {u: t for r in ref for u, t in read_table(r).items()}
    lex = {w for f in lexicon for v in read_table(f).values() for w in v.split()} if lexicon else None
    rows = []
    for p in pairs:
        name, sep, path = p.partition("=")
        if not sep:
            raise NarspeechError(f"give NAME=HYP, not {p!r}")
        rows.append((name, error_profile(refs, read_table(path, allow_empty_value=True), lexicon=lex)))
    typer.echo(profile_table(rows), nl=False)
    if json_out is not None:
        with atomic_write(json_out) as f:
            json.dump(dict(rows), f, indent=2)


@app.command("pairs")
def pairs(
    decodes: list[str] = typer.Argument(..., help="TAG=HYP: the ASR's hypotheses of its training set, one per checkpoint × perturbation."),
    ref: Path = typer.Option(..., "--ref", help="The training set's reference text."),
    utt2spk: Path = typer.Option(..., "--utt2spk", help="The training set's utt2spk (speakers to split by)."),
    out: Path = typer.Option(..., "--out", callback=out_dir, help="Output dir: hyp, text, {hyp,text}_{train,tune}, tune_speakers."),
    tune_every: int = typer.Option(10, "--tune-every", help="Every N-th speaker (sorted) is held out from fine-tuning to tune the detector."),
) -> None:
    """Pool an ASR's decodes of its own training set into fine-tuning pairs (keys TAG-UTT) and hold
    out every N-th speaker's pairs for tuning the detector.

    Example: narspeech correct pairs best_none=exp/asr_train/best_none/hyp --ref ../asr1/data/train/text_asr --utt2spk ../asr1/data/train/utt2spk --out data/ft
    """
    from narspeech.correct.pairs import collect_pairs
    from narspeech.errors import NarspeechError

    parsed = []
    for d in decodes:
        tag, sep, path = d.partition("=")
        if not sep or not tag:
            raise NarspeechError(f"give TAG=HYP, not {d!r}")
        parsed.append((tag, Path(path)))
    c = collect_pairs(parsed, ref, utt2spk, out, tune_every=tune_every)
    typer.echo(f"{c['hyp_train']} fine-tuning pairs, {c['hyp_tune']} held out ({c['speakers_tune']} speakers) -> {out}")


@app.command("wer")
def wer(results: list[Path] = typer.Argument(..., help="result.json files of `narspeech asr score … --out DIR`.")) -> None:
    """Print the WER (%) of each result on one line, in order (for a recipe's log line).

    Example: narspeech correct wer exp/score_dev/maskctc/asr/result.json exp/score_dev/maskctc/fc/result.json
    """
    from narspeech.correct.pairs import wer_percent

    typer.echo(" ".join(f"{wer_percent(r):.2f}" for r in results))
