"""Tacotron 2 (Shen et al. 2018), the recurrent autoregressive teacher.

Text side: token embedding → 3 conv layers (BN, ReLU, dropout) → bidirectional LSTM (packed,
so padding never reaches the real tokens). Mel side, one decoder step per ``r`` frames:
previous frame → 2-FC prenet (dropout on at inference too) → attention LSTM (prenet output +
previous context) → **location-sensitive attention** (Chorowski et al. 2015: the query, the
encoder memory and convolutional features of the previous and cumulative attention weights)
→ decoder LSTM (attention-LSTM state + context) → linear to ``r`` mel frames and ``r`` stop
logits (from decoder state + context) → 5-layer conv postnet (residual). Both LSTMs use
zoneout (Krueger et al. 2016) as in the paper.

Losses: L1 + L2 on the mel before and after the postnet, stop-token BCE with a positive
weight, and the guided-attention loss (Tachibana et al. 2017) on the single attention, whose
weight can halve every ``guided_attn_halflife`` batches (the prior only starts the alignment;
the location features keep it). ``guided_attn_prior``: ``diagonal`` (Tachibana's prior, width
``guided_attn_sigma`` of the text) or ``durations``: the alignment of a teacher-free aligner
(``tts align``) as the prior, ``guided_attn_prior_sigma`` tokens wide. At small budgets the
diagonal can let the attention march through the text at a constant pace, its durations no better
than their own shuffle and the free-running spectrum a blur; the aligner's prior makes the context the decoder receives the sound being spoken from the start. The location features let the attention move forward by
content, so it aligns within a few hundred steps and free-runs without the jumps a content-only
attention makes.

``sampling_prob`` p > 0: scheduled sampling (Bengio et al. 2015) in training: each decoder step after the
first reads, with probability p per utterance, the model's own previous frame (before the postnet; no
gradient into the decoder state it came from, though the output projection and prenet that map it do get
one) instead of the recorded one, so training sees the errors free running feeds back. Off by default
(egs/arctic/tts1/RESULTS.md has what it gave).

Interface as :class:`narspeech.tts.models.transformer_tts.TransformerTTS`: ``forward(batch)``,
``teacher_forced(...)`` (its ``attns`` is one "layer" with one head, (B, 1, S, N), so the
same duration extraction reads it), ``inference(tokens, lengths)`` → denormalised log-mels.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from narspeech.nets.conv import Conv1dStack
from narspeech.nets.masks import pad_mask
from narspeech.tts.models.ar_teacher import ARTeacher
from narspeech.tts.models.losses import (alignment_prior_weights, guided_attention_loss, masked_l1, masked_mean, prior_attention_loss)
from narspeech.tts.models.options import model_options
from narspeech.tts.models.speaker import SPEAKER_DEFAULTS, SpeakerConditioning
from narspeech.tts.models.stats import FeatureStats

DEFAULTS = dict(
    d_emb=512, enc_conv_layers=3, enc_conv_channels=512, enc_conv_kernel=5, enc_dropout=0.5, enc_lstm_units=256,
    prenet_units=256, prenet_layers=2, prenet_dropout=0.5,
    attn_rnn_units=1024, dec_rnn_units=1024, attn_dim=128, loc_filters=32, loc_kernel=31, zoneout=0.1,
    postnet_layers=5, postnet_channels=512, postnet_kernel=5, postnet_dropout=0.5,
    reduction_factor=1, stop_pos_weight=5.0, use_l2=True,
    guided_attn_sigma=0.4, guided_attn_weight=1.0, guided_attn_halflife=0, guided_attn_min_weight=0.0,
    guided_attn_prior="diagonal", guided_attn_prior_sigma=2.0,
    stop_threshold=0.5, max_len_ratio=20.0, min_len_ratio=0.0, stop_margin_tokens=1, stop_tail_frames=30,
    attn_window_backward=-1, attn_window_forward=-1,  # inference only; -1 = no window
    f0_feedback=False, f0_weight=1.0, forward_attention=False, sampling_prob=0.0,
    **SPEAKER_DEFAULTS,
)


class ZoneoutLSTMCell(nn.Module):
    """LSTM cell whose hidden and cell states keep their previous value with probability `p` per unit
    in training (zoneout); at inference the expectation, ``p·old + (1−p)·new``."""

    def __init__(self, input_size: int, hidden_size: int, p: float = 0.1):
        super().__init__()
        self.cell = nn.LSTMCell(input_size, hidden_size)
        self.p = float(p)

    def forward(self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        h_new, c_new = self.cell(x, state)
        if self.p <= 0.0:
            return h_new, c_new
        h, c = state
        if self.training:
            keep_h = torch.rand_like(h_new) < self.p
            keep_c = torch.rand_like(c_new) < self.p
            return torch.where(keep_h, h, h_new), torch.where(keep_c, c, c_new)
        return self.p * h + (1 - self.p) * h_new, self.p * c + (1 - self.p) * c_new


class LocationSensitiveAttention(nn.Module):
    """e_{t,n} = vᵀ tanh(W s_t + V h_n + U f_{t,n}), f = conv([α_{t−1}; Σ_{τ<t} α_τ]); α_t = softmax over valid tokens."""

    def __init__(self, query_dim: int, memory_dim: int, attn_dim: int, filters: int, kernel: int):
        super().__init__()
        self.query = nn.Linear(query_dim, attn_dim, bias=False)
        self.memory = nn.Linear(memory_dim, attn_dim, bias=False)
        self.loc_conv = nn.Conv1d(2, filters, kernel, padding=kernel // 2, bias=False)
        self.loc_proj = nn.Linear(filters, attn_dim, bias=False)
        self.v = nn.Linear(attn_dim, 1, bias=True)

    def location_features(self, alpha: torch.Tensor) -> torch.Tensor:
        """The location convolution of (B, 2, N) weights → (B, N, filters), as one matrix product over unfolded
        windows (the same numbers as ``loc_conv``; on a CPU, 80 small convolutions per batch cost more than the LSTMs)."""
        k = self.loc_conv.kernel_size[0]
        windows = nn.functional.pad(alpha, (k // 2, k // 2)).unfold(-1, k, 1)  # (B, 2, N, k)
        flat = windows.permute(0, 2, 1, 3).reshape(alpha.size(0), alpha.size(2), -1)  # (B, N, 2k), channel-major
        return flat @ self.loc_conv.weight.reshape(self.loc_conv.out_channels, -1).t()

    def forward(self, query: torch.Tensor, keys: torch.Tensor, prev: torch.Tensor, cum: torch.Tensor,
                pad: torch.Tensor) -> torch.Tensor:
        """query (B, Q); keys = self.memory(memory) (B, N, A), precomputed once; prev/cum (B, N); pad (B, N) True at padding.
        Returns the weights (B, N)."""
        loc = self.loc_proj(self.location_features(torch.stack([prev, cum], 1)))
        e = self.v(torch.tanh(self.query(query)[:, None] + keys + loc)).squeeze(-1)
        return torch.softmax(e.masked_fill(pad, float("-inf")), dim=-1)


class Tacotron2(ARTeacher):
    """AR teacher. ``forward(batch) -> (loss, stats)``; ``inference(tokens, lengths) -> (mels, lengths)``;
    ``teacher_forced(tokens, token_lengths, mels, mel_lengths)`` gives the attention as ``attns`` [(B, 1, S, N)]."""

    n_heads = 1  # the single attention, seen by duration extraction as layer 0 head 0

    def __init__(self, n_tokens: int, n_mels: int, stats: dict | None = None, **cfg):
        super().__init__()
        c = model_options(cfg, DEFAULTS, "tacotron2")
        if c["guided_attn_prior"] not in ("diagonal", "durations"):
            raise ValueError(f"guided_attn_prior must be diagonal or durations, got {c['guided_attn_prior']!r}")
        self.c, self.n_mels, self.r = c, n_mels, int(c["reduction_factor"])
        self.stats = FeatureStats(n_mels, stats)
        self.embed = nn.Embedding(n_tokens, c["d_emb"], padding_idx=0)
        self.enc_convs = Conv1dStack(c["d_emb"], c["enc_conv_channels"], c["enc_conv_channels"], c["enc_conv_layers"],
                                     c["enc_conv_kernel"], c["enc_dropout"]) if c["enc_conv_layers"] > 0 else None
        enc_in = c["enc_conv_channels"] if c["enc_conv_layers"] > 0 else c["d_emb"]
        self.enc_lstm = nn.LSTM(enc_in, c["enc_lstm_units"], batch_first=True, bidirectional=True)
        mem = 2 * c["enc_lstm_units"]
        self.speaker = SpeakerConditioning(mem, c["spks"], c["spk_embed_dim"], c["spk_embed_integration"])
        dims = [n_mels] + [c["prenet_units"]] * c["prenet_layers"]
        self.prenet = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))
        self.attn_rnn = ZoneoutLSTMCell(dims[-1] + mem, c["attn_rnn_units"], c["zoneout"])
        self.attention = LocationSensitiveAttention(c["attn_rnn_units"], mem, c["attn_dim"], c["loc_filters"], c["loc_kernel"])
        self.dec_rnn = ZoneoutLSTMCell(c["attn_rnn_units"] + mem, c["dec_rnn_units"], c["zoneout"])
        self.mel_out = nn.Linear(c["dec_rnn_units"] + mem, n_mels * self.r)
        self.stop_out = nn.Linear(c["dec_rnn_units"] + mem, self.r)
        if c["f0_feedback"]:  # F0 predicted with the mel and fed back beside the prenet, without its dropout
            self.f0_out = nn.Linear(c["dec_rnn_units"] + mem, 2 * self.r)  # per frame: normalised F0, voicing logit
            self.f0_in = nn.Linear(2, dims[-1])
        if c["forward_attention"]:  # the transition agent of forward attention
            self.transition = nn.Linear(c["attn_rnn_units"] + mem + dims[-1], 1)
        self._init_postnet_and_counter(n_mels)

    # -- building blocks -------------------------------------------------------------------
    def encode(self, tokens: torch.Tensor, token_lengths: torch.Tensor, sids: torch.Tensor | None = None,
               spembs: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """tokens (B, N) → memory (B, N, 2·enc_lstm_units) (0 at padding, the speaker added), pad mask (B, N)."""
        pad = pad_mask(token_lengths, tokens.size(1))
        x = self.embed(tokens)
        if self.enc_convs is not None:
            x = self.enc_convs(x, ~pad)
        packed = pack_padded_sequence(x, token_lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, _ = self.enc_lstm(packed)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=tokens.size(1))
        return self._with_speaker(out, pad, sids, spembs), pad

    def run_prenet(self, x: torch.Tensor) -> torch.Tensor:
        for fc in self.prenet:  # dropout stays on at inference (the paper's bottleneck against copying the last frame)
            x = nn.functional.dropout(torch.relu(fc(x)), self.c["prenet_dropout"], training=True)
        return x

    def init_state(self, memory: torch.Tensor) -> dict:
        b, n, d = memory.shape
        z = lambda k: memory.new_zeros(b, k)  # noqa: E731
        a, s = self.c["attn_rnn_units"], self.c["dec_rnn_units"]
        state = dict(attn=(z(a), z(a)), dec=(z(s), z(s)), context=z(d), prev=memory.new_zeros(b, n), cum=memory.new_zeros(b, n))
        if self.c["forward_attention"]:  # all weight on the first token, transition probability ½
            state["prev"][:, 0] = 1.0
            state["u"] = memory.new_full((b, 1), 0.5)
        return state

    def step(self, pre: torch.Tensor, state: dict, memory: torch.Tensor, keys: torch.Tensor, pad: torch.Tensor) -> torch.Tensor:
        """One decoder step from the prenet output `pre` (B, P); updates `state` in place and returns the
        projection input cat(decoder state, context) (B, dec_rnn_units + D); weights are state['prev'].
        `pad` (B, N) is True where the attention may not look. With ``forward_attention`` (Zhang et al. 2018) the
        location-sensitive weights are multiplied by the previous step's weights, each either kept or moved one
        token on (mixed by the transition agent's probability u), and renormalised: the alignment can only stay
        or advance by one token per step."""
        state["attn"] = self.attn_rnn(torch.cat([pre, state["context"]], -1), state["attn"])
        query = state["attn"][0]
        w = self.attention(query, keys, state["prev"], state["cum"], pad)
        if self.c["forward_attention"]:
            prev, u = state["prev"], state["u"]
            moved = nn.functional.pad(prev, (1, 0))[:, :-1]
            w = (((1 - u) * prev + u * moved) * w).clamp(min=1e-6).masked_fill(pad, 0.0)
            w = w / w.sum(-1, keepdim=True)
        context = torch.bmm(w[:, None], memory).squeeze(1)
        if self.c["forward_attention"]:
            state["u"] = torch.sigmoid(self.transition(torch.cat([query, context, pre], -1)))
        state["context"], state["prev"], state["cum"] = context, w, state["cum"] + w
        state["dec"] = self.dec_rnn(torch.cat([query, context], -1), state["dec"])
        return torch.cat([state["dec"][0], context], -1)

    # -- F0 feedback ----------------------------------------------------------------------------
    @property
    def needs_f0(self) -> bool:
        """Whether teacher forcing takes the recordings' frame F0 (``f0_feedback``)."""
        return bool(self.c["f0_feedback"])

    def f0_features(self, hz: torch.Tensor) -> torch.Tensor:
        """Frame F0 in Hz (B, T), 0 where unvoiced → (B, T, 2): normalised F0 (0 where unvoiced), voicing."""
        voiced = hz > 0
        norm = torch.where(voiced, (hz - self.stats.f0_mean) / self.stats.f0_std, torch.zeros_like(hz))
        return torch.stack([norm, voiced.to(norm.dtype)], -1)

    @staticmethod
    def _fed_back(pred: torch.Tensor) -> torch.Tensor:
        """A predicted (normalised F0, voicing logit) (B, 2) → the features fed to the next step."""
        voiced = (pred[:, 1] > 0).to(pred.dtype)
        return torch.stack([pred[:, 0] * voiced, voiced], -1)

    def teacher_forced(self, tokens: torch.Tensor, token_lengths: torch.Tensor, mels: torch.Tensor,
                       mel_lengths: torch.Tensor, f0: torch.Tensor | None = None, sids: torch.Tensor | None = None,
                       spembs: torch.Tensor | None = None) -> dict[str, torch.Tensor | list]:
        """Run on ground-truth (denormalised) mels. Returns normalised target `y`, `before`, `after`,
        `stop` logits (frame rate, S·r frames), `attns` ([(B, 1, S, N)]), `steps` (B,), `frame_mask`; with
        ``f0_feedback`` also `f0` (B, S·r, 2): predicted normalised F0 and voicing logit. `f0` (B, T) in Hz, the
        recordings' F0 fed back as the mels are; without it (mels with no F0 track, e.g. generated ones) the
        model's own F0 predictions are fed back."""
        y = self.stats.norm_mel(mels)
        y = y.masked_fill(pad_mask(mel_lengths, y.size(1))[..., None], 0.0)
        memory, pad = self.encode(tokens, token_lengths, sids, spembs)
        keys = self.attention.memory(memory)
        dec_in, s = self._decoder_inputs(y)
        sampling = float(self.c["sampling_prob"]) if self.training else 0.0
        pre = self.run_prenet(dec_in)  # all steps at once
        b = tokens.size(0)
        fed = None  # the previous step's predicted F0 features, when the recordings' are not given
        f0_fed = None  # the recordings' F0 features per step, when given
        if self.needs_f0:
            if f0 is None:
                fed = pre.new_zeros(b, 2)
            else:
                if f0.shape != mels.shape[:2]:
                    raise ValueError(f"f0 {tuple(f0.shape)} does not match the mels {tuple(mels.shape[:2])}")
                f0_fed = self.f0_in(self._decoder_inputs(self.f0_features(f0))[0])
                pre = pre + f0_fed
        state = self.init_state(memory)
        outs, weights = [], []
        for t in range(s):
            p_t = pre[:, t]
            if sampling > 0.0 and t > 0:  # scheduled sampling: some utterances get their own previous frame
                own = self.run_prenet(self.mel_out(outs[-1].detach()).view(b, self.r, self.n_mels)[:, -1])
                if f0_fed is not None:
                    own = own + f0_fed[:, t]
                pick = torch.rand(b, 1, device=p_t.device) < sampling
                p_t = torch.where(pick, own, p_t)
            h_t = self.step(p_t if fed is None else p_t + self.f0_in(fed), state, memory, keys, pad)
            if fed is not None:
                fed = self._fed_back(self.f0_out(h_t).view(b, self.r, 2)[:, -1])
            outs.append(h_t)
            weights.append(state["prev"])
        h = torch.stack(outs, 1)
        before = self.mel_out(h).view(b, s * self.r, self.n_mels)
        stop = self.stop_out(h).reshape(b, s * self.r)
        steps = torch.div(mel_lengths + self.r - 1, self.r, rounding_mode="floor")
        frame_mask = ~pad_mask(mel_lengths, before.size(1))
        after = self.postnet(before, frame_mask) if self.postnet is not None else before
        if y.size(1) < before.size(1):
            y = nn.functional.pad(y, (0, 0, 0, before.size(1) - y.size(1)))
        attn = torch.stack(weights, 1)[:, None]  # (B, 1, S, N)
        out = dict(y=y, before=before, after=after, stop=stop, attns=[attn], steps=steps, frame_mask=frame_mask)
        if self.needs_f0:
            out["f0"] = self.f0_out(h).view(b, s * self.r, 2)
        return out

    # -- training ----------------------------------------------------------------------------
    def attention_loss(self, out: dict, batch: dict) -> torch.Tensor:
        c = self.c
        if c["guided_attn_prior"] == "durations":
            if "durations" not in batch:
                raise ValueError("guided_attn_prior durations needs the training set's durations (train-teacher --durations)")
            w = alignment_prior_weights(batch["durations"], out["steps"], self.r, c["guided_attn_prior_sigma"])
            return prior_attention_loss(out["attns"][0], w, out["steps"])
        return guided_attention_loss(out["attns"][0], out["steps"], batch["token_lengths"], c["guided_attn_sigma"])

    def auxiliary_loss(self, out: dict, batch: dict) -> torch.Tensor | None:
        """With ``f0_feedback``: ``f0_weight`` × (L1 of the normalised F0 on voiced frames + voicing BCE)."""
        if not self.needs_f0:
            return None
        if "f0" not in batch:
            raise ValueError("model.f0_feedback needs the frame F0 in the batch (TTSDataset(frame_f0=True))")
        pred, m = out["f0"], out["frame_mask"]
        target = self.f0_features(batch["f0"])
        target = nn.functional.pad(target, (0, 0, 0, pred.size(1) - target.size(1)))
        voiced = target[..., 1] > 0
        l_f0 = masked_l1(pred[..., 0].float(), target[..., 0], m & voiced)
        bce = nn.functional.binary_cross_entropy_with_logits(pred[..., 1].float(), target[..., 1], reduction="none")
        return float(self.c["f0_weight"]) * (l_f0 + masked_mean(bce, m))

    # -- free-running synthesis ---------------------------------------------------------------
    @torch.no_grad()
    def inference(self, tokens: torch.Tensor, token_lengths: torch.Tensor, *, speed: float = 1.0, pitch_shift: float = 0.0,
                  energy_scale: float = 1.0, max_len_ratio: float | None = None, stop_threshold: float | None = None,
                  return_attention: bool = False, sids: torch.Tensor | None = None, spembs: torch.Tensor | None = None):
        """Autoregressive decoding, batched, until the stop token fires (sigmoid > threshold) or
        ``max_len_ratio × tokens`` frames. With ``stop_margin_tokens`` k ≥ 0 the stop token only counts once the
        attention's peak has reached one of the last k + 1 tokens (a stop token that fires early, as a young
        model's does, would otherwise cut the sentence), and the utterance ends at most ``stop_tail_frames``
        after that (a stop token that stays silent would run on in silence to the frame cap). With
        ``attn_window_backward`` b ≥ 0 and ``attn_window_forward`` f ≥ 0 each step may only attend to tokens
        b before to f after the previous step's peak (ESPnet's attention constraint for Tacotron 2), so the
        attention can neither jump back nor over words; it does not stop a stall on one token. The NAR controls (speed,
        pitch, energy) are ignored.
        Returns denormalised (mels (B, T, n_mels), mel_lengths); with `return_attention` also
        [attention (B, 1, steps, N)]."""
        c = self.c
        ratio = c["max_len_ratio"] if max_len_ratio is None else max_len_ratio
        thr = c["stop_threshold"] if stop_threshold is None else stop_threshold
        b, dev = tokens.size(0), tokens.device
        memory, pad = self.encode(tokens, token_lengths, sids, spembs)
        keys = self.attention.memory(memory)
        state = self.init_state(memory)
        max_frames = (token_lengths.float() * ratio).ceil().long().clamp(min=self.r)
        min_frames = (token_lengths.float() * c["min_len_ratio"]).floor().long()
        max_steps = int(-(-int(max_frames.max()) // self.r))
        frame = memory.new_zeros(b, self.n_mels)
        lengths = torch.zeros(b, dtype=torch.long, device=dev)
        done = torch.zeros(b, dtype=torch.bool, device=dev)
        margin = int(c["stop_margin_tokens"])
        reached = torch.full((b,), margin < 0, dtype=torch.bool, device=dev)  # the attention got to the end of the text
        end_step = torch.full((b,), max_steps, dtype=torch.long, device=dev)  # when the tail after reaching the end is over
        tail = -(-int(c["stop_tail_frames"]) // self.r)
        mels, weights = [], []
        back, fwd = int(c["attn_window_backward"]), int(c["attn_window_forward"])
        n_idx = torch.arange(tokens.size(1), device=dev)[None]
        fed = memory.new_zeros(b, 2) if self.needs_f0 else None
        for step in range(max_steps):
            blocked = pad
            if back >= 0 and fwd >= 0:  # the attention constraint: only near where it looked last
                peak = state["prev"].argmax(-1, keepdim=True)
                blocked = pad | (n_idx < peak - back) | (n_idx > peak + fwd)
            pre = self.run_prenet(frame)
            h = self.step(pre if fed is None else pre + self.f0_in(fed), state, memory, keys, blocked)
            if fed is not None:
                fed = self._fed_back(self.f0_out(h).view(b, self.r, 2)[:, -1])
            mel = self.mel_out(h).view(b, self.r, self.n_mels)
            mels.append(mel)
            if return_attention:
                weights.append(state["prev"])
            probs = torch.sigmoid(self.stop_out(h).float())
            frame_idx = step * self.r + torch.arange(self.r, device=dev)[None]
            stop_ok = (probs > thr) & (frame_idx >= min_frames[:, None])
            if margin >= 0:
                now = ~reached & (state["prev"].argmax(-1) >= token_lengths - 1 - margin)
                end_step = torch.where(now, step + tail, end_step)
                reached |= now
                stop_ok = reached[:, None] & (stop_ok | (step >= end_step)[:, None])
            fire = stop_ok | (frame_idx >= (max_frames[:, None] - 1))
            lengths, done = self._stop_frames(fire, step, lengths, done)
            if bool(done.all()):
                break
            frame = mel[:, -1]
        out, lengths = self._finish_inference(mels, lengths, done)
        if return_attention:
            return out, lengths, [torch.stack(weights, 1)[:, None]]
        return out, lengths
