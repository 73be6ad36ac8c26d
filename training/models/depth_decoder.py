"""Monodepth2 depth decoder: U-Net style upsampling from ResNet features to sigmoid disparities.

Level i (4 down to 0) works at 1/2^i of the input: a conv block on the coarser map, nearest x2
upsampling, concatenation of the encoder skip feature i-1 (for i > 0) and a second conv block; a
3x3 head with a sigmoid gives the disparity at scale i when i is one of `scales`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

NUM_CH_DEC = (16, 32, 64, 128, 256)  # decoder channels at levels 0..4
MAX_SCALE = len(NUM_CH_DEC) - 1


class Conv3x3(nn.Module):
    """3x3 convolution on a reflection-padded input (no zero border that reads as an edge)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.pad = nn.ReflectionPad2d(1)
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.pad(x))


class ConvBlock(nn.Module):
    """Conv3x3 followed by ELU."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv = Conv3x3(in_channels, out_channels)
        self.nonlin = nn.ELU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.nonlin(self.conv(x))


class DecoderLevel(nn.Module):
    """One decoder level: `upconv` before the x2 upsampling, `fuse` after the skip concat."""

    def __init__(self, in_channels: int, skip_channels: int, out_channels: int) -> None:
        super().__init__()
        self.upconv = ConvBlock(in_channels, out_channels)
        self.fuse = ConvBlock(out_channels + skip_channels, out_channels)

    def forward(self, x: torch.Tensor, skip: torch.Tensor | None) -> torch.Tensor:
        x = F.interpolate(self.upconv(x), scale_factor=2.0, mode="nearest")
        if skip is not None:
            x = torch.cat([x, skip], 1)
        return self.fuse(x)


class DepthDecoder(nn.Module):
    """Features from ResnetEncoder -> {scale: N x 1 x H/2^s x W/2^s disparity in (0, 1)}."""

    def __init__(self, num_ch_enc: Sequence[int], scales: Sequence[int] = (0, 1, 2, 3)) -> None:
        super().__init__()
        if len(num_ch_enc) != len(NUM_CH_DEC):
            raise ValueError(f"num_ch_enc={tuple(num_ch_enc)} must list 5 encoder widths")
        bad = [s for s in scales if not 0 <= s <= MAX_SCALE]
        if bad or not scales or len(set(scales)) != len(scales):
            raise ValueError(
                f"decoder scales={tuple(scales)} are invalid; expected distinct values in "
                f"0..{MAX_SCALE}"
            )
        self.scales: tuple[int, ...] = tuple(sorted(scales))
        # levels[j] is level i = 4 - j, coarsest first: the order they run in.
        levels = []
        for i in range(MAX_SCALE, -1, -1):
            in_channels = num_ch_enc[-1] if i == MAX_SCALE else NUM_CH_DEC[i + 1]
            skip_channels = num_ch_enc[i - 1] if i > 0 else 0
            levels.append(DecoderLevel(in_channels, skip_channels, NUM_CH_DEC[i]))
        self.levels = nn.ModuleList(levels)
        self.disp_heads = nn.ModuleDict({str(s): Conv3x3(NUM_CH_DEC[s], 1) for s in self.scales})

    def reference_prefixes(self) -> list[str]:
        """State-dict prefixes in the order of the published decoder's `decoder.<k>` list.

        k = 0..9 are the conv blocks upconv(4,0), upconv(4,1), upconv(3,0), ..., upconv(0,1)
        (here `levels.<j>.upconv` / `levels.<j>.fuse`); k = 10.. are the disparity heads in
        increasing scale. The parameter names after the prefix are the same in both
        (`conv.conv.weight` for blocks, `conv.weight` for heads), so the published key
        `decoder.<k>.<rest>` is `<prefix[k]>.<rest>` here.
        """
        prefixes = []
        for j in range(len(self.levels)):
            prefixes += [f"levels.{j}.upconv", f"levels.{j}.fuse"]
        prefixes += [f"disp_heads.{s}" for s in self.scales]
        return prefixes

    def forward(
        self, features: Sequence[torch.Tensor], scales: Sequence[int] | None = None
    ) -> dict[int, torch.Tensor]:
        """Disparities at `scales` (default: all the decoder has heads for).

        Asking for fewer scales (e.g. only 0 for inference export) skips the unused heads.
        """
        wanted = self.scales if scales is None else tuple(scales)
        missing = [s for s in wanted if s not in self.scales]
        if missing:
            raise ValueError(f"scales {missing} requested; the decoder has heads for {self.scales}")
        disps: dict[int, torch.Tensor] = {}
        x = features[-1]
        for j, level in enumerate(self.levels):
            i = MAX_SCALE - j
            x = level(x, features[i - 1] if i > 0 else None)
            if i in wanted:
                disps[i] = torch.sigmoid(self.disp_heads[str(i)](x))
        return disps
