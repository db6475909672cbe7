"""One training engine for all tasks: AMP, DDP, checkpoints, resume, logging."""
