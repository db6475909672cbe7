"""`narspeech correct decode`: correct a Kaldi ``hyp`` file in batches, write a corrected one.

Batches are length-sorted; FastCorrect corrects a batch in one encoder + one decoder pass,
the AR corrector by batched beam search. Each sentence's correction carries a confidence;
a **detector** keeps the original sentence unless the model is sure:

* FastCorrect: the sentence is changed only if some token's edit probability (detection
  head) is at least ``detect_threshold`` and every changed source token's confidence
  (duration probability × lowest probability of the tokens it produces) is at least
  ``threshold``;
* AR: the correction's mean token probability must be at least ``threshold``.

`tune_threshold` picks ``threshold`` on held-out (hyp, ref) pairs: the value with the lowest
WER there, or "never change" when nothing helps, so the corrector does not make that set
worse. The tuned values live in ``EXP/detector.json`` and decoding reads them.

Lines that cannot be corrected are passed through unchanged and listed in ``OUT/passed``
(``utt reason``): empty hypotheses, lines over ``max_tokens`` tokens, and with
``oov="pass"`` (the default) lines holding tokens outside the vocabulary. With
``oov="correct"`` such tokens are read as ``<unk>`` (a model fine-tuned on ASR pairs has seen
them) and may be replaced; where the model outputs ``<unk>`` the original word is copied back.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import torch

from narspeech.config import load_config
from narspeech.correct.units import Units
from narspeech.errors import NarspeechError
from narspeech.fileio import atomic_write, read_table
from narspeech.text.vocab import TokenList, load_token_list

DETECTOR_FILE = "detector.json"


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


@dataclass
class Correction:
    utt: str
    source: str
    text: str  # the model's correction (before the detector)
    confidence: float
    p_edit: float
    changed: bool  # correction differs from the source
    reason: str = ""  # why it was passed through, if it was


def load_corrector(exp_dir: str | Path, *, checkpoint: str | Path | None = None, device: str = "auto") -> Loaded:
    """Model, token list, units and detector settings of a trained corrector exp dir."""
    from narspeech.correct.models import build_model
    from narspeech.device import resolve_device
    from narspeech.train.checkpoint import load_checkpoint

    exp = Path(exp_dir)
    if not (exp / "config.yaml").is_file():
        raise NarspeechError("not a corrector exp dir (no config.yaml)", path=exp)
    cfg = load_config(exp / "config.yaml")
    tokens = TokenList(load_token_list(exp / "tokens.txt"))
    ckpt = load_checkpoint(checkpoint or exp)
    dev = resolve_device(device)
    model = build_model(len(tokens), cfg["model"])
    try:
        model.load_state_dict(ckpt["model"])
    except RuntimeError as e:
        raise NarspeechError(f"checkpoint does not match the config/token list: {str(e).splitlines()[0]}", path=checkpoint or exp) from None
    model.to(dev).eval()
    det_path = exp / DETECTOR_FILE
    detector = json.loads(det_path.read_text()) if det_path.is_file() else {}
    units = dict(cfg.get("units") or {})
    if units.get("spm_model") and not Path(units["spm_model"]).is_absolute():
        units["spm_model"] = str(exp / units["spm_model"])  # the copy training put in the exp dir
    return Loaded(model, tokens, Units.from_dict(units), cfg, dev, exp, str(checkpoint or exp), detector)


def _batches(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]


def _source_batch(loaded: Loaded, toks: list[list[str]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Token ids of the sentences, zero-padded (B, N) on the model's device, and their lengths (B,)."""
    ids = [loaded.tokens.encode(t, unk_ok=True) for t in toks]
    src = torch.zeros(len(ids), max(len(i) for i in ids), dtype=torch.long)
    for k, i in enumerate(ids):
        src[k, : len(i)] = torch.as_tensor(i)
    return src.to(loaded.device), torch.tensor([len(i) for i in ids]).to(loaded.device)


def _fastcorrect_batch(loaded: Loaded, toks: list[list[str]]) -> list[tuple[list[str], float, float]]:
    tl, dev = loaded.tokens, loaded.device
    src, src_len = _source_batch(loaded, toks)
    from narspeech.device import autocast

    with autocast(dev):
        r = loaded.model.infer(src, src_len)
    dur, dprob = r["durations"].cpu().tolist(), r["duration_prob"].cpu().tolist()
    out_tok, out_p = r["tokens"].cpu().tolist(), r["token_prob"].cpu().tolist()
    p_edit = r["p_edit"].cpu()
    res = []
    for k, words in enumerate(toks):
        n = len(words)
        pos, out, conf = 0, [], 1.0
        for i in range(n):
            d = dur[k][i]
            seg_ids = out_tok[k][pos:pos + d]
            seg = [words[i] if t == tl.unk else tl.tokens[t] for t in seg_ids]  # <unk> out: copy the source word
            seg = [s for s in seg if s not in ("<blank>", "<sos/eos>")]
            if seg != [words[i]]:
                c = dprob[k][i] * (min(out_p[k][pos:pos + d]) if d else 1.0)
                conf = min(conf, c)
            out += seg
            pos += d
        res.append((out, conf, float(p_edit[k, :n].max())))
    return res


def _ar_batch(loaded: Loaded, toks: list[list[str]], beam: int) -> list[tuple[list[str], float, float]]:
    tl, dev = loaded.tokens, loaded.device
    src, src_len = _source_batch(loaded, toks)
    from narspeech.device import autocast

    with autocast(dev):
        hyps = loaded.model.beam_search(src, src_len, beam=beam)
    res = []
    for words, (seq, score) in zip(toks, hyps):
        unk_src = [w for w, i in zip(words, tl.encode(words, unk_ok=True)) if i == tl.unk]
        out = []
        for t in seq:  # an <unk> output takes the source's unknown words in order
            out.append(unk_src.pop(0) if t == tl.unk and unk_src else tl.tokens[t])
        conf = float(torch.tensor(score / (len(seq) + 1)).exp())
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
    for batch in _batches([len(toks[k]) for k in todo], batch_size):
        ks = [todo[b] for b in batch]
        if loaded.model.kind == "fastcorrect":
            res = _fastcorrect_batch(loaded, [toks[k] for k in ks])
        else:
            res = _ar_batch(loaded, [toks[k] for k in ks], beam)
        for k, (words, conf, p_edit) in zip(ks, res):
            utt, text = items[k]
            new = units.decode(words)
            out[k] = Correction(utt, text, new, conf, p_edit, words != toks[k])
    return out  # type: ignore[return-value]


def apply_detector(c: Correction, threshold: float, detect_threshold: float = 0.0) -> str:
    """The text to output: the correction when it changes something confidently, else the source."""
    if c.changed and not c.reason and c.confidence >= threshold and c.p_edit >= detect_threshold:
        return c.text
    return c.source


def detector_settings(loaded: Loaded, threshold: float | None = None, detect_threshold: float | None = None) -> tuple[float, float]:
    d = loaded.detector
    t = threshold if threshold is not None else float(d.get("threshold", 0.0))
    dt = detect_threshold if detect_threshold is not None else float(d.get("detect_threshold", 0.0))
    return t, dt


def tune_threshold(corrections: Sequence[Correction], refs: dict[str, str], *, grid: Sequence[float] | None = None,
                   detect_threshold: float = 0.0) -> dict:
    """Threshold with the lowest corpus WER on these pairs (ties: the highest threshold, the most
    cautious); above every confidence ("never change") when no value beats the uncorrected WER."""
    from narspeech.metrics.scoring import score

    grid = list(grid) if grid is not None else [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99]
    hyps0 = {c.utt: c.source for c in corrections}
    base = score(refs, hyps0).wer.error_rate if hyps0 else float("nan")
    rows = []
    for t in grid:
        hyps = {c.utt: apply_detector(c, t, detect_threshold) for c in corrections}
        rows.append((score(refs, hyps).wer.error_rate, -t, t))
    best = min(rows)
    never = 1.01
    chosen = best[2] if best[0] < base else never
    return {"threshold": chosen, "detect_threshold": detect_threshold, "wer_before": base,
            "wer_after": min(best[0], base), "grid": {f"{t:g}": w for w, _, t in rows}}


def decode_file(loaded: Loaded, hyp: str | Path, out_dir: str | Path, *, batch_size: int = 64, beam: int = 5,
                threshold: float | None = None, detect_threshold: float | None = None, max_tokens: int = 256,
                ref: str | Path | None = None, oov: str = "pass") -> dict:
    """Correct `hyp`; write ``OUT/hyp`` (atomic), ``OUT/passed`` and ``OUT/correct_info.json``.
    With `ref`, every hypothesis id must be in it (else an error naming the utterance)."""
    hyps = read_table(hyp, allow_empty_value=True)
    if ref is not None:
        refs = read_table(ref)
        for u in hyps:
            if u not in refs:
                raise NarspeechError(f"hypothesis id not in the reference {ref}", utt=u, path=hyp)
    items = list(hyps.items())
    t_thr, d_thr = detector_settings(loaded, threshold, detect_threshold)
    if loaded.device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    res = correct_texts(loaded, items, batch_size=batch_size, beam=beam, max_tokens=max_tokens, oov=oov)
    if loaded.device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - t0
    out = Path(out_dir)
    final = {c.utt: apply_detector(c, t_thr, d_thr) for c in res}
    with atomic_write(out / "hyp") as f:
        f.writelines(f"{u} {final[u]}\n".replace(" \n", "\n") for u in sorted(final))
    with atomic_write(out / "passed") as f:
        f.writelines(f"{c.utt} {c.reason}\n" for c in sorted(res, key=lambda c: c.utt) if c.reason)
    with atomic_write(out / "corrections") as f:  # every model proposal, applied or not
        for c in sorted(res, key=lambda c: c.utt):
            if c.changed:
                f.write(f"{c.utt} conf={c.confidence:.3f} p_edit={c.p_edit:.3f} applied={int(final[c.utt] != c.source)} | {c.source} => {c.text}\n")
    info = {"model": str(loaded.exp_dir), "checkpoint": loaded.checkpoint, "type": loaded.model.kind, "hyp": str(hyp),
            "utterances": len(items), "proposed": sum(c.changed for c in res),
            "applied": sum(final[c.utt] != c.source for c in res), "passed": sum(bool(c.reason) for c in res),
            "threshold": t_thr, "detect_threshold": d_thr, "batch_size": batch_size, "oov": oov,
            "beam": beam if loaded.model.kind == "ar" else None, "device": str(loaded.device), "seconds": seconds}
    if ref is not None:
        from narspeech.metrics.scoring import score

        sub = {u: refs[u] for u in hyps}
        info["wer_before"] = score(sub, hyps).wer.error_rate
        info["wer_after"] = score(sub, final).wer.error_rate
    with atomic_write(out / "correct_info.json") as f:
        json.dump(info, f, indent=2)
        f.write("\n")
    return info


def tune_file(loaded: Loaded, hyp: str | Path, ref: str | Path, *, batch_size: int = 64, beam: int = 5,
              detect_threshold: float = 0.0, write: bool = True, oov: str = "pass") -> dict:
    """Tune the detector on held-out (hyp, ref) files; writes ``EXP/detector.json``."""
    hyps = read_table(hyp, allow_empty_value=True)
    refs = read_table(ref)
    for u in hyps:
        if u not in refs:
            raise NarspeechError(f"hypothesis id not in the reference {ref}", utt=u, path=hyp)
    res = correct_texts(loaded, list(hyps.items()), batch_size=batch_size, beam=beam, oov=oov)
    t = tune_threshold(res, {u: refs[u] for u in hyps}, detect_threshold=detect_threshold)
    t.update(tuned_on={"hyp": str(hyp), "ref": str(ref)})
    if write:
        with atomic_write(loaded.exp_dir / DETECTOR_FILE) as f:
            json.dump(t, f, indent=2)
            f.write("\n")
        loaded.detector = t
    return t
