"""The odometry's photometric error against the depth scale, with the fit and the true scale.

    .venv/bin/python -m bench.odometry_scale_curve runs/rosbag2_velocity/last.pt \\
        --out docs/odometry_scale.png

Scans the error that `model.scale_from_odometry` minimises (training/odometry_scale.py) from a
tenth to ten times the fitted scale on the run's training frames, and draws it with three
marks: the fitted metres per unit, and, where the recording has ground-truth depth, the true
one (each frame's median-scaling factor as the trainer scores it, the median over frames) on
the training frames and on the held-out ones. Prints the same figures. Where the fitted and
the true marks fall together, the fit has found metres; the curve's depth around its minimum
says how sharply the odometry pins the scale.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
from pathlib import Path

import cv2
import numpy as np
import torch

from training.config import DataConfig
from training.datasets import find_split
from training.datasets.build import build_dataset
from training.evaluation.protocol import Scaling, protocol_for, score_image
from training.odometry_scale import OdometryWarps, fit_metres_per_unit, training_frames
from training.tasks.build import load_task
from training.tasks.monodepth2 import Monodepth2Task

POINTS = 49
WIDTH, HEIGHT, MARGIN = 800, 440, 70
CURVE, FITTED, TRAIN_TRUTH, HELD_OUT_TRUTH, UNWARPED = (
    (40, 40, 40), (200, 90, 20), (40, 150, 40), (30, 120, 230), (150, 150, 150))  # BGR


def split_samples(data: DataConfig, split: str) -> list[dict[str, torch.Tensor]]:
    dataset = build_dataset(data, find_split(split, data.root, "data.val_split"), train=False)
    return [dataset[index] for index in range(len(dataset))]


def true_scale(task: Monodepth2Task, data: DataConfig,
               samples: list[dict[str, torch.Tensor]]) -> float | None:
    """Median over frames of each frame's median-scaling factor (ground truth over prediction,
    under the data set's evaluation protocol, as the trainer scores), or None without ground
    truth."""
    protocol, median = protocol_for(data.dataset), Scaling("median")
    factors = []
    predictor = task.depth_model().eval()
    with torch.no_grad():
        for sample in samples:
            if "depth_gt" not in sample:
                return None
            predicted = predictor(sample["frames"][None, 0].float())[0, 0].numpy()
            score = score_image(predicted, sample["depth_gt"][0].numpy(), protocol, median)
            if score is not None:
                factors.append(score.scale)
    return float(np.median(factors)) if factors else None


def draw(scales: np.ndarray, errors: list[float], marks: list[tuple[str, float, tuple]],
         unwarped: float) -> np.ndarray:
    picture = np.full((HEIGHT, WIDTH, 3), 255, np.uint8)
    low, high = math.log(scales[0]), math.log(scales[-1])
    top = max(max(errors), unwarped) * 1.05

    def point(scale: float, error: float) -> tuple[int, int]:
        x = MARGIN + (math.log(scale) - low) / (high - low) * (WIDTH - 2 * MARGIN)
        y = HEIGHT - MARGIN - error / top * (HEIGHT - 2 * MARGIN)
        return round(x), round(y)

    cv2.rectangle(picture, (MARGIN, MARGIN), (WIDTH - MARGIN, HEIGHT - MARGIN), (0, 0, 0), 1)
    for decade in range(math.ceil(low / math.log(10)), math.floor(high / math.log(10)) + 1):
        x, _ = point(10.0 ** decade, 0.0)
        cv2.line(picture, (x, HEIGHT - MARGIN), (x, HEIGHT - MARGIN + 6), (0, 0, 0), 1)
        cv2.putText(picture, f"{10.0 ** decade:g}", (x - 12, HEIGHT - MARGIN + 24),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(picture, "metres per depth unit (log)", (WIDTH // 2 - 110, HEIGHT - 18),
                cv2.FONT_HERSHEY_SIMPLEX, 0.55, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(picture, f"photometric error (0 .. {top:.3f})", (MARGIN, MARGIN - 12),
                cv2.FONT_HERSHEY_SIMPLEX, 0.55, (0, 0, 0), 1, cv2.LINE_AA)
    _, y = point(scales[0], unwarped)
    cv2.line(picture, (MARGIN, y), (WIDTH - MARGIN, y), UNWARPED, 1, cv2.LINE_AA)
    cv2.putText(picture, "not warped", (WIDTH - MARGIN - 90, y - 6), cv2.FONT_HERSHEY_SIMPLEX,
                0.45, UNWARPED, 1, cv2.LINE_AA)
    curve = np.array([point(s, e) for s, e in zip(scales, errors, strict=True)], np.int32)
    cv2.polylines(picture, [curve], False, CURVE, 2, cv2.LINE_AA)
    for row, (label, scale, colour) in enumerate(marks):
        x, _ = point(scale, 0.0)
        cv2.line(picture, (x, MARGIN), (x, HEIGHT - MARGIN), colour, 2, cv2.LINE_AA)
        cv2.putText(picture, f"{label}: {scale:.3g}", (MARGIN + 10, MARGIN + 22 + 20 * row),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.5, colour, 1, cv2.LINE_AA)
    return picture


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("checkpoint")
    parser.add_argument("--out", type=Path, help="PNG to draw the curve into")
    args = parser.parse_args()
    torch.set_num_threads(1)
    cfg, task = load_task(args.checkpoint)
    if not isinstance(task, Monodepth2Task):
        raise SystemExit(f"{args.checkpoint}: needs a monodepth2 checkpoint")
    data = dataclasses.replace(cfg.data, odometry=True)
    samples = training_frames(data)
    device = torch.device("cpu")
    fitted = cfg.model.metres_per_unit or fit_metres_per_unit(task, samples,
                                                               device).metres_per_unit
    warps = OdometryWarps(task, samples, device)
    scales = fitted * np.geomspace(0.1, 10.0, POINTS)
    errors = [warps.error(float(scale)) for scale in scales]
    marks = [("fitted from odometry", fitted, FITTED)]
    print(f"fitted: {fitted:.4g} m per unit on {warps.frames} training frames; error "
          f"{warps.error(fitted):.4f} there, {warps.error(1.0):.4f} at the model's units, "
          f"{warps.unwarped:.4f} not warped")
    checks = [("true, training frames", samples, TRAIN_TRUTH)]
    if data.val_split:
        checks.append(("true, held-out frames", split_samples(data, data.val_split),
                       HELD_OUT_TRUTH))
    for label, frames, colour in checks:
        truth = true_scale(task, data, frames)
        if truth is not None:
            marks.append((label, truth, colour))
            print(f"{label}: {truth:.4g} m per unit (fitted / true {fitted / truth:.2f})")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(args.out), draw(scales, errors, marks, warps.unwarped))
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
