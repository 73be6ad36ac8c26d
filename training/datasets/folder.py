"""Custom robot recordings: an ordered folder of images plus the camera's intrinsics YAML.

    data:
      dataset: folder
      root: recordings/run1          # images sorted by name are consecutive frames
      intrinsics_file: recordings/run1/intrinsics.yaml   # empty: <root>/intrinsics.yaml
      train_split: ""                # empty or absent file: every frame with valid neighbours

The YAML gives pixel intrinsics of the calibrated image size,
    fx: 615.0
    fy: 615.0
    cx: 320.0
    cy: 240.0
    width: 640
    height: 480
or is a ROS camera_calibration file (image_width, image_height, camera_matrix.data). They are
normalised by that size, so stored images may be any resize of it, but not a crop.
When root holds no images itself, each sub-folder with images is one sequence. A split file, if
given, has lines `folder index l` (folder relative to root, `.` for root itself; index is the
position in the sorted file list).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from depth_ros.camera import CameraInfoError, read_intrinsics_yaml
from training.config import DataConfig
from training.datasets import DatasetError, NormalizedIntrinsics, SplitEntry, read_split
from training.datasets.sequence import SequenceDataset

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".tif", ".tiff"})


class ImageFolderDataset(SequenceDataset):
    def __init__(self, cfg: DataConfig, split_file: str | Path, train: bool):
        self.root = Path(cfg.root)
        if not self.root.is_dir():
            raise DatasetError(f"data.root={cfg.root!r} is not a folder of images")
        yaml_path = self.root / "intrinsics.yaml"
        if cfg.intrinsics_file:
            yaml_path = Path(cfg.intrinsics_file)
        self._normalized = read_camera_yaml(yaml_path)
        self._names: dict[str, list[str]] = {}  # sequence folder -> sorted image file names
        if split_file and Path(split_file).is_file():
            entries, source = read_split(split_file), str(split_file)
        else:
            if split_file:
                logger.warning("split file %s does not exist; using every frame", split_file)
            entries, source = self._all_entries(cfg.frame_offsets), str(self.root)
        super().__init__(cfg, entries, train, source)

    def frame_path(self, entry: SplitEntry, frame_index: int) -> Path | None:
        names = self._sequence(entry.folder)
        return self.root / entry.folder / names[frame_index] if frame_index < len(names) else None

    def intrinsics(self, entry: SplitEntry) -> NormalizedIntrinsics:
        return self._normalized

    def _sequence(self, folder: str) -> list[str]:
        if folder not in self._names:
            path = self.root / folder
            names = os.listdir(path) if path.is_dir() else []
            images = [name for name in names if Path(name).suffix.lower() in IMAGE_SUFFIXES]
            self._names[folder] = sorted(images)
        return self._names[folder]

    def _all_entries(self, offsets: list[int]) -> list[SplitEntry]:
        folders = ["."]
        if not self._sequence("."):
            children = sorted(child.name for child in self.root.iterdir() if child.is_dir())
            folders = [name for name in children if self._sequence(name)]
        if not folders:
            raise DatasetError(f"{self.root} holds no images ({sorted(IMAGE_SUFFIXES)})")
        first, last = max(0, -min(offsets)), max(0, max(offsets))
        entries = [
            SplitEntry(folder, index, "l")
            for folder in folders
            for index in range(first, len(self._sequence(folder)) - last)
        ]
        if not entries:
            raise DatasetError(
                f"{self.root}: no frame has all neighbours at offsets {offsets}; "
                f"the sequences hold {[len(self._sequence(f)) for f in folders]} images"
            )
        return entries


def read_camera_yaml(path: Path) -> NormalizedIntrinsics:
    """The normalised camera of an intrinsics YAML (formats: depth_ros.camera.read_intrinsics_yaml),
    with errors pointing at the setting that names the file."""
    try:
        camera = read_intrinsics_yaml(path)
    except CameraInfoError as error:
        raise DatasetError(f"{error} (data.intrinsics_file)") from None
    return NormalizedIntrinsics(*camera.normalized())
