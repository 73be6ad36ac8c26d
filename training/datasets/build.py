"""The dataset for `cfg.data.dataset`: the one place that knows every layout's class."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from training.config import ConfigError, DataConfig
from training.datasets.folder import ImageFolderDataset
from training.datasets.kitti import KittiRawDataset
from training.datasets.nyu import NyuSequenceDataset
from training.datasets.rgbd import NyuLabeledDataset, RgbdDataset, RgbdFolderDataset
from training.datasets.rosbag2 import RosbagDataset
from training.datasets.sequence import SequenceDataset

# Every layout's class: a sequence of frames (self-supervised) or RGB-D pairs (supervised).
TrainingDataset = SequenceDataset | RgbdDataset

# cfg.data.dataset -> class(cfg.data, split, train). A new layout adds its entry here and its name
# to training.config.Dataset.
DATASETS: dict[str, Callable[[DataConfig, str | Path, bool], TrainingDataset]] = {
    "kitti": KittiRawDataset,
    "nyu": NyuSequenceDataset,
    "folder": ImageFolderDataset,
    "nyu_labeled": NyuLabeledDataset,  # supervised NYUv2 data (Zheng et al.), see rgbd.py
    "rgbd_folder": RgbdFolderDataset,
    "rosbag2": RosbagDataset,
}


def build_dataset(cfg: DataConfig, split_file: str | Path, train: bool) -> TrainingDataset:
    """Dataset `cfg.dataset` over `split_file`; train=True enables augmentation if cfg.augment."""
    dataset_class = DATASETS.get(cfg.dataset)
    if dataset_class is None:
        raise ConfigError(
            f"data.dataset={cfg.dataset!r} is invalid; expected one of {sorted(DATASETS)}"
        )
    return dataset_class(cfg, split_file, train)
