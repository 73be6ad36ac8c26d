"""Monodepth2 depth network: ResNet encoder + depth decoder, and its inference form for export."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from training.geometry import disp_to_depth
from training.models.depth_decoder import DepthDecoder
from training.models.resnet_encoder import ResnetEncoder

# The encoder halves the resolution five times and the decoder concatenates skips at every level.
INPUT_MULTIPLE = 32


class DepthNet(nn.Module):
    """N x 3 x H x W RGB in [0, 1] -> sigmoid disparities per scale, or depth for inference.

    H and W must be multiples of 32. Depth is in the units min_depth/max_depth are given in
    (the reference's 0.1..100; metres only once scaled, see the stereo baseline convention).
    """

    def __init__(
        self,
        num_layers: int = 18,
        pretrained: bool = False,
        pretrained_path: str | Path | None = None,
        scales: Sequence[int] = (0, 1, 2, 3),
        min_depth: float = 0.1,
        max_depth: float = 100.0,
    ) -> None:
        super().__init__()
        if 0 not in scales:
            raise ValueError(f"DepthNet scales={tuple(scales)} must include 0 (the output scale)")
        if not 0 < min_depth < max_depth:
            raise ValueError(
                f"min_depth={min_depth}, max_depth={max_depth}; expected 0 < min_depth < max_depth"
            )
        self.min_depth = float(min_depth)
        self.max_depth = float(max_depth)
        self.encoder = ResnetEncoder(num_layers, pretrained, pretrained_path, num_input_images=1)
        self.decoder = DepthDecoder(self.encoder.num_ch_enc, scales)

    @property
    def scales(self) -> tuple[int, ...]:
        return self.decoder.scales

    def _encode(self, image: torch.Tensor) -> list[torch.Tensor]:
        height, width = image.shape[-2:]
        # Skipped while tracing: the trace would record the check as a constant (and warn).
        if not torch.jit.is_tracing() and (height % INPUT_MULTIPLE or width % INPUT_MULTIPLE):
            raise ValueError(
                f"DepthNet input is {width}x{height}; width and height must be multiples of "
                f"{INPUT_MULTIPLE}"
            )
        return self.encoder(image)

    def forward(self, image: torch.Tensor) -> dict[int, torch.Tensor]:
        """{scale s: N x 1 x H/2^s x W/2^s disparity in (0, 1)} for every decoder scale."""
        return self.decoder(self._encode(image))

    def predict_depth(self, image: torch.Tensor) -> torch.Tensor:
        """N x 1 x H x W depth from the scale-0 disparity: the exported inference graph."""
        disp = self.decoder(self._encode(image), scales=(0,))[0]
        return disp_to_depth(disp, self.min_depth, self.max_depth)[1]


class DepthPredictor(nn.Module):
    """Inference view of a DepthNet: forward(image) -> depth, sharing the DepthNet's weights.

    Traceable (torch.jit.trace / ONNX): one tensor in, one tensor out. It starts in the
    DepthNet's train/eval mode, so an exporter that restores the wrapper's mode afterwards does
    not flip an evaluated DepthNet back into training (batch-statistics BatchNorm).
    """

    def __init__(self, depth_net: DepthNet) -> None:
        super().__init__()
        self.depth_net = depth_net
        self.training = depth_net.training

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.depth_net.predict_depth(image)
