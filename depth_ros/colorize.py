"""A colour-mapped depth preview for people (bgr8), not for machines.

Near is the hot end of the colormap in both scales. `inverse` spreads colours by 1/depth, which
gives near objects most of the colour range (what a driver or robot cares about, and how
Monodepth2 shows disparity); `linear` spreads them evenly in metres. Unknown depth (NaN, inf,
<= 0) is black.
"""

from __future__ import annotations

import cv2
import numpy as np

COLORMAPS: dict[str, int] = {
    "turbo": cv2.COLORMAP_TURBO,
    "inferno": cv2.COLORMAP_INFERNO,
    "magma": cv2.COLORMAP_MAGMA,
    "plasma": cv2.COLORMAP_PLASMA,
    "viridis": cv2.COLORMAP_VIRIDIS,
    "jet": cv2.COLORMAP_JET,
    "bone": cv2.COLORMAP_BONE,
}
SCALES = ("inverse", "linear")


def colorize_depth(
    depth_m: np.ndarray,
    min_m: float,
    max_m: float,
    colormap: str = "turbo",
    scale: str = "inverse",
) -> np.ndarray:
    """H x W depth in metres -> H x W x 3 uint8 BGR; depth is clipped to [min_m, max_m]."""
    lut = COLORMAPS.get(colormap)
    if lut is None:
        raise ValueError(f"colormap {colormap!r} unknown; expected one of {list(COLORMAPS)}")
    if scale not in SCALES:
        raise ValueError(f"colour scale {scale!r} unknown; expected one of {list(SCALES)}")
    if not (0.0 < min_m < max_m < np.inf):
        raise ValueError(f"preview range [{min_m}, {max_m}] m must satisfy 0 < min < max < inf")
    if depth_m.ndim != 2:
        raise ValueError(f"depth is {depth_m.shape}; expected H x W")
    depth = depth_m.astype(np.float32, copy=False)
    with np.errstate(invalid="ignore"):
        unknown = ~((depth > 0.0) & np.isfinite(depth))
    clipped = np.clip(depth, min_m, max_m)
    if scale == "inverse":
        near = (1.0 / clipped - 1.0 / max_m) / (1.0 / min_m - 1.0 / max_m)
    else:
        near = (max_m - clipped) / (max_m - min_m)
    levels = np.rint(np.nan_to_num(near, nan=0.0) * 255.0).astype(np.uint8)
    bgr = cv2.applyColorMap(levels, lut)
    bgr[unknown] = 0
    return bgr
