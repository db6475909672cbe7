"""Training the TTS models: set up the experiment directory, datasets and model, then run the
shared engine (:func:`narspeech.train.engine.fit`).

Every run writes into its exp dir: ``config.yaml`` (resolved; sections ``model`` with every
option, ``train``, ``text`` {kind, language}, ``feats`` = the dump's FeatureConfig),
``tokens.txt`` and ``stats.npz`` (copies), and the engine's checkpoints and logs. A multi-speaker model
(``model.spks`` auto or a number: a learned embedding per speaker; ``spk_embed`` given: external embeddings,
``model.spk_embed_dim`` from the file) also gets ``spk2sid`` and ``spk_embed.scp/.ark`` (the training speakers'
mean embeddings), see :mod:`narspeech.tts.speakers`.
"""
from __future__ import annotations

import logging
import shutil
from pathlib import Path

import torch

from narspeech.audio.dump import read_dump
from narspeech.audio.spk_embed import read_embeddings, speaker_means, write_embeddings
from narspeech.config import merge
from narspeech.errors import NarspeechError
from narspeech.fileio import atomic_path, read_table, write_table
from narspeech.text.vocab import TokenList
from narspeech.train.checkpoint import locks_exp
from narspeech.train.defaults import resolve_config
from narspeech.train.engine import fit
from narspeech.train.rng import seed_everything
from narspeech.tts.dataset import TTSDataset, collate
from narspeech.tts.models.build import TEACHERS, build_tts_model, model_defaults
from narspeech.tts.models.speaker import speaker_inputs
from narspeech.tts.models.stats import load_stats
from narspeech.tts.plots import add_figure, attention_grid_figure, mel_figure
from narspeech.tts.speakers import SPK2SID, SPK_EMBED, build_spk2sid, read_spk2sid, read_utt2spk, speaker_inputs_for

log = logging.getLogger("narspeech.tts")


def guess_text_kind(tokens: list[str]) -> str:
    """`char` when every corpus token is one character, else `phoneme` (used only when the
    config has no ``text.kind``; a word-level list must be named explicitly)."""
    body = [t for t in tokens if not (t.startswith("<") and t.endswith(">"))]
    return "char" if body and all(len(t) == 1 for t in body) else "phoneme"


def text_section(cfg: dict, token_list: list[str], data_dir: Path) -> dict:
    """``text`` {kind, language} for synthesis: from the config, else guessed from the token list
    and ``DATA/utt2lang`` (first language), else en-us."""
    text = dict(cfg.get("text") or {})
    text.setdefault("kind", guess_text_kind(token_list))
    if "language" not in text:
        lang = "en-us"
        if (data_dir / "utt2lang").is_file():
            langs = list(dict.fromkeys(read_table(data_dir / "utt2lang").values()))
            lang = langs[0]
            if len(langs) > 1:
                log.warning("several languages in %s; text.language set to %s (override with --set text.language=…)",
                            data_dir / "utt2lang", lang)
        text["language"] = lang
    return text


def setup_speakers(m: dict, exp: Path, train_data: Path, spk_embed: str | Path | None) -> tuple[dict | None, dict | None]:
    """Resolve ``model.spks`` / ``model.spk_embed_dim`` in `m` (in place) from the training set; write EXP/spk2sid
    and EXP/spk_embed.scp. Returns (spk2sid or None, embedding table or None)."""
    spks, dim = m.get("spks", 0), m.get("spk_embed_dim", 0)
    spk2sid = table = None
    if spks == "auto" or (isinstance(spks, int) and not isinstance(spks, bool) and spks > 0):
        utt2spk = read_utt2spk(train_data)
        spk2sid = read_spk2sid(exp / SPK2SID) if (exp / SPK2SID).is_file() else build_spk2sid(utt2spk)
        missing = sorted(set(utt2spk.values()) - set(spk2sid))
        if missing:
            raise NarspeechError(f"speakers of the training set not in {exp / SPK2SID}: {', '.join(missing[:10])}")
        n = max(spk2sid.values()) + 1
        if spks == "auto":
            spks = n
        elif spks < n:
            raise NarspeechError(f"model.spks is {spks} but the training set has {n} speakers (use model.spks=auto)")
        write_table(exp / SPK2SID, {s: str(i) for s, i in sorted(spk2sid.items(), key=lambda kv: kv[1])})
    elif spks not in (0, None, False):
        raise NarspeechError(f"model.spks must be auto, 0 or a number of speakers, got {spks!r}")
    m["spks"] = int(spks or 0)
    if spk_embed is not None:
        table = read_embeddings(spk_embed)
        d = next(iter(table.values())).shape[0]
        if dim in (0, None, "auto"):
            dim = d
        elif int(dim) != d:
            raise NarspeechError(f"model.spk_embed_dim is {dim} but the embeddings have {d} values", path=spk_embed)
        write_embeddings(exp / f"{SPK_EMBED}.scp", speaker_means(table, read_utt2spk(train_data)))
    elif dim not in (0, None):
        raise NarspeechError(f"model.spk_embed_dim is {dim}: give the embeddings (--spk-embed SCP)")
    m["spk_embed_dim"] = int(dim or 0)
    return spk2sid, table


def prepare_experiment(cfg: dict, model_type: str, *, tokens: str | Path, train_data: str | Path, train_dump: str | Path,
                       exp: str | Path, device: str | None = None, spk_embed: str | Path | None = None) -> tuple[dict, object, dict]:
    """Resolve the config (model defaults, n_tokens, n_mels, text, feats, speakers), copy tokens.txt and
    stats.npz into `exp`. Returns (cfg, TokenList, stats)."""
    exp, train_dump = Path(exp), Path(train_dump)
    cfg = dict(cfg)
    m = dict(cfg.get("model") or {})
    m.setdefault("type", model_type)
    kind = m["type"]
    allowed = TEACHERS if model_type in TEACHERS else ("fastspeech", "fastspeech2")
    if kind not in allowed:
        raise NarspeechError(f"model.type {kind!r} cannot be trained by this command (expected {' or '.join(allowed)})")
    token_list = TokenList(tokens)
    feats = read_dump(train_dump).config
    stats_path = train_dump / "stats.npz"
    stats = load_stats(stats_path)
    if stats["mel_mean"].shape[0] != feats.n_mels:
        raise NarspeechError(f"stats have {stats['mel_mean'].shape[0]} mel bins, the dump {feats.n_mels}", path=stats_path)
    defaults = model_defaults(kind)
    unknown = set(m) - set(defaults) - {"type", "n_tokens", "n_mels"}
    if unknown:
        raise NarspeechError(f"unknown model option(s) for {kind}: {', '.join(sorted(unknown))}; known: {', '.join(sorted(defaults))}")
    m = {"type": kind, **merge(defaults, m), "n_tokens": len(token_list), "n_mels": feats.n_mels}
    exp.mkdir(parents=True, exist_ok=True)
    setup_speakers(m, exp, Path(train_data), spk_embed)
    cfg["model"] = m
    cfg["feats"] = feats.to_dict()
    cfg["text"] = text_section(cfg, token_list.tokens, Path(train_data))
    cfg["data"] = {"train_data": str(train_data), "train_dump": str(train_dump), "tokens": str(tokens)}
    if spk_embed is not None:
        cfg["data"]["spk_embed"] = str(spk_embed)
    cfg.setdefault("train", {})
    if device is not None:
        cfg["train"]["device"] = device
    exp.mkdir(parents=True, exist_ok=True)
    for src, name in ((Path(tokens), "tokens.txt"), (stats_path, "stats.npz")):
        if src.resolve() != (exp / name).resolve():
            with atomic_path(exp / name) as tmp:
                shutil.copyfile(src, tmp)
    return cfg, token_list, stats


class TeacherHooks:
    """On validation: all encoder-decoder attention heads of the first valid utterance."""

    def on_valid(self, model, batch, writer, step):
        if writer is None:
            return
        model = getattr(model, "module", model)
        b = {k: v[:1] for k, v in batch.items() if torch.is_tensor(v)}
        extra = speaker_inputs(b)
        if getattr(model, "needs_f0", False):
            extra["f0"] = b.get("f0")
        out = model.teacher_forced(b["tokens"], b["token_lengths"], b["mels"], b["mel_lengths"], **extra)
        s, n = int(out["steps"][0]), int(b["token_lengths"][0])
        attns = torch.stack([a[0, :, :s, :n] for a in out["attns"]]).float().cpu().numpy()
        utt = batch.get("utts", ["?"])[0]
        add_figure(writer, "valid/attention", attention_grid_figure(attns, f"{utt} step {step}"), step)
        mel = model.stats.denorm_mel(out["after"][0, : int(b["mel_lengths"][0])]).float().cpu().numpy()

        add_figure(writer, "valid/mel", mel_figure([mel, b["mels"][0, : mel.shape[0]].cpu().numpy()], ["teacher-forced", "target"]), step)


class FastSpeechHooks:
    """On validation: predicted (own durations) vs target mel of the first valid utterance."""

    def on_valid(self, model, batch, writer, step):
        if writer is None:
            return
        model = getattr(model, "module", model)
        b = {k: v[:1] for k, v in batch.items() if torch.is_tensor(v)}
        n = int(b["token_lengths"][0])
        mels, lengths = model.inference(b["tokens"][:, :n], b["token_lengths"], **speaker_inputs(b))
        tgt = b["mels"][0, : int(b["mel_lengths"][0])].cpu().numpy()
        add_figure(writer, "valid/mel", mel_figure([mels[0, : int(lengths[0])].float().cpu().numpy(), tgt],
                                                   ["predicted (own durations)", "target"]), step)


def _fit(cfg, model, train_set, valid_set, exp, resume, hooks) -> Path:
    for name, ds in (("train", train_set), ("valid", valid_set)):
        bad = [d for d in (ds.dropped if ds is not None else []) if not d.reason.startswith("filtered")]  # those were warned about
        if bad:
            log.warning("%s set: %d utterance(s) with bad input left out: %s", name, len(bad), "; ".join(map(str, bad[:5])))
    return fit(cfg, model, train_set, valid_set, collate, exp, resume=resume, hooks=hooks)


@locks_exp()
def train_teacher(cfg: dict, *, tokens, train_data, train_dump, exp, valid_data=None, valid_dump=None,
                  resume: bool = False, device: str | None = None, skip_bad: bool = False,
                  durations=None, valid_durations=None, spk_embed=None, valid_spk_embed=None) -> Path:
    """Train the AR teacher (``model.type`` transformer_tts, the default, or tacotron2); returns the best (or last)
    checkpoint path. `spk_embed` / `valid_spk_embed`: speaker embedding tables (multi-speaker, see the module)."""
    cfg, token_list, stats = prepare_experiment(cfg, "transformer_tts", tokens=tokens, train_data=train_data,
                                                train_dump=train_dump, exp=exp, device=device, spk_embed=spk_embed)
    spk = speaker_inputs_for(cfg, exp, train_data, spk_embed)
    if cfg["model"].get("guided_attn_prior") == "durations":  # Tacotron 2 guided by a teacher-free alignment
        if durations is None or (valid_data is not None and valid_durations is None):
            raise NarspeechError("model.guided_attn_prior durations needs --durations (and --valid-durations with --valid-data), "
                                 "e.g. from `narspeech tts align`")
        cfg["data"]["durations"] = str(durations)
    else:
        durations = valid_durations = None  # the diagonal prior needs none
    frame_f0 = bool(cfg["model"].get("f0_feedback", False))  # Tacotron 2 with F0 feedback
    train_set = TTSDataset(train_data, train_dump, token_list, durations=durations, frame_f0=frame_f0, skip_bad=skip_bad,
                           speakers=spk)
    valid_set = None
    if valid_data is not None:
        valid_set = TTSDataset(valid_data, valid_dump or _missing("--valid-dump"), token_list, durations=valid_durations,
                               frame_f0=frame_f0, skip_bad=skip_bad,
                               speakers=speaker_inputs_for(cfg, exp, valid_data, valid_spk_embed))
    model = _build_seeded(cfg, stats)
    return _fit(cfg, model, train_set, valid_set, exp, resume, TeacherHooks())


@locks_exp()
def train_fastspeech(cfg: dict, *, tokens, train_data, train_dump, durations, exp, valid_data=None, valid_dump=None,
                     valid_durations=None, kd_dump=None, resume: bool = False, device: str | None = None,
                     skip_bad: bool = False, spk_embed=None, valid_spk_embed=None) -> Path:
    """Train FastSpeech / FastSpeech 2 (``model.type``) on teacher durations; returns the checkpoint path.
    `spk_embed` / `valid_spk_embed`: speaker embedding tables (multi-speaker, see the module).

    `kd_dump`: the teacher's ``OUT/kd`` folder (its mels replace the recordings' as targets and
    `durations` must be ``OUT/kd/durations``). Only for ``fastspeech``: FastSpeech 2's pitch and
    energy come from the recordings, which the teacher's mels do not match frame for frame.
    """
    cfg, token_list, stats = prepare_experiment(cfg, "fastspeech2", tokens=tokens, train_data=train_data,
                                                train_dump=train_dump, exp=exp, device=device, spk_embed=spk_embed)
    spk = speaker_inputs_for(cfg, exp, train_data, spk_embed)
    variance = cfg["model"]["type"] == "fastspeech2"
    if kd_dump is not None and variance:
        raise NarspeechError("knowledge distillation (--kd-dump) is for model.type fastspeech: FastSpeech 2 learns pitch "
                             "and energy from the recordings, which the teacher's mels do not match frame for frame")
    cfg["data"].update(durations=str(durations), kd_dump=None if kd_dump is None else str(kd_dump))
    train_set = TTSDataset(train_data, train_dump, token_list, durations=durations, kd_dump=kd_dump, variance=variance,
                           skip_bad=skip_bad, speakers=spk)
    valid_set = None
    if valid_data is not None:
        if valid_durations is None:
            raise NarspeechError("--valid-data needs --valid-durations (run `narspeech tts durations` on the valid set)")
        valid_set = TTSDataset(valid_data, valid_dump or _missing("--valid-dump"), token_list, durations=valid_durations,
                               variance=variance, skip_bad=skip_bad,
                               speakers=speaker_inputs_for(cfg, exp, valid_data, valid_spk_embed))
    model = _build_seeded(cfg, stats)
    return _fit(cfg, model, train_set, valid_set, exp, resume, FastSpeechHooks())


def _build_seeded(cfg: dict, stats):
    """Build the model after seeding, so initial weights are reproducible from the recorded seed."""
    seed_everything(int(resolve_config(cfg)["train"]["seed"]))
    return build_tts_model(cfg["model"], stats)


def _missing(opt: str):
    raise NarspeechError(f"{opt} is required with the matching --valid-data")

