"""The self-supervised sample shared by every video dataset: a target frame and its neighbours.

A sample is what Monodepth2 trains on (the batch format of the design notes): frames at
`cfg.frame_offsets` (target first), optionally the other stereo camera at the same time, all
resized to cfg.height x cfg.width with area averaging, flipped and colour-jittered as one unit,
with the pixel intrinsics K of the output size and, with cfg.odometry, the recorded motion from
the target camera to each temporal source (training/datasets/odometry.py). Subclasses only say
where the files are.

Every split line is checked once at construction (a directory listing per folder, no image
reads), so a missing neighbour fails before training starts, naming the file and the line.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from training.config import DataConfig
from training.datasets import DatasetError, NormalizedIntrinsics, SplitEntry
from training.datasets.augment import (
    NO_AUGMENTATION,
    Augmentation,
    apply_color_jitter,
    sample_augmentation,
)
from training.datasets.odometry import OdometryTrack, source_motions

logger = logging.getLogger(__name__)

# Monodepth2's stereo baseline in model units: KITTI's 0.54 m is 0.1 units, so metres = 5.4 x units.
STEREO_BASELINE_UNITS = 0.1


class SequenceDataset(Dataset):
    """Monodepth2 samples from image sequences; subclasses map split entries to files.

    Subclasses set their own attributes, then call `super().__init__`, and implement
    `frame_path` and `intrinsics`; stereo and ground-truth depth are optional.
    """

    has_stereo = False  # subclasses with a second camera implement stereo_path
    has_odometry = False  # subclasses with odometry implement odometry_track, frame_stamp and
    # camera_to_base

    def __init__(self, cfg: DataConfig, entries: list[SplitEntry], train: bool, source: str):
        self.cfg = cfg
        self.entries = entries
        self.augment = train and cfg.augment
        self.source = source  # the split file (or folder) the entries came from, for messages
        if cfg.use_stereo and not self.has_stereo:
            raise DatasetError(
                f"data.use_stereo is true but the {cfg.dataset!r} dataset has a single camera; "
                "set data.use_stereo: false"
            )
        if cfg.odometry and not self.has_odometry:
            raise DatasetError(
                f"data.odometry is true but the {cfg.dataset!r} dataset has no odometry; "
                "set data.odometry: false"
            )
        self._listings: dict[Path, frozenset[str]] = {}
        self._check_files()
        self.has_depth = self._depth_available()
        self._listings.clear()

    # Subclass interface -------------------------------------------------------------------

    def frame_path(self, entry: SplitEntry, frame_index: int) -> Path | None:
        """Image of the entry's camera at `frame_index`; None if the sequence has no such frame."""
        raise NotImplementedError

    def intrinsics(self, entry: SplitEntry) -> NormalizedIntrinsics:
        """The camera of the entry's images, normalised by the image size."""
        raise NotImplementedError

    def stereo_path(self, entry: SplitEntry) -> Path:
        """Image of the other camera at the target's time (only when has_stereo)."""
        raise NotImplementedError

    def depth_path(self, entry: SplitEntry) -> Path | None:
        """Ground-truth depth of the target frame, or None where the layout has none."""
        return None

    def read_depth(self, path: Path) -> np.ndarray:
        """H x W float32 depth in metres from `path`, 0 where unknown."""
        raise NotImplementedError

    def odometry_track(self, entry: SplitEntry) -> OdometryTrack:
        """The base poses recorded over the entry's sequence (only when has_odometry)."""
        raise NotImplementedError

    def frame_stamp(self, entry: SplitEntry, frame_index: int) -> float:
        """Time of a frame of the entry's camera, seconds, on the odometry's clock."""
        raise NotImplementedError

    def camera_to_base(self, entry: SplitEntry) -> np.ndarray:
        """4 x 4 pose of the entry's camera (optical frame) in the robot's base frame, metres."""
        raise NotImplementedError

    # Samples ------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        augmentation = sample_augmentation() if self.augment else NO_AUGMENTATION
        return self.load_sample(index, augmentation)

    def load_sample(self, index: int, augmentation: Augmentation) -> dict[str, torch.Tensor]:
        """Sample `index` with the given augmentation (tests call this to fix the randomness)."""
        cfg, entry = self.cfg, self.entries[index]
        views = [self.read_frame(entry, entry.frame_index + offset)
                 for offset in cfg.frame_offsets]
        if cfg.use_stereo:
            views.append(self._read_rgb(self.stereo_path(entry)))
        images = np.stack(views)  # n x H x W x 3 uint8
        if augmentation.flip:
            images = images[:, :, ::-1]
        clean = torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2)))
        clean = clean.float().div_(255.0)
        jittered = clean.clone()
        if augmentation.jitter is not None:
            jittered = apply_color_jitter(clean, augmentation.jitter)

        count = len(cfg.frame_offsets)
        intrinsics = self.intrinsics(entry)
        if augmentation.flip:
            intrinsics = intrinsics.mirrored()
        sample = {
            "frames": clean[:count],
            "frames_aug": jittered[:count],
            "K": torch.from_numpy(intrinsics.matrix(cfg.width, cfg.height)),
            "index": torch.tensor(index, dtype=torch.int64),
        }
        if cfg.use_stereo:
            sample["stereo"] = clean[count]
            sample["stereo_aug"] = jittered[count]
            sample["stereo_T"] = stereo_transform(entry.side, augmentation.flip)
        if self.has_depth:
            sample["depth_gt"] = self._load_depth(index, augmentation.flip)
        if cfg.odometry:
            transforms, valid = self.odometry_motions(index, augmentation.flip)
            sample["odom_T"] = torch.from_numpy(transforms)
            sample["odom_valid"] = torch.from_numpy(valid)
        return sample

    def odometry_motions(self, index: int, flip: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """(S x 4 x 4 float32 target -> source camera in metres, S float32 valid) of sample
        `index`, one per temporal offset of cfg.frame_offsets in order, mirrored when `flip`."""
        entry = self.entries[index]
        sources = [self.frame_stamp(entry, entry.frame_index + offset)
                   for offset in self.cfg.frame_offsets if offset != 0]
        target = self.frame_stamp(entry, entry.frame_index)
        return source_motions(self.odometry_track(entry), target, sources,
                              self.camera_to_base(entry), self.cfg.odometry_max_gap, flip)

    def read_frame(self, entry: SplitEntry, frame_index: int) -> np.ndarray:
        """H x W x 3 uint8 RGB of the entry's camera at `frame_index`, at cfg.width x cfg.height."""
        return self._read_rgb(self._frame(entry, frame_index))

    def _frame(self, entry: SplitEntry, frame_index: int) -> Path:
        path = self.frame_path(entry, frame_index) if frame_index >= 0 else None
        if path is None:  # validated at construction; reachable only if files changed since
            raise DatasetError(f"{self.source} line {entry.line}: no frame {frame_index}")
        return path

    def _read_rgb(self, path: Path) -> np.ndarray:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise DatasetError(f"image {path} cannot be read (missing, truncated or not an image)")
        image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
        size = (self.cfg.width, self.cfg.height)
        if image.shape[1::-1] != size:
            image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        return image

    def ground_truth_depth(self, index: int) -> np.ndarray | None:
        """H x W float32 metres (0 unknown) of sample `index`'s target at the model size,
        unaugmented; None where its layout or files have none (e.g. KITTI's right camera)."""
        path = self.depth_path(self.entries[index])
        if path is None or not path.is_file():
            return None
        depth: np.ndarray = self.read_depth(path).astype(np.float32, copy=False)
        size = (self.cfg.width, self.cfg.height)
        if depth.shape[1::-1] != size:  # nearest: never blend depths across object edges
            depth = cv2.resize(depth, size, interpolation=cv2.INTER_NEAREST_EXACT)
        return depth

    def _load_depth(self, index: int, flip: bool) -> torch.Tensor:
        depth = self.ground_truth_depth(index)
        assert depth is not None  # has_depth guarantees it
        if flip:
            depth = depth[:, ::-1]
        return torch.from_numpy(np.ascontiguousarray(depth))[None]

    # Validation ---------------------------------------------------------------------------

    def _check_files(self) -> None:
        problems = [(entry, self._missing_file(entry)) for entry in self.entries]
        problems = [(entry, text) for entry, text in problems if text]
        if not problems:
            return
        entry, text = problems[0]
        where = f"{self.source} line {entry.line} `{entry.folder} {entry.frame_index} {entry.side}`"
        more = f" ({len(problems)} of {len(self.entries)} samples have missing files)"
        raise DatasetError(f"{where}: {text}{more if len(problems) > 1 else ''}")

    def _missing_file(self, entry: SplitEntry) -> str:
        for offset in self.cfg.frame_offsets:
            index = entry.frame_index + offset
            needs = f"frame offset {offset:+d} needs frame {index}"
            if index < 0:
                first = self.frame_path(entry, 0)
                where = f" in {first.parent}" if first is not None else ""
                return f"{needs}, before the start of the sequence{where}"
            path = self.frame_path(entry, index)
            if path is None:
                return f"{needs}, past the end of sequence {entry.folder}"
            if not self._exists(path):
                return f"frame offset {offset:+d} needs {path}, which does not exist"
        if self.cfg.use_stereo and not self._exists(stereo := self.stereo_path(entry)):
            return f"the stereo image {stereo} does not exist"
        return ""

    def _depth_available(self) -> bool:
        paths = [self.depth_path(entry) for entry in self.entries]
        missing = [path for path in paths if path is None or not self._exists(path)]
        if missing and len(missing) < len(paths):
            logger.info(
                "%s: no depth_gt in samples, %d of %d targets lack ground truth (first: %s)",
                self.source, len(missing), len(paths), missing[0],
            )
        return not missing

    def _exists(self, path: Path) -> bool:
        folder = path.parent
        if folder not in self._listings:
            try:
                self._listings[folder] = frozenset(os.listdir(folder))
            except (FileNotFoundError, NotADirectoryError):
                self._listings[folder] = frozenset()
        return path.name in self._listings[folder]


def stereo_transform(side: str, flipped: bool) -> torch.Tensor:
    """4 x 4 transform from the target camera to the other one, in Monodepth2 baseline units.

    x translation = side_sign * flip_sign * 0.1: side_sign -1 for a left target, flip_sign -1 when
    the sample is mirrored (the mirrored left image looks like a right one).
    """
    transform = torch.eye(4)
    side_sign = -1.0 if side == "l" else 1.0
    flip_sign = -1.0 if flipped else 1.0
    transform[0, 3] = side_sign * flip_sign * STEREO_BASELINE_UNITS
    return transform
