"""Show the model a camera the way its training camera saw the world, and correct metric depth.

A depth network reads depth from apparent size: an object S metres wide at Z metres covers
fx_n x S / Z of the image width (fx_n = fx / W, the normalised focal length). It has learnt that
relation for its training camera (the contract's fx, fy). Two corrections make another camera fit:

- Geometry. Squeezing any image to the model's size stretches it anisotropically when the
  aspect differs. Instead a window of the image with the training aspect is taken, placed so
  that the principal point sits where the training camera had it (as far as the image allows),
  and resized to the model input. In image pixels the window's aspect is
  w / h = (fy_n_train / fx_n_train) x (fx / fy), so that fx / w : fy / h equals the training
  camera's fx_n : fy_n and the model sees undistorted shapes.
  `crop` (the default) takes the largest such window inside the image and discards the rest;
  `pad` takes the smallest window holding the whole image and fills the border with black.
  Crop is the default because the network never saw black borders in training; pad keeps the
  whole field of view (its border pixels are published as NaN).
- Scale. In the window the camera's normalised focal length is fx / w. An object looks
  (fx / w) / fx_n_train times larger than it would to the training camera, so the network
  answers that much too near: metric depth = model depth x focal_ratio, with
  focal_ratio = (fx / w) / fx_n_train.

Both are reported in diagnostics. Beyond FOCAL_RATIO_WARN or WINDOW_CHANGE_WARN the node warns:
the model then sees sizes or a field of view far from anything it was trained on, and its depth
is an extrapolation however well the scale is corrected.

Without camera_info, pixels are taken as square and the principal point as the image centre;
the focal length is then unknown and no scale correction is made (focal_ratio 1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from depth_ros.camera import PinholeIntrinsics
from depth_ros.contract import ModelContract

FIT_MODES = ("crop", "pad")
FOCAL_RATIO_WARN = 1.25  # focal_ratio above this, or below its inverse: WARN
WINDOW_CHANGE_WARN = 0.25  # more than this fraction of the image cropped (or canvas padded): WARN


@dataclass(frozen=True)
class CameraFit:
    """Where the model's input comes from in one camera's image, and the scale correction.

    The window is in image pixels; with `pad` it reaches beyond the image (x0, y0 <= 0).
    """

    mode: str  # "crop" or "pad"
    x0: int  # window's left column, image pixels
    y0: int  # window's top row, image pixels
    width: int  # window size, image pixels
    height: int
    image_width: int
    image_height: int
    model_camera: PinholeIntrinsics  # the camera of the model's input (and output) grid
    focal_ratio: float  # metric depth = model depth x focal_ratio
    focal_known: bool  # False without camera_info: focal_ratio is then 1 by assumption

    @property
    def window_change(self) -> float:
        """Fraction of the image cropped away (crop) or of the window that is padding (pad)."""
        window = self.width * self.height
        image = self.image_width * self.image_height
        return 1.0 - min(window, image) / max(window, image)

    def problems(self) -> list[str]:
        """Why this fit deserves a warning (empty when it is within the documented bounds)."""
        found = []
        if not 1.0 / FOCAL_RATIO_WARN <= self.focal_ratio <= FOCAL_RATIO_WARN:
            found.append(
                f"focal ratio {self.focal_ratio:.3f} is outside [{1 / FOCAL_RATIO_WARN:.2f}, "
                f"{FOCAL_RATIO_WARN:.2f}]: the camera's field of view is far from the model's"
            )
        if self.window_change > WINDOW_CHANGE_WARN:
            verb = "cropped away" if self.mode == "crop" else "padded"
            found.append(
                f"{self.window_change:.0%} of the image {verb} to reach the model's aspect "
                f"(more than {WINDOW_CHANGE_WARN:.0%})"
            )
        return found

    def window(self, rgb: np.ndarray) -> np.ndarray:
        """The part of an H x W x C image the model gets (before its resize)."""
        if self.mode == "crop":
            return rgb[self.y0 : self.y0 + self.height, self.x0 : self.x0 + self.width]
        return cv2.copyMakeBorder(
            rgb,
            -self.y0,
            self.y0 + self.height - self.image_height,
            -self.x0,
            self.x0 + self.width - self.image_width,
            cv2.BORDER_CONSTANT,
            value=0,
        )

    def mask_padding(self, depth: np.ndarray) -> np.ndarray:
        """Set to NaN, in place, the model-grid pixels whose centre falls on padding; return it."""
        if self.mode == "crop":
            return depth
        rows, cols = depth.shape
        u = (np.arange(cols) + 0.5) * (self.width / cols) + self.x0  # image x of the centre
        v = (np.arange(rows) + 0.5) * (self.height / rows) + self.y0
        depth[:, (u < 0) | (u >= self.image_width)] = np.nan
        depth[(v < 0) | (v >= self.image_height), :] = np.nan
        return depth

    def to_image(self, depth: np.ndarray) -> np.ndarray:
        """Model-grid depth resampled (bilinear) onto the camera's full image, NaN where the
        model saw nothing of it (cropped away)."""
        window = cv2.resize(depth, (self.width, self.height), interpolation=cv2.INTER_LINEAR)
        if self.mode == "pad":
            top, left = -self.y0, -self.x0
            return np.ascontiguousarray(
                window[top : top + self.image_height, left : left + self.image_width]
            )
        full = np.full((self.image_height, self.image_width), np.nan, np.float32)
        full[self.y0 : self.y0 + self.height, self.x0 : self.x0 + self.width] = window
        return full


def _window_start(centre: float, fraction: float, size: int, image: int, mode: str) -> int:
    """First pixel of a window of `size` that puts `centre` at `fraction` of it, kept inside
    the image (crop) or around the whole image (pad)."""
    start = round(centre - fraction * size)
    low, high = (0, image - size) if mode == "crop" else (image - size, 0)
    return min(max(start, low), high)


def fit_camera(
    camera: PinholeIntrinsics | None,
    image_width: int,
    image_height: int,
    contract: ModelContract,
    mode: str = "crop",
) -> CameraFit:
    """The window and focal ratio that make `camera` (of an image_width x image_height image;
    None when unknown) look like the contract's training camera to the model."""
    if mode not in FIT_MODES:
        raise ValueError(f"camera fit mode {mode!r} unknown; expected one of {FIT_MODES}")
    if camera is None:  # square pixels, centred principal point, focal unknown
        fx = fy = 1.0
        cx, cy = image_width / 2.0, image_height / 2.0
    else:
        fx, fy, cx, cy = camera.fx, camera.fy, camera.cx, camera.cy
    aspect = (contract.fy / contract.fx) * (fx / fy)  # window width / height, image pixels
    wider = image_width / image_height > aspect
    if wider == (mode == "crop"):  # crop a wide image's sides, or pad a tall image's sides
        height = image_height
        width = max(1, round(image_height * aspect))
    else:
        width = image_width
        height = max(1, round(image_width / aspect))
    x0 = _window_start(cx, contract.cx, width, image_width, mode)
    y0 = _window_start(cy, contract.cy, height, image_height, mode)
    model_width, model_height = contract.input_width, contract.input_height
    if camera is None:
        model_camera = PinholeIntrinsics.from_normalized(
            contract.fx, contract.fy, contract.cx, contract.cy, model_width, model_height
        )
        focal_ratio = 1.0
    else:
        window_camera = PinholeIntrinsics(fx, fy, cx - x0, cy - y0, width, height)
        model_camera = window_camera.scaled(model_width, model_height)
        focal_ratio = (fx / width) / contract.fx
    if not math.isfinite(focal_ratio) or focal_ratio <= 0.0:
        raise ValueError(f"camera fit focal ratio {focal_ratio} must be positive and finite")
    return CameraFit(
        mode, x0, y0, width, height, image_width, image_height, model_camera, focal_ratio,
        camera is not None,
    )  # fmt: skip
