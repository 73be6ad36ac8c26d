"""depth/scan over real DDS: a wall at a known distance and angle gives the analytic ranges.

The model's depth is a vertical wall n . X = d (d = 1.2 model units of 2.5 m, normal turned
25 degrees towards the camera's right) seen by the model's camera. The scan is computed from
the published 64 x 32 depth and its camera, so every range has an exact expected value.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from sensor_msgs.msg import CameraInfo, Image, LaserScan

from harness.onnx_models import contract_intrinsics, plane_depth_model
from harness.ros_link import (
    RosHarness,
    camera_info_message,
    image_message,
    send_until_received,
    stamp_of,
)
from harness.scenes import (
    FRAME_ID,
    METRES_PER_UNIT,
    column_angles,
    image_camera,
    node_parameters,
    plane_contract,
    random_rgb,
    wall_normal,
    wall_range,
)

pytestmark = pytest.mark.ros

WALL_UNITS = 1.2  # model units: 3 m
WALL_YAW_DEG = 25.0


def test_scan_of_a_wall_matches_the_geometry(
    ros: RosHarness, start_node, tmp_path: Path, record_property
) -> None:
    contract = plane_contract()
    model = plane_depth_model(tmp_path / "wall.onnx", wall_normal(WALL_YAW_DEG), WALL_UNITS,
                              contract)  # fmt: skip
    node = start_node(node_parameters(model, **{"scan.height": 5, "scan.range_max": 50.0}))
    scan_rec = ros.record(LaserScan, "depth/scan")
    image_pub = ros.publisher(Image, "image")
    info_pub = ros.publisher(CameraInfo, "camera_info")
    ros.wait_for_subscribers(image_pub)
    ros.wait_for_subscribers(info_pub)
    stamp = stamp_of(3)
    image = image_message(random_rgb(3), "rgb8", FRAME_ID, stamp)
    info = camera_info_message(image_camera(contract), FRAME_ID, stamp)
    scan = send_until_received([(info_pub, info), (image_pub, image)], scan_rec, stamp)

    camera = contract_intrinsics(contract)  # of the 64 x 32 depth the scan is made from
    assert scan.header.frame_id == "camera_frame"  # camera_optical_frame's x-forward twin
    assert scan.angle_max == pytest.approx(math.atan(camera.cx / camera.fx), abs=1e-6)
    assert scan.angle_min == pytest.approx(
        -math.atan((camera.width - 1 - camera.cx) / camera.fx), abs=1e-6
    )
    assert (scan.range_min, scan.range_max) == pytest.approx((0.1, 50.0))
    ranges = np.asarray(scan.ranges, np.float64)
    assert ranges.shape == (camera.width,)

    distance = WALL_UNITS * METRES_PER_UNIT
    angles = column_angles(camera)
    angle_min = -math.atan((camera.width - 1 - camera.cx) / camera.fx)  # float64, not the
    increment = (math.atan(camera.cx / camera.fx) - angle_min) / (camera.width - 1)  # float32s
    bins = ((angles - angle_min) / increment).astype(int)
    expected = np.full(camera.width, np.inf)
    np.minimum.at(expected, bins, wall_range(angles, distance, WALL_YAW_DEG))
    hit = np.isfinite(expected)
    column_error = np.abs(ranges[hit] - expected[hit]) / expected[hit]
    bin_angles = angle_min + np.arange(camera.width) * increment
    truth = wall_range(bin_angles, distance, WALL_YAW_DEG)
    bin_error = np.abs(ranges[hit] - truth[hit]) / truth[hit]
    record_property("wall_column_error", f"{column_error.max():.2e}")
    record_property("wall_bin_error", f"{bin_error.max():.2e}")
    print(f"scan of a {distance} m wall at {WALL_YAW_DEG} deg: max relative error "
          f"{column_error.max():.2e} per column, {bin_error.max():.2e} at the bin angles")
    # columns are even in tan(angle), bins even in angle: a few bins get no column (NaN)
    assert hit.sum() > 0.8 * camera.width and np.isnan(ranges[~hit]).all()
    assert column_error.max() < 1e-5
    assert bin_error.max() < 0.05  # one angle increment of a 64-column scan
    assert node.stop() == 0


def test_scan_without_camera_info_is_skipped_with_a_warning_only_while_subscribed(
    ros: RosHarness, start_node, tmp_path: Path
) -> None:
    contract = plane_contract()
    model = plane_depth_model(tmp_path / "wall.onnx", wall_normal(0.0), WALL_UNITS, contract)
    node = start_node(node_parameters(model))
    depth_rec = ros.record(Image, "depth/image_rect")
    image_pub = ros.publisher(Image, "image")
    ros.wait_for_subscribers(image_pub)
    send_until_received(
        [(image_pub, image_message(random_rgb(1), "rgb8", FRAME_ID, stamp_of(1)))],
        depth_rec,
        stamp_of(1),
    )
    assert "laser scan skipped" not in node.log_text()  # nobody asked for a scan
    scan_rec = ros.record(LaserScan, "depth/scan")
    ros.wait_for_publishers("depth/scan")
    for index in range(2, 40):  # until the node has seen the scan subscriber
        stamp = stamp_of(index)
        image = image_message(random_rgb(index), "rgb8", FRAME_ID, stamp)
        send_until_received([(image_pub, image)], depth_rec, stamp)
        if "laser scan skipped: no camera_info received yet" in node.log_text():
            break
    else:
        raise AssertionError(f"no scan warning while subscribed:\n{node.log_text()}")
    assert scan_rec.messages == []
    assert node.stop() == 0
