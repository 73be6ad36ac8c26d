"""Semantic feature pyramid network for depth (Kirillov et al.'s panoptic head; Zheng et al. §4.4).

The encoder is a torchvision ResNet or ResNeXt (the paper used ResNeXt-152 from ImageNet-5k, which
torchvision lacks; resnext50_32x4d, resnext101_32x8d, resnext101_64x4d and resnet* are selectable).
Pyramid: 1x1 lateral convolutions on the stride 4..32 features plus a nearest-neighbour top-down
path, a 3x3 smoothing conv per level. Each level makes its own prediction features with a head of
(3x3 conv, batch norm, ReLU, dropout, 2x bilinear up) stages until stride 4; the heads are summed,
a 1x1 conv predicts depth at 1/4 size, and a bilinear 4x up-sampling gives the full-size map.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from training.models.supervised.backbone import ResnetTrunk


def _head_stage(in_channels: int, out_channels: int, dropout: float, upsample: bool) -> nn.Module:
    layers: list[nn.Module] = [
        nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
        nn.Dropout2d(dropout),
    ]
    if upsample:
        layers.append(nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False))
    return nn.Sequential(*layers)


class SemanticFPN(nn.Module):
    """forward(normalised image N x 3 x H x W, H and W multiples of 32) -> N x 1 x H x W logits."""

    def __init__(self, backbone: str = "resnext50_32x4d", pretrained: bool = False,
                 pretrained_path: str = "", freeze_encoder: bool = False, dropout: float = 0.0,
                 pyramid_channels: int = 256, head_channels: int = 128) -> None:
        super().__init__()
        self.encoder = ResnetTrunk(backbone, pretrained, pretrained_path, freeze_encoder)
        levels = self.encoder.num_ch[1:]  # strides 4, 8, 16, 32
        self.lateral = nn.ModuleList(nn.Conv2d(c, pyramid_channels, 1) for c in levels)
        self.smooth = nn.ModuleList(
            nn.Conv2d(pyramid_channels, pyramid_channels, 3, padding=1) for _ in levels
        )
        heads = []
        for level in range(len(levels)):  # level i (stride 4 * 2^i) needs i up-samplings
            stages = [_head_stage(pyramid_channels if s == 0 else head_channels, head_channels,
                                  dropout, upsample=level > 0) for s in range(max(level, 1))]
            heads.append(nn.Sequential(*stages))
        self.heads = nn.ModuleList(heads)
        self.predict = nn.Conv2d(head_channels, 1, 1)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        features = self.encoder(image)[1:]
        laterals = [conv(f) for conv, f in zip(self.lateral, features, strict=True)]
        pyramid = [laterals[-1]]
        for lateral in reversed(laterals[:-1]):
            top = F.interpolate(pyramid[0], size=lateral.shape[-2:], mode="nearest")
            pyramid.insert(0, lateral + top)
        merged = sum(head(smooth(p)) for head, smooth, p in
                     zip(self.heads, self.smooth, pyramid, strict=True))
        quarter = self.predict(merged)
        return F.interpolate(quarter, size=image.shape[-2:], mode="bilinear", align_corners=False)
