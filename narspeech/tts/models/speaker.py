"""Speaker conditioning shared by FastSpeech 2 and the AR teachers.

Two routes, usable at once (both act on the encoder output, before the variance adaptor / attention, so
durations, pitch and the decoder all see the speaker):

* a speaker-id table (``spks`` > 0): a learned embedding per id, added to every token's hidden vector
  (ming024/FastSpeech2; the ids come from the training set's ``utt2spk``, saved as ``spk2sid``);
* external embeddings (``spk_embed_dim`` > 0, ESPnet's x-vector route): a d-vector per utterance or per
  speaker, L2-normalised, then ``add`` (projected to d_model and added) or ``concat`` (concatenated to every
  hidden vector and projected back to d_model). An unseen voice is synthesised from its embedding.

With both off the module has no parameters, so single-speaker models and their checkpoints are unchanged.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

SPEAKER_DEFAULTS = dict(spks=0, spk_embed_dim=0, spk_embed_integration="add")
INTEGRATIONS = ("add", "concat")


class SpeakerConditioning(nn.Module):
    """Adds the speaker to an encoder output ``x`` (B, N, d): ``forward(x, sids=, spembs=)``."""

    def __init__(self, d_model: int, spks: int = 0, spk_embed_dim: int = 0, spk_embed_integration: str = "add"):
        super().__init__()
        if spk_embed_integration not in INTEGRATIONS:
            raise ValueError(f"spk_embed_integration must be add or concat, got {spk_embed_integration!r}")
        self.spks, self.spk_embed_dim, self.integration = int(spks), int(spk_embed_dim), spk_embed_integration
        if self.spks < 0 or self.spk_embed_dim < 0:
            raise ValueError("spks and spk_embed_dim must be >= 0")
        self.sid_embed = nn.Embedding(self.spks, d_model) if self.spks else None
        if self.spk_embed_dim:
            d_in = self.spk_embed_dim + (d_model if spk_embed_integration == "concat" else 0)
            self.spk_proj = nn.Linear(d_in, d_model)

    @property
    def enabled(self) -> bool:
        return bool(self.spks or self.spk_embed_dim)

    def forward(self, x: torch.Tensor, sids: torch.Tensor | None = None, spembs: torch.Tensor | None = None) -> torch.Tensor:
        if self.spks:
            if sids is None:
                raise ValueError("this model has a speaker-id table: give speaker ids (sids)")
            x = x + self.sid_embed(sids.long().to(x.device))[:, None, :].to(x.dtype)
        if self.spk_embed_dim:
            if spembs is None:
                raise ValueError(f"this model takes {self.spk_embed_dim}-dim speaker embeddings: give spembs")
            if spembs.dim() != 2 or spembs.size(1) != self.spk_embed_dim:
                raise ValueError(f"speaker embeddings must be (B, {self.spk_embed_dim}), got {tuple(spembs.shape)}")
            s = F.normalize(spembs.float().to(x.device), dim=-1)[:, None, :].expand(-1, x.size(1), -1).to(x.dtype)
            x = x + self.spk_proj(s) if self.integration == "add" else self.spk_proj(torch.cat([x, s], dim=-1))
        return x


def speaker_inputs(batch: dict) -> dict:
    """The speaker keyword arguments (``sids``, ``spembs``) a batch carries, for a model call."""
    return {k: batch[k] for k in ("sids", "spembs") if batch.get(k) is not None}
