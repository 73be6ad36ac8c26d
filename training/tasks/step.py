"""What one training step of a task returns to the trainer."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch


@dataclass
class StepOutput:
    """Result of one forward pass of a task on a batch."""

    loss: torch.Tensor  # scalar to back-propagate
    scalars: dict[str, torch.Tensor] = field(default_factory=dict)  # detached values to log
    images: dict[str, torch.Tensor] = field(default_factory=dict)  # N x C x h x w in [0, 1]
