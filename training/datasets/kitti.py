"""KITTI raw sequences (and the generator's look-alikes) for Monodepth2 training.

Layout under cfg.root: `<date>/<date>_drive_<n>_sync/image_02|image_03/data/%010d<ext>` with ext
cfg.image_ext (.png as downloaded, .jpg after the usual conversion). Split lines are
`<date>/<date>_drive_<n>_sync frame_index l|r`; l is image_02 (left colour camera), r image_03.
Ground truth, when a drive has `depth_gt/%010d.npy` (dense float32 metres for image_02, written by
the synthetic generator), is added as "depth_gt" if every target of the split has it; real KITTI
has none here (evaluation projects the velodyne scans instead).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from training.config import DataConfig
from training.datasets import KITTI_NORMALIZED_K, NormalizedIntrinsics, SplitEntry, read_split
from training.datasets.sequence import SequenceDataset

CAMERA_FOLDERS = {"l": "image_02", "r": "image_03"}  # KITTI's left and right colour cameras
OTHER_SIDE = {"l": "r", "r": "l"}


class KittiRawDataset(SequenceDataset):
    has_stereo = True

    def __init__(self, cfg: DataConfig, split_file: str | Path, train: bool):
        self.root = Path(cfg.root)
        self.image_ext = cfg.image_ext
        super().__init__(cfg, read_split(split_file), train, source=str(split_file))

    def frame_path(self, entry: SplitEntry, frame_index: int) -> Path:
        return self._image_path(entry.folder, entry.side, frame_index)

    def stereo_path(self, entry: SplitEntry) -> Path:
        return self._image_path(entry.folder, OTHER_SIDE[entry.side], entry.frame_index)

    def intrinsics(self, entry: SplitEntry) -> NormalizedIntrinsics:
        return KITTI_NORMALIZED_K

    def depth_path(self, entry: SplitEntry) -> Path | None:
        if entry.side != "l":
            return None  # ground truth is for image_02 only
        return self.root / entry.folder / "depth_gt" / f"{entry.frame_index:010d}.npy"

    def read_depth(self, path: Path) -> np.ndarray:
        return np.load(path).astype(np.float32, copy=False)

    def _image_path(self, folder: str, side: str, frame_index: int) -> Path:
        name = f"{frame_index:010d}{self.image_ext}"
        return self.root / folder / CAMERA_FOLDERS[side] / "data" / name
