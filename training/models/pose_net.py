"""Monodepth2 pose network: a two-image ResNet encoder and a pose decoder ("separate_resnet")."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from training.models.pose_decoder import PoseDecoder
from training.models.resnet_encoder import ResnetEncoder


class PoseNet(nn.Module):
    """Two frames in temporal order -> motion mapping the earlier camera to the later one.

    Inputs are N x 3 x H x W RGB in [0, 1]; outputs are the axis-angle rotation (radians) and the
    translation (depth units), each N x 3, for geometry.transformation_from_parameters.
    """

    def __init__(
        self,
        num_layers: int = 18,
        pretrained: bool = False,
        pretrained_path: str | Path | None = None,
    ) -> None:
        super().__init__()
        self.encoder = ResnetEncoder(num_layers, pretrained, pretrained_path, num_input_images=2)
        self.decoder = PoseDecoder(self.encoder.num_ch_enc, num_input_features=1,
                                   num_frames_to_predict_for=2)

    def forward(
        self, earlier: torch.Tensor, later: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.encoder(torch.cat([earlier, later], 1))
        axisangle, translation = self.decoder([features])
        return axisangle[:, 0, 0], translation[:, 0, 0]
