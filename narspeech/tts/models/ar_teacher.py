"""What the autoregressive teachers (Transformer-TTS, Tacotron 2) share: ``r`` frames per decoder step
fed by the last frame of the previous step, the guided-attention weight schedule, the reconstruction and
stop-token losses, and the end of free-running synthesis (lengths, postnet, denormalisation).

A subclass sets ``self.c`` (its config with ``guided_attn_weight``, ``guided_attn_halflife``,
``guided_attn_min_weight``, ``use_l2``, ``stop_pos_weight``), ``self.r``, ``self.stats`` and
``self.postnet`` (or None), and registers the ``batches_seen`` buffer.
"""
from __future__ import annotations

import torch
from torch import nn

from narspeech.nets.conv import Postnet
from narspeech.nets.masks import pad_mask
from narspeech.tts.models.losses import masked_l1, masked_mse, stop_loss
from narspeech.tts.models.speaker import speaker_inputs
from narspeech.tts.models.stats import PAD_LOG_MEL


class ARTeacher(nn.Module):
    """Base of the autoregressive teachers (no parameters of its own: checkpoints are unchanged)."""

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        state_dict.setdefault(prefix + "batches_seen", torch.zeros((), dtype=torch.long))  # checkpoints from before it
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def _init_postnet_and_counter(self, n_mels: int) -> None:
        """The postnet (None with ``postnet_layers`` 0) and the batch counter that drives the guided-attention schedule."""
        c = self.c
        self.postnet = Postnet(n_mels, c["postnet_channels"], c["postnet_layers"], c["postnet_kernel"], c["postnet_dropout"]) \
            if c["postnet_layers"] > 0 else None
        self.register_buffer("batches_seen", torch.zeros((), dtype=torch.long))

    def _with_speaker(self, memory: torch.Tensor, pad: torch.Tensor, sids: torch.Tensor | None,
                      spembs: torch.Tensor | None) -> torch.Tensor:
        """The encoder output with the speaker added (0 at padding); unchanged for a single-speaker model."""
        return self.speaker(memory, sids, spembs).masked_fill(pad[..., None], 0.0) if self.speaker.enabled else memory

    def guided_attn_weight(self) -> float:
        """The guided-attention weight at the current point of training: ``guided_attn_weight``, halved every
        ``guided_attn_halflife`` batches (0: never) down to ``guided_attn_min_weight``."""
        c = self.c
        w = float(c["guided_attn_weight"])
        if c["guided_attn_halflife"] and c["guided_attn_halflife"] > 0:
            w = max(w * 0.5 ** (int(self.batches_seen) / float(c["guided_attn_halflife"])), float(c["guided_attn_min_weight"]))
        return w

    def _decoder_inputs(self, y: torch.Tensor) -> tuple[torch.Tensor, int]:
        """Teacher forcing input: a zero 'go' frame, then the last frame of every previous r-group."""
        s = -(-y.size(1) // self.r)
        prev = y[:, self.r - 1 :: self.r][:, : s - 1]
        return torch.cat([y.new_zeros(y.size(0), 1, y.size(2)), prev], dim=1), s

    needs_f0 = False  # a subclass whose teacher forcing takes the frame F0 (``f0=``) says so

    def forward(self, batch: dict) -> tuple[torch.Tensor, dict]:
        """Teacher-forced pass: reconstruction + stop losses, the subclass's auxiliary loss (if any), plus its
        attention loss at the current guided-attention weight."""
        extra = speaker_inputs(batch)
        if self.needs_f0:
            extra["f0"] = batch.get("f0")
        out = self.teacher_forced(batch["tokens"], batch["token_lengths"], batch["mels"], batch["mel_lengths"], **extra)
        loss, stats = self.reconstruction_loss(out, batch["mel_lengths"])
        aux = self.auxiliary_loss(out, batch)
        if aux is not None:
            loss = loss + aux
            stats["aux"] = aux.detach()
        ga_weight = self.guided_attn_weight()
        if self.training:
            self.batches_seen += 1
        ga = self.attention_loss(out, batch) if ga_weight > 0 else None
        if ga is not None:
            loss = loss + ga_weight * ga
            stats["guided_attn"] = ga.detach()
            stats["guided_attn_weight"] = ga_weight
        stats["loss"] = loss.detach()
        return loss, stats

    def auxiliary_loss(self, out: dict, batch: dict) -> torch.Tensor | None:
        """A subclass's extra training loss on the teacher-forced pass (None: none)."""
        return None

    def attention_loss(self, out: dict, batch: dict) -> torch.Tensor | None:
        """The guided-attention loss of a teacher-forced pass (None: no attention is guided)."""
        raise NotImplementedError

    def reconstruction_loss(self, out: dict, mel_lengths: torch.Tensor) -> tuple[torch.Tensor, dict]:
        """L1 (+ L2 with ``use_l2``) on the mel before and after the postnet and the stop-token BCE, from the
        output of ``teacher_forced``. Returns (loss, stats)."""
        y, m = out["y"], out["frame_mask"]
        l1 = masked_l1(out["before"], y, m) + masked_l1(out["after"], y, m)
        loss, stats = l1, {"l1": l1.detach()}
        if self.c["use_l2"]:
            l2 = masked_mse(out["before"], y, m) + masked_mse(out["after"], y, m)
            loss = loss + l2
            stats["l2"] = l2.detach()
        frames = torch.arange(out["stop"].size(1), device=y.device)[None]
        labels = frames >= (mel_lengths[:, None] - 1)
        stop_mask = frames < (out["steps"][:, None] * self.r)
        ls = stop_loss(out["stop"], labels, stop_mask, self.c["stop_pos_weight"])
        stats["stop"] = ls.detach()
        return loss + ls, stats

    def _stop_frames(self, fire: torch.Tensor, step: int, lengths: torch.Tensor,
                     done: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """`fire` (B, r): frames of decoder step `step` where an utterance may end. An utterance not yet
        done ends at its first firing frame. Returns the updated (lengths, done)."""
        first = fire.float().argmax(1)
        newly = ~done & fire.any(1)
        return torch.where(newly, step * self.r + first + 1, lengths), done | newly

    def _finish_inference(self, mels: list[torch.Tensor], lengths: torch.Tensor,
                          done: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The decoder's per-step outputs (B, r, n_mels) → denormalised log-mels after the postnet, PAD_LOG_MEL
        past each length (an utterance that never stopped keeps every frame). Returns (mels (B, T, n_mels), lengths)."""
        mel = torch.cat(mels, dim=1)
        lengths = torch.where(done, lengths, torch.full_like(lengths, mel.size(1)))
        frame_mask = ~pad_mask(lengths, mel.size(1))
        after = self.postnet(mel, frame_mask) if self.postnet is not None else mel
        t = int(lengths.max())
        return self.stats.denorm_mel(after[:, :t]).masked_fill(~frame_mask[:, :t, None], PAD_LOG_MEL), lengths
