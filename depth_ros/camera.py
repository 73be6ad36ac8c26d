"""Pinhole intrinsics in pixels, read from and written to sensor_msgs/CameraInfo.

Pixel coordinates follow ROS (image_geometry): u to the right, v down, the centre of the first
pixel at (0, 0). Scaling to another resolution uses the convention of image_proc's resize node
and of Monodepth2's normalised intrinsics: fx and cx scale by W'/W, fy and cy by H'/H. That treats
the image as the continuous interval [0, W]; the pixel-centre-exact map would be
cx' = (cx + 0.5) * W'/W - 0.5, which differs by less than half a pixel. We match the ecosystem so
that our camera_info agrees with what image_proc would publish for the same resize.

sensor_msgs is imported only inside `to_camera_info`, so this module imports without ROS.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


class CameraInfoError(ValueError):
    """Intrinsics that cannot describe a camera: the message names the field and the value."""


def _require_positive(field: str, value: float) -> None:
    if not (math.isfinite(value) and value > 0.0):
        raise CameraInfoError(f"camera {field} = {value} must be finite and > 0")


def _require_finite(field: str, value: float) -> None:
    if not math.isfinite(value):
        raise CameraInfoError(f"camera {field} = {value} must be finite")


@dataclass(frozen=True)
class PinholeIntrinsics:
    """Focal lengths and principal point in pixels, for an image of width x height pixels."""

    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int

    def __post_init__(self) -> None:
        _require_positive("fx", self.fx)
        _require_positive("fy", self.fy)
        _require_finite("cx", self.cx)
        _require_finite("cy", self.cy)
        _require_positive("width", self.width)
        _require_positive("height", self.height)

    @classmethod
    def from_camera_info(cls, msg: Any) -> PinholeIntrinsics:
        """The pinhole of the image the camera_info describes; CameraInfoError names a bad field.

        Like image_geometry (and so depth_image_proc), the projection matrix P is used when it is
        set: it describes the rectified image, which is what a depth network should be fed. A
        driver that leaves P zero (uncalibrated rectification) falls back to K.
        """
        p = [float(v) for v in msg.p]
        if len(p) == 12 and p[0] != 0.0 and p[5] != 0.0:
            fx, fy, cx, cy = p[0], p[5], p[2], p[6]
            index = ("p[0]", "p[5]", "p[2]", "p[6]")
        else:
            k = [float(v) for v in msg.k]
            if len(k) != 9:
                raise CameraInfoError(f"camera_info k has {len(k)} values; expected 9")
            fx, fy, cx, cy = k[0], k[4], k[2], k[5]
            index = ("k[0]", "k[4]", "k[2]", "k[5]")
        _require_positive(f"camera_info {index[0]} (fx)", fx)
        _require_positive(f"camera_info {index[1]} (fy)", fy)
        _require_finite(f"camera_info {index[2]} (cx)", cx)
        _require_finite(f"camera_info {index[3]} (cy)", cy)
        _require_positive("camera_info width", int(msg.width))
        _require_positive("camera_info height", int(msg.height))
        return cls(fx, fy, cx, cy, int(msg.width), int(msg.height))

    @classmethod
    def from_normalized(
        cls, fx_n: float, fy_n: float, cx_n: float, cy_n: float, width: int, height: int
    ) -> PinholeIntrinsics:
        """From intrinsics normalised by the image size (fx/W, fy/H, cx/W, cy/H), as in a
        ModelContract or KITTI_NORMALIZED_K."""
        return cls(fx_n * width, fy_n * height, cx_n * width, cy_n * height, width, height)

    def scaled(self, width: int, height: int) -> PinholeIntrinsics:
        """The same camera for the image resized to width x height (see module docstring)."""
        sx = width / self.width
        sy = height / self.height
        return PinholeIntrinsics(
            self.fx * sx, self.fy * sy, self.cx * sx, self.cy * sy, width, height
        )

    def to_camera_info(self, header: Any | None = None) -> Any:
        """A CameraInfo for an undistorted image: K, P = [K | 0], R = I, plumb_bob with D = 0.

        The header is copied (None -> empty header).
        """
        from sensor_msgs.msg import CameraInfo

        from depth_ros.image_codec import copy_header

        msg = CameraInfo()
        msg.header = copy_header(header)
        msg.width = int(self.width)
        msg.height = int(self.height)
        msg.distortion_model = "plumb_bob"
        msg.d = [0.0] * 5
        msg.k = [self.fx, 0.0, self.cx, 0.0, self.fy, self.cy, 0.0, 0.0, 1.0]
        msg.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
        msg.p = [self.fx, 0.0, self.cx, 0.0, 0.0, self.fy, self.cy, 0.0, 0.0, 0.0, 1.0, 0.0]
        return msg
