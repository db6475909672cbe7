"""CoMMA end to end for one task and variant: read the task's files, train, measure R(p), write comma.json.

Inputs per task (`TaskInputs`):
  tts:     data (token), dump (mels), tokens; durations (alignment constraint); kd = a dump of the AR teacher's mels
  asr:     data (token), dump (log-mel), tokens; durations = frames per target token (forced alignment); kd = a token
           file of the AR recogniser's hypotheses
  correct: hyp, ref (``utt text``), unit (word | char); alignment from the edit alignment; kd = the AR corrector's
           outputs (``utt text``) used as the reference
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from narspeech.analyze import comma_data as cd
from narspeech.analyze.comma_measure import DEFAULT_PS, check_ps, measure_ratio
from narspeech.analyze.comma_model import CommaConfig
from narspeech.analyze.comma_train import load_comma, normalise, train_comma
from narspeech.errors import NarspeechError
from narspeech.fileio import atomic_write

SPEECH_TASKS = ("tts", "asr", "correct")


@dataclass
class TaskInputs:
    data: str | None = None
    dump: str | None = None
    tokens: str | None = None
    durations: str | None = None
    hyp: str | None = None
    ref: str | None = None
    unit: str = "word"
    kd: str | None = None


def _need(task: str, inputs: TaskInputs, *names: str) -> None:
    missing = [n for n in names if getattr(inputs, n) is None]
    if missing:
        raise NarspeechError(f"task {task} needs --{' --'.join(missing)}")


def _check_task(task: str) -> None:
    if task not in SPEECH_TASKS:
        raise NarspeechError(f"unknown task {task!r}: use tts, asr or correct")


def load_examples(task: str, inputs: TaskInputs, *, align: bool, vocab: list[str] | None = None,
                  reduction: int = 1) -> tuple[list[cd.Example], dict]:
    """Examples of `task` from `inputs`, and the meta a model trained on them keeps (vocabulary, unit)."""
    _check_task(task)
    if align and task in ("tts", "asr") and inputs.durations is None:
        raise NarspeechError(f"the alignment constraint for {task} needs --durations "
                             f"({'phoneme durations' if task == 'tts' else 'frames per token of a forced alignment'})")
    if task == "tts":
        _need(task, inputs, "data", "dump", "tokens")
        ex = cd.load_tts(inputs.data, inputs.dump, inputs.tokens, durations=inputs.durations if align else None,
                         kd_dump=inputs.kd, reduction=reduction)
        return ex, {"tokens": Path(inputs.tokens).read_text(encoding="utf-8").split("\n")}
    if task == "asr":
        _need(task, inputs, "data", "dump", "tokens")
        ex = cd.load_asr(inputs.data, inputs.dump, inputs.tokens, alignment=inputs.durations if align else None,
                         kd_token=inputs.kd)
        return ex, {"tokens": Path(inputs.tokens).read_text(encoding="utf-8").split("\n")}
    _need(task, inputs, "hyp", "ref")
    ref = inputs.kd if inputs.kd is not None else inputs.ref
    if vocab is None:
        vocab = cd.correction_vocab(inputs.hyp, ref, inputs.unit)
    return cd.load_correct(inputs.hyp, ref, inputs.unit, vocab), {"vocab": vocab, "unit": inputs.unit}


def model_config(task: str, examples: list[cd.Example], meta: dict, sizes: dict) -> CommaConfig:
    """Config with the input/output sizes of `examples` and the model sizes of `sizes` (the YAML's `model`)."""
    e = examples[0]
    if task == "tts":
        n_src, n_tgt = len([t for t in meta["tokens"] if t]), e.tgt.shape[1]
    elif task == "asr":
        n_src, n_tgt = e.src.shape[1], len([t for t in meta["tokens"] if t])
    else:
        n_src = n_tgt = len(meta["vocab"])
    return CommaConfig(task=task, n_src=int(n_src), n_tgt=int(n_tgt), **sizes)


def variant_name(kd: bool, align: bool) -> str:
    return "+".join([v for v, on in (("kd", kd), ("align", align)) if on]) or "base"


def train(task: str, inputs: TaskInputs, exp: str | Path, cfg: dict, *, align: bool = False, device: str = "cpu") -> dict:
    """Train CoMMA for `task` (variant from `inputs.kd` and `align`) into EXP; `cfg` = {"model": sizes, "train": options}."""
    sizes = dict(cfg.get("model", {}))
    examples, meta = load_examples(task, inputs, align=align, reduction=int(sizes.get("reduction", 1)) if task == "tts" else 1)
    meta.update(variant=variant_name(inputs.kd is not None, align), inputs=asdict(inputs))
    try:
        mcfg = model_config(task, examples, meta, sizes)
    except TypeError as e:
        raise NarspeechError(f"bad model option in the config: {e}") from None
    topt = dict(cfg.get("train", {}))
    allowed = {"steps", "batch_items", "batch_positions", "lr", "warmup", "seed", "log_every"}
    bad = sorted(set(topt) - allowed)
    if bad:
        raise NarspeechError(f"unknown train option(s) {', '.join(bad)} (known: {', '.join(sorted(allowed))})")
    return train_comma(examples, mcfg, exp, constrain=align, device=device, meta=meta, **topt)


def _check_match(task: str, rec: dict, examples: list[cd.Example], exp: Path) -> None:
    cfg = rec["config"]
    if cfg["task"] != task:
        raise NarspeechError(f"the model was trained for task {cfg['task']}, not {task}", path=exp)
    e = examples[0]
    if task == "tts" and e.tgt.shape[1] != cfg["n_tgt"]:
        r = cfg.get("reduction", 1)
        raise NarspeechError(f"the dump has {e.tgt.shape[1] // r} mel bins, the model was trained on {cfg['n_tgt'] // r}", path=exp)
    if task == "asr" and e.src.shape[1] != cfg["n_src"]:
        raise NarspeechError(f"the dump has {e.src.shape[1]} feature bins, the model was trained on {cfg['n_src']}", path=exp)
    if task in ("tts", "asr"):
        ids = [int(x.max()) for x in (e.src if task == "tts" else e.tgt for e in examples)]
        n = cfg["n_src"] if task == "tts" else cfg["n_tgt"]
        if max(ids) >= n:
            raise NarspeechError(f"token ids up to {max(ids)} but the model knows {n} tokens: another token list", path=exp)


def measure(exp: str | Path, task: str, inputs: TaskInputs, *, ps: list[float] = DEFAULT_PS, layers: int | None = None,
            seed: int = 0, n_boot: int = 1000, device: str = "cpu", out: str | Path | None = None) -> dict:
    """R(p) of the model in EXP on the examples of `inputs` (a test set); writes EXP/comma.json (or `out`)."""
    _check_task(task)
    ps = check_ps(list(ps))
    exp = Path(exp)
    model, rec = load_comma(exp, device)
    if rec["config"]["task"] != task:
        raise NarspeechError(f"the model was trained for task {rec['config']['task']}, not {task}", path=exp)
    align = bool(rec.get("align_constraint"))
    meta = rec.get("meta", {})
    if task == "correct" and inputs.unit != meta.get("unit", inputs.unit):
        raise NarspeechError(f"the model was trained on {meta['unit']} units, not {inputs.unit}", path=exp)
    examples, _ = load_examples(task, inputs, align=align, vocab=meta.get("vocab"), reduction=rec["config"].get("reduction", 1))
    _check_match(task, rec, examples, exp)
    examples = normalise(examples, rec.get("mel_mean"), rec.get("mel_std"))
    res = measure_ratio(model, examples, ps, layers=layers, constrain=align, seed=seed, n_boot=n_boot, device=device)
    result = {"task": task, "variant": meta.get("variant", "base"), "exp": str(exp), "layers_averaged": res["layers"],
              "n_layers": rec["config"]["n_layers"], "heads_averaged": rec["config"]["n_heads"],
              "reduction": rec["config"].get("reduction", 1),
              "test_inputs": asdict(inputs), "seed": seed, "bootstrap": n_boot, "points": res["points"]}
    path = Path(out) if out is not None else exp / "comma.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as f:
        json.dump(result, f, indent=1)
    return result
