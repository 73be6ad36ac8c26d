"""PinholeIntrinsics: CameraInfo in and out, validation naming the field, resize scaling."""

from __future__ import annotations

import math
from dataclasses import astuple
from pathlib import Path

import pytest
import yaml
from rclpy.serialization import deserialize_message, serialize_message
from sensor_msgs.msg import CameraInfo
from std_msgs.msg import Header

from depth_ros.camera import (
    CameraInfoError,
    PinholeIntrinsics,
    camera_info_topic_for,
    read_intrinsics_yaml,
)
from harness.camera_files import write_intrinsics

KITTI = PinholeIntrinsics(fx=721.5377, fy=721.5377, cx=609.5593, cy=172.854, width=1242, height=375)


def camera_info(k: list[float], width: int = 1242, height: int = 375) -> CameraInfo:
    msg = CameraInfo(width=width, height=height)
    msg.k = k
    return msg


def kitti_k() -> list[float]:
    return [721.5377, 0.0, 609.5593, 0.0, 721.5377, 172.854, 0.0, 0.0, 1.0]


def test_from_camera_info_reads_k_and_size() -> None:
    msg = deserialize_message(serialize_message(camera_info(kitti_k())), CameraInfo)
    assert PinholeIntrinsics.from_camera_info(msg) == KITTI


@pytest.mark.parametrize(
    ("index", "value", "match"),
    [
        (0, float("nan"), r"camera camera_info k\[0\] \(fx\) = nan must be finite and > 0"),
        (0, 0.0, r"k\[0\] \(fx\) = 0.0 must be finite and > 0"),
        (4, -700.0, r"k\[4\] \(fy\) = -700.0 must be finite and > 0"),
        (4, float("inf"), r"k\[4\] \(fy\) = inf"),
        (2, float("nan"), r"k\[2\] \(cx\) = nan must be finite"),
        (5, float("-inf"), r"k\[5\] \(cy\) = -inf must be finite"),
    ],
)
def test_bad_k_raises_naming_the_entry(index: int, value: float, match: str) -> None:
    k = kitti_k()
    k[index] = value
    with pytest.raises(CameraInfoError, match=match):
        PinholeIntrinsics.from_camera_info(camera_info(k))


@pytest.mark.parametrize(
    ("width", "height", "match"),
    [(0, 375, r"camera_info width = 0 must be"), (1242, 0, r"camera_info height = 0 must be")],
)
def test_zero_size_raises(width: int, height: int, match: str) -> None:
    with pytest.raises(CameraInfoError, match=match):
        PinholeIntrinsics.from_camera_info(camera_info(kitti_k(), width, height))


def test_all_zero_camera_info_from_a_driver_without_calibration_is_rejected() -> None:
    with pytest.raises(CameraInfoError, match=r"fx\) = 0.0"):
        PinholeIntrinsics.from_camera_info(CameraInfo())


def test_constructor_validates_too() -> None:
    with pytest.raises(CameraInfoError, match=r"camera fy = nan"):
        PinholeIntrinsics(500.0, math.nan, 320.0, 240.0, 640, 480)
    with pytest.raises(CameraInfoError, match=r"camera width = -640"):
        PinholeIntrinsics(500.0, 500.0, 320.0, 240.0, -640, 480)


def test_scaled_follows_image_proc_resize() -> None:
    """fx, cx scale by W'/W and fy, cy by H'/H (image_proc resize, Monodepth2 convention)."""
    small = KITTI.scaled(640, 192)
    assert small.width == 640 and small.height == 192
    assert small.fx == pytest.approx(721.5377 * 640 / 1242)
    assert small.cx == pytest.approx(609.5593 * 640 / 1242)
    assert small.fy == pytest.approx(721.5377 * 192 / 375)
    assert small.cy == pytest.approx(172.854 * 192 / 375)
    back = small.scaled(1242, 375)
    for name in ("fx", "fy", "cx", "cy"):
        assert getattr(back, name) == pytest.approx(getattr(KITTI, name), rel=1e-12)
    assert KITTI.scaled(1242, 375) == KITTI


def test_from_normalized_matches_kitti_convention() -> None:
    cam = PinholeIntrinsics.from_normalized(0.58, 1.92, 0.5, 0.5, 640, 192)
    assert (cam.fx, cam.fy, cam.cx, cam.cy) == pytest.approx((371.2, 368.64, 320.0, 96.0))
    assert cam.scaled(320, 96) == PinholeIntrinsics.from_normalized(0.58, 1.92, 0.5, 0.5, 320, 96)


def test_to_camera_info_writes_an_undistorted_camera() -> None:
    header = Header(frame_id="camera_optical")
    header.stamp.sec, header.stamp.nanosec = 10, 500
    small = KITTI.scaled(640, 192)
    msg = deserialize_message(serialize_message(small.to_camera_info(header)), CameraInfo)
    assert (msg.width, msg.height) == (640, 192)
    assert msg.header.frame_id == "camera_optical"
    assert (msg.header.stamp.sec, msg.header.stamp.nanosec) == (10, 500)
    assert list(msg.k) == pytest.approx([small.fx, 0, small.cx, 0, small.fy, small.cy, 0, 0, 1])
    assert list(msg.p) == pytest.approx(
        [small.fx, 0, small.cx, 0, 0, small.fy, small.cy, 0, 0, 0, 1, 0]
    )
    assert list(msg.r) == [1, 0, 0, 0, 1, 0, 0, 0, 1]
    assert msg.distortion_model == "plumb_bob" and list(msg.d) == [0.0] * 5
    assert PinholeIntrinsics.from_camera_info(msg) == small


def test_projection_matrix_of_the_rectified_image_wins_over_k() -> None:
    """image_geometry's rule: P describes the rectified image the network should see."""
    msg = camera_info([500.0, 0.0, 320.0, 0.0, 500.0, 240.0, 0.0, 0.0, 1.0], 640, 480)
    msg.p = [480.0, 0.0, 315.0, 0.0, 0.0, 482.0, 238.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    assert PinholeIntrinsics.from_camera_info(msg) == PinholeIntrinsics(480.0, 482.0, 315.0, 238.0,
                                                                        640, 480)
    msg.p = [480.0, 0.0, math.nan, 0.0, 0.0, 482.0, 238.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    with pytest.raises(CameraInfoError, match=r"p\[2\] \(cx\) = nan"):
        PinholeIntrinsics.from_camera_info(msg)


def test_plain_intrinsics_yaml_round_trips_through_normalized(tmp_path: Path) -> None:
    camera = read_intrinsics_yaml(write_intrinsics(tmp_path / "cam.yaml"))
    assert camera == PinholeIntrinsics(103.77, 103.89, 65.1, 50.7, 128, 96)
    resized = PinholeIntrinsics.from_normalized(*camera.normalized(), 256, 192)
    assert astuple(resized) == pytest.approx(astuple(camera.scaled(256, 192)), rel=1e-12)


def test_ros_camera_info_yaml_is_accepted(tmp_path: Path) -> None:
    ros = {"image_width": 640, "image_height": 480, "camera_name": "front",
           "camera_matrix": {"rows": 3, "cols": 3,
                             "data": [500.0, 0.0, 320.5, 0.0, 501.0, 240.5, 0.0, 0.0, 1.0]}}
    path = tmp_path / "front.yaml"
    path.write_text(yaml.safe_dump(ros))
    camera = read_intrinsics_yaml(path)
    assert (camera.fx, camera.fy, camera.cx, camera.cy) == (500.0, 501.0, 320.5, 240.5)
    assert (camera.width, camera.height) == (640, 480)


@pytest.mark.parametrize(("changes", "message"), [
    ({"fx": None}, r"lacks \['fx'\]"),
    ({"fy": -3.0}, "fy=-3.0; expected > 0"),
    ({"cx": "middle"}, "cx='middle'; expected a finite number"),
    ({"width": 0}, "width=0; expected a positive integer"),
    ({"height": 95.5}, "height=95.5; expected a positive integer"),
    ({"cy": 200.0}, r"cy=200.0; expected within \[0, height\]"),
])
def test_bad_intrinsics_yaml_names_the_file_and_key(tmp_path: Path, changes: dict,
                                                    message: str) -> None:
    path = write_intrinsics(tmp_path / "cam.yaml", **changes)
    with pytest.raises(CameraInfoError, match=message) as error:
        read_intrinsics_yaml(path)
    assert str(path) in str(error.value)


def test_unreadable_intrinsics_files(tmp_path: Path) -> None:
    with pytest.raises(CameraInfoError, match=r"absent\.yaml does not exist"):
        read_intrinsics_yaml(tmp_path / "absent.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(CameraInfoError, match=r"list\.yaml must hold a mapping, got list"):
        read_intrinsics_yaml(tmp_path / "list.yaml")
    (tmp_path / "broken.yaml").write_text("fx: [1, 2\n")
    with pytest.raises(CameraInfoError, match=r"broken\.yaml is not valid YAML"):
        read_intrinsics_yaml(tmp_path / "broken.yaml")


def test_raw_and_compressed_images_pair_with_the_same_camera_info_topic() -> None:
    for image in ("/cam/image_raw", "/cam/image_raw/compressed"):
        assert camera_info_topic_for(image) == "/cam/camera_info"
    assert camera_info_topic_for("/robot/front/image_rect") == "/robot/front/camera_info"
