"""`narspeech bench` commands."""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from narspeech.outputs import out_file

app = typer.Typer(help="Speed benchmarks: features, training, TTS, vocoders, ASR, error correction.", no_args_is_help=True)


def _batch_sizes(spec: str) -> list[int]:
    """`1,8,all` -> [1, 8, 0] (0 = every item in one batch); a clear error otherwise."""
    from narspeech.errors import NarspeechError

    try:
        sizes = [0 if b.strip() == "all" else int(b) for b in spec.split(",") if b.strip()]
    except ValueError:
        raise NarspeechError(f"--batch-sizes must be integers or `all`, got {spec!r}") from None
    if not sizes or any(b < 0 for b in sizes):
        raise NarspeechError(f"--batch-sizes must be positive integers or `all`, got {spec!r}")
    return sizes


def _report(result: dict, table: str, out: Path | None) -> None:
    """Print the markdown table; with `out`, also write the JSON there and the table beside it (.md)."""
    import json

    from narspeech.fileio import atomic_write

    if out is not None:
        with atomic_write(out) as f:
            json.dump(result, f, indent=1)
        with atomic_write(out.with_suffix(".md")) as f:
            f.write(table)
    typer.echo(table, nl=False)


@app.command("tts")
def tts(
    student: Path = typer.Option(..., "--student", help="Exp dir of the FastSpeech (2) model."),
    teacher: Optional[Path] = typer.Option(None, "--teacher", help="Exp dir of the autoregressive teacher (for the speed-up)."),
    text: Path = typer.Option(..., "--text", help="Sentences to synthesize, one per line."),
    device: str = typer.Option("auto", "--device", help="auto (CUDA if present), cpu, cuda, cuda:N."),
    batch_sizes: str = typer.Option("1,all", "--batch-sizes", help="Comma-separated batch sizes; `all` = every sentence in one batch."),
    repeat: int = typer.Option(3, "--repeat", help="Timed runs per setting (after the warm-up)."),
    warmup: int = typer.Option(1, "--warmup", help="Untimed warm-up passes over every batch (each shape once)."),
    gl_iters: int = typer.Option(32, "--gl-iters", help="Griffin-Lim iterations in the end-to-end timing."),
    vocoder_name: str = typer.Option("griffin-lim", "--vocoder", help="Vocoder of the end-to-end timing: griffin-lim, hifigan:universal, hifigan:ljspeech or a checkpoint."),
    no_vocoder: bool = typer.Option(False, "--no-vocoder", help="Time mel generation only."),
    out: Optional[Path] = typer.Option(None, "--out", "--json", callback=out_file, help="Write the results JSON here (and the table beside it as .md)."),
    speakers: Optional[str] = typer.Option(None, "--speakers", help="Multi-speaker models: comma-separated voices the sentences take in turn, so batches mix them (default: every training speaker); one name times a single voice."),
) -> None:
    """Time FastSpeech 2 against its AR teacher: mel and end-to-end (text → wav) seconds, RTF, speed-up, at batch 1 and full batch.

    Example: narspeech bench tts --student exp/arctic_fastspeech2 --teacher exp/arctic_teacher --text sentences.txt --batch-sizes 1,16 --out exp/bench_tts.json
    """

    from narspeech.cli.vocoder import vocoder_options
    from narspeech.errors import NarspeechError
    from narspeech.tts.bench import benchmark_tts, markdown_table
    from narspeech.tts.synthesize.frontend import read_sentences

    sentences = [s for _, s in read_sentences(text) if s]
    if not sentences:
        raise NarspeechError("no sentences", path=text)
    sizes = _batch_sizes(batch_sizes)
    result = benchmark_tts(str(student), None if teacher is None else str(teacher), sentences, device=device, batch_sizes=sizes,
                           repeat=repeat, warmup=warmup, vocoder=None if no_vocoder else vocoder_name,
                           vocoder_options=vocoder_options(vocoder_name, gl_iters=gl_iters),
                           speakers=[x for x in speakers.split(",") if x] if speakers else None)
    table = markdown_table(result)
    _report(result, table, out)


@app.command("e2e")
def e2e(
    text: Path = typer.Option(..., "--text", help="Sentences, one per line (the first --batch1 time batch 1; all of them the throughput unless --data)."),
    throughput_data: Optional[Path] = typer.Option(None, "--throughput-data", help="A data dir whose `text` gives the throughput sentences instead (e.g. arctic_fb/train)."),
    model: str = typer.Option("random:fastspeech2", "--model", help="FastSpeech 2 exp dir, or random:fastspeech2 (paper size, random weights, --frames-per-token frames per phoneme)."),
    vocoder_name: str = typer.Option("random:istft", "--vocoder", help="As --vocoder elsewhere, or random:v1|v2|v3|istft (that generator with random weights: speed only)."),
    engine: str = typer.Option("torch", "--engine", help="torch, onnx (exported into --workdir and run by onnxruntime), or both."),
    threads: str = typer.Option("1,2", "--threads", help="Comma-separated CPU thread counts for the batch-1 rows; the throughput row uses the last."),
    batch1: int = typer.Option(10, "--batch1", help="Sentences timed one at a time."),
    batch_size: int = typer.Option(16, "--batch-size", help="Sentences per batch in the throughput row."),
    sentences: Optional[int] = typer.Option(None, "--sentences", help="Sentences in the throughput row (default: all; more than there are: cycled)."),
    frames_per_token: int = typer.Option(6, "--frames-per-token", help="random:fastspeech2: frames per phoneme (ARCTIC at hop 256: about 6)."),
    device: str = typer.Option("cpu", "--device", help="cpu, cuda, cuda:N, auto (torch engine)."),
    workdir: Optional[Path] = typer.Option(None, "--workdir", help="Where the random model and ONNX files go (default: a temporary dir)."),
    limit: Optional[int] = typer.Option(None, "--limit", help="At most N sentences anywhere (smoke runs)."),
    clauses: bool = typer.Option(True, "--clauses/--whole-sentences", help="Batch 1 speaks long sentences in clause pieces, as `tts speak` does (its default); --whole-sentences: one piece each."),
    out: Optional[Path] = typer.Option(None, "--out", "--json", callback=out_file, help="Write the results JSON here (and the table beside it as .md)."),
) -> None:
    """End to end as a user hears it: time to first audio, text → wav RTF and each stage's share at batch 1 per thread count; batch throughput (× real time).

    Example: narspeech bench e2e --text sentences.txt --model exp/fastspeech2 --vocoder egs/arctic/voc1/exp/istft_spectral --engine both --out exp/bench_e2e.json
    """
    import tempfile

    from narspeech.errors import NarspeechError
    from narspeech.tts.bench_e2e import bench_e2e, factory, format_table
    from narspeech.tts.synthesize.frontend import read_sentences

    texts = [s for _, s in read_sentences(text) if s]
    if not texts:
        raise NarspeechError("no sentences", path=text)
    try:
        counts = [int(t) for t in threads.split(",") if t.strip()]
    except ValueError:
        raise NarspeechError(f"--threads must be integers, got {threads!r}") from None
    many = texts
    if throughput_data is not None:
        from narspeech.tts.synthesize.frontend import read_data_text

        many = [s for _, s in read_data_text(throughput_data) if s]
    if limit:
        texts, many, batch1 = texts[:limit], many[:limit], min(batch1, limit)
        sentences = min(sentences or limit, limit)
    engines = ["torch", "onnx"] if engine == "both" else [engine]
    results, tables = {}, []
    with tempfile.TemporaryDirectory() as tmp:
        for eng in engines:
            make = factory(model, vocoder_name, texts + many, device=device, engine=eng, workdir=(workdir or Path(tmp)) / eng,
                           frames_per_token=frames_per_token)
            results[eng] = bench_e2e(make, texts, threads=counts, batch1_sentences=batch1, batch_size=batch_size,
                                     throughput_sentences=sentences, throughput_texts=many, clauses=clauses)
            tables.append(format_table(results[eng], eng))
    _report(results, "\n".join(tables), out)


@app.command("vocoder")
def vocoder(
    data: Path = typer.Argument(..., help="Data dir whose recordings give the mels (e.g. ../shared/data/arctic_fb/test)."),
    vocoders: str = typer.Option("hifigan:universal,random:v3", "--vocoders", help="Comma-separated vocoder specs (as --vocoder; random:v1/random:v3 = that generator size with random weights, speed only)."),
    batch_sizes: str = typer.Option("1,all", "--batch-sizes", help="Comma-separated batch sizes; `all` = every utterance in one call."),
    limit: int = typer.Option(8, "--limit", help="Utterances (the first N of DATA)."),
    device: str = typer.Option("auto", "--device", help="auto (CUDA if present), cpu, cuda, cuda:N."),
    precision: str = typer.Option("auto", "--precision", help="CUDA: fp16 (auto), bf16, fp32."),
    max_batch_frames: Optional[int] = typer.Option(None, "--max-batch-frames", help="Padded frames per generator call (default 600 on CPU, 200000 on CUDA)."),
    repeat: int = typer.Option(2, "--repeat", help="Timed runs per setting (after one warm-up batch)."),
    out: Optional[Path] = typer.Option(None, "--out", "--json", callback=out_file, help="Write the results JSON here (and the table beside it as .md)."),
) -> None:
    """Vocoder real-time factor (wall and, on CPU, CPU time) at batch 1 and full batch.

    Example: narspeech bench vocoder ../shared/data/arctic_fb/test --vocoders hifigan:universal,random:v3 --device cpu --out exp/bench_vocoder.json
    """

    from narspeech.vocoder.bench import bench_vocoder, format_table

    sizes = _batch_sizes(batch_sizes)
    opts = {"precision": precision}
    if max_batch_frames:
        opts["max_batch_frames"] = max_batch_frames
    res = bench_vocoder(data, [v.strip() for v in vocoders.split(",") if v.strip()], batch_sizes=sizes, device=device, limit=limit,
                        repeat=repeat, options=opts)
    table = format_table(res)
    _report(res, table, out)


@app.command("train")
def train(
    device: str = typer.Option("auto", "--device", help="auto (CUDA if present), cpu, cuda, cuda:N."),
    batch_sizes: Optional[str] = typer.Option(None, "--batch-sizes", help="Comma-separated batch sizes (default 16,32 on CUDA, 1,2 on CPU)."),
    precisions: Optional[str] = typer.Option(None, "--precisions", help="Comma-separated: bf16,fp32 (default both on CUDA; CPU runs fp32 only)."),
    steps: Optional[int] = typer.Option(None, "--steps", help="Timed updates per setting (default 30 on CUDA, 3 on CPU)."),
    warmup: Optional[int] = typer.Option(None, "--warmup", help="Untimed updates first (default 5 on CUDA, 1 on CPU)."),
    num_workers: int = typer.Option(2, "--num-workers", help="DataLoader workers."),
    speakers: int = typer.Option(0, "--speakers", min=0, help="Add a speaker table with this many voices (utterances dealt round-robin): the multi-speaker training cost."),
    out: Optional[Path] = typer.Option(None, "--out", callback=out_file, help="Write the results JSON here."),
) -> None:
    """Training throughput (steps/s, frames/s) and peak GPU memory of the engine on a FastSpeech-sized reference model, per batch size and precision.

    Example: narspeech bench train --device cuda --batch-sizes 16,32 --out exp/bench_train.json
    """
    import json

    from narspeech.fileio import atomic_write
    from narspeech.train.bench import bench_train, format_results

    sizes = tuple(int(b) for b in batch_sizes.split(",")) if batch_sizes else None
    precs = tuple(p.strip() for p in precisions.split(",")) if precisions else None
    res = bench_train(device=device, batch_sizes=sizes, precisions=precs, steps=steps, warmup=warmup, num_workers=num_workers,
                      speakers=speakers)
    if res and res[0]["peak_mem_gib"] is None:
        typer.echo("CPU run: fp32 only (bf16 autocast is CUDA-only in narspeech); no GPU memory to report.", err=True)
    typer.echo(format_results(res))
    if out is not None:
        with atomic_write(out) as f:
            json.dump(res, f, indent=1)


@app.command("feats")
def feats(
    data: Path = typer.Argument(..., help="Kaldi data dir (wav.scp) to dump, e.g. ../shared/data/arctic_fb/train. `cmd |` entries of wav.scp run that shell command (Kaldi); `narspeech --no-pipes` refuses them."),
    base: Optional[Path] = typer.Option(None, "--base", help="Folder that relative wav.scp paths are relative to (guessed: DATA or its parent)."),
    device: str = typer.Option("auto", "--device", help="auto (CUDA if present), cpu, cuda, cuda:N."),
    jobs: Optional[int] = typer.Option(None, "--jobs", "-j", help="Worker processes (default: one per CPU core, at most 8)."),
    limit: Optional[int] = typer.Option(None, "--limit", help="Dump only the first N utterances."),
    librosa_limit: int = typer.Option(5, "--librosa-limit", help="Utterances for the librosa load+melspectrogram+pyin loop (0: skip it; pyin is slow)."),
    batch_seconds: Optional[float] = typer.Option(None, "--batch-seconds", help="Padded audio seconds per batch (default 120 CPU, 1200 CUDA)."),
    json_out: Optional[Path] = typer.Option(None, "--json", callback=out_file, help="Also write the results as JSON here."),
) -> None:
    """Time the full feature dump (decode, resample, log-mel, F0, energy, write) in x real time, beside a plain librosa loop.

    Example: narspeech bench feats ../shared/data/arctic_fb/train --base ../shared/data/arctic_fb --jobs 2 --librosa-limit 5 --json exp/bench_feats.json
    """
    import json

    from narspeech.audio.bench import bench_feats, format_table
    from narspeech.fileio import atomic_write

    res = bench_feats(data, base=base, device=device, jobs=jobs, limit=limit, librosa_limit=librosa_limit, batch_seconds=batch_seconds)
    typer.echo(format_table(res), nl=False)
    if json_out is not None:
        with atomic_write(json_out) as f:
            json.dump(res, f, indent=1)


@app.command("asr")
def asr(
    maskctc: Path = typer.Option(..., "--maskctc", help="Mask-CTC experiment dir."),
    ar: Optional[Path] = typer.Option(None, "--ar", help="AR (joint CTC/attention) experiment dir, same encoder (for the speed-up)."),
    dump: Path = typer.Option(..., "--dump", help="Feature dump to decode."),
    limit: int = typer.Option(20, "--limit", help="First N utterances of the dump."),
    batch_sizes: str = typer.Option("1,all", "--batch-sizes", help="Comma-separated batch sizes; `all` = every utterance in one batch."),
    threshold: Optional[float] = typer.Option(None, "--threshold", help="Mask-CTC threshold (default: the model's, tuned on dev by `asr tune`, else 0.999)."),
    iterations: Optional[int] = typer.Option(None, "--iterations", help="Mask-CTC iterations (default: the model's, else 10)."),
    beam: int = typer.Option(10, "--beam", help="AR beam size."),
    ctc_weight: float = typer.Option(0.3, "--ctc-weight", help="AR beam search CTC weight."),
    repeat: int = typer.Option(1, "--repeat", help="Timed runs per setting (the fastest is kept)."),
    device: str = typer.Option("auto", "--device", help="auto (CUDA if present), cpu, cuda, cuda:N."),
    out: Optional[Path] = typer.Option(None, "--out", "--json", callback=out_file, help="Write the results JSON here (and the table beside it as .md)."),
    ar_greedy: bool = typer.Option(False, "--ar-greedy", help="Also time the AR model's greedy search (attention argmax): row ar_greedy."),
    ar_beams: Optional[str] = typer.Option(None, "--ar-beams", help="Also time the AR joint CTC/attention search at these narrower beams (comma-separated, e.g. 1,3): rows ar_beamN."),
    quantize: str = typer.Option("none", "--quantize", help="int8: also time an int8 dynamically quantized copy of the AR model, with each AR search timed. CPU only."),
    ar_variant: List[Path] = typer.Option([], "--ar-variant", help="Another trained AR exp dir (e.g. fewer decoder layers), timed with the same beam search; repeatable."),
    checkpoint_name: Optional[str] = typer.Option(None, "--checkpoint-name", help="Load EXP/NAME of every exp dir (e.g. avg5.pt, the decoded checkpoint) instead of its best.pt."),
    mask_iterations: Optional[str] = typer.Option(None, "--mask-iterations", help="Also time Mask-CTC at these iteration counts (comma-separated, 0 = greedy CTC) at --threshold."),
) -> None:
    """Time CTC greedy, Mask-CTC and AR beam search on the same utterances: seconds, RTF, latency, speed-up over AR;
    optionally the speed-ups users would pick instead of NAR (AR greedy, int8 AR, a smaller AR, Mask-CTC iterations).

    Example: narspeech bench asr --maskctc exp/maskctc --ar exp/ar --dump dump/test --limit 20 --batch-sizes 1,20 --out exp/speed_test.json
    """

    from dataclasses import replace

    from narspeech.asr.recognize import DecodeOptions, load_recognizer
    from narspeech.asr.bench import Variant, benchmark_asr, load_mels, markdown_table
    from narspeech.errors import NarspeechError
    from narspeech.nets.quantize import check_quantize

    sizes = _batch_sizes(batch_sizes)
    def ints(spec: str | None, opt: str, least: int) -> list[int]:
        try:
            out = [int(x) for x in (spec or "").split(",") if x.strip()]
        except ValueError:
            raise NarspeechError(f"{opt} must be comma-separated integers, got {spec!r}") from None
        if any(i < least for i in out):
            raise NarspeechError(f"{opt} must be {least} or more, got {spec!r}")
        return out

    its, beams = ints(mask_iterations, "--mask-iterations", 0), ints(ar_beams, "--ar-beams", 1)
    if (ar_greedy or beams or ar_variant or check_quantize(quantize, "cpu") != "none") and ar is None:
        raise NarspeechError("--ar-greedy, --ar-beams, --quantize and --ar-variant time AR variants: give --ar too")
    mels = load_mels(dump, limit)
    if not mels:
        raise NarspeechError("no utterances to decode", path=dump)
    def ck(e: Path) -> Path | None:
        if checkpoint_name is None:
            return None
        if not (e / checkpoint_name).is_file():
            raise NarspeechError(f"no {checkpoint_name} in the exp dir (--checkpoint-name)", path=e)
        return e / checkpoint_name

    rm = load_recognizer(maskctc, device, ck(maskctc))
    ra = None if ar is None else load_recognizer(ar, device, ck(ar))
    variants = []
    beam_opts = DecodeOptions("beam", beam=beam, ctc_weight=ctc_weight)
    greedy = ([("greedy", DecodeOptions("greedy"))] if ar_greedy else []) + [(f"beam{b}", replace(beam_opts, beam=b)) for b in beams]
    variants += [Variant(f"ar_{n}", ra, o) for n, o in greedy]
    if ra is not None and check_quantize(quantize, ra.device) != "none":
        rq = load_recognizer(ar, device, ck(ar), quantize=quantize)
        variants += [Variant(f"ar_{n}_{quantize}", rq, o) for n, o in [(f"beam{beam}", beam_opts), *greedy]]
    for v in ar_variant:
        variants.append(Variant(f"{v.name}_beam{beam}", load_recognizer(v, device, ck(v)), beam_opts))
    mask = rm.default_options("maskctc", threshold=threshold)
    for i in its:
        variants.append(Variant(f"maskctc_it{i}", rm, replace(mask, iterations=i)))
    res = benchmark_asr(rm, ra, mels, batch_sizes=sizes, threshold=threshold, iterations=iterations, beam=beam,
                        ctc_weight=ctc_weight, repeat=repeat, variants=variants)
    table = markdown_table(res)
    _report(res, table, out)


@app.command("correct")
def correct(
    fastcorrect: Optional[Path] = typer.Option(None, "--fastcorrect", help="FastCorrect experiment dir."),
    ar: Optional[Path] = typer.Option(None, "--ar", help="AR corrector experiment dir (for the speed-up)."),
    hyp: Path = typer.Option(..., "--hyp", help="Kaldi-style hypotheses to correct (e.g. an ASR decode dir's hyp)."),
    limit: int = typer.Option(200, "--limit", help="First N non-empty sentences."),
    batch_sizes: str = typer.Option("1,all", "--batch-sizes", help="Comma-separated batch sizes; `all` = every sentence in one batch."),
    beam: int = typer.Option(5, "--beam", help="AR beam size."),
    repeat: int = typer.Option(1, "--repeat", help="Timed runs per setting (the fastest is kept)."),
    device: str = typer.Option("auto", "--device", help="auto (CUDA if present), cpu, cuda, cuda:N."),
    out: Optional[Path] = typer.Option(None, "--out", "--json", callback=out_file, help="Write the results JSON here (and the table beside it as .md)."),
    ar_greedy: bool = typer.Option(False, "--ar-greedy", help="Also time the AR corrector's greedy search (beam 1): row ar_greedy."),
    quantize: str = typer.Option("none", "--quantize", help="int8: also time an int8 dynamically quantized copy of the AR corrector (rows ar_int8, ar_greedy_int8). CPU only."),
) -> None:
    """Correction latency at batch 1 and full batch: FastCorrect vs the AR corrector, and the speed-up;
    optionally the AR speed-ups a user could pick instead (greedy search, int8), against the same AR beam search.

    Example: narspeech bench correct --fastcorrect exp/fc --ar exp/ar --hyp ../asr1/exp/maskctc/decode_dev/maskctc_th0.999_it10/hyp --out exp/speed_dev.json
    """

    from narspeech.correct.decode import load_corrector
    from narspeech.correct.bench import benchmark_correctors, markdown_table
    from narspeech.errors import NarspeechError
    from narspeech.fileio import read_table

    sizes = _batch_sizes(batch_sizes)
    if fastcorrect is None and ar is None:
        raise NarspeechError("give --fastcorrect and/or --ar")
    items = [(u, t) for u, t in read_table(hyp, allow_empty_value=True).items() if t.strip()][:limit]
    if not items:
        raise NarspeechError("no non-empty hypotheses", path=hyp)
    from narspeech.nets.quantize import check_quantize

    q = check_quantize(quantize, "cpu")
    if (ar_greedy or q != "none") and ar is None:
        raise NarspeechError("--ar-greedy and --quantize time AR corrector variants: give --ar too")
    fc = None if fastcorrect is None else load_corrector(fastcorrect, device=device)
    arm = None if ar is None else load_corrector(ar, device=device)
    variants = [("ar_greedy", arm, 1)] if ar_greedy else []
    if q != "none":
        arq = load_corrector(ar, device=device, quantize=q)
        variants += [(f"ar_{q}", arq, beam)] + ([(f"ar_greedy_{q}", arq, 1)] if ar_greedy else [])
    res = benchmark_correctors(fc, arm, items, batch_sizes=sizes, beam=beam, repeat=repeat, variants=variants)
    table = markdown_table(res)
    _report(res, table, out)
