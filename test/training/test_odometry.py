"""Odometry: generated drives record it with noise and gaps, and datasets turn it into the camera
motion Monodepth2 warps with (target -> source, camera optical frame, metres).

The decisive check: with noise-free odometry, the dataset's odom_T equals the motion of the true
camera poses, and warping a source frame with the true depth and odom_T reproduces the target
(flipped samples included); the photometric error falls well below that of the unwarped source.
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from training import geometry
from training.config import DataConfig
from training.datasets import DatasetError
from training.datasets.augment import Augmentation
from training.datasets.build import build_dataset
from training.datasets.odometry import (
    ODOMETRY_FILE,
    OdometryTrack,
    camera_motion,
    mirrored,
    read_odometry,
    source_motions,
)
from training.synthetic.kitti import OUTDOOR_DATE, STEREO_BASELINE, generate_outdoor
from training.synthetic.odometry import OdometryNoise
from training.synthetic.sequence_files import read_poses

DRIVE = f"{OUTDOOR_DATE}/{OUTDOOR_DATE}_drive_0001_sync"
OFFSETS = [0, -1, 1]

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def exact_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two 16-frame drives at 192 x 64 whose odometry is the true vehicle motion."""
    root = tmp_path_factory.mktemp("exact_odometry")
    generate_outdoor(root, sequences=2, frames=16, width=192, height=64, seed=5,
                     odometry_noise=OdometryNoise())
    return root


@pytest.fixture(scope="module")
def noisy_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One 60-frame drive with the default street odometry noise (gaps included)."""
    root = tmp_path_factory.mktemp("noisy_odometry")
    generate_outdoor(root, sequences=1, frames=60, width=64, height=32, seed=1)
    return root


def odometry_config(root: Path, **overrides: object) -> DataConfig:
    values = {"dataset": "kitti", "root": str(root), "height": 64, "width": 192,
              "augment": False, "frame_offsets": OFFSETS, "odometry": True,
              "train_split": str(root / "splits" / "train_files.txt")}
    return DataConfig(**{**values, **overrides})


def true_motion(root: Path, target: int, source: int, side: str) -> np.ndarray:
    """Target -> source camera from the generator's true camera-to-world poses."""
    poses = read_poses(root / DRIVE)
    if side == "r":  # image_03 sits STEREO_BASELINE to the right of image_02
        right = np.eye(4)
        right[0, 3] = STEREO_BASELINE
        poses = poses @ right
    return np.linalg.inv(poses[source]) @ poses[target]


def photometric(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean absolute difference of two 3 x H x W images in [0, 1], 4-pixel border excluded."""
    return float((a - b).abs()[:, 4:-4, 4:-4].mean())


# The true motion, exactly -------------------------------------------------------------------

@pytest.mark.parametrize("side", ["l", "r"])
def test_noise_free_odometry_is_the_true_camera_motion(exact_root: Path, side: str) -> None:
    dataset = build_dataset(odometry_config(exact_root), exact_root / "splits/train_files.txt",
                            train=False)
    for index, entry in enumerate(dataset.entries):
        if entry.side != side:
            continue
        sample = dataset.load_sample(index, Augmentation())
        assert sample["odom_T"].shape == (2, 4, 4) and sample["odom_T"].dtype == torch.float32
        assert sample["odom_valid"].tolist() == [1.0, 1.0]
        for source, offset in enumerate(OFFSETS[1:]):
            expected = true_motion(exact_root, entry.frame_index, entry.frame_index + offset,
                                   side)
            np.testing.assert_allclose(sample["odom_T"][source].numpy(), expected, atol=2e-4)


@pytest.mark.parametrize("flip", [False, True])
def test_warping_with_true_depth_and_odometry_reproduces_the_target(exact_root: Path,
                                                                    flip: bool) -> None:
    dataset = build_dataset(odometry_config(exact_root), exact_root / "splits/train_files.txt",
                            train=False)
    index = next(i for i, e in enumerate(dataset.entries) if e.side == "l" and e.frame_index == 7)
    sample = dataset.load_sample(index, Augmentation(flip=flip))
    depth = dataset.ground_truth_depth(index)  # the train split mixes sides: not in samples
    depth = torch.from_numpy(np.ascontiguousarray(depth[:, ::-1] if flip else depth))[None, None]
    frames, k = sample["frames"], sample["K"][None]
    assert (depth > 0).float().mean() > 0.5  # mostly scene, some sky
    for source in range(2):
        warped = geometry.warp(frames[None, source + 1], depth, k, torch.linalg.inv(k),
                               sample["odom_T"][None, source])[0]
        known = (depth[0] > 0).expand(3, -1, -1)  # sky has no depth to warp with
        warped_error = photometric(torch.where(known, warped, frames[0]), frames[0])
        unwarped_error = photometric(frames[source + 1], frames[0])
        assert warped_error < 0.35 * unwarped_error, (warped_error, unwarped_error)
        assert warped_error < 0.03


def test_flip_mirrors_the_motion(exact_root: Path) -> None:
    dataset = build_dataset(odometry_config(exact_root), exact_root / "splits/train_files.txt",
                            train=False)
    plain = dataset.load_sample(3, Augmentation())["odom_T"].numpy()
    flipped = dataset.load_sample(3, Augmentation(flip=True))["odom_T"].numpy()
    for source in range(2):
        np.testing.assert_allclose(flipped[source], mirrored(plain[source]), atol=1e-6)
        assert flipped[source][0, 3] == pytest.approx(-plain[source][0, 3], abs=1e-6)
        assert flipped[source][2, 3] == pytest.approx(plain[source][2, 3], abs=1e-6)


# Noise and gaps -----------------------------------------------------------------------------

def test_generated_odometry_is_noisy_but_close_and_deterministic(noisy_root: Path,
                                                                 tmp_path: Path) -> None:
    cfg = odometry_config(noisy_root, height=32, width=64, frame_offsets=[0, 1])
    dataset = build_dataset(cfg, noisy_root / "splits/train_files.txt", train=False)
    ratios, angles = [], []
    for index, entry in enumerate(dataset.entries):
        motions, valid = dataset.odometry_motions(index)
        if not valid[0] or entry.side != "l":
            continue
        truth = true_motion(noisy_root, entry.frame_index, entry.frame_index + 1, "l")
        ratios.append(np.linalg.norm(motions[0, :3, 3]) / np.linalg.norm(truth[:3, 3]))
        rotation_error = motions[0, :3, :3] @ truth[:3, :3].T
        angles.append(math.degrees(np.arccos(np.clip((np.trace(rotation_error) - 1) / 2, -1, 1))))
    ratios = np.array(ratios)
    # Two 20 Hz steps per frame at 3 % each: about 2 % per frame, never wildly off.
    assert 0.005 < ratios.std() < 0.05 and np.all(np.abs(ratios - 1.0) < 0.15)
    assert 0.0 < max(angles) < 2.0
    generate_outdoor(tmp_path, sequences=1, frames=60, width=64, height=32, seed=1)
    same = tmp_path / DRIVE / ODOMETRY_FILE
    assert same.read_bytes() == (noisy_root / DRIVE / ODOMETRY_FILE).read_bytes()


def test_generated_odometry_has_gaps_that_invalidate_frames(noisy_root: Path) -> None:
    track = read_odometry(noisy_root / DRIVE / ODOMETRY_FILE)
    steps = np.diff(track.stamps)
    assert len(track.stamps) < 2 * 60 - 1  # some of the 119 samples of 60 frames are missing
    assert steps.max() > 0.12 and np.median(steps) == pytest.approx(0.05, abs=1e-4)
    cfg = odometry_config(noisy_root, height=32, width=64, frame_offsets=[0, 1])
    dataset = build_dataset(cfg, noisy_root / "splits/train_files.txt", train=False)
    valid = np.array([dataset.odometry_motions(i)[1][0] for i in range(len(dataset))])
    assert 0 < valid.sum() < len(valid)


def test_gaps_longer_than_the_limit_are_not_bridged() -> None:
    stamps = np.array([0.0, 0.05, 0.10, 0.40, 0.45])
    poses = np.tile(np.eye(4), (5, 1, 1))
    poses[:, 0, 3] = [0.0, 0.5, 1.0, 4.0, 4.5]  # 10 m/s along x
    track = OdometryTrack(stamps, poses)
    at, valid = track.at(np.array([0.025, 0.10, 0.2, 0.425, 0.5, -0.1]), max_gap=0.12)
    assert valid.tolist() == [True, True, False, True, False, False]
    np.testing.assert_allclose(at[[0, 1, 3], 0, 3], [0.25, 1.0, 4.25])
    assert track.at(np.array([0.2]), max_gap=0.5)[1].tolist() == [True]  # a wider limit bridges


def test_a_sample_in_a_gap_has_no_odometry_motion() -> None:
    stamps = np.array([0.0, 0.1, 0.2, 0.6, 0.7])
    track = OdometryTrack(stamps, np.tile(np.eye(4), (5, 1, 1)))
    transforms, valid = source_motions(track, 0.1, [0.0, 0.4], np.eye(4), max_gap=0.15)
    assert valid.tolist() == [1.0, 0.0]
    np.testing.assert_array_equal(transforms[1], np.eye(4))


def test_interpolation_turns_at_a_constant_rate() -> None:
    yaw = math.radians(20.0)
    end = np.eye(4)
    end[:2, :2] = [[math.cos(yaw), -math.sin(yaw)], [math.sin(yaw), math.cos(yaw)]]
    end[:3, 3] = [2.0, 1.0, 0.0]
    middle = OdometryTrack(np.array([0.0, 1.0]), np.stack([np.eye(4), end])).at(
        np.array([0.25]), max_gap=2.0)[0][0]
    assert math.degrees(math.atan2(middle[1, 0], middle[0, 0])) == pytest.approx(5.0)
    np.testing.assert_allclose(middle[:3, 3], [0.5, 0.25, 0.0])


# Extrinsics ---------------------------------------------------------------------------------

BASE_TO_OPTICAL = np.array([[0.0, -1.0, 0.0], [0.0, 0.0, -1.0], [1.0, 0.0, 0.0]])  # REP 103


def mounting(left: float) -> np.ndarray:
    """A forward-looking camera `left` metres to the left of the base origin."""
    pose = np.eye(4)
    pose[:3, :3] = BASE_TO_OPTICAL.T
    pose[1, 3] = left
    return pose


def base_pose(x: float, yaw: float) -> np.ndarray:
    pose = np.eye(4)
    pose[:2, :2] = [[math.cos(yaw), -math.sin(yaw)], [math.sin(yaw), math.cos(yaw)]]
    pose[0, 3] = x
    return pose


def test_forward_drive_is_a_move_along_the_optical_axis() -> None:
    # The robot drove 0.8 m forward from the source frame to the target frame: target points
    # are 0.8 m farther away from the source camera.
    motion = camera_motion(base_pose(0.8, 0.0), base_pose(0.0, 0.0), mounting(0.0))
    np.testing.assert_allclose(motion, np.array(
        [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0.8], [0, 0, 0, 1.0]]), atol=1e-12)


def test_a_camera_off_the_base_origin_moves_when_the_robot_turns_on_the_spot() -> None:
    yaw = math.radians(10.0)
    centred = camera_motion(base_pose(0.0, yaw), base_pose(0.0, 0.0), mounting(0.0))
    offset = camera_motion(base_pose(0.0, yaw), base_pose(0.0, 0.0), mounting(0.5))
    assert np.linalg.norm(centred[:3, 3]) == pytest.approx(0.0, abs=1e-12)
    # On a 0.5 m lever the camera travels the chord 2 * 0.5 * sin(yaw / 2).
    assert np.linalg.norm(offset[:3, 3]) == pytest.approx(2 * 0.5 * math.sin(yaw / 2))
    np.testing.assert_allclose(offset[:3, :3], centred[:3, :3], atol=1e-12)  # same turn
    # Turning left is a rotation about the optical y (down) axis by -yaw.
    assert math.degrees(math.atan2(centred[0, 2], centred[0, 0])) == pytest.approx(-10.0)


def test_the_right_camera_sees_the_drive_from_its_own_place(exact_root: Path) -> None:
    dataset = build_dataset(odometry_config(exact_root), exact_root / "splits/train_files.txt",
                            train=False)
    left = next(e for e in dataset.entries if e.side == "l")
    right = next(e for e in dataset.entries if e.side == "r")
    offset = np.linalg.inv(dataset.camera_to_base(left)) @ dataset.camera_to_base(right)
    np.testing.assert_allclose(offset[:3, 3], [STEREO_BASELINE, 0.0, 0.0], atol=1e-9)


# Errors -------------------------------------------------------------------------------------

def test_missing_odometry_file_fails_when_the_dataset_is_built(exact_root: Path,
                                                               tmp_path: Path) -> None:
    root = tmp_path / "copy"
    shutil.copytree(exact_root, root)
    (root / DRIVE / ODOMETRY_FILE).unlink()
    with pytest.raises(DatasetError, match=ODOMETRY_FILE):
        build_dataset(odometry_config(root), root / "splits/train_files.txt", train=False)


def test_datasets_without_odometry_refuse_the_option(indoor_root: Path) -> None:
    cfg = DataConfig(dataset="nyu", root=str(indoor_root), height=64, width=96, odometry=True)
    with pytest.raises(DatasetError, match=r"data\.odometry"):
        build_dataset(cfg, indoor_root / "splits/train_files.txt", train=False)



def test_malformed_odometry_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / ODOMETRY_FILE
    path.write_text("0.0 1 0 0 0 0 1 0 0 0 0 1\n")  # no stamp
    with pytest.raises(DatasetError, match=r"12 numbers per line; expected 13"):
        read_odometry(path)
