"""FastSpeech (Ren et al. 2019) and FastSpeech 2 (Ren et al. 2021).

Encoder: token embedding + positional encoding → feed-forward Transformer (FFT) blocks
(self-attention + 1-D conv FFN). Variance adaptor: duration predictor (trained on log(d+1)
with MSE); for FastSpeech 2 also token-level pitch and energy predictors whose targets (or, at
inference, predictions) are embedded into the hidden sequence. Length
regulator expands tokens to frames by their durations. Decoder: FFT blocks → linear to mels
(→ optional conv postnet). ``sentence_duration_weight`` > 0 adds PortaSpeech's sentence-level
duration loss (`narspeech.tts.models.losses.duration_loss`) against the log-domain loss's length bias.

Units and controls (``inference``):
* ``speed``: durations become ``round(d / speed)``, at least 1 for tokens that had a frame
  (`scale_durations`); speed 2 is about twice as fast.
* ``pitch_shift``: semitones; every token's F0 in Hz is multiplied by 2^(s/12) before
  renormalising and quantising.
* ``energy_scale``: multiplies each token's energy (L2 norm of the magnitude frame).

Pitch and energy targets are token averages in Hz / energy units (`narspeech.tts.dataset`),
normalised with the dump's stats (buffers). How a value enters the hidden sequence
(``variance_embedding``):

* ``conv`` (default, FastPitch, Łańcucki 2021): a 1-D convolution over the sequence of values
  (kernel ``variance_kernel``), a smooth function of the value. A predicted value near the truth
  gives a hidden vector near the one seen in training.
* ``bins`` (the FastSpeech 2 paper): the value is quantised into ``pitch_bins`` / ``energy_bins``
  uniform bins over ``pitch_range`` / ``energy_range`` standard deviations, each bin a free
  embedding vector. With fine bins neighbouring vectors are unrelated, so the decoder can read
  the mel off the *true* energy's bin in training (one bin off then doubles the mel error) and
  the predicted value at inference lands on a vector
  that means nothing: kept for comparison only.
"""
from __future__ import annotations


import torch
from torch import nn

from narspeech.nets.conv import Postnet, VariancePredictor
from narspeech.nets.masks import pad_mask
from narspeech.nets.positional import PositionalEncoding
from narspeech.nets.transformer import FFTBlock
from narspeech.nets.length_regulator import regulate_length, scale_durations
from narspeech.tts.models.losses import duration_loss, masked_l1, masked_mse
from narspeech.tts.models.options import model_options
from narspeech.tts.models.speaker import SPEAKER_DEFAULTS, SpeakerConditioning
from narspeech.tts.models.stats import PAD_LOG_MEL, FeatureStats


DEFAULTS = dict(
    d_model=256, n_heads=2, enc_layers=4, dec_layers=4, d_ff=1024, ffn_kernel=9, dropout=0.2, attn_dropout=0.2,
    predictor_channels=256, predictor_kernel=3, predictor_dropout=0.5,
    variance_embedding="conv", variance_kernel=3,
    pitch_bins=256, energy_bins=256, pitch_range=[-4.0, 4.0], energy_range=[-4.0, 4.0],
    postnet_layers=0, postnet_channels=256, postnet_kernel=5, postnet_dropout=0.5,
    duration_weight=1.0, sentence_duration_weight=0.0, pitch_weight=1.0, energy_weight=1.0,
    **SPEAKER_DEFAULTS,
)


class FastSpeech(nn.Module):
    """FastSpeech (``variance=False``) or FastSpeech 2 (``variance=True``).

    ``forward(batch) -> (loss, stats)`` with batch keys tokens, token_lengths, mels, mel_lengths,
    durations and, for FastSpeech 2, pitch and energy (token level, Hz / energy units); a multi-speaker
    model (``spks``, ``spk_embed_dim``: :mod:`narspeech.tts.models.speaker`) also sids and/or spembs.
    ``inference(tokens, token_lengths, speed=, pitch_shift=, energy_scale=) -> (mels, lengths)``.
    """

    def __init__(self, n_tokens: int, n_mels: int, stats: dict | None = None, variance: bool = True, **cfg):
        super().__init__()
        c = model_options(cfg, DEFAULTS, "fastspeech")
        self.c, self.n_mels, self.variance = c, n_mels, variance
        d = c["d_model"]
        self.stats = FeatureStats(n_mels, stats)
        self.embed = nn.Embedding(n_tokens, d, padding_idx=0)
        self.enc_pos = PositionalEncoding(d, c["dropout"], scaled=False)
        self.encoder = nn.ModuleList(FFTBlock(d, c["n_heads"], c["d_ff"], c["ffn_kernel"], c["dropout"], c["attn_dropout"])
                                     for _ in range(c["enc_layers"]))
        self.enc_norm = nn.LayerNorm(d)
        self.speaker = SpeakerConditioning(d, c["spks"], c["spk_embed_dim"], c["spk_embed_integration"])
        pred = lambda: VariancePredictor(d, c["predictor_channels"], c["predictor_kernel"], 2, c["predictor_dropout"])  # noqa: E731
        self.duration_predictor = pred()
        if variance:
            self.pitch_predictor, self.energy_predictor = pred(), pred()
            if c["variance_embedding"] == "bins":
                self.register_buffer("pitch_bins", torch.linspace(*map(float, c["pitch_range"]), c["pitch_bins"] - 1))
                self.register_buffer("energy_bins", torch.linspace(*map(float, c["energy_range"]), c["energy_bins"] - 1))
                self.pitch_embed = nn.Embedding(c["pitch_bins"], d)
                self.energy_embed = nn.Embedding(c["energy_bins"], d)
            elif c["variance_embedding"] == "conv":
                k = int(c["variance_kernel"])
                self.pitch_embed = nn.Conv1d(1, d, k, padding=k // 2)
                self.energy_embed = nn.Conv1d(1, d, k, padding=k // 2)
            else:
                raise ValueError(f"variance_embedding must be conv or bins, got {c['variance_embedding']!r}")
        self.dec_pos = PositionalEncoding(d, c["dropout"], scaled=False)
        self.decoder = nn.ModuleList(FFTBlock(d, c["n_heads"], c["d_ff"], c["ffn_kernel"], c["dropout"], c["attn_dropout"])
                                     for _ in range(c["dec_layers"]))
        self.dec_norm = nn.LayerNorm(d)
        self.mel_out = nn.Linear(d, n_mels)
        self.postnet = Postnet(n_mels, c["postnet_channels"], c["postnet_layers"], c["postnet_kernel"], c["postnet_dropout"]) \
            if c["postnet_layers"] > 0 else None

    # -- pieces ---------------------------------------------------------------------------------
    def encode(self, tokens: torch.Tensor, token_lengths: torch.Tensor, sids: torch.Tensor | None = None,
               spembs: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Encoder output with the speaker added (multi-speaker models) → (x (B, N, d), padding mask)."""
        pad = pad_mask(token_lengths, tokens.size(1))
        x = self.enc_pos(self.embed(tokens))
        for layer in self.encoder:
            x, _ = layer(x, pad)
        x = self.speaker(self.enc_norm(x), sids, spembs)
        return x.masked_fill(pad[..., None], 0.0), pad

    def norm_pitch(self, hz: torch.Tensor) -> torch.Tensor:
        return (hz - self.stats.f0_mean) / self.stats.f0_std

    def norm_energy(self, e: torch.Tensor) -> torch.Tensor:
        return (e - self.stats.energy_mean) / self.stats.energy_std

    def embed_variance(self, kind: str, value: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """Hidden vectors (B, N, d) for normalised token values (B, N) of `kind` pitch | energy."""
        table = self.pitch_embed if kind == "pitch" else self.energy_embed
        if self.c["variance_embedding"] == "bins":
            return table(torch.bucketize(value.float(), self.pitch_bins if kind == "pitch" else self.energy_bins))
        v = value.float().masked_fill(~valid, 0.0)[:, None]  # padding does not leak into the conv
        return table(v.to(table.weight.dtype)).transpose(1, 2)

    def _variance(self, x: torch.Tensor, valid: torch.Tensor, pitch: torch.Tensor | None, energy: torch.Tensor | None):
        """Predict normalised pitch/energy; add embeddings of the targets (training) or predictions."""
        p_pred = self.pitch_predictor(x, valid)
        p = p_pred.detach() if pitch is None else pitch
        x = x + self.embed_variance("pitch", p, valid)
        e_pred = self.energy_predictor(x, valid)
        e = e_pred.detach() if energy is None else energy
        x = x + self.embed_variance("energy", e, valid)
        return x.masked_fill(~valid[..., None], 0.0), p_pred, e_pred

    def decode(self, h: torch.Tensor, mel_lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        pad = pad_mask(mel_lengths, h.size(1))
        x = self.dec_pos(h)
        for layer in self.decoder:
            x, _ = layer(x, pad)
        before = self.mel_out(self.dec_norm(x))
        after = self.postnet(before, ~pad) if self.postnet is not None else before
        return before, after

    # -- training -------------------------------------------------------------------------------
    def forward(self, batch: dict) -> tuple[torch.Tensor, dict]:
        c = self.c
        tokens, tl, dur = batch["tokens"], batch["token_lengths"], batch["durations"]
        x, tpad = self.encode(tokens, tl, batch.get("sids"), batch.get("spembs"))
        valid = ~tpad
        logd_pred = self.duration_predictor(x, valid)
        stats = {}
        loss_var = x.new_zeros(())
        if self.variance:
            p_tgt, e_tgt = self.norm_pitch(batch["pitch"]), self.norm_energy(batch["energy"])
            x, p_pred, e_pred = self._variance(x, valid, p_tgt, e_tgt)
            pe_mask = valid & (dur > 0)  # zero-length tokens have no frames to average
            lp, le = masked_mse(p_pred, p_tgt, pe_mask), masked_mse(e_pred, e_tgt, pe_mask)
            loss_var = c["pitch_weight"] * lp + c["energy_weight"] * le
            stats.update(pitch=lp.detach(), energy=le.detach())
        h, _ = regulate_length(x, dur, batch["mels"].size(1))
        before, after = self.decode(h, batch["mel_lengths"])
        y = self.stats.norm_mel(batch["mels"])
        fmask = ~pad_mask(batch["mel_lengths"], y.size(1))
        l_mel = masked_l1(before, y, fmask)
        if self.postnet is not None:
            l_mel = l_mel + masked_l1(after, y, fmask)
        ld, lsd = duration_loss(logd_pred, dur, valid, c["sentence_duration_weight"])
        loss = l_mel + c["duration_weight"] * ld + c["sentence_duration_weight"] * lsd + loss_var
        stats.update(mel_l1=l_mel.detach(), duration=ld.detach(), loss=loss.detach())
        if c["sentence_duration_weight"] > 0:
            stats["sentence_duration"] = lsd.detach()
        return loss, stats

    # -- synthesis ------------------------------------------------------------------------------
    def predict_durations(self, logd: torch.Tensor, valid: torch.Tensor, speed: float = 1.0) -> torch.Tensor:
        d = torch.round(torch.exp(logd.float()) - 1.0).clamp(min=0).long().masked_fill(~valid, 0)
        d = scale_durations(d, speed)
        empty = d.sum(1) == 0  # never return a zero-length utterance
        if bool(empty.any()):
            d[empty, 0] = 1
        return d

    @torch.no_grad()
    def inference(self, tokens: torch.Tensor, token_lengths: torch.Tensor, *, speed: float = 1.0, pitch_shift: float = 0.0,
                  energy_scale: float = 1.0, durations: torch.Tensor | None = None, return_durations: bool = False,
                  sids: torch.Tensor | None = None, spembs: torch.Tensor | None = None):
        """Parallel synthesis -> (denormalised log-mels (B, T, n_mels), lengths (B,)); pass `durations` to
        force them (e.g. the teacher's), `return_durations` to also get the ones used; `sids` (B,) and/or
        `spembs` (B, spk_embed_dim) for a multi-speaker model."""
        x, tpad = self.encode(tokens, token_lengths, sids, spembs)
        valid = ~tpad
        logd = self.duration_predictor(x, valid)
        if self.variance:
            p = self.pitch_predictor(x, valid)
            if pitch_shift:
                hz = (p * self.stats.f0_std + self.stats.f0_mean) * (2.0 ** (pitch_shift / 12.0))
                p = self.norm_pitch(hz)
            x = x + self.embed_variance("pitch", p, valid)
            e = self.energy_predictor(x, valid)
            if energy_scale != 1.0:
                e = self.norm_energy((e * self.stats.energy_std + self.stats.energy_mean) * energy_scale)
            x = (x + self.embed_variance("energy", e, valid)).masked_fill(tpad[..., None], 0.0)
        d = self.predict_durations(logd, valid, speed) if durations is None else scale_durations(durations.long(), speed)
        h, lengths = regulate_length(x, d)
        _, after = self.decode(h, lengths)
        fmask = ~pad_mask(lengths, after.size(1))
        mels = self.stats.denorm_mel(after).masked_fill(~fmask[..., None], PAD_LOG_MEL)
        return (mels, lengths, d) if return_durations else (mels, lengths)
