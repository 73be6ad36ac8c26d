"""What the trainer trains: a task module holding every network of one method and its objective.

The trainer only knows this interface, so self-supervised Monodepth2 and the supervised seed-003
models share one loop, one checkpoint format and one CLI.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from training.config import TrainConfig


@dataclass
class StepOutput:
    """Result of one forward pass of a task on a batch."""

    loss: torch.Tensor  # scalar to back-propagate
    scalars: dict[str, torch.Tensor] = field(default_factory=dict)  # detached values to log
    images: dict[str, torch.Tensor] = field(default_factory=dict)  # N x C x h x w in [0, 1]


def build_task(cfg: TrainConfig) -> nn.Module:
    """Instantiate the task for `cfg.model.architecture`.

    Every task has `forward(batch) -> StepOutput` and `depth_model()`, an nn.Module mapping
    N x 3 x H x W RGB in [0, 1] to N x 1 x H x W depth in model units (what ONNX exports).
    """
    if cfg.model.architecture == "monodepth2":
        from training.monodepth2 import Monodepth2Task

        return Monodepth2Task(cfg)
    from training.supervised import SupervisedTask

    return SupervisedTask(cfg)
