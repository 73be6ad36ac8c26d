"""Zheng et al.'s baseline: a frozen ResNet18 with a fully connected head that writes a depth map.

Section 4.2 of the paper: the classifier of an ImageNet ResNet18 is replaced by fully connected
layers of 512, 512, 128, 4800 and 38400 outputs with ReLU between them; the last layer's outputs
form a coarse depth map that one bilinear up-sampling brings to the input size. The paper's
weaknesses are kept on purpose (it is the baseline): global pooling and the fully connected layers
discard the spatial layout of the features, so predictions are blurry and biased towards the mean
layout.

Coarse map shape: 38400 has no integer factorisation with the 3:4 aspect of 480 x 640 NYUv2
frames, so the map is (H/4) x (W/2) = 120 x 320 at 480 x 640, exactly the paper's 38400 outputs.
Other input sizes keep the same factors, so the last layer has (H/4)(W/2) outputs and the network
is built for one input size.
"""

from __future__ import annotations

import itertools

import torch
import torch.nn.functional as F
from torch import nn

from training.models.supervised.backbone import ResnetTrunk

PAPER_HIDDEN_WIDTHS = (512, 512, 128, 4800)  # Zheng et al.'s fully connected widths before the map


class ResnetBaseline(nn.Module):
    """ResNet18 features -> global average -> FC head -> coarse map -> bilinear to H x W.

    forward(normalised image N x 3 x H x W) -> N x 1 x H x W raw depth logits (the task maps
    them to metres); H x W must be the size given at construction.
    """

    def __init__(self, height: int, width: int, pretrained: bool = False,
                 pretrained_path: str = "", freeze_encoder: bool = True,
                 hidden_widths: tuple[int, ...] = PAPER_HIDDEN_WIDTHS) -> None:
        super().__init__()
        if height <= 0 or width <= 0 or height % 4 or width % 2:
            raise ValueError(f"resnet_baseline input {height}x{width} (HxW) is invalid; expected "
                             "a height divisible by 4 and a width divisible by 2")
        self.input_size = (height, width)
        self.coarse_size = (height // 4, width // 2)
        self.encoder = ResnetTrunk("resnet18", pretrained, pretrained_path, freeze_encoder)
        coarse_pixels = self.coarse_size[0] * self.coarse_size[1]
        widths = (self.encoder.num_ch[-1], *hidden_widths, coarse_pixels)
        layers: list[nn.Module] = []
        for i, (n_in, n_out) in enumerate(itertools.pairwise(widths)):
            if i:
                layers.append(nn.ReLU(inplace=True))
            layers.append(nn.Linear(n_in, n_out))
        self.head = nn.Sequential(*layers)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        if not torch.jit.is_tracing() and tuple(image.shape[-2:]) != self.input_size:
            raise ValueError(
                f"resnet_baseline was built for {self.input_size[0]}x{self.input_size[1]} input "
                f"(HxW), got {image.shape[-2]}x{image.shape[-1]}; its fully connected head fixes "
                "the size (set data.height/width and rebuild)"
            )
        pooled = self.encoder(image)[-1].mean(dim=(2, 3))
        coarse = self.head(pooled).view(image.shape[0], 1, *self.coarse_size)
        return F.interpolate(coarse, size=self.input_size, mode="bilinear", align_corners=False)
