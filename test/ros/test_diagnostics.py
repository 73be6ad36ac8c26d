"""/diagnostics over real DDS: statuses named "<node name>: <task>" as diagnostic_updater names
them, ERROR after diagnostics.timeout seconds without images, ERROR when the scan or cloud is
wanted but camera_info never came, and the rate bounds."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from sensor_msgs.msg import Image, LaserScan

from harness.onnx_models import constant_depth_model
from harness.ros_link import RosHarness, image_message, send_until_received, stamp_of, wait_until
from harness.scenes import FRAME_ID, node_parameters, plane_contract, random_rgb

pytestmark = pytest.mark.ros

TASKS = ("monocular depth", "image rate", "depth rate", "camera")


def latest(diagnostics, task: str) -> DiagnosticStatus | None:
    for array in reversed(diagnostics.messages):
        for status in array.status:
            if status.name == f"monodepth_node: {task}":
                return status
    return None


def test_silence_and_a_scan_without_camera_info_are_errors(
    ros: RosHarness, start_node, tmp_path: Path
) -> None:
    model = constant_depth_model(tmp_path / "two.onnx", 2.0, plane_contract())
    node = start_node(
        node_parameters(model, **{"diagnostics.timeout": 1.5, "diagnostics.min_rate_hz": 0.5})
    )
    diagnostics = ros.record(DiagnosticArray, "/diagnostics")
    wait_until(lambda: len(diagnostics.messages) >= 3, 10.0, "three diagnostics")
    names = {status.name for status in diagnostics.messages[-1].status}
    assert names == {f"monodepth_node: {task}" for task in TASKS}
    image_rate = latest(diagnostics, "image rate")
    assert image_rate.level == DiagnosticStatus.ERROR
    assert image_rate.message.startswith("no images for")
    assert latest(diagnostics, "camera").level == DiagnosticStatus.OK  # nobody wants geometry

    depth_rec = ros.record(Image, "depth/image_rect")
    ros.record(LaserScan, "depth/scan")
    image_pub = ros.publisher(Image, "image")
    ros.wait_for_subscribers(image_pub)
    ros.wait_for_publishers("depth/scan")
    for index in range(12):  # 4 Hz for 3 s: above the 0.5 Hz bound, no camera_info
        stamp = stamp_of(index)
        send_until_received(
            [(image_pub, image_message(random_rgb(index), "rgb8", FRAME_ID, stamp))],
            depth_rec, stamp,
        )  # fmt: skip
        time.sleep(0.25)
    wait_until(
        lambda: latest(diagnostics, "image rate").level == DiagnosticStatus.OK,
        5.0, "images within the rate bounds",
    )  # fmt: skip
    camera = latest(diagnostics, "camera")
    assert camera.level == DiagnosticStatus.ERROR, camera.message
    assert "depth/points or depth/scan subscribed but no camera_info received yet" in (
        camera.message
    )
    assert latest(diagnostics, "depth rate").level == DiagnosticStatus.OK
    assert node.stop() == 0
