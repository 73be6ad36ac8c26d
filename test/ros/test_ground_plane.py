"""scale.mode ground_plane recovers metres on generated road frames with a known camera height.

The frames come from training/synthetic/: a street with the camera 1.65 m above a
flat road, cars and buildings, exact depth. The "network" is a known-answer ONNX model that
returns, for frame i, the true depth divided by a factor the node is not told (3.7 m per unit),
with 2 % per-pixel noise and a smooth 2 % error field, as a relative-depth model would. It reads
i from a 2 x 2 marker in the image's top-left corner. The node must publish depth in metres
within 5 % of the truth on every frame, and report the factor in /diagnostics.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray
from onnx import helper, numpy_helper
from sensor_msgs.msg import CameraInfo, Image

from depth_ros.camera import PinholeIntrinsics
from depth_ros.contract import INPUT_NAME, OUTPUT_NAME
from depth_ros.image_codec import image_to_array
from harness.onnx_models import make_contract, save_model
from harness.ros_link import (
    RosHarness,
    camera_info_message,
    diagnostic_values,
    image_message,
    send_until_received,
    stamp_of,
    wait_until,
)
from harness.scenes import FRAME_ID, node_parameters

pytestmark = pytest.mark.ros

FRAMES = 8
IMAGE_WIDTH, IMAGE_HEIGHT = 256, 128
MODEL_WIDTH, MODEL_HEIGHT = 128, 64  # half size: the node resizes and scales K
HIDDEN_METRES_PER_UNIT = 3.7
CAMERA_HEIGHT = 1.65  # the generator's road is 1.65 m below the camera
SKY_METRES = 300.0  # the generator marks sky as depth 0; the model says "far"


def frame_table_model(path: Path, depth_units: np.ndarray) -> Path:
    """depth = table[i] for frame i, where i = round(255 x image[0, 0, 0, 0]) (red, top-left;
    a 2 x 2 marker survives the node's 2x area downsampling exactly). Relative units."""
    _, height, width = depth_units.shape
    contract = make_contract(
        input_width=width, input_height=height, units="relative", metres_per_unit=1.0,
        max_depth=1000.0, architecture="test-frame-table",
    )  # fmt: skip
    initializers = [
        numpy_helper.from_array(depth_units[:, None].astype(np.float32), "table"),
        numpy_helper.from_array(np.zeros(4, np.int64), "starts"),
        numpy_helper.from_array(np.ones(4, np.int64), "ends"),
        numpy_helper.from_array(np.array(255.0, np.float32), "levels"),
        numpy_helper.from_array(np.array([1], np.int64), "one"),
    ]
    nodes = [
        helper.make_node("Slice", [INPUT_NAME, "starts", "ends"], ["corner"]),
        helper.make_node("Mul", ["corner", "levels"], ["code"]),
        helper.make_node("Round", ["code"], ["rounded"]),
        helper.make_node("Cast", ["rounded"], ["index4d"], to=7),  # int64
        helper.make_node("Reshape", ["index4d", "one"], ["index"]),
        helper.make_node("Gather", ["table", "index"], [OUTPUT_NAME], axis=0),
    ]
    return save_model(path, nodes, initializers, height, width, contract.to_metadata())


@pytest.fixture(scope="module")
def road(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Eight consecutive left-camera frames (BGR) and their true depth (metres, 0 = sky)."""
    from training.synthetic.kitti import generate_outdoor

    root = tmp_path_factory.mktemp("road")
    generate_outdoor(root, sequences=1, frames=FRAMES, width=IMAGE_WIDTH, height=IMAGE_HEIGHT,
                     seed=3)  # fmt: skip
    (drive,) = (root / "2000_01_01").glob("*_drive_*_sync")
    images = [cv2.imread(str(drive / "image_02/data" / f"{i:010d}.png")) for i in range(FRAMES)]
    depths = [np.load(drive / "depth_gt" / f"{i:010d}.npy") for i in range(FRAMES)]
    return images, depths


def test_ground_plane_recovers_metres_within_5_percent(
    ros: RosHarness, start_node, tmp_path: Path, road
) -> None:
    from training.datasets import KITTI_NORMALIZED_K

    images, depths = road
    rng = np.random.default_rng(0)
    v, u = np.mgrid[0:MODEL_HEIGHT, 0:MODEL_WIDTH]
    smooth_error = 1.0 + 0.02 * np.sin(u / 20.0) * np.cos(v / 15.0)
    table = []
    for depth in depths:
        truth = depth[::2, ::2]  # pixel (2u, 2v): exactly the model pixel (u, v) with K / 2
        noise = 1.0 + 0.02 * rng.standard_normal(truth.shape)
        metres = np.where(truth > 0, truth, SKY_METRES)
        table.append(metres / HIDDEN_METRES_PER_UNIT * noise * smooth_error)
    model = frame_table_model(tmp_path / "road_table.onnx", np.stack(table))

    start_node(
        node_parameters(
            model,
            **{
                "scale.mode": "ground_plane",
                "scale.camera_height": CAMERA_HEIGHT,
                "range.max": 1000.0,
            },
        )
    )
    depth_rec = ros.record(Image, "depth/image_rect")
    diagnostics = ros.record(DiagnosticArray, "/diagnostics")
    image_pub = ros.publisher(Image, "image")
    info_pub = ros.publisher(CameraInfo, "camera_info")
    ros.wait_for_subscribers(image_pub)
    k = KITTI_NORMALIZED_K
    camera = PinholeIntrinsics.from_normalized(k.fx, k.fy, k.cx, k.cy, IMAGE_WIDTH, IMAGE_HEIGHT)

    ratios = []
    for index, (bgr, depth) in enumerate(zip(images, depths, strict=True)):
        marked = bgr.copy()
        marked[:2, :2, 2] = index  # red channel of the marker
        stamp = stamp_of(index)
        pairs = [
            (info_pub, camera_info_message(camera, FRAME_ID, stamp)),
            (image_pub, image_message(marked, "bgr8", FRAME_ID, stamp)),
        ]
        published = image_to_array(send_until_received(pairs, depth_rec, stamp))
        truth = depth[::2, ::2]
        valid = (truth > 0) & np.isfinite(published)
        # The node ran table[index] (its noise is this frame's): one factor for all pixels.
        factor = published[valid] / table[index][valid]
        assert np.ptp(factor) < 1e-4 * factor.mean(), f"frame {index}: wrong table entry"
        ratios.append(float(np.median(published[valid] / truth[valid])))
    print("published / true depth, per frame:", [round(r, 4) for r in ratios])
    assert all(abs(ratio - 1.0) < 0.05 for ratio in ratios), ratios

    def reported_factor() -> bool:
        values = diagnostic_values(diagnostics.messages[-1]) if diagnostics.messages else {}
        return (
            values.get("scale_mode") == "ground_plane"
            and abs(float(values["scale_factor"]) / HIDDEN_METRES_PER_UNIT - 1.0) < 0.05
            and values["ground_plane"].startswith("ground plane")
        )

    wait_until(reported_factor, timeout=5.0, what="diagnostics reporting the recovered factor")
