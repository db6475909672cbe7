"""Train or fine-tune HiFi-GAN through the engine: mel L1 (×45) + feature matching + LSGAN.

* The generator is a HiFi-GAN (``vocoder.generator: v1|v2|v3``) or the frame-rate iSTFT generator
  (``istft``, :mod:`narspeech.vocoder.istft`). ``adversarial: false`` drops the discriminators and
  trains the generator alone on spectral losses (mel L1 + ``lambda_stft`` × multi-resolution STFT,
  :mod:`narspeech.vocoder.stft_loss`): no GAN, far fewer FLOPs per step, the CPU route.

* Data: a data dir (``wav.scp``) resampled to the feature rate; mels computed from the audio, or
  read from a dump (``--mels DUMP``: e.g. FastSpeech 2's ground-truth-aligned mels, ESPnet's
  fine-tuning recipe), which must have the audio's frame count.
* :class:`HifiganGAN` is a :class:`~narspeech.train.protocols.MultiOptimizerModel` with two groups,
  ``discriminator`` (MPD + MSD) then ``generator``, the order of the released training loop:
  the discriminator phase crops random ``segment_frames`` windows (torch's global RNG, which
  the engine checkpoints: a resumed run crops the same windows), runs the generator once and
  keeps its output for the generator phase, which scores it against the *updated* discriminators.
* Targets follow the released generators' framing (output lags narspeech frames by hop/2, see
  :mod:`narspeech.vocoder.neural`), so fine-tuning from ``hifigan:universal`` starts aligned.
* Validation: mel L1 of whole utterances (``mel_l1``, the best-checkpoint metric).
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from narspeech.audio.dump import read_dump
from narspeech.audio.features import FeatureConfig, log_mel, mel_filterbank, stft_window
from narspeech.audio.io import audio_info, guess_base, load_audio, resolve_entry
from narspeech.config import merge
from narspeech.errors import NarspeechError
from narspeech.fileio import read_table
from narspeech.train.checkpoint import locks_exp
from narspeech.train.engine import fit
from narspeech.train.rng import seed_everything
from narspeech.vocoder.base import check_features, feature_mismatch
from narspeech.vocoder.hifigan import (
    Generator,
    MultiPeriodDiscriminator,
    MultiScaleDiscriminator,
    discriminator_loss,
    feature_matching_loss,
    generator_adv_loss,
    load_generator_state,
)
from narspeech.vocoder.istft import IstftGenerator, is_istft
from narspeech.vocoder.neural import OUTPUT_DELAY
from narspeech.vocoder.pretrained import hifigan_features, load_generator
from narspeech.vocoder.stft_loss import MultiResolutionStftLoss

VOCODER_DEFAULTS = {
    "generator": "v1",  # v1 | v2 | v3 | {preset: v1, upsample_initial_channel: …}
    "init": None,  # hifigan:universal | hifigan:ljspeech | a checkpoint: start the generator from these weights
    "segment_frames": 32,  # 8192 samples at hop 256, as released
    "lambda_mel": 45.0,
    "lambda_fm": 1.0,  # on top of feature matching's own factor 2
    "loss_fmax": None,  # mel loss band top (Hz); None = sample_rate / 2 as released
    "periods": [2, 3, 5, 7, 11],
    "discriminator_width": 1.0,  # channel scale of MPD and MSD (1 = released; small for tests and smoke runs)
    "adversarial": True,  # false: no discriminators, the generator alone on mel L1 + lambda_stft x multi-resolution STFT
    "lambda_stft": 0.0,  # multi-resolution STFT loss (spectral convergence + log magnitude)
    "cache_audio": False,  # keep every (waveform, mel) in memory after its first read (small corpora, CPU runs)
}

TRAIN_PRESET = {  # the released recipe (AdamW 2e-4, betas 0.8/0.99; no clipping), constant lr
    "optim": {"name": "adamw", "lr": 2.0e-4, "betas": [0.8, 0.99], "eps": 1.0e-9, "weight_decay": 0.01},
    "scheduler": {"name": "constant"},
    "grad_clip": 0.0,
    "best_metric": "mel_l1",
    "max_batch_size": 16,
    "batch_bins": 100000,
}


class VocoderDataset(torch.utils.data.Dataset):
    """(waveform at the feature rate, log-mel (T, n_mels)) per utterance of a data dir."""

    def __init__(self, data_dir: str | Path, feature_config: FeatureConfig, *, mels: str | Path | None = None,
                 base: str | Path | None = None, limit: int | None = None, cache: bool = False):
        self.data_dir, self.cfg = Path(data_dir), feature_config
        scp = read_table(self.data_dir / "wav.scp")
        self.base = Path(base) if base is not None else guess_base(self.data_dir, scp)
        self.dump = None
        if mels is not None:
            self.dump = read_dump(mels)

            diff = feature_mismatch(self.dump.config, feature_config)
            if diff:
                raise NarspeechError(f"the mels' feature config differs from the vocoder's: {', '.join(diff)}", path=mels)
            missing = [u for u in scp if u not in self.dump.num_frames]
            if missing:
                raise NarspeechError(f"{len(missing)} utterances of {self.data_dir} have no mel in the dump (e.g. {missing[0]})", path=mels)
        self.utts = list(scp)[:limit] if limit else list(scp)
        self.entries = [resolve_entry(scp[u], self.base) for u in self.utts]
        if self.dump is not None:
            self.lengths = [int(self.dump.num_frames[u]) for u in self.utts]
        else:
            self.lengths = [feature_config.num_frames(int(audio_info(e, utt=u)[1] * feature_config.sample_rate))
                            for u, e in zip(self.utts, self.entries)]
        self.keys = self.utts
        self.cache: dict[int, tuple[torch.Tensor, torch.Tensor]] | None = {} if cache else None

    def __len__(self) -> int:
        return len(self.utts)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        if self.cache is not None and i in self.cache:
            return self.cache[i]
        item = self._read(i)
        if self.cache is not None:
            self.cache[i] = item
        return item

    def _read(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        utt = self.utts[i]
        wav, _ = load_audio(self.entries[i], utt=utt, target_sr=self.cfg.sample_rate)
        wav = torch.from_numpy(np.ascontiguousarray(wav, dtype=np.float32))
        if self.dump is not None:
            mel = torch.from_numpy(np.asarray(self.dump.feats[utt], dtype=np.float32))
            if abs(len(mel) - self.cfg.num_frames(len(wav))) > 1:
                raise NarspeechError(f"dump mel has {len(mel)} frames, the audio {self.cfg.num_frames(len(wav))}", utt=utt)
        else:
            mel = log_mel(wav, self.cfg)
        if not torch.isfinite(mel).all():
            raise NarspeechError("mel contains NaN or inf", utt=utt)
        return wav, mel


def vocoder_collate(items: list[tuple[torch.Tensor, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Pad waveforms with zeros and mels with the log floor (-11.5129…)."""
    wav_len = torch.tensor([len(w) for w, _ in items])
    mel_len = torch.tensor([len(m) for _, m in items])
    wav = torch.zeros(len(items), int(wav_len.max()))
    mel = torch.full((len(items), int(mel_len.max()), items[0][1].shape[1]), math.log(1e-5))
    for i, (w, m) in enumerate(items):
        wav[i, : len(w)], mel[i, : len(m)] = w, m
    return {"wav": wav, "wav_lengths": wav_len, "mel": mel, "mel_lengths": mel_len}


class HifiganGAN(nn.Module):
    """Generator + multi-period + multi-scale discriminators, trained in two phases by the engine."""

    def __init__(self, feature_config: FeatureConfig, options: dict | None = None):
        super().__init__()
        o = {**VOCODER_DEFAULTS, **(options or {})}
        unknown = sorted(set(o) - set(VOCODER_DEFAULTS))
        if unknown:
            raise NarspeechError(f"unknown vocoder option(s) {', '.join(unknown)}; known: {', '.join(VOCODER_DEFAULTS)}")
        self.options = o
        self.cfg = feature_config
        self.generator = IstftGenerator(o["generator"]) if is_istft(o["generator"]) else Generator(o["generator"])
        if self.generator.hop_length != feature_config.hop_length:
            raise NarspeechError(f"the generator upsamples by {self.generator.hop_length} but the features' hop is {feature_config.hop_length}")
        self.adversarial = bool(o["adversarial"])
        if self.adversarial:
            width = float(o["discriminator_width"])
            self.mpd = MultiPeriodDiscriminator(tuple(int(p) for p in o["periods"]), width=width)
            self.msd = MultiScaleDiscriminator(width=width)
        self.stft_loss = MultiResolutionStftLoss() if float(o["lambda_stft"]) > 0 else None
        self.segment = int(o["segment_frames"])
        self.hop = feature_config.hop_length
        self.delay = int(self.hop * getattr(self.generator, "output_delay", OUTPUT_DELAY))
        fmax = o["loss_fmax"] or feature_config.sample_rate / 2
        self.loss_cfg = feature_config.replace(fmax=float(fmax))

        self.register_buffer("loss_fb", mel_filterbank(self.loss_cfg), persistent=False)
        self.register_buffer("loss_window", stft_window(self.loss_cfg), persistent=False)
        self._cache: tuple[int, torch.Tensor] | None = None

    def optimizer_groups(self) -> dict[str, list[nn.Parameter]]:
        if not self.adversarial:
            return {"generator": list(self.generator.parameters())}
        return {"discriminator": list(self.mpd.parameters()) + list(self.msd.parameters()),
                "generator": list(self.generator.parameters())}

    # ------------------------------------------------------------------ pieces
    def _loss_mel(self, wav: torch.Tensor) -> torch.Tensor:
        """(B, N) → (B, T, n_mels) log-mel for the loss: |STFT| = sqrt(re² + im² + 1e-9) (finite gradient at 0)."""
        c = self.loss_cfg
        with torch.autocast(wav.device.type, enabled=False):
            spec = torch.stft(wav.float(), c.n_fft, c.hop_length, c.win_length, self.loss_window, center=True, pad_mode="reflect",
                              return_complex=True)
            mag = torch.sqrt(spec.real.square() + spec.imag.square() + 1e-9)
            return torch.log(torch.clamp(mag.transpose(1, 2) @ self.loss_fb.t(), min=c.mel_floor))

    def _segments(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        """(mel (B, n_mels, S), target wav (B, 1, S·hop)): random windows, drawn once per batch."""
        if "_starts" not in batch:
            room = (batch["mel_lengths"].cpu() - self.segment).clamp(min=0)
            batch["_starts"] = (torch.rand(len(room)) * (room + 1)).long().clamp(max=room)  # global RNG: resumable
        starts = batch["_starts"].tolist()
        s, hop = self.segment, self.hop
        wav = F.pad(batch["wav"], (self.delay, s * hop))  # released framing: the output lags by hop/2
        mel = F.pad(batch["mel"], (0, 0, 0, s), value=math.log(self.cfg.mel_floor))
        mels = torch.stack([mel[i, a : a + s] for i, a in enumerate(starts)]).transpose(1, 2)
        wavs = torch.stack([wav[i, a * hop : (a + s) * hop] for i, a in enumerate(starts)])[:, None]  # zero-padded past the end
        return mels, wavs

    def _fake(self, batch: dict, mels: torch.Tensor) -> torch.Tensor:
        if self._cache is not None and self._cache[0] == id(batch):
            y_hat = self._cache[1]
            self._cache = None
            return y_hat
        return self.generator(mels)

    # ------------------------------------------------------------------ phases
    def forward(self, batch: dict, phase: str | None = None) -> tuple[torch.Tensor, dict]:
        if phase is None:
            return self._validation_loss(batch)
        mels, y = self._segments(batch)
        if phase == "discriminator":
            y_hat = self.generator(mels)
            self._cache = (id(batch), y_hat)
            y_d = y_hat.detach()
            mp_r, _ = self.mpd(y)
            mp_g, _ = self.mpd(y_d)
            ms_r, _ = self.msd(y)
            ms_g, _ = self.msd(y_d)
            loss_mpd, loss_msd = discriminator_loss(mp_r, mp_g), discriminator_loss(ms_r, ms_g)
            loss = loss_mpd + loss_msd
            return loss, {"d_mpd": loss_mpd.detach(), "d_msd": loss_msd.detach()}
        if phase == "generator":
            y_hat = self._fake(batch, mels)
            mel_l1 = F.l1_loss(self._loss_mel(y_hat[:, 0]), self._loss_mel(y[:, 0]))
            o = self.options
            stats = {"mel_l1": mel_l1.detach()}
            loss = float(o["lambda_mel"]) * mel_l1
            if self.stft_loss is not None:
                stft = self.stft_loss(y_hat[:, 0], y[:, 0])
                loss = loss + float(o["lambda_stft"]) * stft
                stats["stft"] = stft.detach()
            if not self.adversarial:
                return loss, stats
            mp_r, fm_r = self.mpd(y)
            mp_g, fm_g = self.mpd(y_hat)
            ms_r, fs_r = self.msd(y)
            ms_g, fs_g = self.msd(y_hat)
            fm = feature_matching_loss(fm_r, fm_g) + feature_matching_loss(fs_r, fs_g)
            adv = generator_adv_loss(mp_g) + generator_adv_loss(ms_g)
            loss = loss + adv + float(o["lambda_fm"]) * fm
            return loss, {**stats, "g_fm": fm.detach(), "g_adv": adv.detach()}
        raise ValueError(f"unknown phase {phase!r}")

    def _validation_loss(self, batch: dict) -> tuple[torch.Tensor, dict]:
        """Mel L1 over each whole utterance's real frames (generator only)."""
        lens = batch["mel_lengths"]
        extra = self.generator.context_frames()
        mel = F.pad(batch["mel"], (0, 0, 0, extra), value=math.log(self.cfg.mel_floor)).transpose(1, 2)
        y_hat = self.generator(mel)[:, 0, self.delay :]
        n = (lens - 1).clamp(min=1) * self.hop
        y_hat = y_hat[:, : int(n.max())] * (torch.arange(int(n.max()), device=y_hat.device)[None] < n[:, None])
        ref = batch["wav"][:, : int(n.max())]
        ref = F.pad(ref, (0, int(n.max()) - ref.shape[1]))
        a, b = log_mel(y_hat.float(), self.loss_cfg, n), log_mel(ref.float(), self.loss_cfg, n)
        frames = 1 + n // self.hop
        mask = (torch.arange(a.shape[1], device=a.device)[None] < frames[:, None]).unsqueeze(-1)
        mel_l1 = ((a - b).abs() * mask).sum() / (mask.sum() * a.shape[-1])
        return mel_l1, {"mel_l1": mel_l1.detach()}


def build_gan(cfg: dict) -> HifiganGAN:
    """The model of a vocoder config (``feats`` + ``vocoder`` sections), generator initialised from ``vocoder.init``."""
    fcfg = FeatureConfig.from_dict(cfg["feats"])
    model = HifiganGAN(fcfg, cfg.get("vocoder") or {})
    init = (cfg.get("vocoder") or {}).get("init")
    if init:
        if is_istft(model.options["generator"]):
            raise NarspeechError("vocoder.init: the iSTFT generator starts from scratch (released weights are HiFi-GAN's)")

        gen, own, info = load_generator(init, generator=model.options["generator"])
        check_features(fcfg, own, info["name"])
        load_generator_state(model.generator, gen.state_dict(), source=str(init))
    return model


@locks_exp()
def train_vocoder(cfg: dict, *, train_data: str | Path, exp: str | Path, valid_data: str | Path | None = None,
                  mels: str | Path | None = None, valid_mels: str | Path | None = None, resume: bool = False,
                  device: str | None = None, limit: int | None = None) -> Path:
    """Train HiFi-GAN on `train_data` (optionally on dumped mels) into `exp`; return the best checkpoint path."""
    cfg = merge({"train": TRAIN_PRESET, "vocoder": VOCODER_DEFAULTS, "feats": hifigan_features().to_dict()}, cfg or {})
    cfg["feats"] = FeatureConfig.from_dict(cfg["feats"]).to_dict()
    if device is not None:
        cfg["train"]["device"] = device
    seed_everything(int(cfg["train"].get("seed", 1)))
    model = build_gan(cfg)
    fcfg = model.cfg
    cache = bool(model.options["cache_audio"])
    train_set = VocoderDataset(train_data, fcfg, mels=mels, limit=limit, cache=cache)
    valid_set = VocoderDataset(valid_data, fcfg, mels=valid_mels, limit=limit, cache=cache) if valid_data is not None else None
    return fit(cfg, model, train_set, valid_set, vocoder_collate, exp, resume=resume)
