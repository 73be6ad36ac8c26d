"""UNet with a ResNet encoder, as modified by Zheng et al. (section 4.3).

Ronneberger's encoder-bottleneck-decoder with skip connections, where the encoder is an ImageNet
ResNet (the paper used ResNet-152; 18/34/50/101/152 are selectable) that may be frozen, and every
decoder block carries batch normalisation and dropout so it generalises from NYUv2's ~1000 images.
"""

from __future__ import annotations

import torch
from torch import nn

from training.models.supervised.backbone import ResnetTrunk, resnet_name

DECODER_CHANNELS = (256, 128, 64, 32, 16)  # decoder widths at strides 16, 8, 4, 2, 1


class UpBlock(nn.Module):
    """2x up-convolution, concatenation with the encoder skip, two 3x3 conv-BN-ReLU (dropout)."""

    def __init__(self, in_channels: int, skip_channels: int, out_channels: int,
                 dropout: float) -> None:
        super().__init__()
        self.up = nn.ConvTranspose2d(in_channels, out_channels, kernel_size=2, stride=2)
        self.fuse = nn.Sequential(
            nn.Conv2d(out_channels + skip_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
            nn.Dropout2d(dropout),
            nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        )

    def forward(self, x: torch.Tensor, skip: torch.Tensor | None) -> torch.Tensor:
        x = self.up(x)
        if skip is not None:
            x = torch.cat([x, skip], dim=1)
        return self.fuse(x)


class UNet(nn.Module):
    """forward(normalised image N x 3 x H x W, H and W multiples of 32) -> N x 1 x H x W logits."""

    def __init__(self, num_layers: int = 18, pretrained: bool = False, pretrained_path: str = "",
                 freeze_encoder: bool = False, dropout: float = 0.0,
                 decoder_channels: tuple[int, ...] = DECODER_CHANNELS) -> None:
        super().__init__()
        self.encoder = ResnetTrunk(resnet_name(num_layers), pretrained, pretrained_path,
                                   freeze_encoder)
        enc = self.encoder.num_ch
        skips = (enc[3], enc[2], enc[1], enc[0], 0)  # the last block reaches full size, no skip
        ins = (enc[4], *decoder_channels[:-1])
        self.decoder = nn.ModuleList(
            UpBlock(i, s, o, dropout)
            for i, s, o in zip(ins, skips, decoder_channels, strict=True)
        )
        self.head = nn.Conv2d(decoder_channels[-1], 1, 3, padding=1)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        features = self.encoder(image)
        x = features[4]
        for block, skip in zip(self.decoder, (*features[3::-1], None), strict=True):
            x = block(x, skip)
        return self.head(x)
