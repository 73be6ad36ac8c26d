"""Eigen et al.'s coarse + fine multi-scale depth network, as modified by Zheng et al. (§4.5).

Coarse (global) block: three conv / 2x max-pool / batch-norm blocks bring the image to 1/8 size, a
conv block without pooling and a 1-filter conv follow, then two fully connected layers see the
whole image and write a 1/4-size coarse map, up-sampled bilinearly to full size. Fine (local)
block: convolutions without down-sampling; the coarse map joins as an extra channel after the
first of them (Eigen's 63 + 1 = 64 channels). Batch norm between all convolutions is the paper's
change. The fully connected layers fix the input size at construction.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

COARSE_CHANNELS = (96, 128, 128, 256)  # three pooled blocks, then one block without pooling
FINE_CHANNELS = 64  # width of the fine block; its first conv gives FINE_CHANNELS - 1 + coarse


def _conv_bn_relu(in_channels: int, out_channels: int, kernel: int) -> list[nn.Module]:
    return [nn.Conv2d(in_channels, out_channels, kernel, padding=kernel // 2, bias=False),
            nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True)]


class MultiScaleEigen(nn.Module):
    """forward(normalised image N x 3 x H x W) -> N x 1 x H x W logits; H, W multiples of 8."""

    def __init__(self, height: int, width: int, dropout: float = 0.0) -> None:
        super().__init__()
        if height <= 0 or width <= 0 or height % 8 or width % 8:
            raise ValueError(f"multiscale input {height}x{width} (HxW) is invalid; expected "
                             "positive multiples of 8 (the coarse block pools to 1/8)")
        self.input_size = (height, width)
        self.coarse_size = (height // 4, width // 4)
        c1, c2, c3, c4 = COARSE_CHANNELS
        self.coarse_conv = nn.Sequential(
            *_conv_bn_relu(3, c1, 5), nn.MaxPool2d(2),
            *_conv_bn_relu(c1, c2, 3), nn.MaxPool2d(2),
            *_conv_bn_relu(c2, c3, 3), nn.MaxPool2d(2),
            *_conv_bn_relu(c3, c4, 3),
            nn.Conv2d(c4, 1, 3, padding=1),
        )
        eighth = (height // 8) * (width // 8)
        self.coarse_fc = nn.Sequential(
            nn.Linear(eighth, 2 * eighth), nn.ReLU(inplace=True), nn.Dropout(dropout),
            nn.Linear(2 * eighth, self.coarse_size[0] * self.coarse_size[1]),
        )
        self.fine_in = nn.Sequential(*_conv_bn_relu(3, FINE_CHANNELS - 1, 9))
        self.fine_out = nn.Sequential(
            *_conv_bn_relu(FINE_CHANNELS, FINE_CHANNELS, 5),
            *_conv_bn_relu(FINE_CHANNELS, FINE_CHANNELS, 5),
            nn.Conv2d(FINE_CHANNELS, 1, 5, padding=2),
        )

    def coarse(self, image: torch.Tensor) -> torch.Tensor:
        """The global network's map, N x 1 x H x W (bilinearly up-sampled from 1/4 size)."""
        if not torch.jit.is_tracing() and tuple(image.shape[-2:]) != self.input_size:
            raise ValueError(
                f"multiscale was built for {self.input_size[0]}x{self.input_size[1]} input (HxW), "
                f"got {image.shape[-2]}x{image.shape[-1]}; its fully connected layers fix the size"
            )
        flat = self.coarse_conv(image).flatten(1)
        quarter = self.coarse_fc(flat).view(image.shape[0], 1, *self.coarse_size)
        return F.interpolate(quarter, size=self.input_size, mode="bilinear", align_corners=False)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        fine = torch.cat([self.fine_in(image), self.coarse(image)], dim=1)
        return self.fine_out(fine)
