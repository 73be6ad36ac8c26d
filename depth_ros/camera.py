"""Pinhole intrinsics in pixels, read from and written to sensor_msgs/CameraInfo.

Pixel coordinates follow ROS (image_geometry): u to the right, v down, the centre of the first
pixel at (0, 0). Scaling to another resolution uses the convention of image_proc's resize node
and of Monodepth2's normalised intrinsics: fx and cx scale by W'/W, fy and cy by H'/H. That treats
the image as the continuous interval [0, W]; the pixel-centre-exact map would be
cx' = (cx + 0.5) * W'/W - 0.5, which differs by less than half a pixel. We match the ecosystem so
that our camera_info agrees with what image_proc would publish for the same resize.

A camera can also come from a YAML file (`read_intrinsics_yaml`): the offline tool and training
on robot recordings both read the same two formats.

sensor_msgs is imported only inside `to_camera_info`, so this module imports without ROS.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from depth_ros.image_codec import copy_header

INTRINSICS_KEYS = ("fx", "fy", "cx", "cy", "width", "height")


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

    def normalized(self) -> tuple[float, float, float, float]:
        """(fx/W, fy/H, cx/W, cy/H): the camera for any resize of this image (not a crop)."""
        return (
            self.fx / self.width, self.fy / self.height, self.cx / self.width,
            self.cy / self.height,
        )  # fmt: skip

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


def camera_info_topic_for(image_topic: str) -> str:
    """The camera_info topic that image_transport pairs with `image_topic`: the sibling of the
    image (`/cam/image_raw` and `/cam/image_raw/compressed` both give `/cam/camera_info`)."""
    return image_topic.removesuffix("/compressed").rsplit("/", 1)[0] + "/camera_info"


def read_intrinsics_yaml(path: Path) -> PinholeIntrinsics:
    """The camera of a YAML file: plain pixel intrinsics (fx, fy, cx, cy, width, height) or a ROS
    camera_calibration file (image_width, image_height, camera_matrix.data).

    CameraInfoError names the file and the offending key.
    """
    if not path.is_file():
        raise CameraInfoError(f"intrinsics file {path} does not exist")
    try:
        raw = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as error:
        raise CameraInfoError(f"intrinsics file {path} is not valid YAML: {error}") from None
    if not isinstance(raw, dict):
        raise CameraInfoError(
            f"intrinsics file {path} must hold a mapping, got {type(raw).__name__}"
        )
    values = _camera_calibration_values(path, raw) if "camera_matrix" in raw else raw
    missing = [key for key in INTRINSICS_KEYS if key not in values]
    if missing:
        raise CameraInfoError(f"intrinsics file {path} lacks {missing}; needs {INTRINSICS_KEYS}")
    numbers = {key: _yaml_number(path, key, values[key]) for key in INTRINSICS_KEYS}
    for key in ("width", "height"):
        if numbers[key] <= 0 or numbers[key] != int(numbers[key]):
            raise CameraInfoError(
                f"intrinsics file {path}: {key}={values[key]!r}; expected a positive integer"
            )
    for key in ("fx", "fy"):
        if numbers[key] <= 0:
            raise CameraInfoError(
                f"intrinsics file {path}: {key}={values[key]!r}; expected > 0 pixels"
            )
    for key, size in (("cx", "width"), ("cy", "height")):
        if not 0 <= numbers[key] <= numbers[size]:
            raise CameraInfoError(
                f"intrinsics file {path}: {key}={values[key]!r}; expected within [0, {size}]"
            )
    return PinholeIntrinsics(
        numbers["fx"], numbers["fy"], numbers["cx"], numbers["cy"],
        int(numbers["width"]), int(numbers["height"]),
    )  # fmt: skip


def _camera_calibration_values(path: Path, raw: dict[str, Any]) -> dict[str, Any]:
    matrix = raw["camera_matrix"]
    data = matrix.get("data") if isinstance(matrix, dict) else None
    if not isinstance(data, list) or len(data) != 9:
        raise CameraInfoError(f"intrinsics file {path}: camera_matrix.data must list 9 numbers")
    values = {"fx": data[0], "cx": data[2], "fy": data[4], "cy": data[5]}
    for key, ros_key in (("width", "image_width"), ("height", "image_height")):
        if ros_key in raw:
            values[key] = raw[ros_key]
    return values


def _yaml_number(path: Path, key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise CameraInfoError(
            f"intrinsics file {path}: {key}={value!r}; expected a finite number"
        )
    return float(value)
