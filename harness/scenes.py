"""The scenes tests show the runtime and the node, each with the answer it must give.

The ROS tests' camera and the node parameters they start from: images are 256 x 128 pixels; the
test models take 64 x 32 (a quarter of each side), so the node must resize the image and scale K
and P. The camera is the models' training camera (KITTI-like normalised intrinsics), so depth at
model resolution is analytic in that camera's pixels.

A disc (`DISC_RADIUS_M`, `DISC_DEPTH_M` in front of the camera on its optical axis) seen through
two robot cameras unlike the training camera (`CAMERAS`), for the camera fit, in process and
through the node; `onnx_models.disc_size_model` judges its depth from its apparent size.

A vertical wall turned towards the camera's right (`wall_normal`), with the horizontal range
along each scan angle (`wall_range`, `column_angles`), for the laser scan.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from depth_ros.camera import PinholeIntrinsics
from depth_ros.contract import ModelContract
from harness.onnx_models import contract_intrinsics, make_contract, plane_depth

FRAME_ID = "camera_optical_frame"
IMAGE_WIDTH, IMAGE_HEIGHT = 256, 128
METRES_PER_UNIT = 2.5  # metric model whose unit is 2.5 m: the node must convert
PLANE_NORMAL = (0.1, -0.2, 1.0)  # a tilted plane facing the camera: every pixel sees it
PLANE_DISTANCE = 4.0  # model units


def plane_contract() -> ModelContract:
    return make_contract(metres_per_unit=METRES_PER_UNIT, max_depth=1000.0)


def image_camera(contract: ModelContract) -> PinholeIntrinsics:
    """The camera of the published images: the model's camera at 256 x 128."""
    return contract_intrinsics(contract).scaled(IMAGE_WIDTH, IMAGE_HEIGHT)


def plane_model_depth(contract: ModelContract) -> np.ndarray:
    """What the plane model outputs (model units, model resolution)."""
    return plane_depth(
        contract_intrinsics(contract), PLANE_NORMAL, PLANE_DISTANCE, contract.max_depth
    )


def random_rgb(seed: int, height: int = IMAGE_HEIGHT, width: int = IMAGE_WIDTH) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def node_parameters(model: Path, **overrides: Any) -> dict[str, Any]:
    """CPU only, one inference thread (tests share two cores), everything else at defaults."""
    parameters: dict[str, Any] = {
        "model": str(model),
        "providers": ["CPUExecutionProvider"],
        "intra_op_threads": 1,
        "scale.mode": "metadata",
    }
    parameters.update(overrides)
    return parameters


DISC_RADIUS_M = 0.5
DISC_DEPTH_M = 5.0


def pinhole(width: int, height: int, horizontal_fov_deg: float) -> PinholeIntrinsics:
    """Square pixels, centred principal point, the given horizontal field of view."""
    fx = (width / 2.0) / math.tan(math.radians(horizontal_fov_deg) / 2.0)
    return PinholeIntrinsics(fx, fx, width / 2.0, height / 2.0, width, height)


CAMERAS = {
    "4:3, 90 deg": pinhole(640, 480, 90.0),
    "2.4:1, 44 deg": pinhole(960, 400, 44.0),
}


def wall_normal(yaw_deg: float) -> tuple[float, float, float]:
    """Unit normal (optical frame) of a vertical wall turned `yaw_deg` towards the right."""
    yaw = math.radians(yaw_deg)
    return (math.sin(yaw), 0.0, math.cos(yaw))


def wall_range(angle: np.ndarray, distance: float, yaw_deg: float) -> np.ndarray:
    """Horizontal distance to the wall along scan angle(s) (x forward, y left): the ray
    r (cos a, sin a) is the optical point (x, z) = (-r sin a, r cos a), and n . X = distance."""
    nx, _, nz = wall_normal(yaw_deg)
    return distance / (nz * np.cos(angle) - nx * np.sin(angle))


def column_angles(camera: PinholeIntrinsics) -> np.ndarray:
    """The scan angle (x forward, y left) of each pixel column's ray."""
    return -np.arctan((np.arange(camera.width) - camera.cx) / camera.fx)
