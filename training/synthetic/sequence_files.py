"""Files every generated layout shares: images, poses, splits, ground-truth readers, summary.

    poses.txt   per frame the 4 x 4 camera-to-world matrix (first 3 rows, 12 numbers row-major)
    splits/     train/val/test_files.txt with `folder frame_index side` lines
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from training.datasets import NormalizedIntrinsics
from training.kitti_depth import load_velodyne_points


@dataclass(frozen=True)
class GenerationSummary:
    kind: str
    root: Path
    sequences: int
    frames: int
    width: int
    height: int
    split_sizes: dict[str, int]  # split name -> number of lines
    seconds: float

    def line(self) -> str:
        splits = ", ".join(f"{name} {count}" for name, count in self.split_sizes.items())
        listed = f" (splits: {splits})" if splits else ""
        return (f"{self.kind}: {self.sequences} sequences x {self.frames} frames at "
                f"{self.width}x{self.height} -> {self.root}{listed} in {self.seconds:.1f} s")


def pixel_matrix(intrinsics: NormalizedIntrinsics, width: int, height: int) -> np.ndarray:
    """3 x 3 float64 pixel intrinsics the generator renders with (the dataset's K, unrounded)."""
    return np.array([[intrinsics.fx * width, 0.0, intrinsics.cx * width],
                     [0.0, intrinsics.fy * height, intrinsics.cy * height],
                     [0.0, 0.0, 1.0]])


def check_arguments(sequences: int, frames: int, width: int, height: int) -> None:
    for name, value, least in (("sequences", sequences, 1), ("frames", frames, 5),
                               ("width", width, 8), ("height", height, 8)):
        if value < least:
            raise ValueError(f"{name}={value} is too small; expected at least {least}")


def write_image(path: Path, image: np.ndarray) -> None:
    pixels = cv2.cvtColor(image, cv2.COLOR_RGB2BGR) if image.ndim == 3 else image
    params = [cv2.IMWRITE_JPEG_QUALITY, 95] if path.suffix == ".jpg" else []
    if not cv2.imwrite(str(path), pixels, params):
        raise OSError(f"could not write image {path}")


def write_poses(path: Path, poses: list[np.ndarray]) -> None:
    """One camera-to-world pose per line: the top 3 x 4 of the matrix, row-major."""
    path.write_text("".join(" ".join(f"{v:.12e}" for v in pose[:3].ravel()) + "\n"
                            for pose in poses))


def read_poses(sequence_dir: str | Path) -> np.ndarray:
    """F x 4 x 4 camera-to-world poses from `<sequence>/poses.txt` (12 or 16 numbers per line)."""
    path = Path(sequence_dir) / "poses.txt"
    rows = np.loadtxt(path, ndmin=2)
    if rows.shape[1] not in (12, 16):
        raise ValueError(f"{path}: {rows.shape[1]} numbers per line; expected 12 or 16")
    poses = np.tile(np.eye(4), (len(rows), 1, 1))
    poses[:, : rows.shape[1] // 4] = rows.reshape(len(rows), -1, 4)
    return poses


def read_depth(sequence_dir: str | Path, index: int) -> np.ndarray:
    """H x W float32 ground-truth depth in metres (0 = none) of frame `index` of a sequence.

    Outdoor drives hold `depth_gt/%010d.npy`, indoor scenes `depth/%010d.png` in millimetres.
    """
    sequence_dir = Path(sequence_dir)
    dense = sequence_dir / "depth_gt" / f"{index:010d}.npy"
    if dense.is_file():
        return np.load(dense)
    png = sequence_dir / "depth" / f"{index:010d}.png"
    if not png.is_file():
        raise FileNotFoundError(f"no ground truth for frame {index}: neither {dense} nor {png}")
    # The NYU dataset's reader (millimetres here); imported here as it pulls in torch, which
    # the generator itself does not need.
    from training.datasets.nyu import read_depth_png

    return read_depth_png(png, 1000.0)


def read_velodyne(path: str | Path) -> np.ndarray:
    """N x 4 float32 velodyne points (x fwd, y left, z up metres; reflectance) from a .bin."""
    return load_velodyne_points(path)


def write_splits(split_dir: Path, folders: list[str], frames: int,
                 train_sides: tuple[str, ...]) -> dict[str, int]:
    """train/val/test_files.txt with `folder index side` lines; returns the line counts.

    Test: every target of the last sequence (one sequence: its last fifth, after a gap frame).
    Val: the last tenth of each other sequence's targets. Val and test use the left camera only,
    the one with ground truth; train uses `train_sides`.
    """
    targets = list(range(1, frames - 1))  # frames with both neighbours
    held_out: list[tuple[str, int]] = []
    training: list[tuple[str, list[int]]] = []
    if len(folders) > 1:
        held_out = [(folders[-1], index) for index in targets]
        training = [(folder, targets) for folder in folders[:-1]]
    else:
        cut = len(targets) - max(1, len(targets) // 5)
        held_out = [(folders[0], index) for index in targets[cut:]]
        training = [(folders[0], targets[: max(1, cut - 2)])]
    splits: dict[str, list[str]] = {"train": [], "val": [], "test": []}
    for folder, indices in training:
        count = max(1, len(indices) // 10) if len(indices) > 1 else 0
        train, val = indices[: len(indices) - count], indices[len(indices) - count:]
        splits["train"] += [f"{folder} {i} {side}" for i in train for side in train_sides]
        splits["val"] += [f"{folder} {i} l" for i in val]
    splits["test"] = [f"{folder} {i} l" for folder, i in held_out]
    split_dir.mkdir(parents=True, exist_ok=True)
    for name, lines in splits.items():
        (split_dir / f"{name}_files.txt").write_text("".join(line + "\n" for line in lines))
    return {name: len(lines) for name, lines in splits.items()}
