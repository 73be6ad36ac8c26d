"""Images and camera_info in -> depth image, camera_info, point cloud and preview out.

The node runs in its own process and talks real DDS with this test. Its model is a known-answer
ONNX graph: a tilted plane n . X = d seen by the model's camera, in units of 2.5 m, so every
published number has an exact expected value: depth in metres, K and P scaled from the 256 x 128
image to the 64 x 32 model, and cloud points equal to the analytic 3-D points of the plane.
"""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.qos import QoSProfile
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, PointCloud2

from depth_ros.image_codec import image_to_array
from depth_ros.inference import DepthEstimator
from depth_ros.pointcloud import pointcloud2_to_array, unpack_rgb
from depth_ros.providers import DEFAULT_PROVIDERS
from harness.onnx_models import contract_intrinsics, plane_depth, plane_depth_model
from harness.ros_link import (
    RosHarness,
    camera_info_message,
    diagnostic_values,
    image_message,
    send_until_received,
    stamp_of,
    wait_until,
)
from harness.scenes import (
    FRAME_ID,
    IMAGE_HEIGHT,
    IMAGE_WIDTH,
    METRES_PER_UNIT,
    PLANE_DISTANCE,
    PLANE_NORMAL,
    image_camera,
    node_parameters,
    plane_contract,
    plane_model_depth,
)

pytestmark = pytest.mark.ros

COLOUR = (200, 40, 90)  # RGB of the uniform test images: survives any resize exactly


def coloured_image(encoding: str) -> np.ndarray:
    """A uniform COLOUR image in the channel order of `encoding` (mono8: its green)."""
    red, green, blue = COLOUR
    pixel = {
        "rgb8": (red, green, blue),
        "bgr8": (blue, green, red),
        "rgba8": (red, green, blue, 255),
        "bgra8": (blue, green, red, 255),
        "mono8": (green,),
    }[encoding]
    pixels = np.empty((IMAGE_HEIGHT, IMAGE_WIDTH, len(pixel)), np.uint8)
    pixels[...] = pixel
    return pixels[..., 0] if encoding == "mono8" else pixels


def analytic_points(camera, depth_m: np.ndarray, step: int = 1) -> np.ndarray:
    """X = z * ((u - cx) / fx, (v - cy) / fy, 1) at the kept pixels, float64."""
    v, u = np.mgrid[0 : camera.height : step, 0 : camera.width : step].astype(np.float64)
    z = depth_m[::step, ::step].astype(np.float64)
    return np.stack([z * (u - camera.cx) / camera.fx, z * (v - camera.cy) / camera.fy, z], -1)


def cloud_xyz(cloud: PointCloud2) -> np.ndarray:
    array = pointcloud2_to_array(cloud)
    return np.stack([array["x"], array["y"], array["z"]], -1).astype(np.float64)


@pytest.fixture
def plane_model(tmp_path: Path) -> Path:
    contract = plane_contract()
    return plane_depth_model(tmp_path / "plane.onnx", PLANE_NORMAL, PLANE_DISTANCE, contract)


def test_outputs_have_the_right_encodings_units_sizes_stamps_frames_and_points(
    ros: RosHarness, start_node, plane_model: Path
) -> None:
    contract = plane_contract()
    node = start_node(
        node_parameters(plane_model, **{"range.max": 1000.0, "cloud.rgb": True})
    )
    depth_rec = ros.record(Image, "depth/image_rect")
    info_rec = ros.record(CameraInfo, "depth/camera_info")
    cloud_rec = ros.record(PointCloud2, "depth/points")
    preview_rec = ros.record(Image, "depth/colorized")
    image_pub = ros.publisher(Image, "image")
    info_pub = ros.publisher(CameraInfo, "camera_info")
    ros.wait_for_subscribers(image_pub)
    ros.wait_for_subscribers(info_pub)

    model_camera = contract_intrinsics(contract)  # 64 x 32
    expected_depth = METRES_PER_UNIT * plane_model_depth(contract)
    expected_points = analytic_points(model_camera, expected_depth)
    # Metric: every analytic point lies on the plane n . X = d (d scaled to metres).
    normal = np.asarray(PLANE_NORMAL) / np.linalg.norm(PLANE_NORMAL)
    np.testing.assert_allclose(
        expected_points @ normal, METRES_PER_UNIT * PLANE_DISTANCE, rtol=1e-5
    )

    # The cloud and preview are computed only once the node has seen our subscriptions: send
    # frame 0 until all four outputs arrive, then every encoding once.
    for index, encoding in enumerate(["rgb8", "rgb8", "bgr8", "rgba8", "bgra8", "mono8"]):
        stamp = stamp_of(index)
        image = image_message(coloured_image(encoding), encoding, FRAME_ID, stamp)
        info = camera_info_message(image_camera(contract), FRAME_ID, stamp)
        pairs = [(info_pub, info), (image_pub, image)]
        depth, info_out, cloud, preview = [
            send_until_received(pairs, recorder, stamp, timeout=30.0)
            for recorder in (depth_rec, info_rec, cloud_rec, preview_rec)
        ]

        assert (depth.encoding, depth.width, depth.height) == ("32FC1", 64, 32)
        assert depth.step == 64 * 4 and depth.header.frame_id == FRAME_ID
        np.testing.assert_allclose(image_to_array(depth), expected_depth, rtol=1e-5)

        assert (info_out.width, info_out.height, info_out.header.frame_id) == (64, 32, FRAME_ID)
        fx, fy, cx, cy = model_camera.fx, model_camera.fy, model_camera.cx, model_camera.cy
        np.testing.assert_allclose(info_out.k, [fx, 0, cx, 0, fy, cy, 0, 0, 1], rtol=1e-9)
        np.testing.assert_allclose(info_out.p, [fx, 0, cx, 0, 0, fy, cy, 0, 0, 0, 1, 0], rtol=1e-9)

        assert (cloud.height, cloud.width, cloud.point_step) == (32, 64, 32)
        assert [(f.name, f.offset) for f in cloud.fields] == [
            ("x", 0), ("y", 4), ("z", 8), ("rgb", 16)
        ]  # fmt: skip
        assert cloud.is_dense is False and cloud.header.frame_id == FRAME_ID
        np.testing.assert_allclose(cloud_xyz(cloud), expected_points, rtol=1e-5, atol=1e-6)
        expected_rgb = (COLOUR[1],) * 3 if encoding == "mono8" else COLOUR
        rgb = unpack_rgb(pointcloud2_to_array(cloud)["rgb"])
        assert (rgb == expected_rgb).all(), f"{encoding}: cloud colour {rgb[0, 0]}"

        assert (preview.encoding, preview.width, preview.height) == ("bgr8", 64, 32)
        assert preview.header.frame_id == FRAME_ID

    # Upsampled to the camera's size: depth and camera_info at 256 x 128, cloud decimated by 2.
    results = ros.set_parameters({"output_resolution": "input", "cloud.decimation": 2})
    assert all(r.successful for r in results), results
    stamp = stamp_of(100)
    image = image_message(coloured_image("rgb8"), "rgb8", FRAME_ID, stamp)
    info = camera_info_message(image_camera(contract), FRAME_ID, stamp)
    depth, info_out, cloud = [
        send_until_received([(info_pub, info), (image_pub, image)], recorder, stamp)
        for recorder in (depth_rec, info_rec, cloud_rec)
    ]
    assert (depth.width, depth.height) == (IMAGE_WIDTH, IMAGE_HEIGHT)
    full_camera = image_camera(contract)
    analytic = plane_depth(
        full_camera, PLANE_NORMAL, METRES_PER_UNIT * PLANE_DISTANCE, 1e9
    )  # the same plane seen at full resolution; bilinear upsampling stays within 1 %
    np.testing.assert_allclose(image_to_array(depth), analytic, rtol=0.01)
    assert (info_out.width, info_out.height) == (IMAGE_WIDTH, IMAGE_HEIGHT)
    np.testing.assert_allclose(info_out.k, full_camera.to_camera_info().k, rtol=1e-12)
    assert (cloud.height, cloud.width) == (IMAGE_HEIGHT // 2, IMAGE_WIDTH // 2)
    np.testing.assert_allclose(
        cloud_xyz(cloud),
        analytic_points(full_camera, image_to_array(depth), step=2),
        rtol=1e-5,
        atol=1e-6,
    )
    assert node.alive()
    assert node.stop() == 0


def test_without_camera_info_depth_is_published_and_the_cloud_skipped_with_a_warning(
    ros: RosHarness, start_node, plane_model: Path
) -> None:
    """Also: with the default providers (TensorRT, CUDA, CPU) the node tries only those that can
    start here, quietly, and reports the ones ONNX Runtime really uses, in its log and in
    /diagnostics (CPU only on a machine without GPU)."""
    node = start_node(
        node_parameters(
            plane_model,
            providers=list(DEFAULT_PROVIDERS),
            **{"tensorrt.cache_dir": str(plane_model.parent / "tensorrt")},
        )
    )
    depth_rec = ros.record(Image, "depth/image_rect")
    info_rec = ros.record(CameraInfo, "depth/camera_info")
    cloud_rec = ros.record(PointCloud2, "depth/points")
    diagnostics = ros.record(DiagnosticArray, "/diagnostics")
    image_pub = ros.publisher(Image, "image")
    ros.wait_for_subscribers(image_pub)
    ros.wait_for_publishers("depth/points")

    for index in range(3):
        stamp = stamp_of(index)
        image = image_message(coloured_image("bgr8"), "bgr8", FRAME_ID, stamp)
        depth = send_until_received([(image_pub, image)], depth_rec, stamp)
        assert (depth.width, depth.height, depth.header.frame_id) == (64, 32, FRAME_ID)
    log = node.wait_for_log("point cloud skipped: no camera_info received yet", timeout=10.0)
    assert log.count("point cloud skipped") == 1, "the warning must be throttled"
    wait_until(
        lambda: any(
            diagnostic_values(d).get("camera_info") == "no camera_info received yet"
            for d in diagnostics.messages
        ),
        timeout=5.0,
        what="diagnostics naming the missing camera_info",
    )
    assert cloud_rec.messages == [] and info_rec.messages == []

    in_use = DepthEstimator(plane_model, list(DEFAULT_PROVIDERS)).providers
    assert f"ONNX Runtime providers in use: {in_use}" in log
    assert log.count("ONNX Runtime providers tried: ") == 1  # one line says what is tried
    assert "[E:onnxruntime" not in log and "EP Error" not in log  # and nothing red before it
    assert diagnostic_values(diagnostics.messages[-1])["providers"] == ",".join(in_use)
    assert node.stop() == 0


def test_compressed_transport_decodes_jpeg(ros: RosHarness, start_node, plane_model: Path) -> None:
    node = start_node(node_parameters(plane_model, image_transport="compressed"))
    depth_rec = ros.record(Image, "depth/image_rect")
    compressed_pub = ros.publisher(CompressedImage, "image/compressed")
    ros.wait_for_subscribers(compressed_pub)
    ok, jpeg = cv2.imencode(".jpg", np.full((IMAGE_HEIGHT, IMAGE_WIDTH, 3), 128, np.uint8))
    assert ok
    message = CompressedImage(format="jpeg", data=jpeg.tobytes())
    message.header.frame_id = FRAME_ID
    message.header.stamp = stamp_of(5)
    depth = send_until_received([(compressed_pub, message)], depth_rec, stamp_of(5))
    assert (depth.encoding, depth.width, depth.height) == ("32FC1", 64, 32)
    assert math.isclose(
        float(image_to_array(depth)[16, 32]),
        METRES_PER_UNIT * float(plane_model_depth(plane_contract())[16, 32]),
        rel_tol=1e-5,
    )
    assert node.stop() == 0


def test_camera_size_images_arrive_with_the_reliable_qos_override(
    ros: RosHarness, start_node, plane_model: Path
) -> None:
    """A 1242 x 375 rgb8 frame is 1.4 MB: over best effort, DDS drops it whenever a UDP fragment
    is lost (here: always). The documented start-up override makes the subscription reliable."""
    override = "qos_overrides./image.subscription.reliability"
    node = start_node(node_parameters(plane_model, **{override: "reliable"}))
    depth_rec = ros.record(Image, "depth/image_rect")
    info_rec = ros.record(CameraInfo, "depth/camera_info")
    image_pub = ros.publisher(Image, "image", QoSProfile(depth=2))  # reliable, like most drivers
    info_pub = ros.publisher(CameraInfo, "camera_info")  # best effort: must still match
    ros.wait_for_subscribers(image_pub)
    ros.wait_for_subscribers(info_pub)
    pixels = np.random.default_rng(7).integers(0, 256, (375, 1242, 3), dtype=np.uint8)
    stamp = stamp_of(42)
    camera = image_camera(plane_contract()).scaled(1242, 375)
    pairs = [
        (info_pub, camera_info_message(camera, FRAME_ID, stamp)),
        (image_pub, image_message(pixels, "rgb8", FRAME_ID, stamp)),
    ]
    # 1.4 MB reliable frames queue behind each other on a loaded 2-core machine: wait longer
    depth = send_until_received(pairs, depth_rec, stamp, timeout=40.0)
    assert (depth.width, depth.height) == (64, 32)
    info = send_until_received(pairs, info_rec, stamp, timeout=40.0)  # override: `image` only
    assert (info.width, info.height) == (64, 32)
    assert ros.get_parameters([override]) == {override: "reliable"}
    assert node.stop() == 0
