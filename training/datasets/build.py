"""The dataset for `cfg.data.dataset`: the one place that knows every layout's class."""

from __future__ import annotations

from pathlib import Path

from torch.utils.data import Dataset

from training.config import ConfigError, DataConfig
from training.datasets.folder import ImageFolderDataset
from training.datasets.kitti import KittiRawDataset
from training.datasets.nyu import NyuSequenceDataset
from training.datasets.rgbd import NyuLabeledDataset, RgbdFolderDataset
from training.datasets.rosbag2 import RosbagDataset

# cfg.data.dataset -> class(cfg.data, split, train). A new layout adds its entry here and its name
# to training.config.Dataset.
DATASETS: dict[str, type[Dataset]] = {
    "kitti": KittiRawDataset,
    "nyu": NyuSequenceDataset,
    "folder": ImageFolderDataset,
    "nyu_labeled": NyuLabeledDataset,  # supervised NYUv2 data (Zheng et al.), see rgbd.py
    "rgbd_folder": RgbdFolderDataset,
    "rosbag2": RosbagDataset,
}


def build_dataset(cfg: DataConfig, split_file: str | Path, train: bool) -> Dataset:
    """Dataset `cfg.dataset` over `split_file`; train=True enables augmentation if cfg.augment."""
    dataset_class = DATASETS.get(cfg.dataset)
    if dataset_class is None:
        raise ConfigError(
            f"data.dataset={cfg.dataset!r} is invalid; expected one of {sorted(DATASETS)}"
        )
    return dataset_class(cfg, split_file, train)  # type: ignore[call-arg]
