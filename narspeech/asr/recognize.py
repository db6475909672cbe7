"""Load a trained ASR experiment and recognise batches: features or waveforms → word strings.

``load_recognizer(exp_dir, device="auto")`` is the seam other parts use (TTS intelligibility):
``rec.sample_rate`` and ``rec.transcribe(wavs, sr) -> list[str]`` (batched Mask-CTC by default, with the
settings tuned on dev and stored in ``EXP/decode_defaults.json`` when there are some: ``rec.default_options()``).
Methods: ``ctc`` (greedy CTC), ``maskctc`` (Mask-CTC models), ``beam`` (joint CTC/attention beam
search) and ``greedy`` (attention argmax), the last two for AR models.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from narspeech.asr.beam_search import attention_greedy, beam_search
from narspeech.asr.ctc_align import ctc_greedy_frames
from narspeech.asr.ctc_decode import ctc_greedy
from narspeech.asr.maskctc import mask_ctc_refine
from narspeech.asr.model import build_asr_model
from narspeech.asr.text import ASRTokenizer
from narspeech.asr.tune import load_decode_defaults
from narspeech.audio.features import FeatureConfig, log_mel
from narspeech.audio.io import resample
from narspeech.device import autocast, resolve_device
from narspeech.errors import NarspeechError
from narspeech.nets.masks import pad_mask
from narspeech.nets.quantize import check_quantize, quantize_linear
from narspeech.text.vocab import TokenList
from narspeech.train.checkpoint import load_checkpoint

log = logging.getLogger("narspeech.asr")
METHODS = ("ctc", "maskctc", "beam", "greedy")


@dataclass
class DecodeOptions:
    method: str = "maskctc"
    threshold: float = 0.999  # Mask-CTC: tokens whose CTC confidence is lower are re-predicted
    iterations: int = 10  # Mask-CTC decoder passes at most
    length_adjust: bool = False  # Improved Mask-CTC: re-size masked spans with the length predictor first
    length_slack: int | None = 1  # a run of n masks becomes n-slack .. n+slack tokens (None: any length)
    ctc_fusion: float = 0.0  # Mask-CTC: + this × CTC's log-posteriors at a mask's frame when the decoder fills it
    beam: int = 10
    ctc_weight: float = 0.3
    penalty: float = 0.0
    incremental: bool = True  # AR: decoder layers cache their inputs, one new position per step (False: whole prefix)


class IncrementalStep:
    """The causal decoder as a search step function ``(ys (N, l), idx (N,)) -> log-probs (N, V)`` that
    computes one new position per call; its cache follows the search's row moves through
    :meth:`select` (``narspeech.asr.beam_search`` calls it after every reorder or compaction)."""

    def __init__(self, decoder, enc: torch.Tensor, enc_lengths: torch.Tensor):
        self.decoder, self.enc, self.pad = decoder, enc, pad_mask(enc_lengths, enc.size(1))
        self.cache: list[torch.Tensor | None] = [None] * len(decoder.layers)

    def __call__(self, ys: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        held = 0 if self.cache[0] is None else self.cache[0].size(1)
        if held != ys.size(1) - 1:
            raise RuntimeError(f"decoder cache holds {held} positions for a prefix of {ys.size(1)}")
        logits = self.decoder.step(ys, self.enc.index_select(0, idx), self.pad.index_select(0, idx), self.cache)
        return torch.log_softmax(logits.float(), dim=-1)

    def select(self, rows: torch.Tensor) -> None:
        """Keep cache rows `rows` (indices), in that order."""
        self.cache = [None if c is None else c.index_select(0, rows) for c in self.cache]


class Recognizer:
    """A loaded model with its token list, text unit and feature configuration."""

    def __init__(self, model, token_list, tokenizer, feature_config, device: torch.device, info: dict,
                 decode_defaults: dict | None = None):
        self.model, self.token_list, self.tokenizer = model, token_list, tokenizer
        self.decode_defaults = dict(decode_defaults or {})  # Mask-CTC settings stored with the model (asr tune)
        self.feats = feature_config
        self.device = device
        self.info = info
        self.sample_rate: int = int(feature_config.sample_rate)
        self.skipped: list[tuple[int, str]] = []  # (index, reason) of the last transcribe call

    @property
    def model_type(self) -> str:
        return self.model.type

    @property
    def subsample_factor(self) -> int:
        """The model's time subsampling (×4 or ×2)."""
        return self.model.subsample_factor

    @property
    def min_frames(self) -> int:
        """Fewest feature frames that give the model one encoder frame."""
        return self.model.min_frames

    def too_short(self, n: int) -> str:
        """Why an input of `n` feature frames is not decoded."""
        return f"too short: {n} frames, the x{self.subsample_factor} subsampling needs at least {self.min_frames}"

    def default_options(self, method: str | None = None, **given) -> DecodeOptions:
        """Decoding options: `given` (those not None) over the stored Mask-CTC defaults over
        :class:`DecodeOptions`' own; `method` defaults to maskctc for Mask-CTC models, beam for AR."""
        m = method or ("maskctc" if self.model.type == "mask_ctc" else "beam")
        stored = self.decode_defaults if m == "maskctc" else {}
        return DecodeOptions(method=m, **{**stored, **{k: v for k, v in given.items() if v is not None}})

    def check_method(self, opts: DecodeOptions) -> None:
        if opts.method not in METHODS:
            raise NarspeechError(f"unknown decoding method {opts.method!r}; one of {', '.join(METHODS)}")
        if opts.method == "maskctc" and self.model.type != "mask_ctc":
            raise NarspeechError("maskctc decoding needs a Mask-CTC model (this one is model.type ar): use --method beam or ctc")
        if opts.length_adjust and (opts.method != "maskctc" or getattr(self.model, "length_head", None) is None):
            raise NarspeechError("--length-adjust needs maskctc decoding and a Mask-CTC model trained with "
                                 "model.length_predictor: true")
        if opts.method in ("beam", "greedy") and self.model.type != "ar":
            raise NarspeechError(f"{opts.method} decoding needs an AR model (this one is model.type mask_ctc): use --method maskctc or ctc")

    @torch.no_grad()
    def decode_feats(self, feats: torch.Tensor, lengths: torch.Tensor, opts: DecodeOptions) -> list[list[int]]:
        """Padded log-mels (B, T, n_mels) → token ids per utterance (every utterance long enough)."""
        self.check_method(opts)
        m = self.model
        feats, lengths = feats.to(self.device), lengths.to(self.device)

        with autocast(self.device):
            enc, elen = m.encode(feats, lengths)
        enc = enc.float()
        lp = m.ctc_log_probs(enc)
        banned = (m.blank, m.mask_id)
        if opts.method in ("ctc", "maskctc"):
            toks, conf, tlen = ctc_greedy(lp, elen, m.blank)
            if opts.method == "maskctc":
                frames = None
                if getattr(m, "align_proj", None) is not None or opts.ctc_fusion:
                    frames = ctc_greedy_frames(lp, elen, m.blank)[:, : toks.size(1)]

                def dec(ys, yl, fr=None):
                    out = m.decoder_log_probs(ys, yl, enc, elen, fr)
                    if opts.ctc_fusion and fr is not None:  # product of experts with CTC's guess at that frame
                        idx = fr.clamp(0, lp.size(1) - 1)[..., None].expand(-1, -1, lp.size(2))
                        out = out + float(opts.ctc_fusion) * lp.gather(1, idx)
                    out[..., list(banned) + [m.sos_eos]] = float("-inf")
                    return out

                def length(ys, yl):
                    return m.length_log_probs(ys, yl, enc, elen)

                res = mask_ctc_refine(toks, conf, tlen, dec, mask_id=m.mask_id, threshold=opts.threshold,
                                      iterations=opts.iterations, length_fn=length if opts.length_adjust else None,
                                      length_slack=opts.length_slack, frames=frames)
                toks, tlen = res.tokens, res.lengths
            return [toks[i, : int(tlen[i])].tolist() for i in range(toks.size(0))]

        def full_step(ys, idx):  # the whole prefix again each step (reference for the incremental one)
            n = ys.size(0)
            return m.decoder_log_probs(ys, torch.full((n,), ys.size(1), device=ys.device), enc.index_select(0, idx),
                                       elen.index_select(0, idx))[:, -1]

        step = IncrementalStep(m.decoder, enc, elen) if opts.incremental else full_step

        if opts.method == "greedy":
            return attention_greedy(step, elen, sos_eos=m.sos_eos, banned=banned)
        res = beam_search(step, lp if opts.ctc_weight > 0 else None, elen, sos_eos=m.sos_eos, beam=opts.beam,
                          ctc_weight=opts.ctc_weight, penalty=opts.penalty, banned=banned)
        return res.tokens

    def ids_to_text(self, ids: list[int]) -> str:
        return self.tokenizer.decode(self.token_list.decode(ids))

    def features(self, wavs: list[np.ndarray], sr: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Log-mels of waveforms (resampled to the model's rate), padded (B, T, n_mels), and frame counts."""
        ws = [np.asarray(w, dtype=np.float32).reshape(-1) for w in wavs]
        if sr != self.sample_rate:
            ws = [resample(w, sr, self.sample_rate) for w in ws]
        lens = torch.tensor([len(w) for w in ws])
        batch = torch.zeros(len(ws), int(lens.max()) if len(ws) else 0)
        for i, w in enumerate(ws):
            batch[i, : len(w)] = torch.from_numpy(w)
        mel = log_mel(batch.to(self.device), self.feats, lens.to(self.device))
        frames = 1 + lens // self.feats.hop_length
        return mel, frames

    def transcribe(self, wavs: list[np.ndarray], sr: int, *, options: DecodeOptions | None = None,
                   batch_size: int = 32) -> list[str]:
        """Word strings for waveforms at rate `sr` (batched; in input order). Audio too short for the
        model's subsampling gives "" and is listed in ``self.skipped`` (index, reason) with a warning."""
        opts = options or self.default_options()
        self.check_method(opts)
        self.skipped = []
        out = [""] * len(wavs)
        order = sorted(range(len(wavs)), key=lambda i: len(np.asarray(wavs[i]).reshape(-1)))
        for s in range(0, len(order), max(1, batch_size)):
            idx = order[s: s + batch_size]
            mel, frames = self.features([wavs[i] for i in idx], sr)
            keep = [j for j, n in enumerate(frames.tolist()) if n >= self.min_frames]
            for j, n in enumerate(frames.tolist()):
                if n < self.min_frames:
                    self.skipped.append((idx[j], self.too_short(n)))
            if not keep:
                continue
            kt = torch.tensor(keep, device=mel.device)
            fr = frames[keep]
            ids = self.decode_feats(mel.index_select(0, kt)[:, : int(fr.max())], fr, opts)
            for j, t in zip(keep, ids):
                out[idx[j]] = self.ids_to_text(t)
        for i, why in self.skipped:
            log.warning("input %d skipped: %s", i, why)
        return out


def load_recognizer(exp_dir: str | Path, device: str = "auto", checkpoint: str | Path | None = None,
                    quantize: str | None = None) -> Recognizer:
    """Load ``EXP/config.yaml``, ``EXP/tokens.txt`` (and ``subword.model``), a checkpoint
    (`checkpoint`, else EXP's best.pt / last.pt; the model and the token list must match) and the
    decoding defaults tuned on dev (``EXP/decode_defaults.json``, when present). ``quantize="int8"``:
    the linear layers int8 dynamically quantized (CPU only; :mod:`narspeech.nets.quantize`)."""
    exp = Path(exp_dir)
    if not exp.is_dir():
        raise NarspeechError("ASR experiment dir not found", path=exp)
    ckpt = load_checkpoint(checkpoint or exp)
    cfg = ckpt.get("config") or {}
    if "model" not in cfg or cfg["model"].get("type") not in ("mask_ctc", "ar"):
        raise NarspeechError("not an ASR checkpoint (config has no model.type mask_ctc / ar)", path=exp)
    tokens = TokenList(exp / "tokens.txt")
    n = int(cfg["model"]["n_tokens"])
    w = ckpt["model"].get("ctc.weight")
    if len(tokens) != n or (w is not None and w.shape[0] != len(tokens)):
        raise NarspeechError(f"token list has {len(tokens)} tokens but the model was trained with "
                             f"{n if w is None else w.shape[0]}: model and token list do not match", path=exp / "tokens.txt")
    text = cfg.get("text") or {}
    sub = text.get("subword_model")
    tokenizer = ASRTokenizer(text.get("unit", "char"), None if not sub else exp / sub)
    dev = resolve_device(device)
    quantize = check_quantize(quantize, dev)
    model = build_asr_model(cfg["model"])
    try:
        model.load_state_dict(ckpt["model"])
    except RuntimeError as e:
        raise NarspeechError(f"checkpoint does not fit the configured model: {str(e).splitlines()[0]}", path=exp) from None
    model.to(dev).eval()
    info = {"exp": str(exp), "checkpoint": str(checkpoint or ""), "step": ckpt.get("step"), "model_type": model.type}
    if quantize != "none":
        model = quantize_linear(model, quantize)
        info["quantize"] = quantize
    defaults = load_decode_defaults(exp) if model.type == "mask_ctc" else {}
    if defaults:
        info["decode_defaults"] = defaults
    return Recognizer(model, tokens, tokenizer, FeatureConfig.from_dict(cfg["feats"]), dev, info, defaults)
