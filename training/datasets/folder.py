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
import math
import os
from pathlib import Path
from typing import Any

import yaml

from training.config import DataConfig
from training.datasets import (
    DatasetError,
    NormalizedIntrinsics,
    PixelIntrinsics,
    SplitEntry,
    read_split,
)
from training.datasets.sequence import SequenceDataset

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".tif", ".tiff"})
INTRINSICS_KEYS = ("fx", "fy", "cx", "cy", "width", "height")


class ImageFolderDataset(SequenceDataset):
    def __init__(self, cfg: DataConfig, split_file: str | Path, train: bool):
        self.root = Path(cfg.root)
        if not self.root.is_dir():
            raise DatasetError(f"data.root={cfg.root!r} is not a folder of images")
        yaml_path = self.root / "intrinsics.yaml"
        if cfg.intrinsics_file:
            yaml_path = Path(cfg.intrinsics_file)
        self.camera = read_intrinsics_yaml(yaml_path)
        self._normalized = self.camera.normalized()
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


def read_intrinsics_yaml(path: Path) -> PixelIntrinsics:
    """Pixel intrinsics from a plain (fx, fy, cx, cy, width, height) or ROS camera_info YAML."""
    if not path.is_file():
        raise DatasetError(f"intrinsics file {path} does not exist (set data.intrinsics_file)")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise DatasetError(f"intrinsics file {path} is not valid YAML: {error}") from None
    if not isinstance(raw, dict):
        raise DatasetError(f"intrinsics file {path} must hold a mapping, got {type(raw).__name__}")
    values = _ros_camera_info_values(path, raw) if "camera_matrix" in raw else raw
    missing = [key for key in INTRINSICS_KEYS if key not in values]
    if missing:
        raise DatasetError(f"intrinsics file {path} lacks {missing}; needs {INTRINSICS_KEYS}")
    numbers = {key: _number(path, key, values[key]) for key in INTRINSICS_KEYS}
    for key in ("width", "height"):
        if numbers[key] <= 0 or numbers[key] != int(numbers[key]):
            raise DatasetError(
                f"intrinsics file {path}: {key}={values[key]!r}; expected a positive integer"
            )
    for key in ("fx", "fy"):
        if numbers[key] <= 0:
            raise DatasetError(
                f"intrinsics file {path}: {key}={values[key]!r}; expected > 0 pixels"
            )
    for key, size in (("cx", "width"), ("cy", "height")):
        if not 0 <= numbers[key] <= numbers[size]:
            raise DatasetError(
                f"intrinsics file {path}: {key}={values[key]!r}; expected within [0, {size}]"
            )
    return PixelIntrinsics(
        numbers["fx"], numbers["fy"], numbers["cx"], numbers["cy"],
        int(numbers["width"]), int(numbers["height"]),
    )


def _ros_camera_info_values(path: Path, raw: dict[str, Any]) -> dict[str, Any]:
    matrix = raw["camera_matrix"]
    data = matrix.get("data") if isinstance(matrix, dict) else None
    if not isinstance(data, list) or len(data) != 9:
        raise DatasetError(f"intrinsics file {path}: camera_matrix.data must list 9 numbers")
    values = {"fx": data[0], "cx": data[2], "fy": data[4], "cy": data[5]}
    for key, ros_key in (("width", "image_width"), ("height", "image_height")):
        if ros_key in raw:
            values[key] = raw[ros_key]
    return values


def _number(path: Path, key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise DatasetError(f"intrinsics file {path}: {key}={value!r}; expected a finite number")
    return float(value)
