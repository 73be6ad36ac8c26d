"""Camera-aware metric depth over real DDS: one analytic scene, two robot cameras unlike the
training camera, the true depth from both, and the corrections in /diagnostics.

The model judges the depth of a 0.5 m disc from its apparent size under a KITTI-like training
camera (harness.onnx_models.disc_size_model); the disc is 5 m in front of each camera.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from rclpy.qos import ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, Image

from depth_ros.image_codec import image_to_array
from depth_ros.input_qos import camera_qos
from harness.onnx_models import disc_image, disc_size_model, make_contract
from harness.ros_link import (
    RosHarness,
    camera_info_message,
    image_message,
    send_until_received,
    stamp_of,
    wait_until,
)
from harness.scenes import CAMERAS, DISC_DEPTH_M, DISC_RADIUS_M, FRAME_ID, node_parameters

pytestmark = pytest.mark.ros


def camera_status(array: DiagnosticArray) -> DiagnosticStatus | None:
    return next((s for s in array.status if s.name == "monodepth_node: camera"), None)


def test_two_cameras_see_the_true_depth_and_diagnostics_report_the_fit(
    ros: RosHarness, start_node, tmp_path: Path, record_property
) -> None:
    contract = make_contract(input_width=128, input_height=64)
    model = disc_size_model(tmp_path / "disc.onnx", DISC_RADIUS_M, contract)
    node = start_node(node_parameters(model, **{"range.max": 100.0}))
    depth_rec = ros.record(Image, "depth/image_rect")
    depth_info_rec = ros.record(CameraInfo, "depth/camera_info")
    diagnostics = ros.record(DiagnosticArray, "/diagnostics")
    reliable = camera_qos(ReliabilityPolicy.RELIABLE)
    image_pub = ros.publisher(Image, "image", reliable)
    info_pub = ros.publisher(CameraInfo, "camera_info", reliable)
    ros.wait_for_subscribers(image_pub)
    ros.wait_for_subscribers(info_pub)

    for index, name in enumerate(sorted(CAMERAS), start=1):
        camera = CAMERAS[name]
        pixels = disc_image(camera, DISC_RADIUS_M, DISC_DEPTH_M)
        info = camera_info_message(camera, FRAME_ID, stamp_of(0))
        for _ in range(3):  # camera_info first, so the node knows the camera for the image
            info_pub.publish(info)
            time.sleep(0.2)
        stamp = stamp_of(index)
        image = image_message(pixels, "rgb8", FRAME_ID, stamp)
        info.header.stamp = stamp
        # depth/camera_info is published only for a frame whose camera was known
        send_until_received([(info_pub, info), (image_pub, image)], depth_info_rec, stamp)
        depth_msg = next(
            m for m in reversed(depth_rec.messages) if m.header.stamp.sec == stamp.sec
        )
        depth = float(np.nanmean(image_to_array(depth_msg)))
        error = abs(depth - DISC_DEPTH_M) / DISC_DEPTH_M
        record_property(f"error {name}", f"{error:.3%}")
        print(f"{name} through the node: {depth:.4f} m, error {error:.3%}")
        assert error < 0.02, (name, depth)

        focal_ratio = (camera.fx / camera.width) / contract.fx  # both keep their full width

        def reported(expected: float = focal_ratio) -> bool:
            statuses = [camera_status(d) for d in diagnostics.messages[-2:]]
            return any(
                s is not None
                and abs(float({kv.key: kv.value for kv in s.values}["focal_ratio"]) - expected)
                < 1e-3
                for s in statuses
            )

        wait_until(reported, 5.0, f"diagnostics with the focal ratio of the {name} camera")
    status = camera_status(diagnostics.messages[-1])  # the 4:3 camera: 60 % cropped away
    assert status is not None and status.level == DiagnosticStatus.WARN
    assert "60% of the image cropped away" in status.message
    log = node.log_text()
    assert "camera fit: the model sees a 960x290 window" in log
    assert "focal ratio 2.134 is outside" in log  # a 44 deg camera under KITTI's 81 deg
    assert node.stop() == 0
