"""Depth error metrics, in numpy so that PyTorch and ONNX Runtime predictions share one definition.

Every function takes the VALID pixels of ONE image as 1-D arrays of depths in metres (the caller
has already applied the crop, the [min, max] caps and any scaling). Benchmarks average the
per-image values over images, not over pixels: `average_metrics` does that.

Eigen et al. / Monodepth2 table (lower is better except the deltas):
    abs_rel  = mean(|d - d*| / d*)          sq_rel   = mean((d - d*)^2 / d*)
    rmse     = sqrt(mean((d - d*)^2))        rmse_log = sqrt(mean((log d - log d*)^2))
    a1/a2/a3 = fraction with max(d / d*, d* / d) < 1.25, 1.25^2, 1.25^3
Zheng et al.'s table (supervised NYUv2; metres):
    l1 = mean |d - d*|      l2 = mean (d - d*)^2      smooth_l1 = mean Huber_beta(d - d*)
    with Huber_beta(x) = 0.5 x^2 / beta if |x| < beta else |x| - 0.5 beta (beta = 2 m in the paper).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# Column order of every printed table; lower is better for all but the a* (delta) columns.
METRIC_NAMES = ("abs_rel", "sq_rel", "rmse", "rmse_log", "a1", "a2", "a3", "l1", "l2", "smooth_l1")
HIGHER_IS_BETTER = frozenset({"a1", "a2", "a3"})


def compute_depth_metrics(
    gt: np.ndarray, pred: np.ndarray, smooth_l1_beta: float = 2.0
) -> dict[str, float]:
    """All metrics of one image from its valid pixels (1-D, metres, both > 0)."""
    gt = np.asarray(gt, dtype=np.float64).ravel()
    pred = np.asarray(pred, dtype=np.float64).ravel()
    if gt.shape != pred.shape:
        raise ValueError(f"ground truth has {gt.size} pixels but prediction has {pred.size}")
    if gt.size == 0:
        raise ValueError("no valid ground-truth pixels; expected at least one")
    if np.any(gt <= 0) or np.any(pred <= 0):
        raise ValueError(
            f"depths must be positive; got gt min {gt.min()}, prediction min {pred.min()}"
        )
    if smooth_l1_beta <= 0:
        raise ValueError(f"smooth_l1_beta={smooth_l1_beta} must be > 0 metres")

    ratio = np.maximum(gt / pred, pred / gt)
    diff = pred - gt
    abs_diff = np.abs(diff)
    huber = np.where(
        abs_diff < smooth_l1_beta, 0.5 * diff**2 / smooth_l1_beta, abs_diff - 0.5 * smooth_l1_beta
    )
    return {
        "abs_rel": float(np.mean(abs_diff / gt)),
        "sq_rel": float(np.mean(diff**2 / gt)),
        "rmse": float(np.sqrt(np.mean(diff**2))),
        "rmse_log": float(np.sqrt(np.mean((np.log(pred) - np.log(gt)) ** 2))),
        "a1": float(np.mean(ratio < 1.25)),
        "a2": float(np.mean(ratio < 1.25**2)),
        "a3": float(np.mean(ratio < 1.25**3)),
        "l1": float(np.mean(abs_diff)),
        "l2": float(np.mean(diff**2)),
        "smooth_l1": float(np.mean(huber)),
    }


def median_scale(gt: np.ndarray, pred: np.ndarray) -> float:
    """Factor mapping a scale-ambiguous prediction onto the ground truth: median(gt)/median(pred).

    Monocular self-supervised models only know depth up to scale; benchmarks rescale each image by
    this ratio before computing errors (and report the spread of the ratios).
    """
    pred_median = float(np.median(pred))
    if not pred_median > 0:
        raise ValueError(f"median predicted depth is {pred_median}; expected > 0")
    return float(np.median(gt)) / pred_median


def average_metrics(per_image: Sequence[dict[str, float]]) -> dict[str, float]:
    """Mean of each metric over images (every image weighs the same, whatever its pixel count)."""
    if not per_image:
        raise ValueError("no images to average; expected at least one")
    return {name: float(np.mean([m[name] for m in per_image])) for name in per_image[0]}
