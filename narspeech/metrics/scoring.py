"""ASR scoring: corpus WER/CER with jiwer, sclite-like per-utterance alignments, group breakdowns.

What `narspeech asr score REF HYP` (and the correction recipe) reports:

* corpus WER and CER (total edits / total reference units, as Kaldi/ESPnet/sclite do),
  with hits / substitutions / deletions / insertions and the number of reference units;
* a per-utterance alignment report, Kaldi ``align-text`` style (``ref`` / ``hyp`` / ``op``
  rows with ``C S I D`` marks and ``***`` for an empty side, plus ``#csid`` counts);
* a breakdown by any Kaldi ``utt2X`` table, or ``spk2X`` table through ``utt2spk``
  (e.g. speechocean762's ``spk2age``), optionally mapped through a grouping function
  (:func:`make_grouping`: ``adult_child`` turns ages into ``adult``/``child``).

Text normalisation (both sides, before scoring) is opt-in: ``lowercase`` and
``strip_punct`` (punctuation removed, apostrophes inside words kept: ``don't``).
A hypothesis id that the reference lacks is an error naming the utterance and the
hypothesis file; a reference without a hypothesis, or an empty hypothesis, counts
as all deletions (reported as ``missing_hyps`` / ``empty_hyps``).
"""
from __future__ import annotations

import json
import unicodedata
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Mapping

import jiwer

from narspeech.errors import NarspeechError
from narspeech.fileio import atomic_write, read_table

EMPTY = "***"  # Kaldi/sclite filler for the empty side of an insertion/deletion


@dataclass
class Counts:
    """Edit counts over some utterances; ``ref_units = hits + subs + dels``."""

    hits: int = 0
    substitutions: int = 0
    deletions: int = 0
    insertions: int = 0
    utterances: int = 0
    utterances_with_errors: int = 0

    @property
    def ref_units(self) -> int:
        return self.hits + self.substitutions + self.deletions

    @property
    def errors(self) -> int:
        return self.substitutions + self.deletions + self.insertions

    @property
    def error_rate(self) -> float:
        """Errors / reference units (nan when there are no reference units)."""
        return self.errors / self.ref_units if self.ref_units else float("nan")

    def add(self, other: "Counts") -> None:
        for k in ("hits", "substitutions", "deletions", "insertions", "utterances", "utterances_with_errors"):
            setattr(self, k, getattr(self, k) + getattr(other, k))

    def as_dict(self) -> dict:
        d = asdict(self)
        d.update(error_rate=self.error_rate, ref_units=self.ref_units, errors=self.errors)
        return d


@dataclass
class UttAlignment:
    """One utterance aligned: ``ops`` is a list of ``(op, ref_token, hyp_token)``, op in C/S/D/I
    (``None`` for the missing side)."""

    utt: str
    ops: list[tuple[str, str | None, str | None]]
    counts: Counts

    def format(self) -> str:
        """Kaldi ``align-text``-like rows: ref, hyp, op (columns padded), then ``#csid``."""
        refs = [r if r is not None else EMPTY for _, r, _ in self.ops]
        hyps = [h if h is not None else EMPTY for _, _, h in self.ops]
        widths = [max(len(r), len(h), 1) for r, h in zip(refs, hyps)]
        row = lambda toks: " ".join(t.ljust(w) for t, w in zip(toks, widths)).rstrip()  # noqa: E731
        c = self.counts
        return "\n".join([
            f"{self.utt} ref  {row(refs)}",
            f"{self.utt} hyp  {row(hyps)}",
            f"{self.utt} op   {row([op for op, _, _ in self.ops])}",
            f"{self.utt} #csid {c.hits} {c.substitutions} {c.insertions} {c.deletions}",
        ])


@dataclass
class ScoreReport:
    """Corpus WER/CER, per-utterance word alignments, and per-group WER/CER."""

    wer: Counts
    cer: Counts
    utts: list[UttAlignment]
    groups: dict[str, dict[str, Counts]] = field(default_factory=dict)  # group -> {"wer": Counts, "cer": Counts}
    missing_hyps: list[str] = field(default_factory=list)
    empty_hyps: list[str] = field(default_factory=list)
    normalization: dict = field(default_factory=dict)
    group_by: str | None = None

    def as_dict(self) -> dict:
        return {
            "wer": self.wer.as_dict(),
            "cer": self.cer.as_dict(),
            "groups": {g: {k: c.as_dict() for k, c in v.items()} for g, v in self.groups.items()},
            "group_by": self.group_by,
            "missing_hyps": len(self.missing_hyps),
            "empty_hyps": len(self.empty_hyps),
            "normalization": self.normalization,
        }

    def summary(self) -> str:
        """A short table: one row for all utterances and one per group."""
        lines = [f"{'set':<16} {'utts':>6} {'words':>7} {'WER%':>7} {'sub':>6} {'del':>6} {'ins':>6} {'chars':>8} {'CER%':>7}"]
        rows = [("all", {"wer": self.wer, "cer": self.cer})] + sorted(self.groups.items())
        for name, c in rows:
            w, ch = c["wer"], c["cer"]
            lines.append(f"{name:<16} {w.utterances:>6} {w.ref_units:>7} {100 * w.error_rate:>7.2f} {w.substitutions:>6} "
                         f"{w.deletions:>6} {w.insertions:>6} {ch.ref_units:>8} {100 * ch.error_rate:>7.2f}")
        if self.missing_hyps or self.empty_hyps:
            lines.append(f"({len(self.missing_hyps)} references without hypothesis, {len(self.empty_hyps)} empty hypotheses: counted as deletions)")
        return "\n".join(lines)

    def alignment_text(self) -> str:
        return "\n".join(u.format() for u in self.utts) + ("\n" if self.utts else "")


_PUNCT_KEEP = {"'", "\u2019"}


def normalize_text(text: str, *, lowercase: bool = False, strip_punct: bool = False) -> str:
    """Collapse whitespace; optionally lowercase and remove punctuation (apostrophes inside words kept)."""
    if lowercase:
        text = text.lower()
    if strip_punct:
        chars = []
        for i, ch in enumerate(text):
            if unicodedata.category(ch).startswith("P"):
                inner = ch in _PUNCT_KEEP and 0 < i < len(text) - 1 and text[i - 1].isalnum() and text[i + 1].isalnum()
                chars.append(ch if inner else " ")
            else:
                chars.append(ch)
        text = "".join(chars)
    return " ".join(text.split())


def _align(ref_lists: list[list[str]], hyp_lists: list[list[str]], char: bool) -> list[tuple[list, Counts]]:
    """jiwer alignment of each pair → (ops, counts)."""
    if char:  # jiwer's character mode works on strings; spaces count as characters
        out = jiwer.process_characters(["".join(r) for r in ref_lists], ["".join(h) for h in hyp_lists])
    else:
        out = jiwer.process_words([" ".join(r) for r in ref_lists], [" ".join(h) for h in hyp_lists])
    results = []
    for r, h, chunks in zip(out.references, out.hypotheses, out.alignments):
        ops: list = []
        c = Counts(utterances=1)
        for ch in chunks:
            rs, hs = r[ch.ref_start_idx:ch.ref_end_idx], h[ch.hyp_start_idx:ch.hyp_end_idx]
            if ch.type == "equal":
                ops += [("C", a, b) for a, b in zip(rs, hs)]
                c.hits += len(rs)
            elif ch.type == "substitute":
                ops += [("S", a, b) for a, b in zip(rs, hs)]
                c.substitutions += len(rs)
            elif ch.type == "delete":
                ops += [("D", a, None) for a in rs]
                c.deletions += len(rs)
            elif ch.type == "insert":
                ops += [("I", None, b) for b in hs]
                c.insertions += len(hs)
            else:  # pragma: no cover - jiwer's four chunk types
                raise ValueError(f"unknown jiwer chunk type {ch.type!r}")
        c.utterances_with_errors = int(c.errors > 0)
        results.append((ops, c))
    return results


def score(
    refs: Mapping[str, str],
    hyps: Mapping[str, str],
    *,
    groups: Mapping[str, str] | None = None,
    group_by: str | None = None,
    lowercase: bool = False,
    strip_punct: bool = False,
    ref_path: str | Path | None = None,
    hyp_path: str | Path | None = None,
) -> ScoreReport:
    """Score `hyps` against `refs` (``utt -> text``).

    `groups` maps each utterance to a group label (see :func:`utt_groups`); utterances
    it lacks go to group ``unknown``. Raises :class:`NarspeechError` for a hypothesis
    id that the references lack (naming it and `hyp_path`), an empty reference, or no
    references at all.
    """
    extra = [k for k in hyps if k not in refs]
    if extra:
        raise NarspeechError(f"hypothesis id not in the reference{f' {ref_path}' if ref_path else ''} ({len(extra)} such)", utt=extra[0], path=hyp_path)
    if not refs:
        raise NarspeechError("no references to score", path=ref_path)
    keys = sorted(refs)
    norm = dict(lowercase=lowercase, strip_punct=strip_punct)
    ref_w, hyp_w, missing, empty = [], [], [], []
    for k in keys:
        r = normalize_text(refs[k], **norm).split()
        if not r:
            raise NarspeechError("empty reference" + (" after normalisation" if refs[k].strip() else ""), utt=k, path=ref_path)
        if k not in hyps:
            missing.append(k)
        h = normalize_text(hyps.get(k, ""), **norm).split()
        if k in hyps and not h:
            empty.append(k)
        ref_w.append(r)
        hyp_w.append(h)
    words = _align(ref_w, hyp_w, char=False)
    chars = _align([list(" ".join(r)) for r in ref_w], [list(" ".join(h)) for h in hyp_w], char=True)
    wer, cer = Counts(), Counts()
    by_group: dict[str, dict[str, Counts]] = {}
    utts = []
    for k, (ops, wc), (_, cc) in zip(keys, words, chars):
        wer.add(wc)
        cer.add(cc)
        utts.append(UttAlignment(k, ops, wc))
        if groups is not None:
            g = by_group.setdefault(str(groups.get(k, "unknown")), {"wer": Counts(), "cer": Counts()})
            g["wer"].add(wc)
            g["cer"].add(cc)
    return ScoreReport(wer, cer, utts, by_group, missing, empty, norm, group_by)


def error_rate(refs: Mapping[str, str], hyps: Mapping[str, str], *, unit: str = "word",
               ref_path: str | Path | None = None) -> dict[str, float]:
    """Corpus WER (`unit` ``word``) or CER (``char``; spaces count) of `hyps` against `refs`, as a flat dict:
    ``error_rate``, the edit counts, ``ref_units``, ``utterances``, ``missing_hyps`` (scored as all deletions)."""
    if unit not in ("word", "char"):
        raise ValueError(f"unit must be 'word' or 'char', not {unit!r}")
    rep = score(refs, hyps, ref_path=ref_path)
    c = rep.wer if unit == "word" else rep.cer
    return {"error_rate": c.error_rate, "substitutions": c.substitutions, "deletions": c.deletions,
            "insertions": c.insertions, "ref_units": c.ref_units, "utterances": len(refs),
            "missing_hyps": len(rep.missing_hyps)}


# ---------------------------------------------------------------------------- groups

def make_grouping(spec: str | None) -> Callable[[str], str]:
    """A function from a table value to a group label.

    ``None``/``"value"``: the value itself. ``"adult_child"`` (or ``"adult_child:N"``):
    numeric ages → ``child`` below N (default 18) else ``adult``. ``"bins:a,b,…"``:
    numbers → ``<a``, ``a-b``, …, ``>=last``. Non-numeric values under a numeric
    grouping raise ValueError (caught by :func:`utt_groups`, which names the key).
    """
    if spec in (None, "", "value"):
        return lambda v: v
    name, _, arg = spec.partition(":")
    if name == "adult_child":
        limit = float(arg) if arg else 18.0
        return lambda v: "child" if float(v) < limit else "adult"
    if name == "bins":
        edges = sorted(float(x) for x in arg.split(",") if x)
        if not edges:
            raise NarspeechError(f"grouping {spec!r}: give bin edges, e.g. bins:12,18")

        def fmt(x: float) -> str:
            return f"{x:g}"

        def bin_of(v: str) -> str:
            x = float(v)
            if x < edges[0]:
                return f"<{fmt(edges[0])}"
            for lo, hi in zip(edges, edges[1:]):
                if lo <= x < hi:
                    return f"{fmt(lo)}-{fmt(hi)}"
            return f">={fmt(edges[-1])}"

        return bin_of
    raise NarspeechError(f"unknown grouping {spec!r}: use value, adult_child[:AGE] or bins:a,b,…")


def utt_groups(
    utts: list[str] | Mapping[str, str],
    by: str | Path | Mapping[str, str],
    *,
    utt2spk: str | Path | Mapping[str, str] | None = None,
    grouping: str | Callable[[str], str] | None = None,
) -> dict[str, str]:
    """Group label of each utterance from a ``utt2X`` table, or a ``spk2X`` table through `utt2spk`.

    `by` keyed by utterance ids is used directly; otherwise each utterance's speaker
    (from `utt2spk`) is looked up. An utterance whose key the table lacks gets
    ``unknown``. `grouping` maps the table's value to a label (see :func:`make_grouping`).
    """
    by_path = None if isinstance(by, Mapping) else by
    table = dict(by) if isinstance(by, Mapping) else read_table(by, check_sorted=False)
    spk = None
    if utt2spk is not None:
        spk = dict(utt2spk) if isinstance(utt2spk, Mapping) else read_table(utt2spk, check_sorted=False)
    fn = grouping if callable(grouping) else make_grouping(grouping)
    keys = list(utts)
    direct = any(u in table for u in keys)
    if not direct and spk is None:
        raise NarspeechError("no utterance id found in this table; for a spk2X table give utt2spk too", path=by_path)
    out = {}
    for u in keys:
        key = u if direct else spk.get(u)
        if key is None or key not in table:
            out[u] = "unknown"
            continue
        try:
            out[u] = fn(table[key].strip())
        except ValueError as e:
            raise NarspeechError(f"cannot group value {table[key]!r} of {key}: {e}", utt=u, path=by_path) from None
    return out


# ---------------------------------------------------------------------------- files

def score_files(
    ref: str | Path,
    hyp: str | Path,
    *,
    by: str | Path | None = None,
    utt2spk: str | Path | None = None,
    grouping: str | Callable[[str], str] | None = None,
    lowercase: bool = False,
    strip_punct: bool = False,
) -> ScoreReport:
    """Score a Kaldi ``hyp`` file (``utt text``, empty text allowed) against a ``text`` file.

    With `by` (a utt2X or spk2X table; spk2X needs `utt2spk`, which defaults to the
    ``utt2spk`` beside `ref` when present) the report has a per-group breakdown.
    """
    refs = read_table(ref)
    hyps = read_table(hyp, allow_empty_value=True)
    groups = None
    if by is not None:
        if utt2spk is None and (Path(ref).parent / "utt2spk").is_file():
            utt2spk = Path(ref).parent / "utt2spk"
        groups = utt_groups(list(refs), by, utt2spk=utt2spk, grouping=grouping)
    label = None if by is None else Path(by).name + (f" ({grouping})" if isinstance(grouping, str) and grouping else "")
    return score(refs, hyps, groups=groups, group_by=label, lowercase=lowercase, strip_punct=strip_punct, ref_path=ref, hyp_path=hyp)


def write_report(report: ScoreReport, out_dir: str | Path) -> dict[str, Path]:
    """Write ``result.txt`` (summary table), ``result.json``, ``per_utt`` (alignments) and
    ``utt2wer`` (``utt errors ref_words``) under `out_dir`, atomically."""
    out = Path(out_dir)
    paths = {k: out / k for k in ("result.txt", "result.json", "per_utt", "utt2wer")}
    with atomic_write(paths["result.txt"]) as f:
        f.write(report.summary() + "\n")
    with atomic_write(paths["result.json"]) as f:
        json.dump(report.as_dict(), f, indent=2)
        f.write("\n")
    with atomic_write(paths["per_utt"]) as f:
        f.write(report.alignment_text())
    with atomic_write(paths["utt2wer"]) as f:
        for u in report.utts:
            f.write(f"{u.utt} {u.counts.errors} {u.counts.ref_units}\n")
    return paths

