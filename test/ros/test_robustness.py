"""The node never dies on input, fails clearly at start on bad parameters, runs without a usable
model (reporting ERROR) until it is given one, and shuts down cleanly.

A flood of malformed messages of every kind the issue names (unknown encoding, data length !=
step x height, step shorter than a row, zero and absurd sizes, undecodable compressed data,
NaN / zero intrinsics) goes to a raw-image node and a compressed-image node running side by side,
with good frames mixed in. Afterwards both are alive, still publish depth for good frames, have
warned once per problem kind (throttled, naming the problem) and count the rejected frames in
/diagnostics.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from sensor_msgs.msg import CameraInfo, CompressedImage, Image

from harness.onnx_models import constant_depth_model, constant_tensor_model
from harness.ros_link import (
    RosHarness,
    camera_info_message,
    diagnostic_values,
    image_message,
    send_until_received,
    stamp_of,
    wait_until,
)
from harness.scenes import FRAME_ID, image_camera, node_parameters, plane_contract, random_rgb

pytestmark = pytest.mark.ros

MALFORMED_PER_KIND = 70  # 9 kinds -> 630 malformed messages


def bad_images() -> list[tuple[str, Image]]:
    """Malformed sensor_msgs/Image messages, each with words its warning must contain. Kinds
    differing only in values (two unusable encodings, two bad sizes) share one throttled
    warning, so their words are the common part."""
    good = image_message(random_rgb(0, 8, 8), "rgb8", FRAME_ID, stamp_of(0))

    def variant(**fields) -> Image:
        msg = Image(
            header=good.header, height=good.height, width=good.width, encoding=good.encoding,
            is_bigendian=good.is_bigendian, step=good.step, data=good.data,
        )  # fmt: skip
        for name, value in fields.items():
            setattr(msg, name, value)
        return msg

    return [
        ("is not a colour encoding", variant(encoding="yuv422_weird")),
        ("is not a colour encoding", variant(encoding="32FC1", step=32)),
        ("image data length 191 != step 24 x height 8", variant(data=bytes(191))),
        ("image step 20 is shorter than a row", variant(step=20, data=bytes(160))),
        ("is zero or absurd", variant(width=0, step=0, data=b"")),
        ("is zero or absurd", variant(width=100000, step=300000)),
    ]


def bad_camera_infos() -> dict[str, CameraInfo]:
    camera = image_camera(plane_contract())
    nan_p = camera_info_message(camera, FRAME_ID, stamp_of(0))
    nan_p.p = [float("nan"), 0.0, camera.cx, 0.0, 0.0, camera.fy, camera.cy, 0.0, 0.0, 0.0, 1.0,
               0.0]  # fmt: skip
    nan_k = camera_info_message(camera, FRAME_ID, stamp_of(0))
    nan_k.p = [0.0] * 12  # no rectification: K is used
    nan_k.k = [float("nan"), 0.0, camera.cx, 0.0, camera.fy, camera.cy, 0.0, 0.0, 1.0]
    zero_width = camera_info_message(camera, FRAME_ID, stamp_of(0))
    zero_width.width = 0
    return {"p[0] (fx) = nan must be finite": nan_p, "k[0] (fx) = nan must be finite": nan_k,
            "width = 0 must be": zero_width}  # fmt: skip


def test_malformed_flood_leaves_both_nodes_alive_and_publishing(
    ros: RosHarness, start_node, tmp_path: Path
) -> None:
    model = constant_depth_model(tmp_path / "two.onnx", 2.0, plane_contract())
    raw_node = start_node(
        node_parameters(model), ros_args=["-r", "__ns:=/raw", "-r", "__node:=raw_depth"]
    )
    compressed_node = start_node(
        node_parameters(model, image_transport="compressed"),
        ros_args=["-r", "__ns:=/jpeg", "-r", "__node:=jpeg_depth"],
    )
    raw_depth = ros.record(Image, "/raw/depth/image_rect")
    jpeg_depth = ros.record(Image, "/jpeg/depth/image_rect")
    diagnostics = ros.record(DiagnosticArray, "/diagnostics")
    image_pub = ros.publisher(Image, "/raw/image")
    info_pub = ros.publisher(CameraInfo, "/raw/camera_info")
    jpeg_pub = ros.publisher(CompressedImage, "/jpeg/image/compressed")
    for publisher in (image_pub, info_pub, jpeg_pub):
        ros.wait_for_subscribers(publisher)

    bad_jpegs = {
        "could not be decoded": CompressedImage(format="jpeg", data=b"\xff\xd8 not a jpeg"),
    }
    flood = [
        (image_pub, msg) for _, msg in bad_images()
    ] + [(info_pub, msg) for msg in bad_camera_infos().values()] + [
        (jpeg_pub, msg) for msg in bad_jpegs.values()
    ]  # fmt: skip
    ok, jpeg = cv2.imencode(".jpg", random_rgb(3))
    assert ok
    sent_malformed = 0
    for round_index in range(MALFORMED_PER_KIND):
        for publisher, message in flood:
            publisher.publish(message)
            sent_malformed += 1
        if round_index % 10 == 0:  # a few good frames inside the flood
            stamp = stamp_of(round_index)
            image_pub.publish(image_message(random_rgb(round_index), "rgb8", FRAME_ID, stamp))
            good_jpeg = CompressedImage(format="jpeg", data=jpeg.tobytes())
            good_jpeg.header.stamp = stamp
            jpeg_pub.publish(good_jpeg)
        time.sleep(0.004)
    assert sent_malformed >= 500

    # Both still publish depth for good frames (a good camera_info heals the cloud, too).
    for index in (1001, 1002):
        stamp = stamp_of(index)
        image = image_message(random_rgb(index), "rgb8", FRAME_ID, stamp)
        info = camera_info_message(image_camera(plane_contract()), FRAME_ID, stamp)
        depth = send_until_received([(info_pub, info), (image_pub, image)], raw_depth, stamp)
        assert (depth.width, depth.height, depth.encoding) == (64, 32, "32FC1")
        good_jpeg = CompressedImage(format="jpeg", data=jpeg.tobytes())
        good_jpeg.header.stamp = stamp
        send_until_received([(jpeg_pub, good_jpeg)], jpeg_depth, stamp)
    assert raw_node.alive() and compressed_node.alive()

    raw_log = raw_node.log_text()
    for words in [*(words for words, _ in bad_images()), *bad_camera_infos()]:
        assert words in raw_log, f"no warning naming {words!r}:\n{raw_log}"
    assert "could not be decoded" in compressed_node.log_text()
    warnings = raw_log.count("[WARN]")
    assert warnings < 40, f"{warnings} warnings for {sent_malformed} bad messages: not throttled"
    assert "Traceback" not in raw_log + compressed_node.log_text()

    def latest_report(namespace: str) -> dict[str, int]:
        """Statuses are named "<node name>: <task>" (diagnostic_updater's convention)."""
        name = f"{namespace}_depth: monocular depth"
        for array in reversed(diagnostics.messages):
            if any(status.name == name for status in array.status):
                values = diagnostic_values(array, name)
                return {key: int(values[key]) for key in values if key.startswith("frames_")}
        raise AssertionError(f"no diagnostics from /{namespace}")

    time.sleep(2.5)  # quiet: every frame is accounted for in the next diagnostics
    raw, jpeg = latest_report("raw"), latest_report("jpeg")
    for report in (raw, jpeg):
        assert report["frames_received"] == (
            report["frames_published"] + report["frames_rejected"] + report["frames_dropped"]
        ), report
    # A raw image is vetted as it arrives: every malformed one is rejected there, so only the
    # good flood frames (one in ten rounds, each alone in the slot) could ever be dropped.
    assert raw["frames_rejected"] > 0 and jpeg["frames_rejected"] > 0, (raw, jpeg)
    assert raw["frames_dropped"] <= MALFORMED_PER_KIND // 10, raw
    assert raw_node.stop() == 0
    compressed_node.process.send_signal(signal.SIGTERM)
    assert compressed_node.wait_exit(timeout=15.0) == 0, compressed_node.log_text()


@pytest.mark.parametrize("problem", ["range", "qos"])
def test_bad_parameters_at_start_are_one_clear_error_and_a_nonzero_exit(
    start_node, tmp_path: Path, problem: str
) -> None:
    model = constant_depth_model(tmp_path / "two.onnx", 2.0, plane_contract())
    if problem == "range":
        node = start_node(node_parameters(model, **{"range.min": 50.0, "range.max": 10.0}))
        expected = "range.min = 50.0 m must be below range.max = 10.0 m"
    else:
        node = start_node(
            node_parameters(model),
            ros_args=["-p", "qos_overrides./image.subscription.reliability:=3"],
        )
        expected = "parameter qos_overrides./image.subscription.reliability"
    assert node.wait_exit(timeout=30.0) == 1
    log = node.log_text()
    errors = [line for line in log.splitlines() if "[ERROR]" in line]
    assert len(errors) == 1 and "cannot start" in errors[0], log
    assert expected in errors[0] and "Traceback" not in log


@pytest.mark.parametrize("problem", ["empty", "missing", "corrupt", "no_contract"])
def test_without_a_usable_model_the_node_runs_and_reports_error(
    ros: RosHarness, start_node, tmp_path: Path, problem: str
) -> None:
    """It keeps running, says why in one ERROR line and in /diagnostics, and loads a model as
    soon as parameter `model` names one."""
    expected = {
        "empty": "parameter model is empty",
        "missing": "does not exist",
        "corrupt": "could not be loaded by ONNX Runtime",
        "no_contract": "metadata lacks",
    }[problem]
    parameters = node_parameters(tmp_path / "nowhere.onnx")
    if problem == "empty":
        parameters["model"] = ""
    elif problem == "corrupt":
        (tmp_path / "corrupt.onnx").write_bytes(np.arange(300, dtype=np.uint8).tobytes())
        parameters["model"] = str(tmp_path / "corrupt.onnx")
    elif problem == "no_contract":
        bare = np.full((32, 64), 2.0, np.float32)
        parameters["model"] = str(constant_tensor_model(tmp_path / "bare.onnx", bare, None))
    node = start_node(parameters)
    diagnostics = ros.record(DiagnosticArray, "/diagnostics")
    ros.wait_for_node()

    def main_status() -> DiagnosticStatus | None:
        for array in reversed(diagnostics.messages):
            for status in array.status:
                if status.name == "monodepth_node: monocular depth":
                    return status
        return None

    wait_until(lambda: main_status() is not None, 5.0, "diagnostics")
    status = main_status()
    assert status.level == DiagnosticStatus.ERROR and status.message.startswith("no model: ")
    assert expected in status.message
    log = node.log_text()
    errors = [line for line in log.splitlines() if "[ERROR]" in line]
    assert len(errors) == 1 and expected in errors[0] and "Traceback" not in log, log

    model = constant_depth_model(tmp_path / "two.onnx", 2.0, plane_contract())
    (result,) = ros.set_parameters({"model": str(model)})
    assert result.successful, result.reason
    depth_rec = ros.record(Image, "depth/image_rect")
    image_pub = ros.publisher(Image, "image")
    ros.wait_for_subscribers(image_pub)
    image = image_message(random_rgb(1), "rgb8", FRAME_ID, stamp_of(1))
    send_until_received([(image_pub, image)], depth_rec, stamp_of(1))
    wait_until(  # WARN at most: no camera_info was sent, so the cloud is not possible
        lambda: main_status().level != DiagnosticStatus.ERROR, 5.0, "no ERROR with the model"
    )
    assert node.stop() == 0
