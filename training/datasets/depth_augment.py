"""Zheng et al.'s augmentation of RGB-D training pairs, and the training-set colour statistics.

Zheng et al., section 3.1: rotation by an angle in [-5, 5] degrees with probability 0.5 (image and
depth together), horizontal flip with probability 0.6 (both), grayscale with probability 0.2
(image only), and per-channel normalisation with the training images' mean and std. The geometric
steps resample the image bilinearly but the depth with NEAREST neighbours, so no depth value is
invented across an object boundary; pixels rotated in from outside the frame get depth 0
(unknown, left out of the loss) and black colour. The normalisation is not applied here: the
supervised depth model carries the statistics as buffers (see training.tasks.supervised), so
exported ONNX models still take RGB in [0, 1].
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import cv2
import numpy as np
import torch

# ITU-R BT.601 luma weights (what torchvision's Grayscale uses) for R, G, B.
LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114], dtype=np.float32)


@dataclass(frozen=True)
class DepthAugmentation:
    """Probabilities and ranges of the paper's augmentation (defaults: the paper's values)."""

    rotation_probability: float = 0.5
    max_rotation_degrees: float = 5.0  # angle drawn uniformly in [-max, max]
    flip_probability: float = 0.6
    grayscale_probability: float = 0.2

    def draw(self, generator: torch.Generator | None = None) -> AugmentationDraw:
        """Random choices for one sample, from torch's RNG (DataLoader seeds it per worker)."""
        u = torch.rand(4, generator=generator).tolist()
        rotate = u[0] < self.rotation_probability
        angle = (2.0 * u[1] - 1.0) * self.max_rotation_degrees if rotate else 0.0
        return AugmentationDraw(angle_degrees=angle, flip=u[2] < self.flip_probability,
                                grayscale=u[3] < self.grayscale_probability)


@dataclass(frozen=True)
class AugmentationDraw:
    """One sample's draw: rotation (degrees counter-clockwise, 0: none), flip, grayscale."""

    angle_degrees: float = 0.0
    flip: bool = False
    grayscale: bool = False


@dataclass(frozen=True)
class AugmentedPair:
    """image: geometric changes only (H x W x 3 float32 [0, 1]); image_aug: plus grayscale;
    depth: H x W float32 metres, 0 unknown."""

    image: np.ndarray
    image_aug: np.ndarray
    depth: np.ndarray


def augment_pair(image: np.ndarray, depth: np.ndarray, draw: AugmentationDraw) -> AugmentedPair:
    """Apply `draw` to an H x W x 3 float32 image in [0, 1] and its H x W depth in metres."""
    if image.shape[:2] != depth.shape:
        raise ValueError(f"image {image.shape[:2]} and depth {depth.shape} sizes differ; "
                         "expected the same H x W")
    if draw.angle_degrees:
        image, depth = rotate_pair(image, depth, draw.angle_degrees)
    if draw.flip:
        image, depth = image[:, ::-1], depth[:, ::-1]
    image = np.ascontiguousarray(image, dtype=np.float32)
    depth = np.ascontiguousarray(depth, dtype=np.float32)
    image_aug = to_grayscale(image) if draw.grayscale else image
    return AugmentedPair(image=image, image_aug=image_aug, depth=depth)


def rotate_pair(image: np.ndarray, depth: np.ndarray,
                angle_degrees: float) -> tuple[np.ndarray, np.ndarray]:
    """Rotate both about the image centre, counter-clockwise as displayed (y down).

    Image: bilinear, outside -> 0. Depth: nearest, outside -> 0 (unknown).
    """
    height, width = depth.shape
    centre = ((width - 1) / 2.0, (height - 1) / 2.0)
    matrix = cv2.getRotationMatrix2D(centre, angle_degrees, 1.0)
    rotated_image = cv2.warpAffine(image, matrix, (width, height), flags=cv2.INTER_LINEAR,
                                   borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    rotated_depth = cv2.warpAffine(depth, matrix, (width, height), flags=cv2.INTER_NEAREST,
                                   borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return rotated_image.reshape(image.shape), rotated_depth


def to_grayscale(image: np.ndarray) -> np.ndarray:
    """H x W x 3 RGB -> the same shape with every channel set to the BT.601 luma."""
    luma = image @ LUMA_WEIGHTS
    return np.repeat(luma[..., None], 3, axis=2).astype(np.float32)


def channel_statistics(images: Iterable[np.ndarray]) -> tuple[list[float], list[float]]:
    """Per-channel mean and std over every pixel of `images` (each H x W x 3, values in [0, 1]).

    Pixels are pooled over all images (float64 sums), so the result is the statistics of the
    training set as a whole, which is what the paper normalises with.
    """
    total = np.zeros(3)
    total_sq = np.zeros(3)
    count = 0
    for image in images:
        pixels = np.asarray(image, dtype=np.float64).reshape(-1, 3)
        total += pixels.sum(axis=0)
        total_sq += (pixels**2).sum(axis=0)
        count += pixels.shape[0]
    if count == 0:
        raise ValueError("no images to compute channel statistics from; expected at least one")
    mean = total / count
    std = np.sqrt(np.maximum(total_sq / count - mean**2, 0.0))
    if np.any(std <= 1e-6):
        raise ValueError(f"training images have a constant channel (std {std.tolist()}); "
                         "expected varying colours")
    return mean.tolist(), std.tolist()
