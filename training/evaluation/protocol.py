"""Evaluation protocols and the scoring of one image, shared by every report of depth quality.

The evaluate command, the trainer's validation and the inference bench all score through
score_image, so their numbers agree. Protocols (metres):
    kitti    caps [1e-3, 80], Garg/Eigen crop rows 0.40810811-0.99189189 H, cols
             0.03594771-0.96405229 W
    nyu      caps [1e-3, 10], crop rows 45-471, cols 41-601 at 640 x 480 (scaled to other sizes)
    generic  caps [1e-3, 80], no crop
Scaling follows the model contract: relative models (monocular Monodepth2) are median-scaled per
image (median(gt) / median(pred)), models trained with the stereo baseline are multiplied by 5.4,
metric models are used as they are.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from depth_ros.contract import ModelContract
from training.metrics import compute_depth_metrics, median_scale

GARG_CROP = (0.40810811, 0.99189189, 0.03594771, 0.96405229)  # rows, cols as fractions of H, W
NYU_CROP = (45, 471, 41, 601)  # rows, cols in pixels of a 640 x 480 image
NYU_SIZE = (480, 640)  # H, W the NYU crop is given for


@dataclass(frozen=True)
class EvalProtocol:
    """Which ground-truth pixels count: depth caps (metres) and an image crop."""

    name: str
    min_depth: float
    max_depth: float
    crop: str  # "garg" | "nyu" | "none"


PROTOCOLS = {
    "kitti": EvalProtocol("kitti", 1e-3, 80.0, "garg"),
    "nyu": EvalProtocol("nyu", 1e-3, 10.0, "nyu"),
    "generic": EvalProtocol("generic", 1e-3, 80.0, "none"),
}
PROTOCOL_OF_DATASET = {"kitti": "kitti", "nyu": "nyu", "nyu_labeled": "nyu", "rgbd_folder": "nyu"}


def protocol_for(dataset: str) -> EvalProtocol:
    return PROTOCOLS[PROTOCOL_OF_DATASET.get(dataset, "generic")]


def crop_mask(shape: tuple[int, int], crop: str) -> np.ndarray:
    """H x W bool mask of the pixels a protocol's crop keeps."""
    height, width = shape
    mask = np.zeros(shape, dtype=bool)
    if crop == "none":
        mask[:] = True
    elif crop == "garg":
        top, bottom, left, right = GARG_CROP
        mask[int(top * height):int(bottom * height), int(left * width):int(right * width)] = True
    elif crop == "nyu":
        top, bottom, left, right = NYU_CROP
        sy, sx = height / NYU_SIZE[0], width / NYU_SIZE[1]
        mask[round(top * sy):round(bottom * sy), round(left * sx):round(right * sx)] = True
    else:
        raise ValueError(f"crop {crop!r} unknown; expected garg, nyu or none")
    return mask


@dataclass(frozen=True)
class Scaling:
    """How predictions (model units) become metres before scoring."""

    mode: str  # "median" (per image), "fixed" (x factor) or "none"
    factor: float = 1.0  # metres per model unit for "fixed"

    def describe(self) -> str:
        if self.mode == "fixed":
            return f"fixed x{self.factor:g}"
        return {"median": "per-image median", "none": "none (metric)"}[self.mode]


def scaling_for(contract: ModelContract) -> Scaling:
    """Median scaling for relative models; the contract's factor for metric ones."""
    if not contract.is_metric:
        return Scaling("median")
    if contract.metres_per_unit == 1.0:
        return Scaling("none")
    return Scaling("fixed", contract.metres_per_unit)


def resize_depth(depth: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Depth h x w -> H x W by bilinear interpolation of inverse depth (Monodepth2's benchmark)."""
    if depth.shape == shape:
        return depth.astype(np.float32)
    disparity = cv2.resize(1.0 / depth.astype(np.float32), (shape[1], shape[0]),
                           interpolation=cv2.INTER_LINEAR)
    return 1.0 / disparity


@dataclass(frozen=True)
class ImageScore:
    """One image's metrics, the factor its prediction was multiplied by, and the pixels scored."""

    metrics: dict[str, float]
    scale: float  # median ratio, fixed factor or 1
    valid_pixels: int


def score_image(
    prediction: np.ndarray,
    gt: np.ndarray,
    protocol: EvalProtocol,
    scaling: Scaling,
    smooth_l1_beta: float = 2.0,
) -> ImageScore | None:
    """Score one prediction the way every report here does (this command, the trainer's
    validation, the inference bench), so their numbers agree. None when no pixel is valid.

    prediction (model units) and gt (metres, 0 unknown) are H x W of the same size (resize the
    prediction first with resize_depth). Pixels outside the protocol's depth caps and crop are
    dropped, the prediction is scaled by `scaling` and clipped to the caps.
    """
    if prediction.shape != gt.shape:
        raise ValueError(f"prediction {prediction.shape} and ground truth {gt.shape} sizes "
                         "differ; resize the prediction first (resize_depth)")
    mask = (gt > protocol.min_depth) & (gt < protocol.max_depth)
    mask &= crop_mask(gt.shape, protocol.crop)
    if not mask.any():
        return None
    gt_valid, pred_valid = gt[mask], prediction[mask]
    scale = 1.0
    if scaling.mode == "median":
        scale = median_scale(gt_valid, pred_valid)
    elif scaling.mode == "fixed":
        scale = scaling.factor
    pred_valid = np.clip(pred_valid * scale, protocol.min_depth, protocol.max_depth)
    metrics = compute_depth_metrics(gt_valid, pred_valid, smooth_l1_beta)
    return ImageScore(metrics, scale, int(mask.sum()))
