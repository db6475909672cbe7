"""`narspeech correct decode`: correct a Kaldi ``hyp`` file in batches, write a corrected one.

Batches are length-sorted; FastCorrect corrects a batch in one encoder + one decoder pass,
the AR corrector by batched beam search. Each sentence's correction carries a confidence;
a **detector** keeps the original sentence unless the model is sure:

* FastCorrect: every output token comes from one source token (the predicted durations), so
  its edits are local. The source is cut into words (a word unit; the pieces from one ``▁`` to
  the next; the characters up to a ``<space>``), and adjacent changed words form an **edit
  region** (``IN TO`` → ``INTO`` is one region). A region's confidence is the lowest, over its
  changed source tokens, of the duration probability × the lowest probability of the tokens it
  produces. With ``granularity: region`` each region is applied on its own when its
  confidence is at least ``threshold``; with ``sentence`` all of them or none (the lowest
  confidence decides). Either way some token's edit probability (detection head) must be at
  least ``detect_threshold``;
* AR: the correction's mean token probability must be at least ``threshold`` (sentence level:
  an AR output is not aligned to its source).

`tune_threshold` picks the threshold (and, for FastCorrect, the granularity) on held-out
(hyp, ref) pairs: the setting with the lowest WER there, or "never change" when nothing helps,
so the corrector does not make that set worse. The tuned values live in ``EXP/detector.json``
and decoding reads them.

Lines that cannot be corrected are passed through unchanged and listed in ``OUT/passed``
(``utt reason``): empty hypotheses, lines over ``max_tokens`` tokens, and with
``oov="pass"`` (the default) lines holding tokens outside the vocabulary. With
``oov="correct"`` such tokens are read as ``<unk>`` (a model fine-tuned on ASR pairs has seen
them) and may be replaced; where the model outputs ``<unk>`` the original word is copied back.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import torch

from narspeech.batching import make_batches
from narspeech.config import load_config
from narspeech.correct.models import build_model
from narspeech.correct.units import Units
from narspeech.device import autocast, resolve_device
from narspeech.errors import NarspeechError
from narspeech.fileio import atomic_write, read_table
from narspeech.metrics.scoring import score
from narspeech.nets.quantize import check_quantize, quantize_linear
from narspeech.text.vocab import TokenList, load_token_list
from narspeech.train.checkpoint import load_checkpoint

DETECTOR_FILE = "detector.json"
GRANULARITIES = ("sentence", "region")


@dataclass
class Loaded:
    model: torch.nn.Module
    tokens: TokenList
    units: Units
    cfg: dict
    device: torch.device
    exp_dir: Path
    checkpoint: str
    detector: dict
    quantize: str = "none"


@dataclass
class Region:
    """Source tokens ``start:end`` (whole words) corrected to `tokens`, with the lowest confidence of its edits."""

    start: int
    end: int
    tokens: list[str]
    confidence: float


@dataclass
class Correction:
    utt: str
    source: str
    text: str  # the model's correction (before the detector)
    confidence: float
    p_edit: float
    changed: bool  # correction differs from the source
    reason: str = ""  # why it was passed through, if it was
    regions: list[Region] = field(default_factory=list)  # FastCorrect: the edit regions, in order
    source_tokens: list[str] = field(default_factory=list)
    join: Callable[[list[str]], str] | None = None  # tokens -> text (the units' decode)

    def with_regions(self, threshold: float) -> str:
        """The source with every region of confidence >= `threshold` replaced by its correction."""
        if self.join is None:
            return self.text if self.confidence >= threshold else self.source
        out, pos = [], 0
        for r in self.regions:
            out += self.source_tokens[pos:r.start]
            out += r.tokens if r.confidence >= threshold else self.source_tokens[r.start:r.end]
            pos = r.end
        out += self.source_tokens[pos:]
        return self.join(out)


def load_corrector(exp_dir: str | Path, *, checkpoint: str | Path | None = None, device: str = "auto",
                   detector: str | Path | None = None, quantize: str | None = None) -> Loaded:
    """Model, token list, units and detector settings of a trained corrector exp dir; `detector` names
    another detector file than ``EXP/detector.json`` (one tuned on a different ASR system's errors);
    ``quantize="int8"``: linear layers int8 dynamically quantized (CPU only)."""
    exp = Path(exp_dir)
    if not (exp / "config.yaml").is_file():
        raise NarspeechError("not a corrector exp dir (no config.yaml)", path=exp)
    cfg = load_config(exp / "config.yaml")
    tokens = TokenList(load_token_list(exp / "tokens.txt"))
    ckpt = load_checkpoint(checkpoint or exp)
    dev = resolve_device(device)
    quantize = check_quantize(quantize, dev)
    model = build_model(len(tokens), cfg["model"])
    try:
        model.load_state_dict(ckpt["model"])
    except RuntimeError as e:
        raise NarspeechError(f"checkpoint does not match the config/token list: {str(e).splitlines()[0]}", path=checkpoint or exp) from None
    model.to(dev).eval()
    model = quantize_linear(model, quantize)
    det_path = exp / DETECTOR_FILE if detector is None else Path(detector)
    if detector is not None and not det_path.is_file():
        raise NarspeechError("detector file not found (write one with `narspeech correct tune --out`)", path=det_path)
    settings = json.loads(det_path.read_text()) if det_path.is_file() else {}
    units = dict(cfg.get("units") or {})
    if units.get("spm_model") and not Path(units["spm_model"]).is_absolute():
        units["spm_model"] = str(exp / units["spm_model"])  # the copy training put in the exp dir
    return Loaded(model, tokens, Units.from_dict(units), cfg, dev, exp, str(checkpoint or exp), settings, quantize)


def _source_batch(loaded: Loaded, toks: list[list[str]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Token ids of the sentences, zero-padded (B, N) on the model's device, and their lengths (B,)."""
    ids = [loaded.tokens.encode(t, unk_ok=True) for t in toks]
    src = torch.zeros(len(ids), max(len(i) for i in ids), dtype=torch.long)
    for k, i in enumerate(ids):
        src[k, : len(i)] = torch.as_tensor(i)
    return src.to(loaded.device), torch.tensor([len(i) for i in ids]).to(loaded.device)


def word_starts(tokens: Sequence[str], unit: str) -> list[bool]:
    """True where a token begins a word: every word unit, a ``▁`` piece, the character after ``<space>``."""
    if unit == "word":
        return [True] * len(tokens)
    if unit == "char":
        return [i == 0 or tokens[i - 1] == "<space>" for i in range(len(tokens))]
    return [i == 0 or t.startswith("\u2581") for i, t in enumerate(tokens)]


def edit_regions(src: Sequence[str], segments: Sequence[list[str]], conf: Sequence[float], starts: Sequence[bool]) -> list[Region]:
    """Maximal runs of adjacent words whose output differs from the source; `segments[i]` is what
    source token i became, `conf[i]` the confidence of that (used only where it changed)."""
    words, cur = [], []
    for i, st in enumerate(starts):
        if st and cur:
            words.append(cur)
            cur = []
        cur.append(i)
    if cur:
        words.append(cur)
    regions: list[Region] = []
    for w in words:
        changed = [i for i in w if segments[i] != [src[i]]]
        if not changed:
            continue
        c = min(conf[i] for i in changed)
        toks = [t for i in w for t in segments[i]]
        if regions and regions[-1].end == w[0]:
            r = regions[-1]
            r.end, r.tokens, r.confidence = w[-1] + 1, r.tokens + toks, min(r.confidence, c)
        else:
            regions.append(Region(w[0], w[-1] + 1, toks, c))
    return regions


def _fastcorrect_batch(loaded: Loaded, toks: list[list[str]]) -> list[tuple[list[str], float, float, list[Region]]]:
    tl, dev = loaded.tokens, loaded.device
    src, src_len = _source_batch(loaded, toks)

    with autocast(dev):
        r = loaded.model.infer(src, src_len)
    dur, dprob = r["durations"].cpu().tolist(), r["duration_prob"].cpu().tolist()
    out_tok, out_p = r["tokens"].cpu().tolist(), r["token_prob"].cpu().tolist()
    p_edit = r["p_edit"].cpu()
    res = []
    for k, words in enumerate(toks):
        n = len(words)
        pos, segs, confs = 0, [], []
        for i in range(n):
            d = dur[k][i]
            seg_ids = out_tok[k][pos:pos + d]
            seg = [words[i] if t == tl.unk else tl.tokens[t] for t in seg_ids]  # <unk> out: copy the source word
            segs.append([s for s in seg if s not in ("<blank>", "<sos/eos>")])
            confs.append(dprob[k][i] * (min(out_p[k][pos:pos + d]) if d else 1.0))
            pos += d
        regions = edit_regions(words, segs, confs, word_starts(words, loaded.units.unit))
        conf = min((rg.confidence for rg in regions), default=1.0)
        res.append(([t for sg in segs for t in sg], conf, float(p_edit[k, :n].max()), regions))
    return res


def _ar_batch(loaded: Loaded, toks: list[list[str]], beam: int) -> list[tuple[list[str], float, float]]:
    tl, dev = loaded.tokens, loaded.device
    src, src_len = _source_batch(loaded, toks)

    with autocast(dev):
        hyps = loaded.model.beam_search(src, src_len, beam=beam)
    res = []
    for words, (seq, seq_score) in zip(toks, hyps):
        unk_src = [w for w, i in zip(words, tl.encode(words, unk_ok=True)) if i == tl.unk]
        out = []
        for t in seq:  # an <unk> output takes the source's unknown words in order
            out.append(unk_src.pop(0) if t == tl.unk and unk_src else tl.tokens[t])
        conf = float(torch.tensor(seq_score / (len(seq) + 1)).exp())
        res.append((out, conf, 1.0))
    return res


def correct_texts(loaded: Loaded, items: Sequence[tuple[str, str]], *, batch_size: int = 64, beam: int = 5,
                  max_tokens: int = 256, oov: str = "pass") -> list[Correction]:
    """Model corrections (before the detector) of ``(utt, text)`` items, in input order.
    `oov`: ``pass`` (lines with unknown tokens are passed through) or ``correct``."""
    if oov not in ("pass", "correct"):
        raise NarspeechError(f"oov must be 'pass' or 'correct', not {oov!r}")
    units = loaded.units
    toks = [units.encode(t) for _, t in items]
    out: list[Correction | None] = [None] * len(items)
    todo = []
    for k, ((utt, text), t) in enumerate(zip(items, toks)):
        if not t:
            out[k] = Correction(utt, text, text, 0.0, 0.0, False, "empty hypothesis")
        elif len(t) > max_tokens:
            out[k] = Correction(utt, text, text, 0.0, 0.0, False, f"longer than {max_tokens} tokens")
        elif oov == "pass" and loaded.tokens.unknown(t):
            out[k] = Correction(utt, text, text, 0.0, 0.0, False, "not in the vocabulary: " + " ".join(loaded.tokens.unknown(t)[:5]))
        else:
            todo.append(k)
    for batch in make_batches([len(toks[k]) for k in todo], max_items=batch_size):
        ks = [todo[b] for b in batch]
        if loaded.model.kind == "fastcorrect":
            res = _fastcorrect_batch(loaded, [toks[k] for k in ks])
        else:
            res = [(w, c, p, None) for w, c, p in _ar_batch(loaded, [toks[k] for k in ks], beam)]
        for k, (words, conf, p_edit, regions) in zip(ks, res):
            utt, text = items[k]
            new = units.decode(words)
            c = Correction(utt, text, new, conf, p_edit, words != toks[k])
            if regions is not None:
                c.regions, c.source_tokens, c.join = regions, toks[k], units.decode
            out[k] = c
    return out  # type: ignore[return-value]


def apply_detector(c: Correction, threshold: float, detect_threshold: float = 0.0, granularity: str = "sentence") -> str:
    """The text to output: the source, with the confident part of the correction applied
    (`granularity`: ``sentence``, all or nothing; ``region``, each edit region on its own)."""
    if not c.changed or c.reason or c.p_edit < detect_threshold:
        return c.source
    if granularity == "region" and c.join is not None:
        return c.with_regions(threshold)
    return c.text if c.confidence >= threshold else c.source


def detector_settings(loaded: Loaded, threshold: float | None = None, detect_threshold: float | None = None,
                      granularity: str | None = None) -> tuple[float, float, str]:
    d = loaded.detector
    t = threshold if threshold is not None else float(d.get("threshold", 0.0))
    dt = detect_threshold if detect_threshold is not None else float(d.get("detect_threshold", 0.0))
    g = granularity or d.get("granularity", "sentence")
    if g not in GRANULARITIES:
        raise NarspeechError(f"detector granularity must be one of {', '.join(GRANULARITIES)}, not {g!r}")
    return t, dt, g


def tune_threshold(corrections: Sequence[Correction], refs: dict[str, str], *, grid: Sequence[float] | None = None,
                   detect_threshold: float = 0.0, granularities: Sequence[str] = ("sentence",)) -> dict:
    """Threshold (and granularity) with the lowest corpus WER on these pairs (ties: the highest
    threshold, the most cautious, then sentence before region); above every confidence ("never
    change") when no setting beats the uncorrected WER."""
    grid = list(grid) if grid is not None else [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99]
    hyps0 = {c.utt: c.source for c in corrections}
    base = score(refs, hyps0).wer.error_rate if hyps0 else float("nan")
    rows = []
    for gi, g in enumerate(granularities):
        for t in grid:
            hyps = {c.utt: apply_detector(c, t, detect_threshold, g) for c in corrections}
            rows.append((score(refs, hyps).wer.error_rate, -t, gi, t, g))
    best = min(rows)
    never = 1.01
    chosen = best[3] if best[0] < base else never
    return {"threshold": chosen, "granularity": best[4], "detect_threshold": detect_threshold, "wer_before": base,
            "wer_after": min(best[0], base), "grid": {f"{g}:{t:g}": w for w, _, _, t, g in rows}}


def decode_file(loaded: Loaded, hyp: str | Path, out_dir: str | Path, *, batch_size: int = 64, beam: int = 5,
                threshold: float | None = None, detect_threshold: float | None = None, max_tokens: int = 256,
                ref: str | Path | None = None, oov: str = "pass", granularity: str | None = None) -> dict:
    """Correct `hyp`; write ``OUT/hyp`` (atomic), ``OUT/passed`` and ``OUT/correct_info.json``.
    With `ref`, every hypothesis id must be in it (else an error naming the utterance)."""
    hyps = read_table(hyp, allow_empty_value=True)
    if ref is not None:
        refs = read_table(ref)
        for u in hyps:
            if u not in refs:
                raise NarspeechError(f"hypothesis id not in the reference {ref}", utt=u, path=hyp)
    items = list(hyps.items())
    t_thr, d_thr, gran = detector_settings(loaded, threshold, detect_threshold, granularity)
    if loaded.device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    res = correct_texts(loaded, items, batch_size=batch_size, beam=beam, max_tokens=max_tokens, oov=oov)
    if loaded.device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - t0
    out = Path(out_dir)
    final = {c.utt: apply_detector(c, t_thr, d_thr, gran) for c in res}
    with atomic_write(out / "hyp") as f:
        f.writelines(f"{u} {final[u]}\n".replace(" \n", "\n") for u in sorted(final))
    with atomic_write(out / "passed") as f:
        f.writelines(f"{c.utt} {c.reason}\n" for c in sorted(res, key=lambda c: c.utt) if c.reason)
    with atomic_write(out / "corrections") as f:  # every model proposal, applied or not
        for c in sorted(res, key=lambda c: c.utt):
            if c.changed:
                f.write(f"{c.utt} conf={c.confidence:.3f} p_edit={c.p_edit:.3f} applied={int(final[c.utt] != c.source)} | {c.source} => {c.text}"
                        + (f" | out: {final[c.utt]}" if final[c.utt] not in (c.source, c.text) else "") + "\n")
    info = {"model": str(loaded.exp_dir), "checkpoint": loaded.checkpoint, "type": loaded.model.kind, "hyp": str(hyp),
            "utterances": len(items), "proposed": sum(c.changed for c in res),
            "applied": sum(final[c.utt] != c.source for c in res), "passed": sum(bool(c.reason) for c in res),
            "threshold": t_thr, "detect_threshold": d_thr, "granularity": gran if loaded.model.kind == "fastcorrect" else "sentence",
            "batch_size": batch_size, "oov": oov,
            "beam": beam if loaded.model.kind == "ar" else None, "device": str(loaded.device), "seconds": seconds,
            "quantize": loaded.quantize}
    if ref is not None:
        sub = {u: refs[u] for u in hyps}
        info["wer_before"] = score(sub, hyps).wer.error_rate
        info["wer_after"] = score(sub, final).wer.error_rate
    with atomic_write(out / "correct_info.json") as f:
        json.dump(info, f, indent=2)
        f.write("\n")
    return info


def tune_file(loaded: Loaded, hyp: str | Path, ref: str | Path, *, batch_size: int = 64, beam: int = 5,
              detect_threshold: float = 0.0, write: bool = True, oov: str = "pass", out: str | Path | None = None) -> dict:
    """Tune the detector on held-out (hyp, ref) files; writes ``EXP/detector.json`` (or `out`)."""
    hyps = read_table(hyp, allow_empty_value=True)
    refs = read_table(ref)
    for u in hyps:
        if u not in refs:
            raise NarspeechError(f"hypothesis id not in the reference {ref}", utt=u, path=hyp)
    res = correct_texts(loaded, list(hyps.items()), batch_size=batch_size, beam=beam, oov=oov)
    grans = GRANULARITIES if loaded.model.kind == "fastcorrect" else ("sentence",)
    t = tune_threshold(res, {u: refs[u] for u in hyps}, detect_threshold=detect_threshold, granularities=grans)
    t.update(tuned_on={"hyp": str(hyp), "ref": str(ref)})
    if write:
        with atomic_write(loaded.exp_dir / DETECTOR_FILE if out is None else Path(out)) as f:
            json.dump(t, f, indent=2)
            f.write("\n")
        loaded.detector = t
    return t
