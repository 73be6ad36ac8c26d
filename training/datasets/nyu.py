"""NYU Depth v2 video sequences in the paper's layout, for Monodepth2 training indoors.

Layout under cfg.root: `<scene>/image/%010d.jpg` and `<scene>/depth/%010d.png` (the Kinect depth
of the same frame, cfg.depth_scale stored values per metre: 1000 for uint16 millimetres, 0 =
unknown). Split lines are `scene id l`. One camera, so no stereo; the intrinsics are the Kinect
RGB camera's (fx 518.858, fy 519.470, cx 325.582, cy 253.736 at 640 x 480), normalised.

Indoors the camera often barely moves, so Monodepth2's auto-masking would hide most pixels; the
seed trained with it off. That is a loss setting, `loss.automask: false`, set in
config/train/nyu_mono.yaml rather than here.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from training.config import DataConfig
from training.datasets import (
    KINECT_NORMALIZED_K,
    DatasetError,
    NormalizedIntrinsics,
    SplitEntry,
    read_split,
)
from training.datasets.sequence import SequenceDataset


class NyuSequenceDataset(SequenceDataset):
    def __init__(self, cfg: DataConfig, split_file: str | Path, train: bool):
        if cfg.depth_scale <= 0:
            raise DatasetError(f"data.depth_scale={cfg.depth_scale} is invalid; expected > 0")
        self.root = Path(cfg.root)
        self.depth_scale = cfg.depth_scale
        entries = read_split(split_file)
        for entry in entries:
            if entry.side != "l":
                raise DatasetError(
                    f"{split_file}:{entry.line}: side {entry.side!r} is invalid; NYU sequences "
                    "have one camera, expected `scene id l`"
                )
        super().__init__(cfg, entries, train, source=str(split_file))

    def frame_path(self, entry: SplitEntry, frame_index: int) -> Path:
        return self.root / entry.folder / "image" / f"{frame_index:010d}.jpg"

    def intrinsics(self, entry: SplitEntry) -> NormalizedIntrinsics:
        return KINECT_NORMALIZED_K

    def depth_path(self, entry: SplitEntry) -> Path:
        return self.root / entry.folder / "depth" / f"{entry.frame_index:010d}.png"

    def read_depth(self, path: Path) -> np.ndarray:
        return read_depth_png(path, self.depth_scale)


def read_depth_png(path: Path, depth_scale: float) -> np.ndarray:
    """H x W float32 metres from a one-channel depth PNG holding `depth_scale` values per metre."""
    raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if raw is None:
        raise DatasetError(f"depth image {path} cannot be read")
    if raw.ndim != 2:
        raise DatasetError(f"depth image {path} has shape {raw.shape}; expected one channel")
    return raw.astype(np.float32) / np.float32(depth_scale)
