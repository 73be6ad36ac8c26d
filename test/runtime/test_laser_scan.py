"""Laser scan from depth: an analytic wall at a known distance and angle."""

from __future__ import annotations

import math

import numpy as np
import pytest

from depth_ros.camera import PinholeIntrinsics
from depth_ros.laser_scan import depth_to_scan, scan_frame_id
from harness.onnx_models import plane_depth
from harness.scenes import column_angles, wall_normal, wall_range

CAMERA = PinholeIntrinsics(120.0, 120.0, 75.3, 40.0, 160, 80)
WALL_DISTANCE_M = 3.0  # from the camera centre to the wall plane
WALL_YAW_DEG = 25.0  # the wall's normal, turned from the optical axis towards +x (right)


def test_wall_ranges_match_the_geometry_column_by_column_and_bin_by_bin() -> None:
    depth = plane_depth(CAMERA, wall_normal(WALL_YAW_DEG), WALL_DISTANCE_M, far=1000.0)
    scan = depth_to_scan(depth, CAMERA, rows=5, range_min=0.1, range_max=50.0)

    assert scan.angle_max == pytest.approx(math.atan(CAMERA.cx / CAMERA.fx))
    assert scan.angle_min == pytest.approx(-math.atan((CAMERA.width - 1 - CAMERA.cx) / CAMERA.fx))
    assert scan.angle_increment == pytest.approx(
        (scan.angle_max - scan.angle_min) / (CAMERA.width - 1)
    )
    angles = column_angles(CAMERA)
    bins = ((angles - scan.angle_min) / scan.angle_increment).astype(int)
    expected = np.full(CAMERA.width, np.inf)
    np.minimum.at(expected, bins, wall_range(angles, WALL_DISTANCE_M, WALL_YAW_DEG))
    hit = np.isfinite(expected)
    column_error = np.abs(scan.ranges[hit] - expected[hit]) / expected[hit]
    assert column_error.max() < 1e-6, column_error.max()
    assert np.isnan(scan.ranges[~hit]).all()

    bin_angles = scan.angle_min + np.arange(CAMERA.width) * scan.angle_increment
    truth = wall_range(bin_angles, WALL_DISTANCE_M, WALL_YAW_DEG)
    bin_error = np.abs(scan.ranges[hit] - truth[hit]) / truth[hit]
    print(f"wall: max error per column {column_error.max():.2e}, per bin {bin_error.max():.2e}")
    assert bin_error.max() < 0.02  # a column's angle is within one increment of its bin's
    nearest = int(np.nanargmin(scan.ranges))
    assert bin_angles[nearest] == pytest.approx(-math.radians(WALL_YAW_DEG), abs=0.02)


def test_nearest_valid_pixel_of_the_band_wins_and_range_limits_apply() -> None:
    depth = np.full((CAMERA.height, CAMERA.width), 4.0, np.float32)
    centre = int(CAMERA.cy - 1)
    depth[centre, 10] = 2.0  # nearer, inside a 3-row band
    depth[0, 20] = 1.0  # nearer but outside the band
    depth[:, 30] = np.nan
    depth[centre - 1 : centre + 2, 40] = 0.05  # all below range_min
    scan = depth_to_scan(depth, CAMERA, rows=3, range_min=0.1, range_max=10.0)
    angles = column_angles(CAMERA)
    bin_of = ((angles - scan.angle_min) / scan.angle_increment).astype(int)
    slope = np.hypot((np.arange(CAMERA.width) - CAMERA.cx) / CAMERA.fx, 1.0)
    assert scan.ranges[bin_of[10]] == pytest.approx(2.0 * slope[10])
    assert scan.ranges[bin_of[20]] == pytest.approx(4.0 * slope[20])
    assert np.isnan(scan.ranges[bin_of[30]]) and np.isnan(scan.ranges[bin_of[40]])
    far = depth_to_scan(depth, CAMERA, rows=3, range_min=0.1, range_max=3.0)
    assert np.isnan(far.ranges[bin_of[20]]) and far.ranges[bin_of[10]] < 3.0


def test_scan_frame_is_the_optical_frames_x_forward_twin() -> None:
    assert scan_frame_id("camera_color_optical_frame") == "camera_color_frame"
    assert scan_frame_id("front_cam") == "front_cam_scan"
    assert scan_frame_id("camera_optical_frame", "base_scan") == "base_scan"


def test_bad_arguments_are_named() -> None:
    depth = np.ones((CAMERA.height, CAMERA.width), np.float32)
    with pytest.raises(ValueError, match="depth is 80x40 but its camera is 160x80"):
        depth_to_scan(depth[::2, ::2], CAMERA, 1, 0.1, 10.0)
    with pytest.raises(ValueError, match="scan rows = 0"):
        depth_to_scan(depth, CAMERA, 0, 0.1, 10.0)
