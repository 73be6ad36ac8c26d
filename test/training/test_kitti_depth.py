"""Velodyne ground truth: hand-made projections, the published Eigen export recipe on a drive with
KITTI's real calibration, and a generated scene whose depth is known."""

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
    depth = project_to_depth_map(points, projection, shape, "camera")
    expected = np.zeros((HEIGHT, WIDTH), np.float32)
    expected[1, 2], expected[5, 6] = 3.0, 4.0
    np.testing.assert_allclose(depth, expected, atol=1e-5)
    # The published convention counts pixels from 1 (the devkit's MATLAB indices): the same
    # points land one row and one column up-left. It is the default.
    published = project_to_depth_map(points, projection, shape)
    assert published[0, 1] == pytest.approx(3.0) and published[4, 5] == pytest.approx(4.0)
    assert np.count_nonzero(published) == 2
    with pytest.raises(ValueError, match="'devkit' unknown; expected one of published, camera"):
        project_to_depth_map(points, projection, shape, "devkit")


def test_generated_scene_velodyne_matches_its_true_depth(outdoor_root: Path) -> None:
    entries = read_split(outdoor_root / "splits" / "test_files.txt")[:3]
    for entry in entries:
        projected = velodyne_depth_map(outdoor_root, entry, "camera")
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
    # The same entries under the other convention are other maps, not a cache hit.
    load_ground_truth(outdoor_root, entries, cache)
    camera = load_ground_truth(outdoor_root, entries, cache, "camera")
    assert not np.array_equal(camera[0], first[0])
    np.testing.assert_array_equal(camera[0], velodyne_depth_map(outdoor_root, entries[0], "camera"))


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


# KITTI raw 2011_09_26 calibration (calib_cam_to_cam.txt and calib_velo_to_cam.txt of the devkit).
KITTI_CAM_TO_CAM = """calib_time: 09-Jan-2012 13:57:47
corner_dist: 9.950000e-02
S_rect_00: 1.242000e+03 3.750000e+02
R_rect_00: 9.999239e-01 9.837760e-03 -7.445048e-03 -9.869795e-03 9.999421e-01 -4.278459e-03 \
7.402527e-03 4.351614e-03 9.999631e-01
P_rect_00: 7.215377e+02 0.000000e+00 6.095593e+02 0.000000e+00 0.000000e+00 7.215377e+02 \
1.728540e+02 0.000000e+00 0.000000e+00 0.000000e+00 1.000000e+00 0.000000e+00
S_rect_02: 1.242000e+03 3.750000e+02
P_rect_02: 7.215377e+02 0.000000e+00 6.095593e+02 4.485728e+01 0.000000e+00 7.215377e+02 \
1.728540e+02 2.163791e-01 0.000000e+00 0.000000e+00 1.000000e+00 2.745884e-03
"""
KITTI_VELO_TO_CAM = """calib_time: 15-Mar-2012 11:37:16
R: 7.533745e-03 -9.999714e-01 -6.166020e-04 1.480249e-02 7.280733e-04 -9.998902e-01 \
9.998621e-01 7.523790e-03 1.480755e-02
T: -4.069766e-03 -7.631618e-02 -2.717806e-01
delta_f: 0.000000e+00 0.000000e+00
delta_c: 0.000000e+00 0.000000e+00
"""
KITTI_DRIVE = "2011_09_26/2011_09_26_drive_0002_sync"
SCANNER_HEIGHT = 1.73  # metres above the road, KITTI's HDL-64E


def _street_scan(rng: np.random.Generator) -> np.ndarray:
    """N x 4 float32 velodyne points of one revolution over a road lined with obstacles.

    64 beams (HDL-64E elevations) at 0.05 degree azimuth steps, finer than a KITTI pixel, so
    many pixels receive several points of different ranges; a few returns sit within 0.3 m in
    front of the scanner, behind the camera (velodyne x >= 0 but camera z < 0).
    """
    elevations = np.radians(np.concatenate([np.linspace(2.0, -8.33, 32),
                                            np.linspace(-8.83, -24.33, 32)]))
    azimuths = np.radians(np.arange(0.0, 360.0, 0.05))
    elevation, azimuth = np.meshgrid(elevations, azimuths, indexing="ij")
    obstacle = rng.uniform(3.0, 70.0, size=azimuths.size)[None]  # one obstacle per azimuth
    obstacle = obstacle * rng.uniform(0.95, 1.05, size=elevation.shape)
    with np.errstate(divide="ignore"):
        road = np.where(elevation < 0, SCANNER_HEIGHT / np.sin(-elevation), np.inf)
    reach = np.minimum(np.minimum(road, obstacle), 120.0)
    direction = np.stack([np.cos(elevation) * np.cos(azimuth),
                          np.cos(elevation) * np.sin(azimuth), np.sin(elevation)], -1)
    points = (direction * reach[..., None]).reshape(-1, 3)
    near = rng.uniform([0.0, -0.4, -0.3], [0.3, 0.4, 0.3], size=(200, 3))
    points = np.concatenate([points, near])
    reflectance = rng.uniform(0.0, 1.0, size=(len(points), 1))
    return np.concatenate([points, reflectance], 1).astype(np.float32)


def _published_export(calib_dir: Path, scan_path: Path) -> np.ndarray:
    """The published Eigen ground truth of one scan, written from the recipe's description.

    Depth is the velodyne x of every point with x >= 0, projected by P_rect_02 R_rect_00 [R|T];
    the pixel is the rounded projection minus one (the devkit's MATLAB indices made 0-based);
    points off the image are dropped; on a pixel hit twice the smaller depth stays.
    """
    def numbers(text: str) -> dict[str, np.ndarray]:
        rows = (line.split(":", 1) for line in text.splitlines() if ":" in line)
        return {key: np.array(value.split(), dtype=float) for key, value in rows
                if key not in ("calib_time",)}

    cam = numbers((calib_dir / "calib_cam_to_cam.txt").read_text())
    velo = numbers((calib_dir / "calib_velo_to_cam.txt").read_text())
    velo_to_cam = np.vstack([np.hstack([velo["R"].reshape(3, 3), velo["T"][:, None]]),
                             [0.0, 0.0, 0.0, 1.0]])
    rectify = np.eye(4)
    rectify[:3, :3] = cam["R_rect_00"].reshape(3, 3)
    velo_to_image = cam["P_rect_02"].reshape(3, 4) @ rectify @ velo_to_cam
    width, height = cam["S_rect_02"].astype(int)

    scan = np.fromfile(scan_path, dtype=np.float32).reshape(-1, 4)
    scan = scan[scan[:, 0] >= 0]
    homogeneous = scan.astype(float)
    homogeneous[:, 3] = 1.0
    image = (velo_to_image @ homogeneous.T).T
    with np.errstate(divide="ignore", invalid="ignore"):
        u = np.round(image[:, 0] / image[:, 2]) - 1
        v = np.round(image[:, 1] / image[:, 2]) - 1
    inside = (u >= 0) & (v >= 0) & (u < width) & (v < height)
    depth = np.full((height, width), np.inf)
    np.minimum.at(depth, (v[inside].astype(int), u[inside].astype(int)), scan[inside, 0])
    depth[np.isinf(depth)] = 0.0
    return depth.astype(np.float32)


def test_default_maps_equal_the_published_eigen_export_on_kitti_calibration(
    tmp_path: Path,
) -> None:
    date_dir = tmp_path / KITTI_DRIVE.split("/")[0]
    scans = tmp_path / KITTI_DRIVE / "velodyne_points" / "data"
    scans.mkdir(parents=True)
    (date_dir / "calib_cam_to_cam.txt").write_text(KITTI_CAM_TO_CAM)
    (date_dir / "calib_velo_to_cam.txt").write_text(KITTI_VELO_TO_CAM)
    rng = np.random.default_rng(2011)
    entries = [SplitEntry(KITTI_DRIVE, index, "l") for index in (0, 7, 42)]
    for entry in entries:
        _street_scan(rng).tofile(scans / f"{entry.frame_index:010d}.bin")

    maps = load_ground_truth(tmp_path, entries)
    projection, _ = velodyne_projection(date_dir)
    for entry, depth in zip(entries, maps, strict=True):
        scan_path = scans / f"{entry.frame_index:010d}.bin"
        expected = _published_export(date_dir, scan_path)
        assert depth.shape == (375, 1242) and depth.dtype == np.float32
        np.testing.assert_array_equal(depth, expected)  # no difference at all
        # The scan exercises every rule: points behind the scanner, pixels hit several times,
        # returns between scanner and camera that the x >= 0 rule keeps.
        points = np.fromfile(scan_path, dtype=np.float32).reshape(-1, 4)
        image = np.c_[points[:, :3], np.ones(len(points))] @ projection.T
        with np.errstate(divide="ignore", invalid="ignore"):
            pixel = np.round(image[:, :2] / image[:, 2:]) - 1
        seen = (points[:, 0] >= 0) & (pixel >= 0).all(1) & (pixel < [1242, 375]).all(1)
        _, hits = np.unique(pixel[seen], axis=0, return_counts=True)
        assert (points[:, 0] < 0).any() and (hits > 1).sum() > 1000
        assert (seen & (image[:, 2] <= 0)).any()
        assert np.count_nonzero(depth) > 15_000

        # The camera convention: the same returns one pixel right and down, ~0.27 m nearer.
        camera = velodyne_depth_map(tmp_path, entry, "camera")
        both = (depth[:-1, :-1] > 0) & (camera[1:, 1:] > 0)
        assert both.sum() > 0.98 * np.count_nonzero(depth)
        offset = depth[:-1, :-1][both] - camera[1:, 1:][both]
        assert 0.25 < np.median(offset) < 0.31
