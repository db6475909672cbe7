"""Multi-resolution STFT loss (Parallel WaveGAN): spectral convergence + log-magnitude L1 at several resolutions.

Magnitudes at one resolution leave the phase free; several window sizes at once constrain how
neighbouring frames' phases fit together, which is what lets a generator train without a
discriminator.
"""
from __future__ import annotations

import torch
from torch import nn

# (n_fft, hop, win) at 22.05 kHz: Parallel WaveGAN's three resolutions
RESOLUTIONS = ((1024, 120, 600), (2048, 240, 1200), (512, 50, 240))


class MultiResolutionStftLoss(nn.Module):
    """Mean over resolutions of ``‖|Y| − |Ŷ|‖_F / ‖|Y|‖_F + mean |log |Y| − log |Ŷ||``."""

    def __init__(self, resolutions: tuple[tuple[int, int, int], ...] = RESOLUTIONS):
        super().__init__()
        self.resolutions = tuple(tuple(int(x) for x in r) for r in resolutions)
        for i, (_, _, win) in enumerate(self.resolutions):
            self.register_buffer(f"window{i}", torch.hann_window(win), persistent=False)

    def _mag(self, x: torch.Tensor, i: int) -> torch.Tensor:
        n_fft, hop, win = self.resolutions[i]
        spec = torch.stft(x, n_fft, hop, win, getattr(self, f"window{i}"), return_complex=True)
        return torch.sqrt(spec.real.square() + spec.imag.square() + 1e-7)

    def forward(self, y_hat: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """(B, N) generated and target waveforms → a scalar."""
        total = y_hat.new_zeros(())
        with torch.autocast(y.device.type, enabled=False):
            for i in range(len(self.resolutions)):
                a, b = self._mag(y_hat.float(), i), self._mag(y.float(), i)
                sc = torch.linalg.norm(b - a) / torch.linalg.norm(b).clamp(min=1e-7)
                total = total + sc + (torch.log(a) - torch.log(b)).abs().mean()
        return total / len(self.resolutions)
