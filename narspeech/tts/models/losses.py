"""TTS losses: masked L1/L2/MSE, stop-token BCE and the guided-attention loss."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of `x` over positions where `mask` (broadcastable, bool) is True."""
    m = mask.to(x.dtype).expand_as(x)
    return (x * m).sum() / m.sum().clamp(min=1.0)


def masked_l1(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """L1 over valid frames; mask (B, T) for (B, T, C) inputs."""
    return masked_mean((pred - target).abs(), mask[..., None] if pred.dim() == mask.dim() + 1 else mask)


def masked_mse(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return masked_mean((pred - target) ** 2, mask[..., None] if pred.dim() == mask.dim() + 1 else mask)


def duration_loss(logd_pred: torch.Tensor, durations: torch.Tensor, valid: torch.Tensor,
                  sentence_weight: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """(token loss, sentence loss) of a duration predictor that outputs log(d + 1).

    Token loss: MSE of log(d + 1) (FastSpeech). Its optimum is a geometric mean, and an
    underfitted predictor regresses to the mean in the log domain, so the frames it predicts per
    utterance are biased (too long). The sentence loss (Ren et al.'s
    PortaSpeech / NATSpeech ``lambda_sent_dur``) is the squared log(total + 1) error of each
    utterance's summed predicted frames; it is computed (and returned as 0) only with a weight.
    """
    target = torch.log(durations.float() + 1.0)
    token = masked_mse(logd_pred.float(), target, valid)
    if sentence_weight <= 0:
        return token, token.new_zeros(())
    frames = (torch.exp(logd_pred.float()) - 1.0).clamp(min=0.0).masked_fill(~valid, 0.0).sum(1)
    total = durations.float().masked_fill(~valid, 0.0).sum(1)
    return token, ((torch.log(frames + 1.0) - torch.log(total + 1.0)) ** 2).mean()


def guided_attention_weights(dec_lengths: torch.Tensor, enc_lengths: torch.Tensor, sigma: float = 0.2) -> torch.Tensor:
    """W (B, T_dec, N_enc) = 1 − exp(−(n/N − t/T)² / (2σ²)) inside each utterance, 0 outside
    (Tachibana et al. 2017). Penalises attention far from the diagonal."""
    t_max, n_max = int(dec_lengths.max()), int(enc_lengths.max())
    dev = dec_lengths.device
    t = torch.arange(t_max, device=dev, dtype=torch.float32)[None, :, None] / dec_lengths[:, None, None].float()
    n = torch.arange(n_max, device=dev, dtype=torch.float32)[None, None, :] / enc_lengths[:, None, None].float()
    w = 1.0 - torch.exp(-((n - t) ** 2) / (2 * sigma ** 2))
    valid = (torch.arange(t_max, device=dev)[None, :, None] < dec_lengths[:, None, None]) & \
            (torch.arange(n_max, device=dev)[None, None, :] < enc_lengths[:, None, None])
    return w * valid


def guided_attention_loss(attn: torch.Tensor, dec_lengths: torch.Tensor, enc_lengths: torch.Tensor, sigma: float = 0.2) -> torch.Tensor:
    """Guided-attention penalty: for every valid decoder step, the attention mass weighted by W
    (summed over tokens), averaged over steps (and over heads when `attn` is (B, H, T_dec, N)).

    Tachibana et al. average A ⊙ W over all (t, n) cells, which shrinks the loss as 1/N for
    a spread-out attention over N tokens; summing over tokens keeps it in [0, 1) whatever the
    text length (≈ mean W for uniform attention, 0 on the diagonal), so one weight suits all corpora."""
    w = guided_attention_weights(dec_lengths, enc_lengths, sigma)
    t_ok = torch.arange(w.size(1), device=w.device)[None, :] < dec_lengths[:, None]  # (B, T)
    a = attn[..., : w.size(-2), : w.size(-1)].float()
    if attn.dim() == 4:
        w, t_ok = w[:, None], t_ok[:, None].expand(-1, attn.size(1), -1)
    per_step = (a * w).sum(-1)
    return masked_mean(per_step, t_ok)


def stop_loss(logits: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor, pos_weight: float) -> torch.Tensor:
    """BCE on stop-token logits over valid positions; `pos_weight` counters the 1:T imbalance."""
    pw = torch.tensor(pos_weight, device=logits.device, dtype=torch.float32)
    per = F.binary_cross_entropy_with_logits(logits.float(), labels.float(), pos_weight=pw, reduction="none")
    return masked_mean(per, mask)


def alignment_prior_weights(durations: torch.Tensor, dec_lengths: torch.Tensor, r: int = 1, sigma: float = 2.0) -> torch.Tensor:
    """W (B, T_dec, N) = 1 − exp(−(n − k_t)² / (2σ²)), σ in tokens, where k_t is the token that a given
    alignment (`durations` (B, N), frames per token, e.g. from the flat-start aligner) puts at the middle
    frame of decoder step t (r frames per step); 0 outside each utterance.

    The diagonal of :func:`guided_attention_weights` assumes every token takes the same time, so a small
    teacher can satisfy it with an attention that marches on regardless of the audio; this prior points at
    the token actually being spoken. Tokens with no frames (word boundaries, stress marks) are passed over."""
    b, n_max = durations.shape
    t_max = int(dec_lengths.max())
    dev = durations.device
    ends = torch.cumsum(durations.long(), dim=1)  # (B, N)
    mid = (torch.arange(t_max, device=dev) * r + (r - 1) / 2.0).floor().long()  # frame at the middle of each step
    k = torch.searchsorted(ends, mid[None].expand(b, -1).contiguous(), right=True).clamp(max=n_max - 1)  # (B, T)
    n = torch.arange(n_max, device=dev, dtype=torch.float32)
    w = 1.0 - torch.exp(-((n[None, None, :] - k[..., None].float()) ** 2) / (2 * sigma ** 2))
    n_tok = (durations > 0).long().cumsum(1).argmax(1) + 1  # tokens up to the last one with frames
    valid = (torch.arange(t_max, device=dev)[None, :, None] < dec_lengths[:, None, None]) & \
            (torch.arange(n_max, device=dev)[None, None, :] < n_tok[:, None, None])
    return w * valid


def prior_attention_loss(attn: torch.Tensor, weights: torch.Tensor, dec_lengths: torch.Tensor) -> torch.Tensor:
    """Attention mass on cells the prior `weights` (B, T_dec, N) penalises, summed over tokens and averaged over
    valid decoder steps (as :func:`guided_attention_loss`, with any prior)."""
    t_ok = torch.arange(weights.size(1), device=weights.device)[None, :] < dec_lengths[:, None]
    a = attn[..., : weights.size(-2), : weights.size(-1)].float()
    if attn.dim() == 4:
        weights, t_ok = weights[:, None], t_ok[:, None].expand(-1, attn.size(1), -1)
    return masked_mean((a * weights).sum(-1), t_ok)
