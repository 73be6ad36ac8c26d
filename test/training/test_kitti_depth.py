"""Velodyne ground truth: hand-made projections, and a generated scene whose depth is known."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import training.kitti_depth
from training.datasets import SplitEntry, read_split
from training.kitti_depth import (
    CalibrationError,
    load_ground_truth,
    project_to_depth_map,
    read_calib_file,
    velodyne_depth_map,
    velodyne_projection,
)

# Camera looking along velodyne x: optical (x right, y down, z fwd) = (-y_velo, -z_velo, x_velo).
VELO_TO_OPTICAL = np.array([[0.0, -1.0, 0.0], [0.0, 0.0, -1.0], [1.0, 0.0, 0.0]])
FOCAL, CX, CY, WIDTH, HEIGHT = 10.0, 4.0, 3.0, 9, 7


def _write_calibration(folder: Path, with_velo_t: bool = True) -> None:
    def numbers(values: np.ndarray) -> str:
        return " ".join(f"{v:.9e}" for v in np.asarray(values, float).ravel())

    k = np.array([[FOCAL, 0, CX], [0, FOCAL, CY], [0, 0, 1.0]])
    p_rect = np.hstack([k, np.zeros((3, 1))])
    (folder / "calib_cam_to_cam.txt").write_text(
        "calib_time: 09-Jan-2012 13:57:47\n"
        f"R_rect_00: {numbers(np.eye(3))}\n"
        f"P_rect_02: {numbers(p_rect)}\n"
        f"S_rect_02: {numbers([WIDTH, HEIGHT])}\n"
    )
    lines = [f"R: {numbers(VELO_TO_OPTICAL)}"]
    if with_velo_t:
        lines.append(f"T: {numbers([0.0, 0.0, 0.0])}")
    (folder / "calib_velo_to_cam.txt").write_text("\n".join(lines) + "\n")


def _velodyne_point(col: float, row: float, depth: float) -> list[float]:
    """The velodyne point (x fwd, y left, z up) seen at pixel (col, row) at `depth` metres."""
    x_opt, y_opt = (col - CX) / FOCAL * depth, (row - CY) / FOCAL * depth
    return [depth, -x_opt, -y_opt, 0.5]


def test_calibration_text_is_parsed_and_non_numeric_lines_skipped(tmp_path: Path) -> None:
    _write_calibration(tmp_path)
    calib = read_calib_file(tmp_path / "calib_cam_to_cam.txt")
    assert "calib_time" not in calib
    assert calib["P_rect_02"].shape == (12,)
    projection, shape = velodyne_projection(tmp_path)
    assert shape == (HEIGHT, WIDTH)
    # The velodyne x axis (forward) is the optical axis: the point 5 m ahead hits (cx, cy).
    u, v, w = projection @ np.array([5.0, 0.0, 0.0, 1.0])
    assert (u / w, v / w, w) == pytest.approx((CX, CY, 5.0))


def test_missing_calibration_entry_is_named(tmp_path: Path) -> None:
    _write_calibration(tmp_path, with_velo_t=False)
    with pytest.raises(CalibrationError, match="no 'T'"):
        velodyne_projection(tmp_path)


def test_nearest_point_wins_and_points_behind_or_outside_are_dropped(tmp_path: Path) -> None:
    _write_calibration(tmp_path)
    projection, shape = velodyne_projection(tmp_path)
    points = np.array([
        _velodyne_point(2, 1, 7.0),
        _velodyne_point(2, 1, 3.0),  # same pixel, nearer: wins whatever the order
        _velodyne_point(2, 1, 9.0),
        _velodyne_point(6.4, 5.2, 4.0),  # rounds to column 6, row 5
        _velodyne_point(20, 1, 4.0),  # right of the image
        [-5.0, 0.0, 0.0, 0.5],  # behind the camera (would project onto the centre)
    ], dtype=np.float32)
    depth = project_to_depth_map(points, projection, shape)
    expected = np.zeros((HEIGHT, WIDTH), np.float32)
    expected[1, 2], expected[5, 6] = 3.0, 4.0
    np.testing.assert_allclose(depth, expected, atol=1e-5)
    # The devkit convention counts pixels from 1: the same points land one row/column up-left.
    devkit = project_to_depth_map(points, projection, shape, devkit_pixels=True)
    assert devkit[0, 1] == pytest.approx(3.0) and devkit[4, 5] == pytest.approx(4.0)
    assert np.count_nonzero(devkit) == 2


def test_generated_scene_velodyne_matches_its_true_depth(outdoor_root: Path) -> None:
    entries = read_split(outdoor_root / "splits" / "test_files.txt")[:3]
    for entry in entries:
        projected = velodyne_depth_map(outdoor_root, entry)
        name = f"{entry.frame_index:010d}.npy"
        true_depth = np.load(outdoor_root / entry.folder / "depth_gt" / name)
        assert projected.shape == true_depth.shape
        hit = projected > 0
        assert hit.mean() > 0.2, "the 64-beam scan should cover a good share of the pixels"
        # Every projected point lands on the pixel whose true depth it measured.
        np.testing.assert_allclose(projected[hit], true_depth[hit], rtol=1e-5)
        # Rows without a beam stay empty: the map is sparse, not interpolated.
        assert (~hit).any()


def test_ground_truth_cache_is_reused_and_rebuilt_for_other_entries(outdoor_root: Path,
                                                                    tmp_path: Path) -> None:
    entries = read_split(outdoor_root / "splits" / "test_files.txt")[:2]
    cache = tmp_path / "gt.npz"
    first = load_ground_truth(outdoor_root, entries, cache)
    assert cache.is_file()
    # A cache hit must not touch the scans: point the root somewhere empty.
    cached = load_ground_truth(tmp_path / "nowhere", entries, cache)
    for a, b in zip(first, cached, strict=True):
        np.testing.assert_array_equal(a, b)
    other = [SplitEntry(entries[0].folder, entries[0].frame_index + 1, "l")]
    rebuilt = load_ground_truth(outdoor_root, other, cache)
    assert len(rebuilt) == 1 and not np.array_equal(rebuilt[0], first[0])


def test_ground_truth_parses_each_drives_calibration_once(outdoor_root: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    entries = read_split(outdoor_root / "splits" / "test_files.txt")[:4]
    assert len({e.folder for e in entries}) == 1
    parsed: list[Path] = []
    real = training.kitti_depth.read_calib_file

    def counting(path: str | Path) -> dict[str, np.ndarray]:
        parsed.append(Path(path))
        return real(path)

    monkeypatch.setattr(training.kitti_depth, "read_calib_file", counting)
    maps = load_ground_truth(outdoor_root, entries)
    assert len(parsed) == 2  # calib_cam_to_cam.txt and calib_velo_to_cam.txt, not 2 per frame
    for entry, depth in zip(entries, maps, strict=True):
        np.testing.assert_array_equal(depth, velodyne_depth_map(outdoor_root, entry))
