"""KITTI ground-truth depth: velodyne scans projected into a rectified colour camera.

Frames and files (KITTI raw layout, paths relative to the dataset root):
    <date>/calib_cam_to_cam.txt   P_rect_0k (3 x 4, pixels), R_rect_00 (3 x 3), S_rect_0k (W H)
    <date>/calib_velo_to_cam.txt  R (3 x 3), T (3, metres): velodyne frame -> camera 0 frame
    <drive>/velodyne_points/data/%010d.bin  float32 rows (x fwd, y left, z up, reflectance)
A velodyne point X maps to pixels by P_rect_0k @ R_rect_00 (4 x 4) @ [R | T] (4 x 4) @ X. The map
has the camera's full rectified size (S_rect), is 0 where no point landed, and where several
points land on one pixel the nearest (smallest depth) wins. Two conventions:

    published  the Eigen-split ground truth every Monodepth2 number is scored against
               (`gt_depths.npz` of the reference export): depth is the velodyne x, the forward
               distance from the scanner, which sits about 0.27 m behind KITTI's cameras; points
               with x >= 0 are projected; a point lands on round(u) - 1, round(v) - 1, the
               devkit's 1-based (MATLAB) pixel turned 0-based. The default: benchmark numbers
               computed with it compare with the paper's tables.
    camera     the camera's own geometry: depth is z along the optical axis, points with z > 0
               are projected and land on round(u), round(v), the project's pixel convention
               (column u centred at x = u, 0-based). On the generator's drives this equals
               their dense depth_gt wherever a point landed.

The two hold the same returns one column and one row apart, and `published` depths are about
0.27 m longer: a few per cent at street distances, more on the nearest returns.
"""

from __future__ import annotations

import io
import logging
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from depth_ros.atomic_files import write_bytes
from training.datasets import SplitEntry

logger = logging.getLogger(__name__)

CAMERA_OF_SIDE = {"l": 2, "r": 3}  # split side -> KITTI colour camera number
CACHE_FORMAT = "depth_ros-gt-v2"  # bump when the way maps are computed changes

CONVENTIONS = ("published", "camera")  # see the module docstring
DEFAULT_CONVENTION = "published"

# (velodyne -> pixels matrix, (H, W)) of one camera, as velodyne_projection returns it
Projection = tuple[np.ndarray, tuple[int, int]]


class CalibrationError(ValueError):
    """A KITTI calibration file lacks a matrix or has one of the wrong size."""


def read_calib_file(path: str | Path) -> dict[str, np.ndarray]:
    """Parse `key: numbers` lines into float64 arrays, skipping non-numeric ones (calib_time)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"calibration file {path} does not exist")
    values: dict[str, np.ndarray] = {}
    for line in path.read_text().splitlines():
        key, sep, text = line.partition(":")
        if not sep:
            continue
        try:
            values[key.strip()] = np.array([float(v) for v in text.split()], dtype=np.float64)
        except ValueError:
            continue  # e.g. "calib_time: 09-Jan-2012 13:57:47"
    return values


def matrix_of(
    calib: dict[str, np.ndarray], key: str, shape: tuple[int, ...], path: Path
) -> np.ndarray:
    """`calib[key]` (as read_calib_file returns it from `path`) reshaped to `shape`."""
    if key not in calib:
        raise CalibrationError(f"{path} has no {key!r}; expected a {shape} matrix")
    if calib[key].size != int(np.prod(shape)):
        raise CalibrationError(
            f"{path}: {key} has {calib[key].size} numbers; expected {int(np.prod(shape))} {shape}"
        )
    return calib[key].reshape(shape)


def velodyne_projection(
    calib_dir: str | Path, camera: int = 2
) -> tuple[np.ndarray, tuple[int, int]]:
    """(3 x 4 matrix: velodyne metres -> homogeneous pixels of `camera`, (H, W) of its image)."""
    calib_dir = Path(calib_dir)
    cam_path = calib_dir / "calib_cam_to_cam.txt"
    velo_path = calib_dir / "calib_velo_to_cam.txt"
    cam_to_cam = read_calib_file(cam_path)
    velo_to_cam = read_calib_file(velo_path)

    velo_to_cam0 = np.eye(4)
    velo_to_cam0[:3, :3] = matrix_of(velo_to_cam, "R", (3, 3), velo_path)
    velo_to_cam0[:3, 3] = matrix_of(velo_to_cam, "T", (3,), velo_path)
    rectify = np.eye(4)
    rectify[:3, :3] = matrix_of(cam_to_cam, "R_rect_00", (3, 3), cam_path)
    p_rect = matrix_of(cam_to_cam, f"P_rect_{camera:02d}", (3, 4), cam_path)
    width, height = matrix_of(cam_to_cam, f"S_rect_{camera:02d}", (2,), cam_path)
    return p_rect @ rectify @ velo_to_cam0, (round(float(height)), round(float(width)))


def load_velodyne_points(path: str | Path) -> np.ndarray:
    """N x 4 float32 (x fwd, y left, z up in metres, reflectance) from a KITTI `.bin` scan."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"velodyne scan {path} does not exist")
    raw = np.fromfile(path, dtype=np.float32)
    if raw.size % 4:
        raise ValueError(f"velodyne scan {path} has {raw.size} floats; expected a multiple of 4")
    return raw.reshape(-1, 4)


def check_convention(convention: str) -> None:
    """Raise ValueError naming `convention` unless it is one of CONVENTIONS."""
    if convention not in CONVENTIONS:
        raise ValueError(
            f"velodyne ground-truth convention {convention!r} unknown; expected one of "
            f"{', '.join(CONVENTIONS)}"
        )


def project_to_depth_map(
    points: np.ndarray,
    projection: np.ndarray,
    image_shape: tuple[int, int],
    convention: str = DEFAULT_CONVENTION,
) -> np.ndarray:
    """Sparse H x W float32 depth (metres, 0 = no point) of N x 3+ velodyne points.

    `convention` (see the module docstring) picks the depth (velodyne x or camera z), the points
    kept and the pixel rounding; points outside the image are dropped and the nearest point wins
    each pixel.
    """
    check_convention(convention)
    height, width = image_shape
    homogeneous = np.concatenate([points[:, :3].astype(np.float64), np.ones((len(points), 1))], 1)
    projected = homogeneous @ projection.T  # N x 3: (u z, v z, z)
    if convention == "published":
        front = homogeneous[:, 0] >= 0
        depth = homogeneous[front, 0]
        shift = 1  # the devkit's 1-based pixels
    else:
        front = projected[:, 2] > 0
        depth = projected[front, 2]
        shift = 0
    projected = projected[front]
    with np.errstate(divide="ignore", invalid="ignore"):  # published: z may be 0 for x >= 0
        cols = np.round(projected[:, 0] / projected[:, 2]) - shift
        rows = np.round(projected[:, 1] / projected[:, 2]) - shift
    inside = (cols >= 0) & (cols < width) & (rows >= 0) & (rows < height)
    flat = rows[inside].astype(np.int64) * width + cols[inside].astype(np.int64)
    depth = depth[inside]

    # Sort by pixel, then by depth: the first entry of each pixel's run is its nearest point.
    order = np.lexsort((depth, flat))
    pixels, first = np.unique(flat[order], return_index=True)
    depth_map = np.zeros(height * width, dtype=np.float32)
    depth_map[pixels] = depth[order][first]
    return depth_map.reshape(height, width)


def velodyne_scan_path(root: str | Path, entry: SplitEntry) -> Path:
    """The velodyne `.bin` scan taken with a split entry's frame (it may not exist)."""
    return Path(root) / entry.folder / "velodyne_points" / "data" / f"{entry.frame_index:010d}.bin"


def velodyne_depth_map(
    root: str | Path,
    entry: SplitEntry,
    convention: str = DEFAULT_CONVENTION,
    projections: dict[tuple[Path, int], Projection] | None = None,
) -> np.ndarray:
    """Ground-truth depth (metres, 0 unknown) of one split entry, at the camera's full size.

    `projections` keeps each (calibration folder, camera)'s projection across calls, so a split
    parses its drives' calibration files once rather than once per frame.
    """
    key = ((Path(root) / entry.folder).parent, CAMERA_OF_SIDE[entry.side])
    if projections is None:
        projection, shape = velodyne_projection(*key)
    else:
        if key not in projections:
            projections[key] = velodyne_projection(*key)
        projection, shape = projections[key]
    points = load_velodyne_points(velodyne_scan_path(root, entry))
    return project_to_depth_map(points, projection, shape, convention)


def load_ground_truth(
    root: str | Path,
    entries: Sequence[SplitEntry],
    cache: str | Path | None = None,
    convention: str = DEFAULT_CONVENTION,
) -> list[np.ndarray]:
    """Velodyne ground-truth maps (metres, 0 unknown) of every entry, through an .npz cache.

    Projecting a KITTI test split takes a while, so the maps can be kept in `cache`; the file
    remembers the entries and options it was built for, and a cache for anything else is rebuilt
    rather than trusted (including one made with another `convention`).
    """
    check_convention(convention)
    keys = np.array([f"{e.folder} {e.frame_index} {e.side}" for e in entries])
    tag = f"{CACHE_FORMAT} {convention}"
    if cache is not None and Path(cache).is_file():
        try:
            with np.load(cache) as stored:
                if str(stored["tag"]) == tag and np.array_equal(stored["entries"], keys):
                    logger.info("ground truth of %d images read from cache %s", len(keys), cache)
                    return [stored[f"gt_{i:06d}"] for i in range(len(keys))]
            logger.warning("ground-truth cache %s was built for other entries or another "
                           "convention; rebuilding", cache)
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as error:
            logger.warning("ground-truth cache %s cannot be read (%s: %s); rebuilding it", cache,
                           type(error).__name__, error)

    projections: dict[tuple[Path, int], Projection] = {}
    maps = [velodyne_depth_map(root, entry, convention, projections) for entry in entries]
    if cache is not None:
        arrays: dict[str, Any] = {f"gt_{i:06d}": m for i, m in enumerate(maps)}
        packed = io.BytesIO()
        np.savez_compressed(packed, tag=np.array(tag), entries=keys, **arrays)
        write_bytes(cache, packed.getvalue())
        logger.info("ground truth of %d images cached in %s", len(keys), cache)
    return maps
