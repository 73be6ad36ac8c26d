"""The images of a split with their ground truth at its own size, one at a time.

KITTI frames are scored against the velodyne scans (training/kitti_depth: the published Eigen
ground truth by default, or camera-z depth) where the scans exist, else against the dataset's
dense depth files (the generator's depth_gt/*.npy, NYU's PNGs).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from training.config import ConfigError, DataConfig
from training.datasets import DatasetError, SplitEntry
from training.datasets.split_frames import eval_dataset, spread_indices
from training.kitti_depth import DEFAULT_CONVENTION, load_ground_truth, velodyne_scan_path

logger = logging.getLogger(__name__)

GT_CHOICES = ("auto", "velodyne", "dense")


@dataclass
class EvalSample:
    name: str  # "folder frame side"
    image: np.ndarray  # 3 x h x w float32 RGB [0, 1] at the model's input size
    gt: np.ndarray  # H x W float32 metres at the ground truth's own size, 0 = unknown


def iter_samples(
    data: DataConfig,
    split: str | Path,
    size: tuple[int, int],
    gt_source: str = "auto",
    gt_cache: str | Path | None = None,
    velodyne_gt: str = DEFAULT_CONVENTION,
    max_images: int | None = None,
) -> tuple[int, Iterator[EvalSample]]:
    """(number of samples, iterator over them) for a split; ground truth at its native size."""
    if gt_source not in GT_CHOICES:
        raise ValueError(f"ground truth {gt_source!r} unknown; expected one of {GT_CHOICES}")
    dataset = eval_dataset(data, split, size)
    entries: list[SplitEntry] | None = getattr(dataset, "entries", None)
    if gt_source == "auto":
        gt_source = "dense"
        if data.dataset == "kitti" and entries and _has_velodyne(data.root, entries[0]):
            gt_source = "velodyne"
    picks = spread_indices(len(dataset), max_images)
    velodyne: list[np.ndarray] | None = None
    if gt_source == "velodyne":
        if data.dataset != "kitti" or entries is None:
            raise ConfigError(f"--gt velodyne needs a kitti dataset; data.dataset={data.dataset!r}")
        chosen = [entries[i] for i in picks]
        velodyne = load_ground_truth(data.root, chosen, gt_cache, velodyne_gt)
    logger.info("evaluating %d images of %s, ground truth: %s", len(picks), split, gt_source)

    def samples() -> Iterator[EvalSample]:
        for n, index in enumerate(picks):
            sample = dataset[index]
            entry = entries[index] if entries is not None else None
            name = f"{entry.folder} {entry.frame_index} {entry.side}" if entry else str(index)
            if velodyne is not None:
                gt = velodyne[n]
            else:
                gt = _dense_ground_truth(dataset, entry, sample, name)
            yield EvalSample(name, sample["frames"][0].numpy(), gt)

    return len(picks), samples()


def _has_velodyne(root: str, entry: SplitEntry) -> bool:
    calibration = (Path(root) / entry.folder).parent / "calib_velo_to_cam.txt"
    return velodyne_scan_path(root, entry).is_file() and calibration.is_file()


def _dense_ground_truth(
    dataset: Any, entry: SplitEntry | None, sample: dict[str, torch.Tensor], name: str
) -> np.ndarray:
    """The dataset's own depth file at full size, else the sample's resized depth_gt."""
    path = None
    if entry is not None and hasattr(dataset, "depth_path"):
        path = dataset.depth_path(entry)
    if path is not None and Path(path).is_file():
        depth = np.asarray(dataset.read_depth(Path(path)), dtype=np.float32)
    elif "depth_gt" in sample:
        depth = sample["depth_gt"][0].numpy().astype(np.float32)
    else:
        raise DatasetError(f"sample {name} has no ground-truth depth (use --gt velodyne for KITTI)")
    return np.where(np.isfinite(depth), depth, 0.0).astype(np.float32)
