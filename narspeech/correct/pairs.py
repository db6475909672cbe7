"""Fine-tuning pairs for the correctors: an ASR's decodes of its own training set (one per checkpoint ×
perturbation, each under its tag), pooled with the references and split by speaker into the pairs
the correctors train on and those that tune the detector (speakers never trained on)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

from narspeech.data.split_speakers import every_nth_speaker, split_by_speaker
from narspeech.errors import NarspeechError
from narspeech.fileio import read_table, write_table

SEP = "-"  # pooled keys are TAG-UTT, so one utterance decoded several ways stays several pairs


def pool_pairs(decodes: Sequence[tuple[str, dict[str, str]]], ref: dict[str, str]
               ) -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    """(hyp, text, utterance of each key) over every (tag, hypotheses): keys ``TAG-UTT``; each tag gets
    the whole reference."""
    tags = [t for t, _ in decodes]
    if len(set(tags)) != len(tags):
        raise NarspeechError(f"each decode needs its own tag, got {tags}")
    hyp: dict[str, str] = {}
    text: dict[str, str] = {}
    utt: dict[str, str] = {}
    for tag, h in decodes:
        for table, src in ((hyp, h), (text, ref)):
            for u, v in src.items():
                table[f"{tag}{SEP}{u}"] = v
                utt[f"{tag}{SEP}{u}"] = u
    return hyp, text, utt


def collect_pairs(decodes: Sequence[tuple[str, str | Path]], ref: str | Path, utt2spk: str | Path, out: str | Path,
                  tune_every: int = 10) -> dict[str, int]:
    """Write OUT/{hyp,text} (pooled), OUT/{hyp,text}_{train,tune} and OUT/tune_speakers (every
    ``tune_every``-th speaker of ``utt2spk``); return the counts."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    hyp, text, utt = pool_pairs([(t, read_table(p, allow_empty_value=True, check_sorted=False)) for t, p in decodes],
                                read_table(ref, allow_empty_value=True, check_sorted=False))
    u2s = read_table(utt2spk, check_sorted=False)
    tune = every_nth_speaker(u2s, tune_every)
    (out / "tune_speakers").write_text("".join(s + "\n" for s in tune), encoding="utf-8")
    counts = {"speakers_tune": len(tune)}
    for name, table in (("hyp", hyp), ("text", text)):
        write_table(out / name, table)
        train, held = split_by_speaker(table, u2s, tune, utt.__getitem__)
        write_table(out / f"{name}_train", train)
        write_table(out / f"{name}_tune", held)
        counts.update({f"{name}_train": len(train), f"{name}_tune": len(held)})
    return counts


def wer_percent(result_json: str | Path) -> float:
    """The WER (%) of an ``asr score --out DIR`` result (DIR/result.json)."""
    try:
        return 100.0 * float(json.loads(Path(result_json).read_text(encoding="utf-8"))["wer"]["error_rate"])
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise NarspeechError(f"no WER in {result_json} ({type(e).__name__}: {e})") from None
