"""Datasets: every on-disk layout parses, samples follow the batch format, augmentation is
consistent across the frames of a sample, and bad inputs fail early with a message naming them.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader
from torchvision.transforms import ColorJitter

from harness.camera_files import write_intrinsics
from training.config import ConfigError, DataConfig
from training.datasets import (
    KINECT_NORMALIZED_K,
    KITTI_NORMALIZED_K,
    DatasetError,
    SplitEntry,
    find_split,
    read_split,
)
from training.datasets.augment import (
    Augmentation,
    ColorJitterParams,
    apply_color_jitter,
    sample_augmentation,
)
from training.datasets.build import DATASETS, build_dataset

DRIVE = "2000_01_01/2000_01_01_drive_0001_sync"
ROOM = "synthetic_room_0000"
JITTER = ColorJitterParams(order=(3, 0, 2, 1), brightness=1.15, contrast=0.85, saturation=1.2,
                           hue=0.07)


# DataLoader workers build samples with torch on one thread; so do these tests.
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def kitti_config(root: Path, **overrides: object) -> DataConfig:
    values = {"dataset": "kitti", "root": str(root), "height": 64, "width": 192, "augment": False}
    return DataConfig(**{**values, **overrides})


def read_rgb(path: Path, width: int, height: int) -> torch.Tensor:
    """3 x H x W float in [0, 1], resized as the datasets do (area averaging)."""
    image = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
    if image.shape[:2] != (height, width):
        image = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
    return torch.from_numpy(image).permute(2, 0, 1).float() / 255.0


def write_split(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines))
    return path


# Split files ----------------------------------------------------------------------------------

def test_read_split_parses_lines_and_skips_blanks_and_comments(tmp_path: Path) -> None:
    split = write_split(tmp_path / "s.txt", ["# header", "a/b 12 l", "", "  c 0 r  "])
    entries = read_split(split)
    assert entries == [SplitEntry("a/b", 12, "l"), SplitEntry("c", 0, "r")]
    assert [e.line for e in entries] == [2, 4]


@pytest.mark.parametrize(("line", "problem"), [
    ("a 1", "has 2 fields"),
    ("a one l", "'one' is not an integer"),
    ("a 1 x", "side 'x' is not l or r"),
    ("a -2 l", "frame index -2 is negative"),
])
def test_bad_split_line_names_file_line_and_problem(tmp_path: Path, line: str,
                                                    problem: str) -> None:
    split = write_split(tmp_path / "bad.txt", ["a 1 l", line])
    with pytest.raises(DatasetError, match=problem) as error:
        read_split(split)
    assert f"{split}:2" in str(error.value)


def test_missing_or_empty_split_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"nope\.txt"):
        read_split(tmp_path / "nope.txt")
    with pytest.raises(DatasetError, match="no samples"):
        read_split(write_split(tmp_path / "empty.txt", ["# nothing"]))


def test_unknown_dataset_is_a_config_error_listing_the_registry() -> None:
    assert {"kitti", "nyu", "folder"} <= set(DATASETS)
    with pytest.raises(ConfigError, match=r"data\.dataset='imagenet'.*kitti"):
        build_dataset(DataConfig(dataset="imagenet"), "unused.txt", train=False)


# KITTI ----------------------------------------------------------------------------------------

def test_kitti_sample_follows_the_batch_format(outdoor_root: Path) -> None:
    dataset = build_dataset(kitti_config(outdoor_root), outdoor_root / "splits/val_files.txt",
                            train=False)
    entry = dataset.entries[0]
    sample = dataset[0]
    assert set(sample) == {"frames", "frames_aug", "K", "depth_gt", "index"}
    assert sample["frames"].shape == (3, 3, 64, 192) and sample["frames"].dtype == torch.float32
    assert torch.equal(sample["frames_aug"], sample["frames"])  # no jitter without training
    data = outdoor_root / entry.folder / "image_02" / "data"
    for slot, offset in enumerate([0, -1, 1]):  # target first, then the offsets in order
        expected = read_rgb(data / f"{entry.frame_index + offset:010d}.png", 192, 64)
        torch.testing.assert_close(sample["frames"][slot], expected)
    k = torch.tensor([[0.58 * 192, 0, 96, 0], [0, 1.92 * 64, 32, 0], [0, 0, 1, 0], [0, 0, 0, 1]])
    torch.testing.assert_close(sample["K"], k)
    assert sample["K"].dtype == torch.float32
    depth = np.load(outdoor_root / entry.folder / "depth_gt" / f"{entry.frame_index:010d}.npy")
    assert sample["depth_gt"].shape == (1, 64, 192) and sample["depth_gt"].dtype == torch.float32
    np.testing.assert_array_equal(sample["depth_gt"][0].numpy(), depth)
    assert sample["index"].dtype == torch.int64 and int(sample["index"]) == 0


def test_kitti_resizes_with_area_averaging_and_scales_k(outdoor_root: Path) -> None:
    cfg = kitti_config(outdoor_root, height=32, width=96)
    dataset = build_dataset(cfg, outdoor_root / "splits/val_files.txt", train=False)
    entry, sample = dataset.entries[0], dataset[0]
    image = outdoor_root / entry.folder / "image_02" / "data" / f"{entry.frame_index:010d}.png"
    torch.testing.assert_close(sample["frames"][0], read_rgb(image, 96, 32))
    torch.testing.assert_close(sample["K"][:3, :3], torch.from_numpy(
        KITTI_NORMALIZED_K.matrix(96, 32)[:3, :3]))
    assert sample["depth_gt"].shape == (1, 32, 96)
    full = np.load(outdoor_root / entry.folder / "depth_gt" / f"{entry.frame_index:010d}.npy")
    assert set(np.unique(sample["depth_gt"].numpy())) <= set(np.unique(full))  # nearest: no blends


def test_kitti_right_camera_lines_read_image_03_and_drop_depth_gt(outdoor_root: Path) -> None:
    dataset = build_dataset(kitti_config(outdoor_root), outdoor_root / "splits/train_files.txt",
                            train=False)
    assert "depth_gt" not in dataset[0], "ground truth exists for image_02 only"
    right = next(i for i, e in enumerate(dataset.entries) if e.side == "r")
    entry = dataset.entries[right]
    expected = read_rgb(outdoor_root / entry.folder / "image_03" / "data" /
                        f"{entry.frame_index:010d}.png", 192, 64)
    torch.testing.assert_close(dataset[right]["frames"][0], expected)


def test_kitti_jpg_layout(outdoor_root: Path, tmp_path: Path) -> None:
    for side in ("image_02", "image_03"):
        source = outdoor_root / DRIVE / side / "data"
        target = tmp_path / DRIVE / side / "data"
        target.mkdir(parents=True)
        for png in sorted(source.glob("*.png"))[:6]:
            image = cv2.imread(str(png))
            cv2.imwrite(str(target / f"{png.stem}.jpg"), image, [cv2.IMWRITE_JPEG_QUALITY, 95])
    split = write_split(tmp_path / "split.txt", [f"{DRIVE} 2 l", f"{DRIVE} 4 r"])
    jpg = build_dataset(kitti_config(tmp_path, image_ext=".jpg", use_stereo=True), split, False)
    png = build_dataset(kitti_config(outdoor_root, use_stereo=True), split, False)
    assert len(jpg) == 2 and "depth_gt" not in jpg[0]
    for index in range(2):
        for key in ("frames", "stereo"):
            difference = (jpg[index][key] - png[index][key]).abs().mean()
            assert difference < 0.02, (key, float(difference))


def test_kitti_stereo_sample_and_baseline_sign(outdoor_root: Path, tmp_path: Path) -> None:
    split = write_split(tmp_path / "split.txt", [f"{DRIVE} 5 l", f"{DRIVE} 5 r"])
    dataset = build_dataset(kitti_config(outdoor_root, use_stereo=True), split, train=False)
    data = outdoor_root / DRIVE
    left, right = dataset[0], dataset[1]
    assert left["stereo"].shape == (3, 64, 192) and left["stereo_T"].shape == (4, 4)
    torch.testing.assert_close(left["stereo"], read_rgb(data / "image_03/data/0000000005.png",
                                                        192, 64))
    torch.testing.assert_close(right["stereo"], left["frames"][0])
    expected = {(0, False): -0.1, (0, True): 0.1, (1, False): 0.1, (1, True): -0.1}
    for (index, flip), translation in expected.items():
        stereo_t = dataset.load_sample(index, Augmentation(flip=flip))["stereo_T"]
        assert stereo_t[0, 3] == pytest.approx(translation)
        torch.testing.assert_close(stereo_t[:3, :3], torch.eye(3))


def test_missing_neighbour_fails_at_construction_naming_file_and_line(outdoor_root: Path,
                                                                      tmp_path: Path) -> None:
    first = write_split(tmp_path / "first.txt", [f"{DRIVE} 3 l", f"{DRIVE} 0 l"])
    with pytest.raises(DatasetError, match=r"first.txt line 2 .*offset -1 needs frame -1, "
                                           r"before the start of the sequence in .*image_02/data"):
        build_dataset(kitti_config(outdoor_root), first, train=False)
    last = write_split(tmp_path / "last.txt", [f"{DRIVE} 23 l", f"{DRIVE} 23 r"])
    with pytest.raises(DatasetError, match=r"0000000024\.png, which does not exist") as error:
        build_dataset(kitti_config(outdoor_root), last, train=False)
    assert "last.txt line 1" in str(error.value) and "2 of 2 samples" in str(error.value)


def test_missing_stereo_image_fails_at_construction(outdoor_root: Path, tmp_path: Path) -> None:
    shutil.copytree(outdoor_root / DRIVE, tmp_path / DRIVE)
    (tmp_path / DRIVE / "image_03" / "data" / "0000000007.png").unlink()
    split = write_split(tmp_path / "split.txt", [f"{DRIVE} 6 l", f"{DRIVE} 7 l"])
    build_dataset(kitti_config(tmp_path), split, train=False)  # monocular: image_03 unused
    with pytest.raises(DatasetError, match=r"line 2 .*stereo image .*image_03.*0000000007.png"):
        build_dataset(kitti_config(tmp_path, use_stereo=True), split, train=False)


def test_data_loader_stacks_samples(outdoor_root: Path) -> None:
    dataset = build_dataset(kitti_config(outdoor_root, use_stereo=True),
                            outdoor_root / "splits/train_files.txt", train=True)
    batch = next(iter(DataLoader(dataset, batch_size=4, shuffle=True, num_workers=0)))
    assert batch["frames"].shape == (4, 3, 3, 64, 192)
    assert batch["stereo_aug"].shape == (4, 3, 64, 192) and batch["K"].shape == (4, 4, 4)
    assert batch["index"].shape == (4,)


# Augmentation ---------------------------------------------------------------------------------

def test_flip_mirrors_every_frame_the_depth_and_the_principal_point(outdoor_root: Path,
                                                                    indoor_root: Path) -> None:
    kitti = build_dataset(kitti_config(outdoor_root, use_stereo=True),
                          outdoor_root / "splits/val_files.txt", train=False)
    plain, flipped = kitti.load_sample(0, Augmentation()), kitti.load_sample(0, Augmentation(True))
    for key in ("frames", "frames_aug", "stereo", "depth_gt"):
        torch.testing.assert_close(flipped[key], plain[key].flip(-1), rtol=0, atol=0)
    torch.testing.assert_close(flipped["K"], plain["K"])  # KITTI's cx = W / 2 stays put
    nyu = build_dataset(nyu_config(indoor_root), indoor_root / "splits/val_files.txt", False)
    plain, flipped = nyu.load_sample(0, Augmentation()), nyu.load_sample(0, Augmentation(True))
    torch.testing.assert_close(flipped["frames"], plain["frames"].flip(-1), rtol=0, atol=0)
    assert float(flipped["K"][0, 2]) == pytest.approx(128 - float(plain["K"][0, 2]))


def test_jitter_is_the_same_for_every_frame_and_the_stereo_image(outdoor_root: Path) -> None:
    dataset = build_dataset(kitti_config(outdoor_root, use_stereo=True),
                            outdoor_root / "splits/val_files.txt", train=False)
    plain = dataset.load_sample(0, Augmentation())
    jittered = dataset.load_sample(0, Augmentation(jitter=JITTER))
    torch.testing.assert_close(jittered["frames"], plain["frames"])  # loss images stay clean
    torch.testing.assert_close(jittered["stereo"], plain["stereo"])
    for frame in range(3):
        expected = apply_color_jitter(plain["frames"][frame], JITTER)
        torch.testing.assert_close(jittered["frames_aug"][frame], expected)
    torch.testing.assert_close(jittered["stereo_aug"], apply_color_jitter(plain["stereo"], JITTER))
    assert (jittered["frames_aug"] - plain["frames"]).abs().mean() > 0.02


def test_apply_color_jitter_matches_torchvision(outdoor_root: Path) -> None:
    image = read_rgb(outdoor_root / DRIVE / "image_02/data/0000000003.png", 192, 64)
    torch.manual_seed(7)
    expected = ColorJitter(brightness=(1.1, 1.1), contrast=(0.9, 0.9), saturation=(1.15, 1.15),
                           hue=(-0.05, -0.05))(image)
    torch.manual_seed(7)
    order = tuple(torch.randperm(4).tolist())  # ColorJitter draws its order first
    params = ColorJitterParams(order, brightness=1.1, contrast=0.9, saturation=1.15, hue=-0.05)
    torch.testing.assert_close(apply_color_jitter(image, params), expected)


def test_augmentation_draws_flip_and_jitter_half_the_time_within_ranges() -> None:
    torch.manual_seed(0)
    draws = [sample_augmentation() for _ in range(400)]
    assert 160 < sum(d.flip for d in draws) < 240
    jitters = [d.jitter for d in draws if d.jitter is not None]
    assert 160 < len(jitters) < 240
    for p in jitters:
        assert sorted(p.order) == [0, 1, 2, 3]
        assert all(0.8 <= f <= 1.2 for f in (p.brightness, p.contrast, p.saturation))
        assert -0.1 <= p.hue <= 0.1


def test_training_samples_are_augmented_consistently(tmp_path: Path, indoor_root: Path) -> None:
    # Identical images in a folder: any frame-to-frame difference would be inconsistent jitter.
    image = indoor_root / ROOM / "image" / "0000000004.jpg"
    for index in range(4):
        shutil.copy(image, tmp_path / f"frame_{index}.jpg")
    write_intrinsics(tmp_path / "intrinsics.yaml")
    cfg = DataConfig(dataset="folder", root=str(tmp_path), height=96, width=128, augment=True)
    dataset = build_dataset(cfg, "", train=True)
    torch.manual_seed(3)
    samples = [dataset[0] for _ in range(24)]
    jittered = 0
    for sample in samples:
        for frame in (1, 2):
            torch.testing.assert_close(sample["frames_aug"][frame], sample["frames_aug"][0])
        jittered += not torch.equal(sample["frames_aug"], sample["frames"])
    assert 4 < jittered < 20
    flipped = [not torch.equal(s["frames"], samples[0]["frames"]) for s in samples]
    assert any(flipped) and not all(flipped)


# NYU ------------------------------------------------------------------------------------------

def nyu_config(root: Path, **overrides: object) -> DataConfig:
    values = {"dataset": "nyu", "root": str(root), "height": 96, "width": 128, "augment": False}
    return DataConfig(**{**values, **overrides})


def test_nyu_sample_has_kinect_intrinsics_and_metric_depth(indoor_root: Path) -> None:
    dataset = build_dataset(nyu_config(indoor_root), indoor_root / "splits/test_files.txt",
                            train=False)
    entry, sample = dataset.entries[3], dataset[3]
    assert set(sample) == {"frames", "frames_aug", "K", "depth_gt", "index"}
    image = indoor_root / entry.folder / "image" / f"{entry.frame_index - 1:010d}.jpg"
    torch.testing.assert_close(sample["frames"][1], read_rgb(image, 128, 96))
    fx = 518.858 / 640 * 128
    assert float(sample["K"][0, 0]) == pytest.approx(fx, rel=1e-6)
    assert float(sample["K"][1, 2]) == pytest.approx(253.736 / 480 * 96, rel=1e-6)
    torch.testing.assert_close(sample["K"], torch.from_numpy(KINECT_NORMALIZED_K.matrix(128, 96)))
    png = indoor_root / entry.folder / "depth" / f"{entry.frame_index:010d}.png"
    millimetres = cv2.imread(str(png), cv2.IMREAD_UNCHANGED)
    np.testing.assert_allclose(sample["depth_gt"][0].numpy(), millimetres / 1000.0, rtol=1e-6)


def test_nyu_depth_scale_and_resize(indoor_root: Path) -> None:
    cfg = nyu_config(indoor_root, height=48, width=64, depth_scale=500.0)
    dataset = build_dataset(cfg, indoor_root / "splits/val_files.txt", train=False)
    sample = dataset[0]
    entry = dataset.entries[0]
    png = indoor_root / entry.folder / "depth" / f"{entry.frame_index:010d}.png"
    millimetres = cv2.imread(str(png), cv2.IMREAD_UNCHANGED).astype(np.float32)
    assert sample["depth_gt"].shape == (1, 48, 64)
    np.testing.assert_allclose(sample["depth_gt"][0].numpy().max(), millimetres.max() / 500.0,
                               rtol=0.05)


def test_nyu_rejects_stereo_and_right_camera_lines(indoor_root: Path, tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"use_stereo.*single camera"):
        build_dataset(nyu_config(indoor_root, use_stereo=True),
                      indoor_root / "splits/val_files.txt", train=False)
    split = write_split(tmp_path / "nyu.txt", [f"{ROOM} 3 l", f"{ROOM} 4 r"])
    with pytest.raises(DatasetError, match=r"nyu.txt:2: side 'r'"):
        build_dataset(nyu_config(indoor_root), split, train=False)


# Folder + intrinsics YAML ---------------------------------------------------------------------

def make_robot_folder(folder: Path, indoor_root: Path, count: int) -> list[Path]:
    """`count` frames of the generated room, named like a robot recorder would (sorted order)."""
    folder.mkdir(parents=True, exist_ok=True)
    frames = sorted((indoor_root / ROOM / "image").glob("*.jpg"))[:count]
    copies = []
    for index, frame in enumerate(frames):
        copies.append(folder / f"cam_{index:04d}.png")
        cv2.imwrite(str(copies[-1]), cv2.imread(str(frame)))
    (folder / "notes.txt").write_text("not an image")
    return copies


def test_folder_without_split_uses_every_frame_with_neighbours(indoor_root: Path,
                                                               tmp_path: Path) -> None:
    frames = make_robot_folder(tmp_path / "run", indoor_root, 6)
    intrinsics = write_intrinsics(tmp_path / "camera.yaml")
    cfg = DataConfig(dataset="folder", root=str(tmp_path / "run"), intrinsics_file=str(intrinsics),
                     height=64, width=96, augment=False)
    dataset = build_dataset(cfg, "", train=False)
    assert [e.frame_index for e in dataset.entries] == [1, 2, 3, 4]
    sample = dataset[0]
    assert set(sample) == {"frames", "frames_aug", "K", "index"}
    torch.testing.assert_close(sample["frames"][2], read_rgb(frames[2], 96, 64))
    torch.testing.assert_close(sample["K"][0, 0], torch.tensor(103.77 / 128 * 96))
    torch.testing.assert_close(sample["K"][1, 2], torch.tensor(50.7 / 96 * 64))
    missing = build_dataset(cfg, tmp_path / "absent.txt", train=False)  # warns, uses all
    assert len(missing) == 4


def test_folder_with_split_and_sub_folder_sequences(indoor_root: Path, tmp_path: Path) -> None:
    make_robot_folder(tmp_path / "a", indoor_root, 5)
    make_robot_folder(tmp_path / "b", indoor_root, 4)
    write_intrinsics(tmp_path / "intrinsics.yaml")
    cfg = DataConfig(dataset="folder", root=str(tmp_path), height=96, width=128, augment=False,
                     frame_offsets=[0, -2])
    every = build_dataset(cfg, "", train=False)
    assert [(e.folder, e.frame_index) for e in every.entries] == [
        ("a", 2), ("a", 3), ("a", 4), ("b", 2), ("b", 3)]
    split = write_split(tmp_path / "split.txt", ["b 3 l", "a 2 l"])
    chosen = build_dataset(cfg, split, train=False)
    assert len(chosen) == 2
    bad = write_split(tmp_path / "bad.txt", ["b 4 l"])
    with pytest.raises(DatasetError, match=r"bad.txt line 1 .*needs frame 4, past the end"):
        build_dataset(cfg, bad, train=False)


def test_empty_split_reaches_the_folder_dataset_through_find_split(indoor_root: Path,
                                                                  tmp_path: Path) -> None:
    """`train_split: ""` is documented for folder datasets; find_split must not reject it."""
    make_robot_folder(tmp_path / "run", indoor_root, 5)
    write_intrinsics(tmp_path / "run" / "intrinsics.yaml")
    cfg = DataConfig(dataset="folder", root=str(tmp_path / "run"), train_split="",
                     height=64, width=96)
    split = find_split(cfg.train_split, cfg.root, "data.train_split")
    assert split == ""
    dataset = build_dataset(cfg, split, train=True)
    assert [e.frame_index for e in dataset.entries] == [1, 2, 3]
    batch = next(iter(DataLoader(dataset, batch_size=2)))
    assert batch["frames_aug"].shape == (2, 3, 3, 64, 96)
    # The trainer resolves the split the same way and trains on every frame.
    from training.config import TrainConfig
    from training.device import setup_runtime
    from training.trainer import Trainer

    train_cfg = TrainConfig(data=cfg)
    train_cfg.data.val_split, train_cfg.data.num_workers = "", 0
    train_cfg.model.weights_init, train_cfg.optim.batch_size = "scratch", 1
    train_cfg.optim.max_steps, train_cfg.run.image_every = 1, 1000
    train_cfg.run.device, train_cfg.run.out_dir = "cpu", str(tmp_path / "out")
    trainer = Trainer(train_cfg, setup_runtime(train_cfg.run))
    assert trainer.batches.num_batches == 3 and trainer.val_loader is None
    run = trainer.fit()
    assert run.exit_code == 0 and run.summary["steps"] == 1


def test_empty_split_is_a_clear_error_for_datasets_that_need_one(outdoor_root: Path) -> None:
    split = find_split("", outdoor_root, "data.train_split")
    with pytest.raises(DatasetError, match=r"empty split.*folder"):
        build_dataset(kitti_config(outdoor_root), split, train=False)
    with pytest.raises(ConfigError, match=r"data\.val_split='nope\.txt'"):
        find_split("nope.txt", outdoor_root, "data.val_split")


def test_bad_intrinsics_yaml_points_at_the_setting(tmp_path: Path, indoor_root: Path) -> None:
    make_robot_folder(tmp_path, indoor_root, 3)
    write_intrinsics(tmp_path / "intrinsics.yaml", fy=-3.0)
    cfg = DataConfig(dataset="folder", root=str(tmp_path), height=96, width=128)
    with pytest.raises(DatasetError, match=r"fy=-3.0; expected > 0 .*\(data.intrinsics_file\)"):
        build_dataset(cfg, "", train=False)
