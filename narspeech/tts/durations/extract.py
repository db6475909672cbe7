"""Batched duration extraction with a trained AR teacher (Transformer-TTS or Tacotron 2; FastSpeech's recipe).

Teacher-forced decoding of a whole set in length-sorted batches; for every utterance the
encoder-decoder attention head with the highest focus rate (over all layers and heads; Tacotron 2 has one) gives
the durations (argmax token per decoder step, r frames per step). Utterances whose best
focus rate is below a threshold are written to ``filtered`` instead of ``durations``.

With ``kd=True`` the teacher also synthesises every utterance free-running; those mels are
the student's targets for sequence-level knowledge distillation (``OUT/kd/feats.scp``), with
durations re-extracted by teacher-forcing the teacher on its own output (``OUT/kd/durations``).
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from narspeech.device import autocast, resolve_device
from narspeech.errors import NarspeechError
from narspeech.fileio import atomic_path, atomic_write, write_table
from narspeech.progress import progress
from narspeech.text.vocab import TokenList
from narspeech.tts.dataset import TTSDataset, collate
from narspeech.tts.durations.attention import durations_from_attention, focus_rates, monotonic_durations
from narspeech.tts.durations.files import read_durations
from narspeech.tts.durations.quality import boundary_agreement, duration_quality, format_spread, spread_summary
from narspeech.tts.models.build import TEACHERS, load_tts_model
from narspeech.tts.models.speaker import speaker_inputs
from narspeech.tts.speakers import speaker_inputs_for
from narspeech.tts.plots import attention_figure, save_figure
from narspeech.train.checkpoint import exp_dir_of

log = logging.getLogger("narspeech.tts")

FEATURE_KEYS = ("sample_rate", "n_fft", "hop_length", "win_length", "n_mels", "fmin", "fmax")


@dataclass
class ExtractionResult:
    """What :func:`extract_durations` wrote (rates of the chosen head per utterance)."""

    out_dir: Path
    rates: dict[str, float]
    heads: dict[str, tuple[int, int]]
    filtered: dict[str, float]
    dropped: list = field(default_factory=list)
    kd_rates: dict[str, float] = field(default_factory=dict)
    kd_filtered: dict[str, str] = field(default_factory=dict)
    agreement: dict[str, float] = field(default_factory=dict)  # against a reference alignment, when given
    spread: dict[str, tuple[float, ...]] = field(default_factory=dict)  # utt -> duration_quality(...)

    def quality(self) -> dict[str, float]:
        """Duration quality of the kept durations against the even split and the permutation (:func:`spread_summary`)."""
        return spread_summary([v for u, v in self.spread.items() if u not in self.filtered])

    def summary(self) -> str:
        r = np.array(list(self.rates.values()) or [0.0])
        q = np.quantile(r, [0.1, 0.5, 0.9])
        s = (f"{len(self.rates)} utterances: {len(self.rates) - len(self.filtered)} with durations, {len(self.filtered)} filtered; "
             f"focus rate mean {r.mean():.3f}, p10 {q[0]:.3f}, median {q[1]:.3f}, p90 {q[2]:.3f}, "
             f"> 0.5: {(r > 0.5).mean():.0%}")
        if self.kd_rates:
            s += f"; KD: {len(self.kd_rates) - len(self.kd_filtered)} kept, {len(self.kd_filtered)} filtered"
        if self.dropped:
            s += f"; {len(self.dropped)} skipped as bad input"
        q = self.quality()
        if q:
            s += "\n" + format_spread(q)
        a = self.agreement
        if a.get("n_utts"):
            tol = next(k for k in a if k.startswith("within_"))
            s += (f"\nagreement with the reference alignment ({a['n_utts']} utterances): boundaries {a['mean_offset_frames']:.1f} "
                  f"frames off on average, {a[tol]:.0%} {tol.replace('_', ' ')}")
        return s


def check_feature_match(dump_cfg: dict, model_feats: dict, dump_dir: Path) -> None:
    """The dump must have the features the teacher was trained on (same frames, same mel bins)."""
    diff = [k for k in FEATURE_KEYS if k in model_feats and k in dump_cfg and float(model_feats[k]) != float(dump_cfg[k])]
    if diff:
        what = ", ".join(f"{k} {dump_cfg[k]} vs {model_feats[k]}" for k in diff)
        raise NarspeechError(f"features differ from the teacher's ({what})", path=dump_dir / "feats.yaml")


def _best_head(attns: list[torch.Tensor], steps: torch.Tensor, tl: torch.Tensor):
    """Stack layers → (B, L·H, S, N); focus rate of every head; index of the best per utterance."""
    a = torch.stack(attns, 1).flatten(1, 2).float()
    fr = focus_rates(a, steps, tl)
    best = fr.argmax(1)
    return a, fr, best


def _write_ark(out_dir: Path, mels: dict[str, np.ndarray]) -> None:
    """feats.ark + feats.scp (offsets into the final ark name), both atomically."""
    import kaldiio

    ark, scp = out_dir / "feats.ark", out_dir / "feats.scp"
    keys = sorted(mels)
    with atomic_path(ark) as tmp_ark, atomic_path(out_dir / ".feats.scp.raw") as tmp_scp:
        kaldiio.save_ark(str(tmp_ark), {k: mels[k] for k in keys}, scp=str(tmp_scp))
        lines = Path(tmp_scp).read_text(encoding="utf-8").splitlines()
        with atomic_write(scp) as f:
            for line in lines:
                utt, _, loc = line.partition(" ")
                f.write(f"{utt} {ark.resolve()}:{loc.rsplit(':', 1)[1]}\n")
    (out_dir / ".feats.scp.raw").unlink(missing_ok=True)


@torch.no_grad()
def extract_durations(teacher: str | Path, data_dir: str | Path, dump_dir: str | Path, out_dir: str | Path, *,
                      focus_threshold: float = 0.3, batch_size: int = 16, n_plots: int = 4, kd: bool = False,
                      device: str = "auto", skip_bad: bool = False, seed: int = 0, monotonic: bool = False,
                      reference: str | Path | None = None, spk_embed: str | Path | None = None) -> ExtractionResult:
    """Write OUT/durations, OUT/focus_rates, OUT/filtered, OUT/attn/*.png (and OUT/kd/ with `kd`),
    and the duration-quality report: OUT/spread (``utt`` and the six numbers of
    :func:`~narspeech.tts.durations.quality.duration_quality`: within-token spread and boundary contrast of these
    durations, of an even split and of the durations shuffled) and
    OUT/quality.json; with `reference` (another durations file, e.g. `tts align`'s) also the boundary
    agreement with it.

    `monotonic`: read durations off the best monotonic path through the chosen head
    (:func:`monotonic_durations`) instead of the per-step argmax of FastSpeech. A multi-speaker teacher takes the
    set's speakers from its ``utt2spk`` (and `spk_embed`, else the teacher's speaker means)."""
    teacher, out_dir, dump_dir = Path(teacher), Path(out_dir), Path(dump_dir)
    exp_dir = exp_dir_of(teacher)
    dev = resolve_device(device)
    model, cfg = load_tts_model(teacher, dev)
    if cfg["model"].get("type") not in TEACHERS:
        raise NarspeechError(f"durations need an AR teacher ({' or '.join(TEACHERS)}), this is {cfg['model'].get('type')}",
                             path=teacher)
    tokens_path = exp_dir / "tokens.txt"
    token_list = TokenList(tokens_path)
    needs_f0 = bool(getattr(model, "needs_f0", False))  # teacher forcing on the recordings' F0 too
    ds = TTSDataset(data_dir, dump_dir, token_list, frame_f0=needs_f0, skip_bad=skip_bad,
                    speakers=speaker_inputs_for(cfg, exp_dir, data_dir, spk_embed))
    check_feature_match(ds.feature_config.to_dict(), cfg.get("feats", {}), dump_dir)
    r = model.r
    to_durations = monotonic_durations if monotonic else durations_from_attention
    torch.manual_seed(seed)  # the decoder prenet's dropout stays on: make the run repeatable
    order = sorted(range(len(ds)), key=lambda i: -ds.lengths[i])
    batches = [order[i: i + batch_size] for i in range(0, len(order), batch_size)]
    plot_utts = set(sorted(ds.utts)[:n_plots])
    durations, rates, heads, filtered, spread = {}, {}, {}, {}, {}
    kd_mels, kd_durations, kd_rates, kd_filtered = {}, {}, {}, {}
    n_heads = int(getattr(model, "n_heads", 0) or model.c["n_heads"])  # Tacotron 2: one attention
    for idx in progress(batches, desc="durations", unit="batch"):
        batch = collate([ds[i] for i in idx])
        utts = batch.pop("utts")
        batch = {k: v.to(dev) for k, v in batch.items()}
        tok, tl, ml = batch["tokens"], batch["token_lengths"], batch["mel_lengths"]
        with autocast(dev):
            out = model.teacher_forced(tok, tl, batch["mels"], ml, **({"f0": batch["f0"]} if needs_f0 else {}),
                                       **speaker_inputs(batch))
        a, fr, best = _best_head(out["attns"], out["steps"], tl)
        for b, utt in enumerate(utts):
            h = int(best[b])
            att = a[b, h, : int(out["steps"][b]), : int(tl[b])].cpu()
            rate = float(fr[b, h])
            rates[utt], heads[utt] = rate, divmod(h, n_heads)
            d = to_durations(att, int(ml[b]), r)
            spread[utt] = duration_quality(batch["mels"][b, : int(ml[b])].float().cpu(), d)
            if rate < focus_threshold:
                filtered[utt] = rate
            else:
                durations[utt] = d
            if utt in plot_utts:
                layer, head = divmod(h, n_heads)
                toks = token_list.decode(batch["tokens"][b, : int(tl[b])].tolist())
                fig = attention_figure(att.numpy(), f"{utt}  layer {layer} head {head}  focus rate {rate:.3f}", toks, d)
                save_figure(fig, out_dir / "attn" / f"{utt}.png")
        if kd:
            with autocast(dev):
                gen, gen_len = model.inference(tok, tl, **speaker_inputs(batch))
                out2 = model.teacher_forced(tok, tl, gen.float(), gen_len, **speaker_inputs(batch))
            a2, fr2, best2 = _best_head(out2["attns"], out2["steps"], tl)
            max_frames = (tl.float() * model.c["max_len_ratio"]).ceil().long()
            for b, utt in enumerate(utts):
                h = int(best2[b])
                n = int(gen_len[b])
                rate = float(fr2[b, h])
                kd_rates[utt] = rate
                if n >= int(max_frames[b]):
                    kd_filtered[utt] = f"{rate:.4f} no-stop"
                    continue
                if rate < focus_threshold:
                    kd_filtered[utt] = f"{rate:.4f}"
                    continue
                att = a2[b, h, : int(out2["steps"][b]), : int(tl[b])].cpu()
                kd_durations[utt] = to_durations(att, n, r)
                kd_mels[utt] = gen[b, :n].float().cpu().numpy()
    write_table(out_dir / "durations", {u: " ".join(map(str, d.tolist())) for u, d in durations.items()})
    write_table(out_dir / "focus_rates", {u: f"{v:.4f}" for u, v in rates.items()})
    write_table(out_dir / "filtered", {u: f"{v:.4f}" for u, v in filtered.items()})
    write_table(out_dir / "heads", {u: f"{l} {h}" for u, (l, h) in heads.items()})
    write_table(out_dir / "spread", {u: " ".join(f"{v:.4f}" for v in vals) for u, vals in spread.items()})
    if kd:
        kd_dir = out_dir / "kd"
        kd_dir.mkdir(parents=True, exist_ok=True)
        _write_ark(kd_dir, kd_mels)
        write_table(kd_dir / "utt2num_frames", {u: str(m.shape[0]) for u, m in kd_mels.items()})
        write_table(kd_dir / "durations", {u: " ".join(map(str, d.tolist())) for u, d in kd_durations.items()})
        write_table(kd_dir / "focus_rates", {u: f"{v:.4f}" for u, v in kd_rates.items()})
        write_table(kd_dir / "filtered", dict(kd_filtered))
    result = ExtractionResult(out_dir, rates, heads, filtered, ds.dropped, kd_rates, kd_filtered, spread=spread)
    if reference is not None:
        result.agreement = boundary_agreement(durations, read_durations(reference))
    with atomic_write(out_dir / "quality.json") as f:
        json.dump({**result.quality(), "reference_agreement": result.agreement}, f, indent=1)
    return result
