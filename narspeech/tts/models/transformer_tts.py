"""Transformer-TTS (Li et al. 2019), the autoregressive teacher.

Text side: token embedding → conv prenet → scaled positional encoding → encoder layers.
Mel side: previous frame → 2-FC prenet (dropout always on) → scaled positional encoding →
decoder layers (causal self-attention + encoder-decoder attention whose per-head weights are
returned) → linear to `r` mel frames and `r` stop logits per step → 5-layer conv postnet.

Losses: L1 + L2 on the mel before and after the postnet, stop-token BCE with a positive
weight, and the guided-attention loss (Tachibana et al. 2017) on the first heads of the last
decoder layers, which makes the alignment appear within a few hundred steps on small data.
The diagonal prior is only a prior (a pause or a slow word is off the diagonal): with
``guided_attn_halflife`` H > 0 its weight halves every H training batches, down to
``guided_attn_min_weight``, so the attention follows the audio once it has found its way.
Targets are normalised with the dump statistics kept as buffers; `inference` returns
denormalised log-mels.
"""
from __future__ import annotations


import torch
from torch import nn

from narspeech.nets.conv import DecoderPrenet, EncoderPrenet
from narspeech.nets.masks import causal_mask, pad_mask
from narspeech.nets.positional import PositionalEncoding
from narspeech.nets.transformer import DecoderLayer, EncoderLayer, decode_last
from narspeech.tts.models.ar_teacher import ARTeacher
from narspeech.tts.models.losses import guided_attention_loss
from narspeech.tts.models.options import model_options
from narspeech.tts.models.speaker import SPEAKER_DEFAULTS, SpeakerConditioning
from narspeech.tts.models.stats import FeatureStats


DEFAULTS = dict(
    d_model=256, n_heads=4, enc_layers=4, dec_layers=4, d_ff=1024, dropout=0.1, attn_dropout=0.1,
    d_emb=256, enc_prenet_layers=3, enc_prenet_kernel=5, enc_prenet_dropout=0.5,
    dec_prenet_units=256, dec_prenet_layers=2, dec_prenet_dropout=0.5,
    postnet_layers=5, postnet_channels=256, postnet_kernel=5, postnet_dropout=0.5,
    reduction_factor=2, stop_pos_weight=5.0, use_l2=True,
    guided_attn_sigma=0.2, guided_attn_weight=10.0, guided_attn_layers=2, guided_attn_heads=2,
    guided_attn_halflife=0, guided_attn_min_weight=0.0,
    stop_threshold=0.5, max_len_ratio=20.0, min_len_ratio=0.0,
    **SPEAKER_DEFAULTS,
)


class TransformerTTS(ARTeacher):
    """AR teacher. ``forward(batch) -> (loss, stats)``; ``inference(tokens, lengths) -> (mels, lengths)``;
    ``teacher_forced(tokens, token_lengths, mels, mel_lengths)`` gives all encoder-decoder attentions."""

    def __init__(self, n_tokens: int, n_mels: int, stats: dict | None = None, **cfg):
        super().__init__()
        c = model_options(cfg, DEFAULTS, "transformer_tts")
        self.c, self.n_mels, self.r = c, n_mels, int(c["reduction_factor"])
        d = c["d_model"]
        self.stats = FeatureStats(n_mels, stats)
        self.enc_prenet = EncoderPrenet(n_tokens, c["d_emb"], d, c["enc_prenet_layers"], c["enc_prenet_kernel"], c["enc_prenet_dropout"])
        self.enc_pos = PositionalEncoding(d, c["dropout"], scaled=True)
        self.encoder = nn.ModuleList(EncoderLayer(d, c["n_heads"], c["d_ff"], 1, c["dropout"], c["attn_dropout"])
                                     for _ in range(c["enc_layers"]))
        self.enc_norm = nn.LayerNorm(d)
        self.speaker = SpeakerConditioning(d, c["spks"], c["spk_embed_dim"], c["spk_embed_integration"])
        self.dec_prenet = DecoderPrenet(n_mels, c["dec_prenet_units"], d, c["dec_prenet_layers"], c["dec_prenet_dropout"])
        self.dec_pos = PositionalEncoding(d, c["dropout"], scaled=True)
        self.decoder = nn.ModuleList(DecoderLayer(d, c["n_heads"], c["d_ff"], c["dropout"], c["attn_dropout"])
                                     for _ in range(c["dec_layers"]))
        self.dec_norm = nn.LayerNorm(d)
        self.mel_out = nn.Linear(d, n_mels * self.r)
        self.stop_out = nn.Linear(d, self.r)
        self._init_postnet_and_counter(n_mels)

    # -- building blocks -------------------------------------------------------------------
    def encode(self, tokens: torch.Tensor, token_lengths: torch.Tensor, sids: torch.Tensor | None = None,
               spembs: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        pad = pad_mask(token_lengths, tokens.size(1))
        x = self.enc_pos(self.enc_prenet(tokens, ~pad))
        for layer in self.encoder:
            x, _ = layer(x, pad)
        x = self.enc_norm(x)
        return self._with_speaker(x, pad, sids, spembs), pad

    def decode(self, dec_in: torch.Tensor, memory: torch.Tensor, memory_pad: torch.Tensor,
               step_pad: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
        """dec_in (B, S, n_mels) normalised previous frames -> (mel (B, S·r, n_mels), stop (B, S·r), [attn (B,H,S,N)] per layer)."""
        b, s = dec_in.shape[:2]
        x = self.dec_pos(self.dec_prenet(dec_in))
        causal = causal_mask(s, dec_in.device)
        attns = []
        for layer in self.decoder:
            x, w = layer(x, memory, causal, memory_pad, step_pad)
            attns.append(w)
        x = self.dec_norm(x)
        mel = self.mel_out(x).view(b, s * self.r, self.n_mels)
        stop = self.stop_out(x).reshape(b, s * self.r)
        return mel, stop, attns

    def teacher_forced(self, tokens: torch.Tensor, token_lengths: torch.Tensor, mels: torch.Tensor,
                       mel_lengths: torch.Tensor, sids: torch.Tensor | None = None,
                       spembs: torch.Tensor | None = None) -> dict[str, torch.Tensor | list]:
        """Run on ground-truth (denormalised) mels. Returns normalised target `y`, `before`, `after`,
        `stop` logits (all at frame rate, S·r frames), `attns` (per layer (B,H,S,N)), `steps` (B,).
        `sids` / `spembs`: the speakers of a multi-speaker teacher."""
        y = self.stats.norm_mel(mels)
        y = y.masked_fill(pad_mask(mel_lengths, y.size(1))[..., None], 0.0)
        memory, mpad = self.encode(tokens, token_lengths, sids, spembs)
        dec_in, s = self._decoder_inputs(y)
        steps = torch.div(mel_lengths + self.r - 1, self.r, rounding_mode="floor")
        before, stop, attns = self.decode(dec_in, memory, mpad, pad_mask(steps, s))
        frame_mask = ~pad_mask(mel_lengths, before.size(1))
        after = self.postnet(before, frame_mask) if self.postnet is not None else before
        if y.size(1) < before.size(1):
            y = nn.functional.pad(y, (0, 0, 0, before.size(1) - y.size(1)))
        return dict(y=y, before=before, after=after, stop=stop, attns=attns, steps=steps, frame_mask=frame_mask)

    # -- training ----------------------------------------------------------------------------
    def attention_loss(self, out: dict, batch: dict) -> torch.Tensor | None:
        c = self.c
        if c["guided_attn_layers"] <= 0:
            return None
        chosen = out["attns"][-int(c["guided_attn_layers"]):]
        attn = torch.cat([a[:, : int(c["guided_attn_heads"])] for a in chosen], dim=1)
        return guided_attention_loss(attn, out["steps"], batch["token_lengths"], c["guided_attn_sigma"])

    # -- free-running synthesis ---------------------------------------------------------------
    def decode_step(self, frame: torch.Tensor, step: int, memory: torch.Tensor, memory_pad: torch.Tensor,
                    cache: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
        """One incremental decoder step: `frame` (B, n_mels) is the previous normalised frame; `cache`
        holds each layer's inputs at the earlier steps (updated in place). Returns (mel (B, r, n_mels),
        stop logits (B, r), [cross weights (B, H, 1, N)] per layer)."""
        x = self.dec_pos(self.dec_prenet(frame[:, None]), offset=step)
        x, attns = decode_last(self.decoder, x, cache, memory, memory_pad)
        x = self.dec_norm(x)
        return self.mel_out(x).view(-1, self.r, self.n_mels), self.stop_out(x).view(-1, self.r), attns

    @torch.no_grad()
    def inference(self, tokens: torch.Tensor, token_lengths: torch.Tensor, *, speed: float = 1.0, pitch_shift: float = 0.0,
                  energy_scale: float = 1.0, max_len_ratio: float | None = None, stop_threshold: float | None = None,
                  return_attention: bool = False, sids: torch.Tensor | None = None, spembs: torch.Tensor | None = None):
        """Autoregressive decoding, batched, with cached decoder states, until the stop token fires
        (sigmoid > threshold) or ``max_len_ratio × tokens`` frames. The NAR controls (speed, pitch,
        energy) are ignored. Returns denormalised (mels (B, T, n_mels), mel_lengths); with
        `return_attention`, also the per-layer cross-attentions (B, H, steps, N)."""
        c = self.c
        ratio = c["max_len_ratio"] if max_len_ratio is None else max_len_ratio
        thr = c["stop_threshold"] if stop_threshold is None else stop_threshold
        b, dev = tokens.size(0), tokens.device
        memory, mpad = self.encode(tokens, token_lengths, sids, spembs)
        max_frames = (token_lengths.float() * ratio).ceil().long().clamp(min=self.r)
        min_frames = (token_lengths.float() * c["min_len_ratio"]).floor().long()
        max_steps = int(-(-int(max_frames.max()) // self.r))
        frame = memory.new_zeros(b, self.n_mels)
        lengths = torch.zeros(b, dtype=torch.long, device=dev)
        done = torch.zeros(b, dtype=torch.bool, device=dev)
        cache: list = [None] * len(self.decoder)
        mels, attns = [], []
        for step in range(max_steps):
            mel, stop, w = self.decode_step(frame, step, memory, mpad, cache)
            mels.append(mel)
            if return_attention:
                attns.append(w)
            probs = torch.sigmoid(stop.float())
            frame_idx = step * self.r + torch.arange(self.r, device=dev)[None]
            fire = ((probs > thr) & (frame_idx >= min_frames[:, None])) | (frame_idx >= (max_frames[:, None] - 1))
            lengths, done = self._stop_frames(fire, step, lengths, done)
            if bool(done.all()):
                break
            frame = mel[:, -1]
        out, lengths = self._finish_inference(mels, lengths, done)
        if return_attention:
            return out, lengths, [torch.cat([a[i] for a in attns], dim=2) for i in range(len(self.decoder))]
        return out, lengths
