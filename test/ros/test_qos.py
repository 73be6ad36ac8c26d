"""QoS over real DDS: raw 1280 x 720 frames arrive with the default settings, and qos_overrides
still work for the inputs and the outputs.

Delivery is counted by the node itself (frames_received in /diagnostics), so what is measured is
DDS between two processes, not the model. Frames are paced (0.3 s apart) so that no keep-last
queue can overflow: a lost frame is a frame DDS did not deliver.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image

from depth_ros.input_qos import camera_qos
from harness.onnx_models import constant_depth_model
from harness.ros_link import RosHarness, diagnostic_values, image_message, stamp_of, wait_until
from harness.scenes import FRAME_ID, node_parameters, plane_contract

pytestmark = pytest.mark.ros

FRAMES = 8
WIDTH, HEIGHT = 1280, 720  # bgr8: 2.7 MB per frame, many UDP fragments


def frames_received(diagnostics, after: float) -> int:
    """The node's frames_received from the newest diagnostics that arrived after `after`."""
    wait_until(
        lambda: any(item.at > after for item in diagnostics.items), 5.0, "fresh diagnostics"
    )
    return int(diagnostic_values(diagnostics.items[-1].message)["frames_received"])


@pytest.mark.parametrize("reliability", ["reliable", "best_effort"])
def test_raw_hd_frames_arrive_with_the_default_settings(
    ros: RosHarness, start_node, tmp_path: Path, reliability: str, record_property
) -> None:
    policy = ReliabilityPolicy.RELIABLE if reliability == "reliable" else (
        ReliabilityPolicy.BEST_EFFORT
    )
    model = constant_depth_model(tmp_path / "two.onnx", 2.0, plane_contract())
    node = start_node(node_parameters(model))
    diagnostics = ros.record(DiagnosticArray, "/diagnostics")
    ros.wait_for_node()
    publisher = ros.publisher(Image, "image", camera_qos(policy))
    ros.wait_for_subscribers(publisher)
    described = "reliable" if reliability == "reliable" else "best effort"
    node.wait_for_log(f"subscribed to /image with {described} QoS", timeout=10.0)
    time.sleep(1.0)  # the publisher and the remade subscription finish matching
    before = frames_received(diagnostics, time.monotonic())
    pixels = np.random.default_rng(0).integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8)
    for index in range(FRAMES):
        publisher.publish(image_message(pixels, "bgr8", FRAME_ID, stamp_of(index)))
        time.sleep(0.3)
    time.sleep(1.0)
    arrived = frames_received(diagnostics, time.monotonic()) - before
    record_property(f"{reliability}_delivered", f"{arrived}/{FRAMES}")
    print(f"{reliability} publisher, {WIDTH}x{HEIGHT} bgr8: {arrived}/{FRAMES} frames arrived")
    subscriptions = ros.node.get_subscriptions_info_by_topic("/image")
    assert [info.qos_profile.reliability for info in subscriptions] == [policy]
    if policy == ReliabilityPolicy.RELIABLE:
        assert arrived >= FRAMES - 1, f"{arrived}/{FRAMES} arrived from a reliable publisher"
    else:  # measured and reported, not promised: best effort loses fragmented frames
        assert 0 <= arrived <= FRAMES
    assert node.stop() == 0


def test_a_best_effort_publisher_joining_turns_the_subscription_best_effort(
    ros: RosHarness, start_node, tmp_path: Path
) -> None:
    model = constant_depth_model(tmp_path / "two.onnx", 2.0, plane_contract())
    node = start_node(node_parameters(model))
    ros.wait_for_node()
    reliable = ros.publisher(Image, "image", camera_qos(ReliabilityPolicy.RELIABLE))
    ros.wait_for_subscribers(reliable)
    node.wait_for_log("subscribed to /image with reliable QoS", timeout=10.0)
    ros.publisher(Image, "image", camera_qos(ReliabilityPolicy.BEST_EFFORT))
    log = node.wait_for_log("subscribed to /image with best effort QoS", timeout=10.0)
    assert "a publisher is best effort; 2 publisher(s)" in log
    assert node.stop() == 0


def test_qos_overrides_apply_to_the_image_input_and_to_the_outputs(
    ros: RosHarness, start_node, tmp_path: Path
) -> None:
    model = constant_depth_model(tmp_path / "two.onnx", 2.0, plane_contract())
    node = start_node(
        node_parameters(model),
        ros_args=[
            "-p", "qos_overrides./image.subscription.reliability:=reliable",
            "-p", "qos_overrides./depth/image_rect.publisher.reliability:=best_effort",
            "-p", "qos_overrides./depth/scan.publisher.depth:=7",
            "-p", "qos_overrides./camera_info.subscription.reliability:=reliable",
        ],
    )  # fmt: skip
    ros.wait_for_node()
    # a best-effort camera would make the adaptive subscription best effort: the override wins
    ros.publisher(Image, "image", camera_qos(ReliabilityPolicy.BEST_EFFORT))
    ros.wait_for_publishers("depth/scan")

    def qos_of(topic: str, kind: str) -> QoSProfile:
        """Each endpoint is discovered on its own schedule: wait for this one."""
        infos_of = getattr(ros.node, f"get_{kind}_info_by_topic")
        wait_until(lambda: len(infos_of(topic)) == 1, 10.0, f"{topic} {kind}")
        return infos_of(topic)[0].qos_profile

    assert qos_of("/image", "subscriptions").reliability == ReliabilityPolicy.RELIABLE
    assert qos_of("/camera_info", "subscriptions").reliability == ReliabilityPolicy.RELIABLE
    assert qos_of("/depth/image_rect", "publishers").reliability == (
        ReliabilityPolicy.BEST_EFFORT
    )
    assert qos_of("/depth/points", "publishers").reliability == ReliabilityPolicy.RELIABLE
    log = node.wait_for_log("qos_overrides reliability reliable", timeout=5.0)
    assert "with best effort QoS" not in log
    assert ros.get_parameters(["qos_overrides./depth/scan.publisher.depth"]) == {
        "qos_overrides./depth/scan.publisher.depth": 7
    }
    assert node.stop() == 0
