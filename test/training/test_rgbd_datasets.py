"""The supervised RGB-D datasets: the labelled-NYUv2 .mat (HDF5, MATLAB's transposed layout) and
the NYU sequence folders, on generated rooms; the paper's split; augmentation inside samples."""

from __future__ import annotations

import pickle
from dataclasses import replace
from pathlib import Path

import cv2
import h5py
import numpy as np
import pytest
import torch

from training.config import DataConfig
from training.datasets import KINECT_NORMALIZED_K, DatasetError, read_split
from training.datasets.build import build_dataset
from training.datasets.depth_augment import AugmentationDraw
from training.datasets.rgbd import (
    NYU_LABELED_FILE,
    NyuLabeledDataset,
    RgbdFolderDataset,
    nyu_labeled_split,
    write_nyu_labeled_splits,
)

HEIGHT, WIDTH = 96, 128  # the shared indoor fixture's size: H != W catches a missed transpose


def room_frames(root: Path) -> list[tuple[np.ndarray, np.ndarray]]:
    """(RGB uint8 H x W x 3, depth metres H x W) of every generated frame, in split order."""
    frames = []
    for entry in read_split(root / "splits" / "train_files.txt"):
        folder = root / entry.folder
        bgr = cv2.imread(str(folder / "image" / f"{entry.frame_index:010d}.jpg"))
        raw = cv2.imread(str(folder / "depth" / f"{entry.frame_index:010d}.png"),
                         cv2.IMREAD_UNCHANGED)
        frames.append((cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), raw.astype(np.float32) / 1000.0))
    return frames


def write_labeled_mat(path: Path, frames: list[tuple[np.ndarray, np.ndarray]]) -> None:
    """A small file in the real one's structure: what h5py shows of MATLAB's column-major
    N x H x W x 3 / N x H x W arrays, i.e. images N x 3 x W x H uint8, depths N x W x H."""
    images = np.stack([rgb.transpose(2, 1, 0) for rgb, _ in frames])
    depths = np.stack([depth.T for _, depth in frames])
    with h5py.File(path, "w") as mat:
        mat.create_dataset("images", data=images, chunks=(1, 3, WIDTH, HEIGHT))
        mat.create_dataset("depths", data=depths, chunks=(1, WIDTH, HEIGHT))
        mat.create_dataset("labels", data=np.zeros((len(frames), WIDTH, HEIGHT), np.uint16))


@pytest.fixture(scope="module")
def labeled(indoor_root: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list]:
    folder = tmp_path_factory.mktemp("nyu_labeled")
    frames = room_frames(indoor_root)
    write_labeled_mat(folder / NYU_LABELED_FILE, frames)
    write_nyu_labeled_splits(len(frames), folder / "splits")
    return folder, frames


def data_config(**changes: object) -> DataConfig:
    base = DataConfig(height=HEIGHT, width=WIDTH, frame_offsets=[0], augment=False, num_workers=0)
    return replace(base, **changes)


def test_paper_split_proportions() -> None:
    sizes = {name: len(r) for name, r in nyu_labeled_split(1449).items()}
    assert sizes == {"train": 1040, "val": 240, "test": 169}
    small = nyu_labeled_split(30)
    assert list(small["train"]) + list(small["val"]) + list(small["test"]) == list(range(30))
    assert len(small["train"]) == 22 and len(small["val"]) == 5


def test_mat_loader_undoes_matlab_transposition(labeled: tuple[Path, list]) -> None:
    folder, frames = labeled
    cfg = data_config(dataset="nyu_labeled", root=str(folder / NYU_LABELED_FILE))
    dataset = build_dataset(cfg, folder / "splits" / "val_files.txt", train=False)
    assert isinstance(dataset, NyuLabeledDataset)
    first_val = nyu_labeled_split(len(frames))["val"][0]
    assert len(dataset) == len(nyu_labeled_split(len(frames))["val"])
    sample = dataset[0]
    rgb, depth = frames[first_val]
    assert sample["frames"].shape == (1, 3, HEIGHT, WIDTH)
    assert sample["depth_gt"].shape == (1, HEIGHT, WIDTH)
    expected_rgb = torch.from_numpy(rgb.transpose(2, 0, 1).astype(np.float32) / 255.0)
    torch.testing.assert_close(sample["frames"][0], expected_rgb, rtol=0, atol=1e-6)
    torch.testing.assert_close(sample["depth_gt"][0], torch.from_numpy(depth), rtol=0, atol=0)
    torch.testing.assert_close(sample["frames_aug"], sample["frames"])
    np.testing.assert_allclose(sample["K"].numpy(), KINECT_NORMALIZED_K.matrix(WIDTH, HEIGHT))
    assert int(sample["index"]) == 0


def test_mat_root_may_be_the_folder_and_samples_resize(labeled: tuple[Path, list]) -> None:
    folder, _ = labeled
    cfg = data_config(dataset="nyu_labeled", root=str(folder), height=64, width=96)
    dataset = build_dataset(cfg, folder / "splits" / "train_files.txt", train=False)
    sample = dataset[3]
    assert sample["frames"].shape == (1, 3, 64, 96)
    depths = set(np.unique(sample["depth_gt"].numpy()).tolist())
    originals = set(np.unique(labeled[1][3][1]).tolist())
    assert depths <= originals  # nearest-neighbour resize invents no depth


def test_mat_dataset_survives_pickling_after_reading(labeled: tuple[Path, list]) -> None:
    folder, _ = labeled
    cfg = data_config(dataset="nyu_labeled", root=str(folder / NYU_LABELED_FILE))
    dataset = build_dataset(cfg, folder / "splits" / "test_files.txt", train=False)
    first = dataset[0]
    copy = pickle.loads(pickle.dumps(dataset))  # what DataLoader workers receive
    torch.testing.assert_close(copy[0]["depth_gt"], first["depth_gt"])


def test_mat_structure_is_checked(tmp_path: Path, labeled: tuple[Path, list]) -> None:
    folder, _ = labeled
    split = folder / "splits" / "train_files.txt"
    bad = tmp_path / "bad.mat"
    with h5py.File(bad, "w") as mat:
        mat.create_dataset("images", data=np.zeros((2, 3, 8, 6), np.uint8))
    with pytest.raises(DatasetError, match="lacks \\['depths'\\]"):
        build_dataset(data_config(dataset="nyu_labeled", root=str(bad)), split, train=False)
    with h5py.File(bad, "w") as mat:
        mat.create_dataset("images", data=np.zeros((2, 3, 8, 6), np.uint8))
        mat.create_dataset("depths", data=np.zeros((2, 6, 8), np.float32))
    with pytest.raises(DatasetError, match="depths has shape"):
        build_dataset(data_config(dataset="nyu_labeled", root=str(bad)), split, train=False)
    with h5py.File(bad, "w") as mat:
        mat.create_dataset("images", data=np.zeros((2, 3, 8, 6), np.uint8))
        mat.create_dataset("depths", data=np.zeros((2, 8, 6), np.float32))
    with pytest.raises(DatasetError, match="holds 2 images"):
        build_dataset(data_config(dataset="nyu_labeled", root=str(bad)), split, train=False)
    with pytest.raises(FileNotFoundError, match=r"nyu_depth_v2_labeled\.mat"):
        build_dataset(data_config(dataset="nyu_labeled", root=str(tmp_path)), split, train=False)


def test_folder_layout_reads_16_bit_millimetres(indoor_root: Path) -> None:
    cfg = data_config(dataset="rgbd_folder", root=str(indoor_root))
    dataset = build_dataset(cfg, indoor_root / "splits" / "test_files.txt", train=False)
    assert isinstance(dataset, RgbdFolderDataset)
    entry = dataset.entries[0]
    raw = cv2.imread(str(dataset.depth_path(entry)), cv2.IMREAD_UNCHANGED)
    assert raw.dtype == np.uint16
    sample = dataset[0]
    np.testing.assert_allclose(sample["depth_gt"][0].numpy(), raw / 1000.0, rtol=1e-6)
    assert 0.5 < float(sample["depth_gt"].mean()) < 10.0
    assert sample["frames"].shape == (1, 3, HEIGHT, WIDTH)


def test_folder_layout_reads_8_bit_depth_with_its_scale(indoor_root: Path, tmp_path: Path) -> None:
    scene = "synthetic_room_0001"
    (tmp_path / scene / "depth").mkdir(parents=True)
    (tmp_path / scene / "image").symlink_to(indoor_root / scene / "image")
    raw16 = cv2.imread(str(indoor_root / scene / "depth" / f"{5:010d}.png"), cv2.IMREAD_UNCHANGED)
    raw8 = np.clip(np.rint(raw16 / 1000.0 * 25.5), 0, 255).astype(np.uint8)  # 0..255 = 0..10 m
    cv2.imwrite(str(tmp_path / scene / "depth" / f"{5:010d}.png"), raw8)
    split = tmp_path / "split.txt"
    split.write_text(f"{scene} 5 l\n")
    cfg = data_config(dataset="rgbd_folder", root=str(tmp_path), depth_scale=25.5)
    depth = build_dataset(cfg, split, train=False)[0]["depth_gt"][0].numpy()
    np.testing.assert_allclose(depth, raw8 / 25.5, rtol=1e-6)
    assert np.abs(depth - raw16 / 1000.0).max() < 0.5 / 25.5 + 1e-6


def test_folder_layout_names_a_missing_file(indoor_root: Path, tmp_path: Path) -> None:
    split = tmp_path / "split.txt"
    split.write_text("synthetic_room_0001 3 l\nsynthetic_room_0001 999 l\n")
    cfg = data_config(dataset="rgbd_folder", root=str(indoor_root))
    with pytest.raises(DatasetError, match=r"split.txt:2 .*0000000999.jpg does not exist"):
        build_dataset(cfg, split, train=False)
    with pytest.raises(DatasetError, match="depth_scale"):
        build_dataset(replace(cfg, depth_scale=0.0), split, train=False)


def test_augmented_samples_keep_image_depth_and_k_consistent(indoor_root: Path) -> None:
    cfg = data_config(dataset="rgbd_folder", root=str(indoor_root), augment=True)
    split = indoor_root / "splits" / "train_files.txt"
    dataset = build_dataset(cfg, split, train=True)
    plain = dataset.load_sample(2, AugmentationDraw())
    flipped = dataset.load_sample(2, AugmentationDraw(flip=True, grayscale=True))
    torch.testing.assert_close(flipped["frames"], plain["frames"].flip(-1))
    torch.testing.assert_close(flipped["depth_gt"], plain["depth_gt"].flip(-1))
    gray = flipped["frames_aug"][0]
    torch.testing.assert_close(gray[0], gray[1])
    cx = float(plain["K"][0, 2])
    assert float(flipped["K"][0, 2]) == pytest.approx(WIDTH - cx, rel=1e-6)
    rotated = dataset.load_sample(2, AugmentationDraw(angle_degrees=5.0))
    corner_unknown = rotated["depth_gt"][0, 0, -1] == 0 or rotated["depth_gt"][0, -1, 0] == 0
    assert corner_unknown and float((rotated["depth_gt"] > 0).float().mean()) > 0.9
    torch.manual_seed(1)
    drawn = [dataset[2]["depth_gt"] for _ in range(12)]
    assert any(not torch.equal(d, plain["depth_gt"]) for d in drawn)  # training draws augment
    eval_set = build_dataset(cfg, split, train=False)
    assert all(torch.equal(eval_set[2]["depth_gt"], plain["depth_gt"]) for _ in range(3))
