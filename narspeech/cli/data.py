"""`narspeech data` commands: import, download, synth, validate, split, subset, combine, trim."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Optional

import typer

from narspeech.errors import NarspeechError
from narspeech.outputs import out_dir

app = typer.Typer(help="Kaldi-style data directories: import corpora, synthesise one, validate, split, subset, combine.",
                  no_args_is_help=True)
import_app = typer.Typer(help="Import a corpus from its own layout into a Kaldi-style data dir.", no_args_is_help=True)
app.add_typer(import_app, name="import")

_SKIP = typer.Option(False, "--skip-bad", help="Leave out utterances with missing/empty audio or empty text, and list them.")


def _say(msg: str) -> None:
    print(msg, file=sys.stderr)


def _write(out: Path, dd) -> None:
    """Write a data dir, saying which stale tables of an earlier run were removed."""
    from narspeech.data.datadir import write_data_dir

    stale = write_data_dir(out, dd)
    if stale:
        _say(f"removed stale {', '.join(stale)} from {out} (they described other utterances)")


def _write_import(result, out: Path) -> None:
    for s in result.skipped:
        _say(f"skipped: {s}")
    _write(out, result.data)
    spks = len(set(result.data.utt2spk.values()))
    _say(f"wrote {out}: {len(result.data)} utterances, {spks} speakers" + (f", {len(result.skipped)} skipped" if result.skipped else ""))


@import_app.command("ljspeech")
def import_ljspeech(src: Path = typer.Argument(..., help="LJSpeech-1.1 folder (metadata.csv, wavs/)."),
                    out: Path = typer.Argument(..., callback=out_dir, help="Output data dir."), skip_bad: bool = _SKIP) -> None:
    """Import LJSpeech-1.1 (normalized transcript column, wavs/<id>.wav).

    Example: narspeech data import ljspeech downloads/LJSpeech-1.1 data/all
    """
    from narspeech.data.ljspeech import import_ljspeech as run

    _write_import(run(src, skip_bad=skip_bad), out)


@import_app.command("librispeech")
def import_librispeech(src: Path = typer.Argument(..., help="A subset folder (LibriSpeech/test-clean) or the LibriSpeech root."),
                       out: Path = typer.Argument(..., callback=out_dir, help="Output data dir."),
                       subset: Optional[list[str]] = typer.Option(None, "--subset", help="Subset(s) under a LibriSpeech root; repeatable."),
                       skip_bad: bool = _SKIP) -> None:
    """Import LibriSpeech (<spk>/<chapter>/*.flac + *.trans.txt).

    Example: narspeech data import librispeech downloads/LibriSpeech data/train --subset train-clean-100 --subset train-clean-360
    """
    from narspeech.data.librispeech import import_librispeech as run

    _write_import(run(src, subsets=subset or None, skip_bad=skip_bad), out)


@import_app.command("vctk")
def import_vctk(src: Path = typer.Argument(..., help="VCTK-Corpus-0.92 folder (wav48_silence_trimmed/, txt/, speaker-info.txt)."),
                out: Path = typer.Argument(..., callback=out_dir, help="Output data dir."),
                mic: str = typer.Option("mic2", "--mic", help="mic1 | mic2 | both (ids get _mic1/_mic2)."),
                speaker: Optional[list[str]] = typer.Option(None, "--speaker", help="Only this speaker (e.g. p225); repeatable."),
                skip_bad: bool = _SKIP) -> None:
    """Import VCTK 0.92 (wav48_silence_trimmed/<spk>/<spk>_<n>_<mic>.flac + txt/<spk>/<spk>_<n>.txt), many speakers.

    Utterances with a recording but no transcript (p315) or the reverse are listed as skipped.

    Example: narspeech data import vctk downloads/VCTK-Corpus-0.92 data/all --mic mic2
    """
    from narspeech.data.vctk import import_vctk as run

    _write_import(run(src, mic=mic, speakers=speaker or None, skip_bad=skip_bad), out)


@import_app.command("libritts")
def import_libritts(src: Path = typer.Argument(..., help="A LibriTTS or LibriTTS-R subset folder (LibriTTS_R/train-clean-100) or the root."),
                    out: Path = typer.Argument(..., callback=out_dir, help="Output data dir."),
                    subset: Optional[list[str]] = typer.Option(None, "--subset", help="Subset(s) under a LibriTTS root; repeatable."),
                    text_kind: str = typer.Option("normalized", "--text", help="normalized (.normalized.txt) | original (.original.txt)."),
                    skip_bad: bool = _SKIP) -> None:
    """Import LibriTTS / LibriTTS-R (<spk>/<chapter>/<utt>.wav + <utt>.normalized.txt), many speakers.

    Example: narspeech data import libritts downloads/LibriTTS_R data/train --subset train-clean-100 --subset train-clean-360
    """
    from narspeech.data.libritts import import_libritts as run

    _write_import(run(src, subsets=subset or None, text_kind=text_kind, skip_bad=skip_bad), out)


@import_app.command("arctic")
def import_arctic(src: Path = typer.Argument(..., help="A cmu_us_<spk>_arctic folder, or a folder holding several."),
                  out: Path = typer.Argument(..., callback=out_dir, help="Output data dir."), skip_bad: bool = _SKIP) -> None:
    """Import CMU ARCTIC (wav/*.wav + etc/txt.done.data); utterance ids become <spk>-<id>.

    Example: narspeech data import arctic downloads/cmu_us_slt_arctic data/all
    """
    from narspeech.data.arctic import import_arctic as run

    _write_import(run(src, skip_bad=skip_bad), out)


@import_app.command("speechocean762")
def import_speechocean762(src: Path = typer.Argument(..., help="speechocean762 root (train/, test/ with wav.scp; WAVE/)."),
                          out: Path = typer.Argument(..., callback=out_dir, help="Output data dir."),
                          split: str = typer.Option("train", "--split", help="Split folder: train | test (| dev in a re-split copy)."),
                          skip_bad: bool = _SKIP) -> None:
    """Import one split of speechocean762 (public release layout) with spk2age/spk2gender.

    Example: narspeech data import speechocean762 downloads/speechocean762 data/test --split test
    """
    from narspeech.data.speechocean762 import import_speechocean762 as run

    _write_import(run(src, split, skip_bad=skip_bad), out)


@import_app.command("kaldi")
def import_kaldi(src: Path = typer.Argument(..., help="An existing Kaldi data dir."),
                 out: Path = typer.Argument(..., callback=out_dir, help="Output data dir."),
                 base: Optional[Path] = typer.Option(None, "--base", help="Folder relative wav.scp paths are relative to (default: the dir or its parent, whichever has the files)."),
                 skip_bad: bool = _SKIP) -> None:
    """Copy a Kaldi data dir with absolute audio paths, sorted tables and spk2utt regenerated.

    Example: narspeech data import kaldi ../shared/data/arctic_fb/train data/train
    """
    from narspeech.data.kaldi import import_kaldi as run

    _write_import(run(src, base=base, skip_bad=skip_bad), out)


@app.command("download")
def download(corpus: str = typer.Argument(..., help="ljspeech | librispeech | arctic"),
             dest: Path = typer.Argument(..., callback=out_dir, help="Folder to download and extract into."),
             subset: Optional[list[str]] = typer.Option(None, "--subset", help="LibriSpeech subset (default dev-clean, test-clean, train-clean-100) or ARCTIC speaker (default slt); repeatable."),
             keep_archive: bool = typer.Option(True, "--keep-archive/--remove-archive", help="Keep the downloaded archive after extraction.")) -> None:
    """Download, verify (SHA-256 where published) and extract a public corpus. Needs internet.

    Example: narspeech data download librispeech downloads --subset test-clean
    """
    from narspeech.data import download as dl

    dl.archives_for(corpus, subset or None)  # validate names before touching the network
    for path in dl.download(corpus, dest, subset or None, keep_archive=keep_archive):
        _say(f"done: {path.name} -> {dest}")


@app.command("synth")
def synth(out: Path = typer.Argument(..., callback=out_dir, help="Output data dir."),
          prompts: Optional[Path] = typer.Option(None, "--prompts", help="One sentence per line (default: the 2,000 shipped LJSpeech sentences)."),
          num_utts: int = typer.Option(100, "--num-utts", help="Number of utterances."),
          wav_dir: Optional[Path] = typer.Option(None, "--wav-dir", callback=out_dir, help="Where the wavs go (default OUT/wavs)."),
          voices: str = typer.Option("en-us,en-us+f2,en-us+m3,en-us+f4", "--voices",
                                     help="Comma-separated espeak-ng voices, language[+variant]; one speaker each."),
          rate: str = typer.Option("140:190", "--rate", help="Speaking rate range MIN:MAX (words per minute)."),
          pitch: str = typer.Option("35:65", "--pitch", help="Pitch range MIN:MAX (0-99)."),
          sample_rate: int = typer.Option(22050, "--sample-rate", help="Output sample rate (espeak-ng speaks at 22050 Hz)."),
          seed: int = typer.Option(0, "--seed", help="Seed for prompts, rates, pitches."),
          exclude_text: Optional[list[Path]] = typer.Option(None, "--exclude-text", help="Kaldi text file(s) whose sentences are left out of the prompts (repeatable)."),
          jobs: int = typer.Option(2, "--jobs", "-j", help="espeak-ng processes at once.")) -> None:
    """Synthesise a multi-speaker corpus with espeak-ng (exact transcripts, per-utterance rate/pitch).

    Example: narspeech data synth data/all --num-utts 400 --voices en-us,en-us+f2,en-gb+m3 --seed 1 --jobs 4
    """
    from narspeech.data import synth as sy
    from narspeech.data.prompts import load_prompts

    from narspeech.fileio import read_table

    pool = load_prompts(prompts)
    if exclude_text:
        texts = [t for f in exclude_text for t in read_table(f, allow_empty_value=True).values()]
        kept = sy.exclude_prompts(pool, texts)
        _say(f"--exclude-text: {len(pool) - len(kept)} of {len(pool)} prompts left out")
        pool = kept
    utts = sy.plan(pool, [v.strip() for v in voices.split(",") if v.strip()], num_utts,
                   rate=sy.parse_range(rate, "rate", 80, 450), pitch=sy.parse_range(pitch, "pitch", 0, 99), seed=seed)
    dd = sy.synthesize(utts, wav_dir or out / "wavs", sample_rate=sample_rate, jobs=jobs)
    _write(out, dd)
    hours = sum(float(d) for d in dd.extra_utt["utt2dur"].values()) / 3600
    _say(f"wrote {out}: {len(dd)} utterances, {len(set(dd.utt2spk.values()))} speakers, {hours:.3f} h")


@app.command("validate")
def validate(data: Path = typer.Argument(..., help="Data dir to check. `cmd |` entries of wav.scp run that shell command (Kaldi); `narspeech --no-pipes` refuses them."),
             no_audio: bool = typer.Option(False, "--no-audio", help="Skip reading the audio."),
             header_only: bool = typer.Option(False, "--header-only", help="Read audio headers only (fast) instead of decoding every file."),
             expect_rate: Optional[int] = typer.Option(None, "--sample-rate", help="Report audio at any other sample rate."),
             jobs: int = typer.Option(4, "--jobs", "-j", help="Parallel audio readers.")) -> None:
    """Check a data dir (Kaldi's validate_data_dir.sh checks and more); report every problem, exit 1 if any.

    Example: narspeech data validate data/train --sample-rate 22050
    """
    from narspeech.data.validate import validate_data_dir

    rep = validate_data_dir(data, audio=not no_audio, decode=not header_only, jobs=jobs, expect_rate=expect_rate)
    for p in rep.problems:
        _say(f"error: {p}")
    print(f"{data}: {rep.num_utts} utterances, {rep.num_spks} speakers")
    if rep.audio is not None:
        print(f"audio: {rep.audio}")
    if not rep.ok:
        raise NarspeechError(f"{len(rep.problems)} problem(s) found", path=data)
    print("ok")


@app.command("split")
def split(data: Path = typer.Argument(..., help="Data dir to split."),
          out_parent: Path = typer.Argument(..., callback=out_dir, help="Folder for the parts: OUT_PARENT/<name> for each part."),
          parts: str = typer.Option(..., "--parts", help="name:size,… ; size is a ratio (0<x<1), a count (>=1) or -N (all but N, one part at most)."),
          by_speaker: bool = typer.Option(False, "--by-speaker", help="Sizes count speakers; each speaker lies in one part only."),
          ordered: bool = typer.Option(False, "--ordered", help="Take parts in sorted id order instead of a seeded shuffle."),
          seed: int = typer.Option(0, "--seed", help="Shuffle seed.")) -> None:
    """Partition a data dir into disjoint parts, every file kept consistent.

    Example: narspeech data split data/all data --parts train:-100,dev:50,test:50 --ordered
    """
    from narspeech.data.datadir import read_data_dir
    from narspeech.data.subset import parse_parts, split as run

    spec = parse_parts(parts)
    results = run(read_data_dir(data), [v for _, v in spec], by_speaker=by_speaker, seed=seed, ordered=ordered)
    for (name, _), part in zip(spec, results):
        _write(out_parent / name, part)
        _say(f"wrote {out_parent / name}: {len(part)} utterances, {len(set(part.utt2spk.values()))} speakers")


@app.command("subset")
def subset(data: Path = typer.Argument(..., help="Data dir to take from."),
           out: Path = typer.Argument(..., callback=out_dir, help="Output data dir."),
           first: Optional[int] = typer.Option(None, "--first", help="The first N utterances (sorted ids)."),
           last: Optional[int] = typer.Option(None, "--last", help="The last N utterances (sorted ids)."),
           random_n: Optional[int] = typer.Option(None, "--random", help="N utterances drawn at random (seeded)."),
           utt_list: Optional[Path] = typer.Option(None, "--utt-list", help="File whose first column lists utterance ids."),
           spk_list: Optional[Path] = typer.Option(None, "--spk-list", help="File whose first column lists speaker ids."),
           seed: int = typer.Option(0, "--seed", help="Seed for --random.")) -> None:
    """Take a subset of utterances (or speakers), all files kept consistent.

    Example: narspeech data subset data/train data/train_1k --random 1000 --seed 3
    """
    from narspeech.data.datadir import read_data_dir
    from narspeech.data.subset import choose, read_id_list

    dd = read_data_dir(data)
    utts, missing = choose(dd, first=first, last=last, random_n=random_n,
                           utt_list=read_id_list(utt_list) if utt_list else None,
                           spk_list=read_id_list(spk_list) if spk_list else None, seed=seed)
    if missing:
        _say(f"warning: {len(missing)} listed id(s) not in {data}: {' '.join(missing[:10])}{' …' if len(missing) > 10 else ''}")
    if not utts:
        raise NarspeechError("the subset is empty", path=data)
    part = dd.subset(utts)
    _write(out, part)
    _say(f"wrote {out}: {len(part)} utterances, {len(set(part.utt2spk.values()))} speakers")


@app.command("combine")
def combine(out: Path = typer.Argument(..., callback=out_dir, help="Output data dir."),
            dirs: List[Path] = typer.Argument(..., help="Data dirs to combine (utterance ids unique across them).")) -> None:
    """Combine data dirs into one (Kaldi's utils/combine_data.sh); a per-utterance table only some have is dropped.

    Example: narspeech data combine data/train_espeak data/train data/espeak
    """
    from narspeech.data.combine import combine_data_dirs

    dd, dropped = combine_data_dirs(dirs)
    if dropped:
        _say(f"dropped {', '.join(dropped)}: not in every input")
    _write(out, dd)
    _say(f"wrote {out}: {len(dd)} utterances, {len(set(dd.utt2spk.values()))} speakers")


@app.command("trim")
def trim(data: Path = typer.Argument(..., help="Data dir whose recordings to trim. `cmd |` entries of wav.scp run that shell command (Kaldi); `narspeech --no-pipes` refuses them."),
         out: Path = typer.Argument(..., callback=out_dir, help="Output data dir (trimmed copies of the audio go to OUT/wav/)."),
         top_db: float = typer.Option(40.0, "--top-db", help="Frames quieter than the loudest frame minus this are silence."),
         margin: float = typer.Option(0.05, "--margin", help="Seconds of silence kept before and after the speech."),
         jobs: int = typer.Option(2, "--jobs", help="Parallel readers/writers.")) -> None:
    """Cut leading and trailing silence from every recording (edge silence misleads TTS alignment).

    Writes OUT with trimmed PCM16 copies, utt2dur, and OUT/trim (`utt start end original_duration`, s).

    Example: narspeech data trim data/train_raw data/train --top-db 40 --margin 0.05
    """
    from narspeech.data.trim import trim_data_dir

    result = trim_data_dir(data, out, top_db=top_db, margin=margin, jobs=jobs)
    _say(f"wrote {out}: {result.summary()}")
