"""One RGB frame to metric depth: inference, scale, resolution and range masking.

The ROS node and the offline tool (`python -m depth_ros.infer`) both call `DepthPipeline.process`,
so a frame gives the same depth, cloud and preview whichever way it arrives.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import cv2
import numpy as np

from depth_ros.camera import PinholeIntrinsics
from depth_ros.inference import DepthEstimator
from depth_ros.pointcloud import depth_to_points
from depth_ros.scale import MetricScaler


@dataclass(frozen=True)
class DepthFrame:
    """Depth of one frame, ready to publish or save."""

    depth: np.ndarray  # h x w float32 metres (REP 118); NaN where unknown or outside the range
    camera: PinholeIntrinsics | None  # intrinsics of `depth`; None when the camera is unknown
    factor: float  # metres per model unit used for this frame
    inference_s: float  # seconds spent in the network


@dataclass(frozen=True)
class DepthPipeline:
    """A model, its scaler and the output settings that turn its output into published depth.

    Frozen: the node builds a new one when a parameter changes and swaps it in whole, so a frame
    never mixes old and new settings. The scaler inside keeps its own running estimate.
    """

    estimator: DepthEstimator
    scaler: MetricScaler
    range_min: float = 0.1  # metres; nearer depth becomes NaN
    range_max: float = math.inf  # metres; farther depth becomes NaN
    upsample_to_input: bool = False  # publish at the camera's resolution, not the model's

    def model_camera(self, camera: PinholeIntrinsics | None) -> PinholeIntrinsics:
        """The camera for the model's output grid: the real one scaled, or, when unknown, the
        training camera of the contract (good enough for ground-plane scale, not for clouds)."""
        width, height = self.estimator.input_size
        if camera is not None:
            return camera.scaled(width, height)
        contract = self.estimator.contract
        return PinholeIntrinsics.from_normalized(
            contract.fx, contract.fy, contract.cx, contract.cy, width, height
        )

    def process(self, rgb: np.ndarray, camera: PinholeIntrinsics | None) -> DepthFrame:
        """Depth in metres for an H x W x 3 uint8 RGB frame; `camera` describes that H x W."""
        started = time.perf_counter()
        depth_units = self.estimator.predict(rgb)
        inference_s = time.perf_counter() - started
        model_camera = self.model_camera(camera)
        factor = self.scaler.update(depth_units, model_camera)
        depth = depth_units * np.float32(factor)
        depth_camera = model_camera if camera is not None else None
        height, width = rgb.shape[:2]
        if self.upsample_to_input and depth.shape != (height, width):
            depth = cv2.resize(depth, (width, height), interpolation=cv2.INTER_LINEAR)
            depth_camera = camera
        with np.errstate(invalid="ignore"):
            depth[~((depth >= self.range_min) & (depth <= self.range_max))] = np.nan
        return DepthFrame(depth, depth_camera, factor, inference_s)


def cloud_points(
    frame: DepthFrame, rgb: np.ndarray | None, step: int = 1
) -> tuple[np.ndarray, np.ndarray | None]:
    """Organized h x w x 3 points (optical frame, metres) and, when `rgb` is given, their colours
    resampled to the depth grid. The frame must know its camera."""
    if frame.camera is None:
        raise ValueError("a point cloud needs the camera intrinsics (no camera_info)")
    points = depth_to_points(frame.depth, frame.camera, step=step)
    if rgb is None:
        return points, None
    height, width = frame.depth.shape
    if rgb.shape[:2] != (height, width):
        rgb = cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA)
    return points, np.ascontiguousarray(rgb[::step, ::step])
