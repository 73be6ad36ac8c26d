"""An evaluation's result and its renderings: the printed table, JSON, per-image CSV, PNG grid."""

from __future__ import annotations

import csv
import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from depth_ros.atomic_files import atomic_write, write_text
from depth_ros.colorize import colorize_depth
from training.evaluation.protocol import EvalProtocol, Scaling
from training.metrics import HIGHER_IS_BETTER, METRIC_NAMES


@dataclass
class ImageResult:
    name: str
    valid_pixels: int
    scale: float  # factor the prediction was multiplied by (median ratio, fixed factor or 1)
    metrics: dict[str, float]


@dataclass
class Preview:
    """One row of the PNG grid (H x W, ground-truth size): input, scaled prediction, gt."""

    image: np.ndarray  # H x W x 3 uint8 RGB
    prediction: np.ndarray  # metres
    gt: np.ndarray  # metres, 0 unknown


@dataclass
class EvaluationResult:
    protocol: EvalProtocol
    scaling: Scaling
    metrics: dict[str, float]  # averaged over images
    images: list[ImageResult]
    skipped: list[str] = field(default_factory=list)  # images without valid ground truth
    previews: list[Preview] = field(default_factory=list)

    @property
    def ratios(self) -> np.ndarray:
        return np.array([image.scale for image in self.images])

    def ratio_summary(self) -> dict[str, float] | None:
        """Median and std of the per-image median-scaling ratios (None without median scaling)."""
        if self.scaling.mode != "median":
            return None
        ratios = self.ratios
        return {"median": float(np.median(ratios)), "std": float(np.std(ratios)),
                "std_over_median": float(np.std(ratios) / np.median(ratios))}

    def table(self) -> str:
        """The metrics as a fixed-width table (one header row, one value row)."""
        header = " | ".join(f"{name:>9}" for name in METRIC_NAMES)
        values = " | ".join(f"{self.metrics[name]:9.4f}" for name in METRIC_NAMES)
        return f"{header}\n{values}"

    def describe(self) -> str:
        p = self.protocol
        lines = [
            f"{len(self.images)} images, protocol {p.name} (depth {p.min_depth:g}-{p.max_depth:g}"
            f" m, crop {p.crop}), scaling {self.scaling.describe()}",
        ]
        if self.skipped:
            lines.append(f"skipped {len(self.skipped)} images without valid ground truth")
        summary = self.ratio_summary()
        if summary is not None:
            lines.append(f"median scaling ratios: median {summary['median']:.4f}, std "
                         f"{summary['std']:.4f} (std / median {summary['std_over_median']:.4f})")
        lower = ", ".join(n for n in METRIC_NAMES if n not in HIGHER_IS_BETTER)
        lines.append(f"lower is better: {lower}; higher: a1, a2, a3")
        return "\n".join([*lines, self.table()])

    def to_dict(self) -> dict[str, Any]:
        return {
            "protocol": dataclasses.asdict(self.protocol),
            "scaling": dataclasses.asdict(self.scaling),
            "images": len(self.images),
            "skipped": self.skipped,
            "metrics": self.metrics,
            "scale_ratios": self.ratio_summary(),
        }


def write_json(result: EvaluationResult, path: str | Path, extra: dict[str, Any]) -> None:
    write_text(path, json.dumps({**extra, **result.to_dict()}, indent=2) + "\n")


def write_csv(result: EvaluationResult, path: str | Path) -> None:
    with atomic_write(path, "w") as handle:
        writer = csv.writer(handle)
        writer.writerow(["image", "valid_pixels", "scale", *METRIC_NAMES])
        for image in result.images:
            writer.writerow([image.name, image.valid_pixels, f"{image.scale:.6g}",
                             *(f"{image.metrics[n]:.6g}" for n in METRIC_NAMES)])


def preview_grid(previews: Sequence[Preview], max_width: int = 640) -> np.ndarray:
    """Rows input | prediction | ground truth (BGR uint8); sparse ground truth is thickened."""
    rows = []
    for preview in previews:
        known = preview.gt[preview.gt > 0]
        near, far = (float(known.min()), float(known.max())) if known.size else (0.1, 80.0)
        far = max(far, near * 1.01)
        gt = preview.gt
        if known.size < 0.3 * gt.size:  # velodyne: dilate inverse depth (the nearer point wins)
            inverse: np.ndarray = (
                np.where(gt > 0, 1.0 / np.maximum(gt, 1e-6), 0.0).astype(np.float32)
            )
            inverse = cv2.dilate(inverse, np.ones((3, 3), np.uint8))
            gt = np.where(inverse > 0, 1.0 / np.maximum(inverse, 1e-6), 0.0)
        row = np.concatenate([
            cv2.cvtColor(preview.image, cv2.COLOR_RGB2BGR),
            colorize_depth(preview.prediction, near, far, "turbo", "inverse"),
            colorize_depth(gt.astype(np.float32), near, far, "turbo", "inverse"),
        ], axis=1)
        rows.append(row)
    width = max(row.shape[1] for row in rows)
    scale = min(1.0, 3 * max_width / width)
    rows = [cv2.resize(r, (round(r.shape[1] * scale), round(r.shape[0] * scale))) for r in rows]
    return np.concatenate(rows, axis=0)
