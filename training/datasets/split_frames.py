"""Target frames of a split for evaluation, export checks and statistics: no neighbours, no
augmentation, and evenly spread picks when only some are wanted."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from training.config import DataConfig
from training.datasets import find_split
from training.datasets.build import build_dataset


def eval_dataset(data: DataConfig, split: str | Path, size: tuple[int, int]) -> Any:
    """The split's dataset with target frames only, no augmentation, resized to size (w, h)."""
    width, height = size
    single = dataclasses.replace(data, frame_offsets=[0], use_stereo=False, augment=False,
                                 width=width, height=height)
    return build_dataset(single, find_split(split, data.root, "--split"), train=False)


def spread_indices(total: int, count: int | None) -> list[int]:
    """`count` indices spread evenly over range(total) (all when count is None or too big)."""
    if count is None or count >= total:
        return list(range(total))
    return sorted({round(i) for i in np.linspace(0, total - 1, count)})


def load_split_images(
    data: DataConfig, split: str | Path, count: int, size: tuple[int, int]
) -> np.ndarray:
    """`count` target frames spread over a split: N x 3 x h x w float32 RGB [0, 1], size (w, h)."""
    dataset = eval_dataset(data, split, size)
    picks = spread_indices(len(dataset), count)
    return np.stack([dataset[i]["frames"][0].numpy() for i in picks])
