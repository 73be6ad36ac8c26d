"""The synthetic generator: layouts, determinism, speed and, above all, consistent ground truth.

The ground truth is checked against the images it claims to explain: warping frame t+1 into
frame t with the true depth and pose reproduces frame t (and a wrong depth does not), the right
camera is 0.54 m to the right, and velodyne points projected through the written KITTI
calibration land on pixels whose true depth they measured.
"""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from training import geometry
from training.__main__ import main as training_main
from training.datasets import KINECT_NORMALIZED_K, KITTI_NORMALIZED_K, read_split
from training.synthetic.kitti import OUTDOOR_DATE, STEREO_BASELINE, generate_outdoor
from training.synthetic.nyu import generate_indoor
from training.synthetic.rendering import render_view
from training.synthetic.scene import CAMERA_HEIGHT, outdoor_scene
from training.synthetic.sequence_files import pixel_matrix, read_depth, read_poses, read_velodyne
from training.synthetic.trajectories import outdoor_trajectory

DRIVES = [f"{OUTDOOR_DATE}/{OUTDOOR_DATE}_drive_{n:04d}_sync" for n in (1, 2)]
ROOMS = ["synthetic_room_0000", "synthetic_room_0001"]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def read_calibration(path: Path) -> dict[str, np.ndarray]:
    """KITTI `key: numbers` lines; non-numeric values (calib_time) are skipped."""
    values = {}
    for line in path.read_text().splitlines():
        key, _, text = line.partition(":")
        try:
            values[key] = np.array([float(number) for number in text.split()])
        except ValueError:
            continue
    return values


def read_rgb(path: Path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB).astype(np.float64) / 255.0


# Layout ---------------------------------------------------------------------------------------

def test_outdoor_writes_kitti_raw_layout(outdoor_root: Path) -> None:
    for drive in DRIVES:
        for index in range(24):
            name = f"{index:010d}"
            for camera in ("image_02", "image_03"):
                image = cv2.imread(str(outdoor_root / drive / camera / "data" / f"{name}.png"))
                assert image.shape == (64, 192, 3)
            depth = np.load(outdoor_root / drive / "depth_gt" / f"{name}.npy")
            assert depth.dtype == np.float32 and depth.shape == (64, 192)
            scan = outdoor_root / drive / "velodyne_points" / "data" / f"{name}.bin"
            points = read_velodyne(scan)
            assert points.dtype == np.float32 and points.shape[1] == 4 and len(points) > 1000
        assert read_poses(outdoor_root / drive).shape == (24, 4, 4)
    calib = read_calibration(outdoor_root / OUTDOOR_DATE / "calib_cam_to_cam.txt")
    assert calib["P_rect_02"].shape == (12,) and calib["R_rect_00"].shape == (9,)
    np.testing.assert_array_equal(calib["S_rect_02"], [192, 64])
    velo = read_calibration(outdoor_root / OUTDOOR_DATE / "calib_velo_to_cam.txt")
    assert velo["R"].shape == (9,) and velo["T"].shape == (3,)


def test_outdoor_splits_hold_out_the_last_drive(outdoor_root: Path) -> None:
    splits = {name: read_split(outdoor_root / "splits" / f"{name}_files.txt")
              for name in ("train", "val", "test")}
    assert {e.folder for e in splits["test"]} == {DRIVES[1]}
    assert [e.frame_index for e in splits["test"]] == list(range(1, 23))  # both neighbours exist
    assert {e.folder for e in splits["train"] + splits["val"]} == {DRIVES[0]}
    assert {e.side for e in splits["train"]} == {"l", "r"}
    assert {e.side for e in splits["val"] + splits["test"]} == {"l"}
    train_frames = {e.frame_index for e in splits["train"]}
    assert not train_frames & {e.frame_index for e in splits["val"]}


def test_single_sequence_holds_out_its_last_fifth_after_a_gap(tmp_path: Path) -> None:
    generate_indoor(tmp_path, sequences=1, frames=22, width=32, height=24, seed=1)
    splits = {name: read_split(tmp_path / "splits" / f"{name}_files.txt")
              for name in ("train", "val", "test")}
    test = [e.frame_index for e in splits["test"]]
    seen = [e.frame_index for e in splits["train"] + splits["val"]]
    assert test == list(range(17, 21))
    assert max(seen) + 1 < min(test) - 1  # no frame is a neighbour of both a train and test target


def test_outdoor_camera_drives_forward_with_small_yaw(outdoor_root: Path) -> None:
    for drive in DRIVES:
        poses = read_poses(outdoor_root / drive)
        steps = np.linalg.norm(np.diff(poses[:, :3, 3], axis=0), axis=1)
        assert np.all((steps > 0.55) & (steps < 1.05))
        forward = poses[:, :3, 2]  # the optical axis in the world frame
        yaw = np.degrees(np.arctan2(forward[:, 0], forward[:, 2]))
        assert np.abs(yaw).max() < 3.5
        np.testing.assert_allclose(poses[:, 1, 3], 0.0)  # the camera stays 1.65 m above the road


def test_road_depth_is_the_plane_1_65_m_below_the_camera(outdoor_root: Path) -> None:
    depth = read_depth(outdoor_root / DRIVES[0], 5)
    k = pixel_matrix(KITTI_NORMALIZED_K, 192, 64)
    rows = np.arange(58, 64)  # bottom rows, middle column: the road just ahead
    expected = CAMERA_HEIGHT * k[1, 1] / (rows - k[1, 2])
    np.testing.assert_allclose(depth[rows, 96], expected, rtol=1e-5)
    assert (depth[0] == 0).any(), "the sky (top row) has no depth"


# Determinism and speed ------------------------------------------------------------------------

def tree_bytes(root: Path) -> dict[str, bytes]:
    files = sorted(path for path in root.rglob("*") if path.is_file())
    return {str(path.relative_to(root)): path.read_bytes() for path in files}


@pytest.mark.parametrize("generate", [generate_outdoor, generate_indoor])
def test_same_seed_same_bytes(tmp_path: Path, generate) -> None:
    first = tree_bytes(generate(tmp_path / "a", 1, 5, 64, 32, seed=3).root)
    second = tree_bytes(generate(tmp_path / "b", 1, 5, 64, 32, seed=3).root)
    other = tree_bytes(generate(tmp_path / "c", 1, 5, 64, 32, seed=4).root)
    assert first == second
    images = [name for name in first if name.endswith((".png", ".jpg"))]
    assert any(first[name] != other[name] for name in images)


def test_a_416_x_128_view_renders_well_under_a_tenth_of_a_second() -> None:
    rng = np.random.default_rng(0)
    poses = outdoor_trajectory(rng, 60)
    scene = outdoor_scene(rng, poses[0][2, 3], poses[-1][2, 3])
    k = pixel_matrix(KITTI_NORMALIZED_K, 416, 128)
    timings = []
    for pose in poses[10:13]:
        start = time.process_time()  # CPU time: other processes on a shared machine don't count
        render_view(scene, pose, k, 416, 128)
        timings.append(time.process_time() - start)
    assert min(timings) < 0.1  # ~0.03-0.05 s per view


def test_generate_command_writes_nyu_layout(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    argv = ["generate", "--kind", "indoor", "--out", str(tmp_path), "--sequences", "1",
            "--frames", "6", "--width", "64", "--height", "48", "--seed", "2"]
    assert training_main(argv) == 0
    assert "indoor: 1 sequences x 6 frames at 64x48" in capsys.readouterr().out
    scene = tmp_path / ROOMS[0]
    assert cv2.imread(str(scene / "image" / "0000000005.jpg")).shape == (48, 64, 3)
    millimetres = cv2.imread(str(scene / "depth" / "0000000005.png"), cv2.IMREAD_UNCHANGED)
    assert millimetres.dtype == np.uint16 and 500 < millimetres.min() < millimetres.max() < 10000
    np.testing.assert_allclose(read_depth(scene, 5), millimetres / 1000.0)
    assert read_split(tmp_path / "splits" / "test_files.txt")[0].side == "l"


def test_generate_command_rejects_too_few_frames(tmp_path: Path,
                                                capsys: pytest.CaptureFixture) -> None:
    argv = ["generate", "--kind", "outdoor", "--out", str(tmp_path), "--frames", "2"]
    assert training_main(argv) == 2
    assert "frames=2" in capsys.readouterr().err


def test_read_poses_accepts_16_numbers_per_line(tmp_path: Path) -> None:
    pose = np.arange(16, dtype=float).reshape(4, 4)
    pose[3] = [0, 0, 0, 1]
    (tmp_path / "poses.txt").write_text(" ".join(map(str, pose.ravel())) + "\n")
    np.testing.assert_array_equal(read_poses(tmp_path)[0], pose)


# Ground truth consistency ---------------------------------------------------------------------

def test_velodyne_points_project_onto_their_true_depth(outdoor_root: Path) -> None:
    calib = read_calibration(outdoor_root / OUTDOOR_DATE / "calib_cam_to_cam.txt")
    velo = read_calibration(outdoor_root / OUTDOOR_DATE / "calib_velo_to_cam.txt")
    rectify, velo_to_cam = np.eye(4), np.eye(4)
    rectify[:3, :3] = calib["R_rect_00"].reshape(3, 3)
    velo_to_cam[:3, :3], velo_to_cam[:3, 3] = velo["R"].reshape(3, 3), velo["T"]
    projection = calib["P_rect_02"].reshape(3, 4) @ rectify @ velo_to_cam
    for drive, index in ((DRIVES[0], 4), (DRIVES[1], 17)):
        scan = outdoor_root / drive / "velodyne_points" / "data" / f"{index:010d}.bin"
        points = read_velodyne(scan)
        image = projection @ np.hstack([points[:, :3], np.ones((len(points), 1))]).T
        z = image[2]
        u, v = image[0] / z, image[1] / z
        assert np.all(z > 0)
        np.testing.assert_allclose(u, np.round(u), atol=1e-3)  # exact hits at pixel centres
        np.testing.assert_allclose(v, np.round(v), atol=1e-3)
        cols, rows = np.round(u).astype(int), np.round(v).astype(int)
        assert cols.min() >= 0 and cols.max() < 192 and rows.min() >= 0 and rows.max() < 64
        depth = read_depth(outdoor_root / drive, index)
        np.testing.assert_allclose(z, depth[rows, cols], rtol=1e-5)
        assert len(np.unique(rows)) > 20, "a multi-beam pattern, not a single line"
        # Velodyne frame: x forward, y left, z up, 0.08 m above the camera -> road at z = -1.73.
        ahead = (points[:, 0] < 12.0) & (np.abs(points[:, 1]) < 1.0)  # the lane ahead
        assert np.all(points[:, 0] > 0) and ahead.sum() > 50
        assert abs(np.median(points[ahead, 2]) + CAMERA_HEIGHT + 0.08) < 0.1


def warp_error(target: np.ndarray, source: np.ndarray, depth: np.ndarray,
               source_depth: np.ndarray | None, k: np.ndarray, target_to_source: np.ndarray,
               wrong_depths: list[np.ndarray]) -> tuple[float, list[float], float]:
    """Mean L1 of target vs source warped with the true depth, over pixels visible in both.

    Returns the true-depth error, the errors of the wrong depths over the same pixels, and the
    fraction of pixels used. Visible: has depth, lands inside the source and, when the source's
    depth is known, is not hidden there behind something nearer.
    """
    def tensor(array: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float64))

    height, width = depth.shape
    k4 = torch.eye(4, dtype=torch.float64)[None]
    k4[0, :3, :3] = tensor(k)
    inv_k, transform = torch.linalg.inv(k4), tensor(target_to_source)[None]
    image = tensor(source.transpose(2, 0, 1))[None]

    def warped(d: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        d = tensor(np.where(d > 0, d, 1e4))[None, None]  # sky: effectively infinitely far
        points = geometry.backproject(d, inv_k)
        grid = geometry.project_to_grid(points, k4, transform, height, width)
        z_in_source = (transform @ points)[:, 2].view(1, 1, height, width)
        return geometry.warp(image, d, k4, inv_k, transform), grid, z_in_source

    synthesised, grid, z_in_source = warped(depth)
    visible = (grid.abs() < 1.0).all(-1)[:, None] & torch.from_numpy(depth > 0)[None, None]
    if source_depth is not None:
        seen_depth = geometry.warp(tensor(source_depth)[None, None], tensor(depth)[None, None],
                                   k4, inv_k, transform)
        visible &= (seen_depth - z_in_source).abs() < 0.03 * z_in_source
    truth = tensor(target.transpose(2, 0, 1))[None]

    def error(image_: torch.Tensor) -> float:
        return float((image_ - truth).abs().mean(1, keepdim=True)[visible].mean())

    wrong = [error(warped(d)[0]) for d in wrong_depths]
    return error(synthesised), wrong, float(visible.float().mean())


@pytest.mark.parametrize(("drive", "index"), [(DRIVES[0], 5), (DRIVES[1], 14)])
def test_warping_the_next_frame_with_true_depth_and_pose_reproduces_the_frame(
        outdoor_root: Path, drive: str, index: int) -> None:
    folder = outdoor_root / drive
    poses = read_poses(folder)
    target = read_rgb(folder / "image_02" / "data" / f"{index:010d}.png")
    source = read_rgb(folder / "image_02" / "data" / f"{index + 1:010d}.png")
    depth, source_depth = read_depth(folder, index), read_depth(folder, index + 1)
    k = pixel_matrix(KITTI_NORMALIZED_K, 192, 64)
    median = np.full_like(depth, np.median(depth[depth > 0]))
    true_error, wrong, used = warp_error(
        target, source, depth, source_depth, k, np.linalg.inv(poses[index + 1]) @ poses[index],
        [depth * 0.7, depth * 1.4, median],
    )
    assert used > 0.5
    assert true_error < 0.02  # ~0.01: 8-bit rounding and bilinear resampling of fine texture
    assert all(true_error < 0.6 * error for error in wrong), (true_error, wrong)


def test_right_camera_is_the_left_one_moved_0_54_m_right(outdoor_root: Path) -> None:
    folder = outdoor_root / DRIVES[0]
    left = read_rgb(folder / "image_02" / "data" / "0000000008.png")
    right = read_rgb(folder / "image_03" / "data" / "0000000008.png")
    depth = read_depth(folder, 8)
    left_to_right = np.eye(4)
    left_to_right[0, 3] = -STEREO_BASELINE  # a point's x in the right camera is 0.54 m smaller
    true_error, wrong, used = warp_error(
        left, right, depth, None, pixel_matrix(KITTI_NORMALIZED_K, 192, 64), left_to_right,
        [depth * 0.7, depth * 1.4],
    )
    assert used > 0.5
    assert true_error < 0.02 and all(true_error < 0.6 * error for error in wrong), wrong


def test_warping_indoor_frames_with_true_depth_reproduces_them(indoor_root: Path) -> None:
    folder = indoor_root / ROOMS[0]
    poses = read_poses(folder)
    index, step = 8, 2  # two frames apart: ~16 cm of motion, enough parallax at 128 x 96
    target = read_rgb(folder / "image" / f"{index:010d}.jpg")
    source = read_rgb(folder / "image" / f"{index + step:010d}.jpg")
    depth, source_depth = read_depth(folder, index), read_depth(folder, index + step)
    true_error, wrong, used = warp_error(
        target, source, depth, source_depth, pixel_matrix(KINECT_NORMALIZED_K, 128, 96),
        np.linalg.inv(poses[index + step]) @ poses[index], [depth * 0.6, depth * 1.6],
    )
    assert used > 0.6
    assert true_error < 0.025  # JPEG (quality 95) adds a little
    assert all(true_error < 0.8 * error for error in wrong), (true_error, wrong)


def test_readers_name_missing_files(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"frame 3: neither .*0000000003\.npy nor "
                                                 r".*0000000003\.png"):
        read_depth(tmp_path, 3)
    with pytest.raises(FileNotFoundError, match=r"velodyne scan .*absent\.bin"):
        read_velodyne(tmp_path / "absent.bin")
    (tmp_path / "odd.bin").write_bytes(np.zeros(6, np.float32).tobytes())
    with pytest.raises(ValueError, match="multiple of 4"):
        read_velodyne(tmp_path / "odd.bin")
