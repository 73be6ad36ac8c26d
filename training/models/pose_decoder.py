"""Monodepth2 pose decoder: ResNet features of a frame pair -> relative camera motion.

The output is an axis-angle rotation (radians) and a translation (in the depth network's units)
per predicted frame. The final x0.01 keeps the initial motions near identity, which keeps the
first warps sensible.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

SQUEEZE_CHANNELS = 256
OUTPUT_SCALE = 0.01


class PoseDecoder(nn.Module):
    """Last encoder feature(s) -> (axisangle, translation), each N x F x 1 x 3.

    The published decoder keeps its convolutions in a list `net`; `REFERENCE_NAMES[k]` is the
    name of `net.<k>` here (`net.0` = `squeeze`, `net.1` = `pose0`, ...), parameter names after
    it are the same (`weight`, `bias`).
    """

    REFERENCE_NAMES = ("squeeze", "pose0", "pose1", "pose2")

    def __init__(
        self,
        num_ch_enc: Sequence[int],
        num_input_features: int = 1,
        num_frames_to_predict_for: int = 2,
    ) -> None:
        super().__init__()
        self.num_input_features = num_input_features
        self.num_frames_to_predict_for = num_frames_to_predict_for
        self.squeeze = nn.Conv2d(num_ch_enc[-1], SQUEEZE_CHANNELS, kernel_size=1)
        self.pose0 = nn.Conv2d(num_input_features * SQUEEZE_CHANNELS, 256, 3, stride=1, padding=1)
        self.pose1 = nn.Conv2d(256, 256, 3, stride=1, padding=1)
        self.pose2 = nn.Conv2d(256, 6 * num_frames_to_predict_for, kernel_size=1)
        self.relu = nn.ReLU()

    def forward(
        self, input_features: Sequence[Sequence[torch.Tensor]]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """`input_features`: one encoder feature list per input; only the last map is used."""
        if len(input_features) != self.num_input_features:
            raise ValueError(
                f"PoseDecoder got {len(input_features)} feature lists; expected "
                f"{self.num_input_features}"
            )
        x = torch.cat([self.relu(self.squeeze(f[-1])) for f in input_features], 1)
        x = self.relu(self.pose0(x))
        x = self.relu(self.pose1(x))
        x = self.pose2(x).mean(3).mean(2)
        x = OUTPUT_SCALE * x.view(-1, self.num_frames_to_predict_for, 1, 6)
        return x[..., :3], x[..., 3:]
