"""What a task hands the engine besides its model and data: optional callbacks (:class:`Hooks`), and the
protocol of a model trained with one optimizer per parameter group (:class:`MultiOptimizerModel`)."""
from __future__ import annotations

import torch


class Hooks:
    """Optional task callbacks; subclass and override what you need (any object with these methods works)."""

    def on_valid(self, model: torch.nn.Module, batch: dict, writer, step: int) -> None:
        """Rank 0, first validation batch (on the device), model in eval mode under no_grad.
        ``writer`` is a ``SummaryWriter`` (None when tensorboard is off): add plots / audio."""

    def on_step_end(self, step: int, model: torch.nn.Module) -> None:
        """Every rank, after each optimizer update and any checkpoint it triggered."""


class MultiOptimizerModel:
    """Protocol of a model trained with one optimizer per parameter group (e.g. generator and
    discriminators). ``fit`` detects it by ``optimizer_groups``; everything else (resume, DDP,
    AMP, accumulation, bad-step skipping, checkpoints) works as for one optimizer."""

    def optimizer_groups(self) -> dict[str, list[torch.nn.Parameter]]:
        """Ordered ``{phase name: parameters}``; phases run in this order within each update."""
        raise NotImplementedError

    def forward(self, batch: dict, phase: str | None = None) -> tuple[torch.Tensor, dict]:
        """``phase`` names the group whose loss to return; ``None`` = validation."""
        raise NotImplementedError
