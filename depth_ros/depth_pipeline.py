"""One RGB frame to metric depth: camera fit, inference, scale, resolution and range masking.

The ROS node and the offline tool (`python -m depth_ros.offline`) both call `DepthPipeline.process`,
so a frame gives the same depth, cloud and preview whichever way it arrives.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import overload

import cv2
import numpy as np

from depth_ros.camera import PinholeIntrinsics
from depth_ros.camera_fit import CameraFit, fit_camera
from depth_ros.inference import DepthEstimator, resize_to_model
from depth_ros.pointcloud import depth_to_points
from depth_ros.scale import MetricScaler


@dataclass(frozen=True)
class DepthFrame:
    """Depth of one frame, ready to publish or save."""

    depth: np.ndarray  # h x w float32 metres (REP 118); NaN where unknown or outside the range
    camera: PinholeIntrinsics | None  # intrinsics of `depth`; None when the camera is unknown
    factor: float  # metres per model unit used for this frame
    inference_s: float  # seconds spent in the network
    fit: CameraFit | None = None  # the window the model saw and the focal correction applied
    model_rgb: np.ndarray | None = None  # h x w x 3 uint8: that window at the model's input size
    preprocess_s: float = 0.0  # seconds spent fitting the camera and resizing for the model


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
    fit_mode: str = "crop"  # how the image reaches the training aspect (see camera_fit)

    def process(self, rgb: np.ndarray, camera: PinholeIntrinsics | None) -> DepthFrame:
        """Depth in metres for an H x W x 3 uint8 RGB frame; `camera` describes that H x W.

        The model sees the camera-fitted window; its depth is multiplied by the focal ratio and
        then by the scaler's factor. At model resolution the depth's camera is the window's,
        scaled to the model grid; at input resolution it is `camera` itself.
        """
        height, width = rgb.shape[:2]
        fit_started = time.perf_counter()
        fit = fit_camera(camera, width, height, self.estimator.contract, self.fit_mode)
        model_rgb = resize_to_model(fit.window(rgb), self.estimator.input_size)
        started = time.perf_counter()
        preprocess_s = started - fit_started
        depth_units = self.estimator.predict(model_rgb)  # no second resize inside
        inference_s = time.perf_counter() - started
        depth_units = fit.mask_padding(depth_units * np.float32(fit.focal_ratio))
        factor = self.scaler.update(depth_units, fit.model_camera)
        depth = depth_units * np.float32(factor)
        depth_camera = fit.model_camera if camera is not None else None
        if self.upsample_to_input:
            depth = fit.to_image(depth)
            depth_camera = camera
        with np.errstate(invalid="ignore"):
            depth[~((depth >= self.range_min) & (depth <= self.range_max))] = np.nan
        return DepthFrame(depth, depth_camera, factor, inference_s, fit, model_rgb, preprocess_s)


@overload
def cloud_points(
    frame: DepthFrame, rgb: np.ndarray, step: int = 1
) -> tuple[np.ndarray, np.ndarray]: ...
@overload
def cloud_points(frame: DepthFrame, rgb: None, step: int = 1) -> tuple[np.ndarray, None]: ...
def cloud_points(
    frame: DepthFrame, rgb: np.ndarray | None, step: int = 1
) -> tuple[np.ndarray, np.ndarray | None]:
    """Organized h x w x 3 points (optical frame, metres) and, when `rgb` is given, their colours
    on the depth grid. The frame must know its camera.

    At model resolution the colours are the frame the model saw (frame.model_rgb), already on
    the depth grid; at input resolution `rgb` is. Only a frame from elsewhere is resampled.
    """
    if frame.camera is None:
        raise ValueError("a point cloud needs the camera intrinsics (no camera_info)")
    points = depth_to_points(frame.depth, frame.camera, step=step)
    if rgb is None:
        return points, None
    height, width = frame.depth.shape
    if frame.model_rgb is not None and frame.model_rgb.shape[:2] == (height, width):
        rgb = frame.model_rgb
    elif rgb.shape[:2] != (height, width):
        rgb = cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA)
    return points, np.ascontiguousarray(rgb[::step, ::step])
