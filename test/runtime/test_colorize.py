"""colorize_depth: which colour each depth gets, NaN black, argument checks."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from depth_ros.colorize import COLORMAPS, colorize_depth


def lut(colormap: str) -> np.ndarray:
    """256 x 3 BGR: the colour OpenCV gives each level."""
    levels = np.arange(256, dtype=np.uint8).reshape(1, 256)
    return cv2.applyColorMap(levels, COLORMAPS[colormap])[0]


def test_levels_follow_inverse_depth_with_near_hot() -> None:
    depth = np.array([[1.0, 2.0, 100.0, 0.5, 500.0]], np.float32)
    bgr = colorize_depth(depth, 1.0, 100.0)
    assert bgr.shape == (1, 5, 3) and bgr.dtype == np.uint8
    table = lut("turbo")
    level_2m = round(255 * (1 / 2 - 1 / 100) / (1 / 1 - 1 / 100))  # 126
    np.testing.assert_array_equal(bgr[0, 0], table[255])  # min -> hot end
    np.testing.assert_array_equal(bgr[0, 1], table[level_2m])
    np.testing.assert_array_equal(bgr[0, 2], table[0])  # max -> cold end
    np.testing.assert_array_equal(bgr[0, 3], table[255])  # clipped
    np.testing.assert_array_equal(bgr[0, 4], table[0])
    assert bgr[0, 0, 2] > bgr[0, 0, 0], "turbo's hot end is red (BGR order)"


def test_linear_scale() -> None:
    depth = np.array([[10.0, 55.0, 100.0]], np.float32)
    bgr = colorize_depth(depth, 10.0, 100.0, colormap="viridis", scale="linear")
    table = lut("viridis")
    for column, level in enumerate((255, 128, 0)):  # (100 - 55) / 90 * 255 = 127.5 -> 128
        np.testing.assert_array_equal(bgr[0, column], table[level])


def test_unknown_depth_is_black() -> None:
    depth = np.array([[np.nan, np.inf, 0.0, -1.0, 3.0]], np.float32)
    bgr = colorize_depth(depth, 1.0, 10.0)
    np.testing.assert_array_equal(bgr[0, :4], 0)
    assert bgr[0, 4].any()


def test_every_colormap_differs() -> None:
    ramp = np.linspace(1.0, 50.0, 64, dtype=np.float32).reshape(4, 16)
    images = {name: colorize_depth(ramp, 1.0, 50.0, colormap=name) for name in COLORMAPS}
    names = list(images)
    for i, first in enumerate(names):
        for second in names[i + 1 :]:
            assert not np.array_equal(images[first], images[second]), (first, second)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"colormap": "rainbow-unicorn"}, r"colormap 'rainbow-unicorn' unknown; expected one of"),
        ({"scale": "log"}, r"colour scale 'log' unknown"),
        ({"min_m": 0.0}, r"range \[0.0, 10.0\] m must satisfy 0 < min < max"),
        ({"min_m": 20.0}, r"range \[20.0, 10.0\]"),
    ],
)
def test_bad_arguments(kwargs: dict, match: str) -> None:
    arguments = {"depth_m": np.ones((2, 2), np.float32), "min_m": 1.0, "max_m": 10.0, **kwargs}
    with pytest.raises(ValueError, match=match):
        colorize_depth(**arguments)
