"""Supervised RGB-D datasets (Zheng et al.): one image and its metric depth per sample.

Two layouts, both giving the batch format of the design notes with F = 1: "frames" and
"frames_aug" 1 x 3 x H x W RGB in [0, 1] (frames_aug may be grayscale), "depth_gt" 1 x H x W
metres (0 unknown), "K" 4 x 4 pixel intrinsics of the output size, "index".

nyu_labeled  data.root = nyu_depth_v2_labeled.mat (or a folder holding it): MATLAB v7.3, i.e.
             HDF5, read with h5py. MATLAB writes arrays column-major, so the 1449 x 480 x 640
             data appear transposed: `images` N x 3 x W x H uint8 RGB and `depths` N x W x H
             float metres (already in-painted). Split lines `labeled <i> l` select image i; the
             paper's 1040 / 240 train / val split, test the 169 left (contiguous blocks, so
             scenes rarely straddle two splits), is `nyu_labeled_split`, written by
             `write_nyu_labeled_splits` and shipped in splits/nyu_labeled/.
rgbd_folder  the NYU sequence layout, `<scene>/image/%010d.jpg` + `<scene>/depth/%010d.png`,
             split lines `scene index l`. Depth PNGs may be 16-bit (e.g. millimetres,
             data.depth_scale 1000) or 8-bit (e.g. 0..255 for 0..10 m, data.depth_scale 25.5):
             metres = stored value / data.depth_scale, 0 unknown.

Images are resized to data.height x data.width with area averaging, depth with nearest
neighbours. Training samples (train=True and data.augment) get Zheng et al.'s augmentation
(training.datasets.depth_augment). Rotation keeps K (a small in-plane rotation; the supervised
loss never uses K); a flip mirrors cx.
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import h5py
import numpy as np
import torch
from torch.utils.data import Dataset

from training.config import DataConfig
from training.datasets import (
    KINECT_NORMALIZED_K,
    DatasetError,
    NormalizedIntrinsics,
    SplitEntry,
    read_split,
)
from training.datasets.depth_augment import AugmentationDraw, DepthAugmentation, augment_pair
from training.datasets.folder import read_camera_yaml
from training.datasets.nyu import read_depth_png

NYU_LABELED_FILE = "nyu_depth_v2_labeled.mat"
NYU_LABELED_FOLDER = "labeled"  # the folder column of nyu_labeled split lines
NYU_LABELED_IMAGES = 1449
PAPER_TRAIN_IMAGES = 1040  # Zheng et al., section 3
PAPER_VAL_IMAGES = 240


class RgbdDataset(Dataset):
    """Shared sample assembly; subclasses read one RGB image and its depth per index."""

    def __init__(self, cfg: DataConfig, train: bool) -> None:
        self.cfg = cfg
        self.augmentation = DepthAugmentation() if train and cfg.augment else None

    def __len__(self) -> int:
        raise NotImplementedError

    def read_pair(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """(H x W x 3 uint8 RGB, H x W float32 metres with 0 unknown) of sample `index`."""
        raise NotImplementedError

    def intrinsics(self, index: int) -> NormalizedIntrinsics:
        raise NotImplementedError

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        draw = self.augmentation.draw() if self.augmentation else AugmentationDraw()
        return self.load_sample(index, draw)

    def load_sample(self, index: int, draw: AugmentationDraw) -> dict[str, torch.Tensor]:
        """Sample `index` with the given augmentation (tests fix the randomness through it)."""
        rgb, depth = self.read_pair(index)
        size = (self.cfg.width, self.cfg.height)
        if rgb.shape[1::-1] != size:
            rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
        if depth.shape[1::-1] != size:  # nearest: never blend depths across object edges
            depth = cv2.resize(depth, size, interpolation=cv2.INTER_NEAREST_EXACT)
        pair = augment_pair(rgb.astype(np.float32) / 255.0, depth.astype(np.float32), draw)
        intrinsics = self.intrinsics(index)
        if draw.flip:
            intrinsics = intrinsics.mirrored()
        return {
            "frames": torch.from_numpy(pair.image.transpose(2, 0, 1).copy())[None],
            "frames_aug": torch.from_numpy(pair.image_aug.transpose(2, 0, 1).copy())[None],
            "K": torch.from_numpy(intrinsics.matrix(self.cfg.width, self.cfg.height)),
            "depth_gt": torch.from_numpy(pair.depth)[None],
            "index": torch.tensor(index, dtype=torch.int64),
        }


class NyuLabeledDataset(RgbdDataset):
    """The 1449 labelled NYUv2 pairs from the .mat file; the file opens lazily per process."""

    def __init__(self, cfg: DataConfig, split_file: str | Path, train: bool) -> None:
        super().__init__(cfg, train)
        self.path = nyu_labeled_path(cfg.root)
        count = check_nyu_labeled_file(self.path)
        self.indices = [entry.frame_index for entry in read_split(split_file)]
        outside = [i for i in self.indices if i >= count]
        if outside:
            raise DatasetError(f"split {split_file} names image {outside[0]} but {self.path} "
                               f"holds {count} images (indices 0..{count - 1})")
        self._file: h5py.File | None = None
        self._pid = -1

    def __len__(self) -> int:
        return len(self.indices)

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_file"], state["_pid"] = None, -1  # h5py handles do not cross process boundaries
        return state

    def read_pair(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        if self._file is None or self._pid != os.getpid():
            self._file, self._pid = h5py.File(self.path, "r"), os.getpid()
        i = self.indices[index]
        rgb = np.ascontiguousarray(self._file["images"][i].transpose(2, 1, 0))  # 3xWxH -> HxWx3
        depth = np.ascontiguousarray(self._file["depths"][i].T, dtype=np.float32)  # WxH -> HxW
        depth[~np.isfinite(depth)] = 0.0
        return rgb, depth

    def intrinsics(self, index: int) -> NormalizedIntrinsics:
        return KINECT_NORMALIZED_K


class RgbdFolderDataset(RgbdDataset):
    """NYU sequence layout: `<scene>/image/%010d.jpg` and `<scene>/depth/%010d.png`."""

    def __init__(self, cfg: DataConfig, split_file: str | Path, train: bool) -> None:
        super().__init__(cfg, train)
        if cfg.depth_scale <= 0:
            raise DatasetError(f"data.depth_scale={cfg.depth_scale} is invalid; expected > 0 "
                               "stored values per metre")
        self.root = Path(cfg.root)
        self.entries = read_split(split_file)
        self._intrinsics = (read_camera_yaml(Path(cfg.intrinsics_file))
                            if cfg.intrinsics_file else KINECT_NORMALIZED_K)
        for entry in self.entries:
            for path in (self.image_path(entry), self.depth_path(entry)):
                if not path.is_file():
                    raise DatasetError(f"{split_file}:{entry.line} `{entry.folder} "
                                       f"{entry.frame_index} {entry.side}`: {path} does not exist")

    def __len__(self) -> int:
        return len(self.entries)

    def image_path(self, entry: SplitEntry) -> Path:
        return self.root / entry.folder / "image" / f"{entry.frame_index:010d}.jpg"

    def depth_path(self, entry: SplitEntry) -> Path:
        return self.root / entry.folder / "depth" / f"{entry.frame_index:010d}.png"

    def read_pair(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        entry = self.entries[index]
        bgr = cv2.imread(str(self.image_path(entry)), cv2.IMREAD_COLOR)
        if bgr is None:
            raise DatasetError(f"image {self.image_path(entry)} cannot be read")
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), self.read_depth(self.depth_path(entry))

    def read_depth(self, path: Path) -> np.ndarray:
        """H x W float32 metres of an 8- or 16-bit depth PNG (evaluation reads it full size)."""
        return read_depth_png(path, self.cfg.depth_scale)

    def intrinsics(self, index: int) -> NormalizedIntrinsics:
        return self._intrinsics


def nyu_labeled_path(root: str | Path) -> Path:
    """data.root as the .mat file, or a folder holding nyu_depth_v2_labeled.mat."""
    path = Path(root)
    if path.is_dir():
        path = path / NYU_LABELED_FILE
    if not path.is_file():
        raise FileNotFoundError(f"data.root={str(root)!r}: {path} does not exist; expected "
                                f"{NYU_LABELED_FILE} (MATLAB v7.3) or the folder holding it")
    return path


def check_nyu_labeled_file(path: Path) -> int:
    """Validate the datasets `images` (N x 3 x W x H uint8) and `depths` (N x W x H); return N."""
    try:
        with h5py.File(path, "r") as mat:
            shapes = {name: (mat[name].shape, mat[name].dtype) for name in ("images", "depths")
                      if name in mat}
    except OSError as error:
        raise DatasetError(f"{path} is not an HDF5 (MATLAB v7.3) file: {error}") from error
    if set(shapes) != {"images", "depths"}:
        raise DatasetError(f"{path} lacks {sorted({'images', 'depths'} - set(shapes))}; "
                           "expected the datasets `images` and `depths` of NYUv2's labeled file")
    (images, image_type), (depths, _) = shapes["images"], shapes["depths"]
    if len(images) != 4 or images[1] != 3 or image_type != np.uint8:
        raise DatasetError(f"{path}: images has shape {images} {image_type}; expected "
                           "N x 3 x W x H uint8")
    if tuple(depths) != (images[0], images[2], images[3]):
        raise DatasetError(f"{path}: depths has shape {depths}; expected {images[0]} x "
                           f"{images[2]} x {images[3]} to match images {images}")
    return int(images[0])


def nyu_labeled_split(count: int) -> dict[str, range]:
    """Zheng et al.'s split over `count` images as contiguous index blocks: train and val take the
    paper's fractions of 1449 (1040 and 240), test the rest.

    The paper's sizes 1040 / 240 / 249 add up to 1529, more than the 1449 images, so test gets
    what is left: 169 of the real file.
    """
    n_train = round(count * PAPER_TRAIN_IMAGES / NYU_LABELED_IMAGES)
    n_val = round(count * PAPER_VAL_IMAGES / NYU_LABELED_IMAGES)
    return {"train": range(n_train), "val": range(n_train, n_train + n_val),
            "test": range(n_train + n_val, count)}


def write_nyu_labeled_splits(count: int, out_dir: str | Path) -> dict[str, Path]:
    """Write `<out_dir>/{train,val,test}_files.txt` of nyu_labeled_split(count); return paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, indices in nyu_labeled_split(count).items():
        paths[name] = out / f"{name}_files.txt"
        paths[name].write_text("".join(f"{NYU_LABELED_FOLDER} {i} l\n" for i in indices))
    return paths
