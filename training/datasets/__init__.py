"""Datasets for depth training: on-disk layouts, split files and the cameras they imply.

This module holds what every layout shares (split files, errors, the cameras) and imports
without torch, which keeps the synthetic generator (numpy + OpenCV) light; `build_dataset` in
training/datasets/build.py picks the layout's dataset for `cfg.dataset`.

Layouts (paths relative to `cfg.root`):
    kitti   <date>/<date>_drive_<n>_sync/image_02|image_03/data/%010d.png|jpg
            (+ <drive>/depth_gt/%010d.npy, dense metres for image_02, written by the generator)
    nyu     <scene>/image/%010d.jpg, <scene>/depth/%010d.png (cfg.depth_scale values per metre)
    folder  ordered images in a folder + an intrinsics YAML (see training/datasets/folder.py)
    rosbag2 one or more rosbag2 recordings (see training/datasets/rosbag2.py)
Split files hold one sample per line, `folder frame_index side`: side l (image_02, the left
camera) or r (image_03); NYU and folder datasets use l. Recordings split themselves by time: their
splits are the names in TIME_SPLITS instead of files.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from depth_ros.camera import PinholeIntrinsics
from training.config import ConfigError


class DatasetError(ValueError):
    """A split line, file or layout is unusable; the message names the file (and line)."""


@dataclass(frozen=True)
class SplitEntry:
    """One sample of a split file: the target frame `frame_index` of camera `side` in `folder`."""

    folder: str  # sequence folder relative to the dataset root
    frame_index: int  # frame number inside the sequence (KITTI/NYU: the %010d file name)
    side: str  # "l" (left, image_02) or "r" (right, image_03)
    line: int = field(default=0, compare=False)  # 1-based line in the split file; 0: not from one


SIDES = ("l", "r")
TIME_SPLITS = ("train", "val", "all")  # rosbag2: blocks of each recording, or all of it


def find_split(split: str | Path, root: str | Path, key: str) -> str | Path:
    """A split file as configs name it: the path itself, else relative to the dataset root (where
    generated data sets keep theirs). ConfigError names the setting `key` when neither exists.

    An empty split ("") is returned as it is: the folder dataset then uses every frame, and the
    datasets that need a split file say so (read_split). So are the TIME_SPLITS names."""
    if isinstance(split, str) and (not split or split in TIME_SPLITS):
        return split
    path = Path(split)
    if path.is_file():
        return path
    if not path.is_absolute() and (Path(root) / path).is_file():
        return Path(root) / path
    raise ConfigError(
        f"{key}={str(split)!r}: no such file (also looked in data.root={str(root)!r})"
    )


def read_split(path: str | Path) -> list[SplitEntry]:
    """Parse a split file of `folder frame_index l|r` lines; blank lines and `#` comments skip."""
    if isinstance(path, str) and not path:  # Path("") would be "." and fail obscurely
        raise DatasetError("no split file given (empty split); this dataset needs one "
                           "(only dataset `folder` reads every frame without a split)")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"split file {path} does not exist")
    entries = []
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        text = raw.strip()
        if not text or text.startswith("#"):
            continue
        parts = text.split()
        problem = ""
        if len(parts) != 3:
            problem = f"has {len(parts)} fields"
        elif not parts[1].lstrip("-").isdigit():
            problem = f"frame index {parts[1]!r} is not an integer"
        elif int(parts[1]) < 0:
            problem = f"frame index {parts[1]} is negative"
        elif parts[2] not in SIDES:
            problem = f"side {parts[2]!r} is not l or r"
        if problem:
            raise DatasetError(
                f"{path}:{number}: {text!r} {problem}; expected `folder frame_index l|r`"
            )
        entries.append(SplitEntry(parts[0], int(parts[1]), parts[2], line=number))
    if not entries:
        raise DatasetError(f"split file {path} has no samples")
    return entries


@dataclass(frozen=True)
class NormalizedIntrinsics:
    """Pinhole intrinsics divided by the image size (fx/W, fy/H, cx/W, cy/H): valid at any resize.

    Pixel coordinates follow Monodepth2: the centre of pixel column u is at x = u (0-based), and
    the pixel matrix is the normalised one scaled by W and H, so cx = 0.5 lands at x = W / 2.
    """

    fx: float
    fy: float
    cx: float
    cy: float

    def matrix(self, width: int, height: int) -> np.ndarray:
        """4 x 4 float32 pixel intrinsics for a width x height image (the batch's "K")."""
        k = np.eye(4, dtype=np.float32)
        k[0, 0], k[0, 2] = self.fx * width, self.cx * width
        k[1, 1], k[1, 2] = self.fy * height, self.cy * height
        return k

    def mirrored(self) -> NormalizedIntrinsics:
        """Intrinsics of the horizontally flipped image: cx -> 1 - cx (KITTI's 0.5 stays 0.5)."""
        return NormalizedIntrinsics(self.fx, self.fy, 1.0 - self.cx, self.cy)


# KITTI raw colour cameras after rectification (Monodepth2's values; ~721 px at 1242 x 375).
KITTI_NORMALIZED_K = NormalizedIntrinsics(fx=0.58, fy=1.92, cx=0.5, cy=0.5)
# Microsoft Kinect v1 RGB camera of NYU Depth v2 (the paper's calibrated matrix).
KINECT_INTRINSICS = PinholeIntrinsics(
    fx=518.858, fy=519.470, cx=325.582, cy=253.736, width=640, height=480
)
KINECT_NORMALIZED_K = NormalizedIntrinsics(*KINECT_INTRINSICS.normalized())
