"""A planar laser scan from a depth image, as depthimage_to_laserscan computes it.

For Nav2 costmaps fed by sensor_msgs/LaserScan (obstacle layer, AMCL-style consumers):
- a band of `rows` image rows centred on the optical centre row (cy) is looked at;
- column u looks along the angle -atan((u - cx) / fx) (left of the optical axis is positive);
  angle_max belongs to column 0, angle_min to the last column, and the W columns fill W bins of
  equal angle: bin = int((angle - angle_min) / angle_increment);
- its range is the horizontal distance hypot(x, z) = z * hypot((u - cx) / fx, 1) of the nearest
  valid pixel of the band, where valid means finite and within [range_min, range_max]; a bin
  with none stays NaN.

The scan lies in the plane of the optical axis and the image x axis, and its angles are about
the optical y axis (down), measured from z towards -x. That is the x-forward, y-left, z-up twin
of the optical frame (REP 103), the frame `scan_frame_id` names: the same origin, rotated by
roll -pi/2, yaw -pi/2 into the optical frame. A robot whose camera driver does not publish that
twin needs the static transform from the README.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from depth_ros.camera import PinholeIntrinsics

OPTICAL_SUFFIX = "_optical_frame"


@dataclass(frozen=True)
class PlanarScan:
    """Ranges in metres (NaN: nothing valid in that direction) and their angles in radians."""

    ranges: np.ndarray  # W float32, index 0 at angle_min (the image's right edge)
    angle_min: float
    angle_max: float
    angle_increment: float
    range_min: float
    range_max: float


def scan_frame_id(optical_frame: str, configured: str = "") -> str:
    """The frame of the scan: `configured` when set, else the optical frame's x-forward twin
    (camera_color_optical_frame -> camera_color_frame, the pair camera drivers publish), else
    `<optical_frame>_scan`."""
    if configured:
        return configured
    if optical_frame.endswith(OPTICAL_SUFFIX):
        return optical_frame[: -len(OPTICAL_SUFFIX)] + "_frame"
    return f"{optical_frame}_scan"


def depth_to_scan(
    depth: np.ndarray,
    camera: PinholeIntrinsics,
    rows: int,
    range_min: float,
    range_max: float,
) -> PlanarScan:
    """The scan of an H x W float32 depth image in metres (NaN unknown) whose camera is
    `camera`; `rows` image rows around cy are considered (clipped to the image)."""
    height, width = depth.shape
    if (camera.width, camera.height) != (width, height):
        raise ValueError(
            f"depth is {width}x{height} but its camera is {camera.width}x{camera.height}"
        )
    if rows < 1:
        raise ValueError(f"scan rows = {rows}; expected at least 1")
    if not 0.0 <= range_min < range_max:
        raise ValueError(f"scan range [{range_min}, {range_max}] m must satisfy 0 <= min < max")
    first = min(max(int(camera.cy - rows / 2.0), 0), height - 1)
    band = depth[first : first + rows].astype(np.float64)
    slope = (np.arange(width, dtype=np.float64) - camera.cx) / camera.fx  # x / z per column
    ranges = band * np.hypot(slope, 1.0)[None, :]
    with np.errstate(invalid="ignore"):
        usable = np.isfinite(ranges) & (ranges >= range_min) & (ranges <= range_max)
    nearest = np.where(usable, ranges, np.inf).min(axis=0)

    angle_max = math.atan(camera.cx / camera.fx)
    angle_min = -math.atan((width - 1 - camera.cx) / camera.fx)
    increment = (angle_max - angle_min) / max(width - 1, 1)
    angles = -np.arctan(slope)
    bins = np.clip(((angles - angle_min) / increment).astype(np.int64), 0, width - 1)
    out = np.full(width, np.inf)
    np.minimum.at(out, bins, nearest)
    out[~np.isfinite(out)] = np.nan
    return PlanarScan(
        out.astype(np.float32), angle_min, angle_max, increment, range_min, range_max
    )


def to_laser_scan(scan: PlanarScan, header: Any, frame_id: str, scan_time_s: float) -> Any:
    """sensor_msgs/LaserScan of `scan`, stamped with `header`'s stamp in `frame_id`."""
    from sensor_msgs.msg import LaserScan

    msg = LaserScan()
    msg.header.stamp = header.stamp
    msg.header.frame_id = frame_id
    msg.angle_min = scan.angle_min
    msg.angle_max = scan.angle_max
    msg.angle_increment = scan.angle_increment
    msg.time_increment = 0.0
    msg.scan_time = float(scan_time_s)
    msg.range_min = scan.range_min
    msg.range_max = scan.range_max
    msg.ranges = scan.ranges.tolist()
    return msg
