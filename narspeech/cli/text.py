"""`narspeech text` commands: normalise, tokenize a data dir, build and check token lists."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from narspeech.errors import NarspeechError
from narspeech.outputs import out_file

app = typer.Typer(help="Text frontend: normaliser, phoneme/char/word tokenizers, token lists.", no_args_is_help=True)


def _say(msg: str) -> None:
    print(msg, file=sys.stderr)


@app.command("tokenize")
def tokenize(data: Path = typer.Argument(..., help="Data dir with a `text` file; writes DATA/token."),
             kind: str = typer.Option("phoneme", "--kind", help="phoneme | char | word"),
             language: Optional[str] = typer.Option(None, "--language", help="espeak-ng language (en-us, en-gb…). Default: per utterance from DATA/utt2lang if present, else en-us."),
             skip_bad: bool = typer.Option(False, "--skip-bad", help="Leave utterances with empty text / no tokens out of `token` and list them."),
             no_normalize: bool = typer.Option(False, "--no-normalize", help="Do not write out numbers and abbreviations first."),
             on_foreign: str = typer.Option("skip", "--on-foreign", help="Characters the language cannot speak (another script, emoji): skip (leave them out, warn) | spell (espeak-ng reads their names, warn) | fail (the utterance is an error; with --skip-bad, skipped).")) -> None:
    """Tokenize DATA/text into DATA/token (phonemes via espeak-ng, batched; or characters; or words).

    Phoneme tokens: espeak-ng phones, stress marks ˈ ˌ as tokens of their own, <space>, punctuation.
    Example: narspeech text tokenize data/train --kind phoneme --language en-us
    """
    from narspeech.text.foreign import POLICIES
    from narspeech.text.tokenize import tokenize_data_dir

    if on_foreign not in POLICIES:
        raise NarspeechError(f"--on-foreign must be one of {', '.join(POLICIES)} (got {on_foreign!r})")
    n, skipped = tokenize_data_dir(data, kind, language, skip_bad=skip_bad, normalize=not no_normalize,  # type: ignore[arg-type]
                                   on_foreign=on_foreign, warn=lambda u, m: _say(f"warning: utterance {u}: {m}"))
    for s in skipped:
        _say(f"skipped: {s}")
    _say(f"wrote {data / 'token'}: {n} utterances ({kind})" + (f", {len(skipped)} skipped" if skipped else ""))


@app.command("vocab")
def vocab(data: list[Path] = typer.Argument(..., help="Data dirs (their `token` files) or token files."),
          out: Path = typer.Option(..., "--out", callback=out_file, help="Token list to write (tokens.txt)."),
          min_count: int = typer.Option(1, "--min-count", help="Leave out tokens seen fewer times (they become <unk>; listed).")) -> None:
    """Build a token list: <blank>, <unk>, tokens by count, <sos/eos>.

    Example: narspeech text vocab data/train --out data/tokens.txt
    """
    from narspeech.text.vocab import build_token_list, count_tokens, dropped_tokens, write_token_list

    files = [d / "token" if d.is_dir() else d for d in data]
    counts = count_tokens(files)
    tokens = build_token_list(files, min_count, counts=counts)
    dropped = dropped_tokens(counts, min_count)
    if dropped:
        shown = " ".join(f"{t}({c})" for t, c in dropped[:30])
        _say(f"warning: {len(dropped)} token(s) seen < {min_count} times map to <unk>: {shown}{' …' if len(dropped) > 30 else ''}")
    write_token_list(out, tokens)
    _say(f"wrote {out}: {len(tokens)} tokens")


@app.command("check")
def check(data: Path = typer.Argument(..., help="Data dir (its `token` file) or a token file."),
          tokens: Path = typer.Option(..., "--tokens", help="Token list (tokens.txt)."),
          mapped_ok: bool = typer.Option(False, "--mapped-ok", help="Exit 0 when every missing token maps onto the list (as synthesis maps it); 1 only for unmappable ones.")) -> None:
    """Report every utterance whose tokens are missing from a token list, and what synthesis would map
    them to (nearest phone, nearest punctuation mark or pause); exit 1 if any are missing.

    Example: narspeech text check data/test --tokens data/tokens.txt
    """
    from narspeech.fileio import read_table
    from narspeech.text.inventory import map_to_inventory
    from narspeech.text.vocab import TokenList, check_coverage

    token_file = data / "token" if data.is_dir() else data
    tl = TokenList(tokens)
    missing = check_coverage(token_file, tl)
    seqs = read_table(token_file, allow_empty_value=True) if missing else {}
    unmappable = 0
    for utt, toks in missing.items():
        try:
            _, notes = map_to_inventory(seqs[utt].split(), tl)
            how = f"; synthesis maps {', '.join(notes)}"
        except NarspeechError as e:
            unmappable += 1
            how = f"; {e.message}"
        _say(f"{'warning' if mapped_ok else 'error'}: {token_file}: utterance {utt}: unknown token(s) {' '.join(toks)}{how}")
    if unmappable or (missing and not mapped_ok):
        raise NarspeechError(f"{len(missing)} utterance(s) with tokens not in the list ({unmappable} unmappable)", path=tokens)
    if missing:
        _say(f"ok: every token of {token_file} is in {tokens} or maps onto it ({len(missing)} utterance(s) mapped)")
    else:
        _say(f"ok: every token of {token_file} is in {tokens}")


@app.command("show")
def show(text: str = typer.Argument(..., help="Text to process."),
         kind: str = typer.Option("phoneme", "--kind", help="phoneme | char | word | normalized"),
         language: str = typer.Option("en-us", "--language", help="espeak-ng language."),
         on_foreign: str = typer.Option("skip", "--on-foreign", help="skip | spell | fail (see `text tokenize`)."),
         tokens: Optional[Path] = typer.Option(None, "--tokens", help="Also map the tokens onto this token list, as synthesis does.")) -> None:
    """Print the normalised text or its tokens (for checking the frontend).

    Example: narspeech text show "Dr. Smith paid $3.50 in 1908." --kind phoneme
    """
    from narspeech.text.foreign import apply_policy, describe
    from narspeech.text.normalize import normalize
    from narspeech.text.tokenize import tokenize as run

    spoken, found = apply_policy(text, language, on_foreign)
    if found:
        _say(f"warning: {describe(found, language, on_foreign)}")
    if kind == "normalized":
        print(normalize(spoken))
        return
    toks = run([spoken], kind, language, on_foreign="spell")[0]  # type: ignore[arg-type]
    if tokens is not None:
        from narspeech.text.inventory import map_to_inventory
        from narspeech.text.vocab import TokenList

        toks, notes = map_to_inventory(toks, TokenList(tokens))
        if notes:
            _say(f"mapped onto {tokens}: {', '.join(notes)}")
    print(" ".join(toks))
