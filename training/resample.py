"""Lanczos resampling of image tensors, computed the way PIL's antialiased resize computes it.

Monodepth2's reference builds its image pyramid with PIL's Lanczos filter (a = 3), each scale
from the one above; the smoothness term compares each scale's disparity with that scale's image.
PIL widens the filter by the downscale factor (so it also low-passes) and, near the borders,
drops the taps that fall outside the image and renormalises the rest. Here the same weights
form an (out x in) matrix per axis, applied to float tensors. The reference's images are 8-bit:
each pass (columns, then rows) clips to [0, 255] and rounds; `value_range` gives the clipping,
the rounding (at most 1/255 per pass) is left out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import torch

LANCZOS_LOBES = 3  # PIL's Image.LANCZOS support, in source pixels at scale 1


def _lanczos(x: np.ndarray) -> np.ndarray:
    """sinc(x) sinc(x / 3) inside |x| < 3, else 0 (np.sinc is the normalised sin(pi x)/(pi x))."""
    return np.where(np.abs(x) < LANCZOS_LOBES, np.sinc(x) * np.sinc(x / LANCZOS_LOBES), 0.0)


@lru_cache(maxsize=64)
def lanczos_weights(in_size: int, out_size: int) -> np.ndarray:
    """(out_size x in_size) float64 matrix whose rows are PIL's Lanczos taps for each output pixel.

    Output pixel j covers source pixels centred at (j + 0.5) * in_size / out_size (pixel centres
    at i + 0.5); every row sums to 1.
    """
    if in_size < 1 or out_size < 1:
        raise ValueError(f"resize {in_size} -> {out_size} pixels; expected positive sizes")
    scale = in_size / out_size
    stretch = max(scale, 1.0)  # downscaling widens the filter: an antialiasing low-pass
    support = LANCZOS_LOBES * stretch
    weights = np.zeros((out_size, in_size))
    for j in range(out_size):
        centre = (j + 0.5) * scale
        first = max(math.trunc(centre - support + 0.5), 0)
        last = min(math.trunc(centre + support + 0.5), in_size)
        taps = _lanczos((np.arange(first, last) - centre + 0.5) / stretch)
        weights[j, first:last] = taps / taps.sum()
    return weights


def lanczos_resize(
    image: torch.Tensor,
    size: Sequence[int],
    value_range: tuple[float, float] | None = None,
) -> torch.Tensor:
    """N x C x H x W float tensor -> N x C x h x w, size = (h, w), with PIL's Lanczos weights.

    Lanczos overshoots at edges; `value_range` (low, high) clips after each pass as PIL does
    for 8-bit images (None: no clipping, PIL's float-image behaviour).
    """
    height, width = image.shape[-2:]
    out_height, out_width = int(size[0]), int(size[1])
    if (height, width) == (out_height, out_width):
        return image
    rows = torch.from_numpy(lanczos_weights(height, out_height)).to(image)
    cols = torch.from_numpy(lanczos_weights(width, out_width)).to(image)
    resized = image @ cols.T
    if value_range is not None:
        resized = resized.clamp(*value_range)
    resized = rows @ resized
    if value_range is not None:
        resized = resized.clamp(*value_range)
    return resized


def lanczos_pyramid(image: torch.Tensor, sizes: Sequence[Sequence[int]]) -> list[torch.Tensor]:
    """An RGB [0, 1] image at each (h, w) of `sizes` (largest first), each level resized from the
    one before (the first from `image`) and clipped to [0, 1], as the reference builds its
    scales."""
    levels = []
    for size in sizes:
        image = lanczos_resize(image, size, (0.0, 1.0))
        levels.append(image)
    return levels
