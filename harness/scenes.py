"""The camera the ROS tests pretend to be, and the node parameters they start from.

Images are 256 x 128 pixels; the test models take 64 x 32 (a quarter of each side), so the node
must resize the image and scale K and P. The camera is the models' training camera (KITTI-like
normalised intrinsics), so depth at model resolution is analytic in that camera's pixels.
"""

from __future__ import annotations

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
