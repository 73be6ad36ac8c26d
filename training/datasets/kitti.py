"""KITTI raw sequences (and the generator's look-alikes) for Monodepth2 training.

Layout under cfg.root: `<date>/<date>_drive_<n>_sync/image_02|image_03/data/%010d<ext>` with ext
cfg.image_ext (.png as downloaded, .jpg after the usual conversion). Split lines are
`<date>/<date>_drive_<n>_sync frame_index l|r`; l is image_02 (left colour camera), r image_03.
Ground truth, when a drive has `depth_gt/%010d.npy` (dense float32 metres for image_02, written by
the synthetic generator), is added as "depth_gt" if every target of the split has it; real KITTI
has none here (evaluation projects the velodyne scans instead).

Odometry (cfg.odometry): per drive `odometry.txt` (training/datasets/odometry.py: stamp and
vehicle pose per line) and `image_0k/timestamps.txt` (KITTI's frame times); the camera's mounting
on the vehicle comes from the date's calibration chain imu -> velodyne -> camera 0 -> rectified
camera k (calib_imu_to_velo.txt, calib_velo_to_cam.txt, calib_cam_to_cam.txt).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from training.config import DataConfig
from training.datasets import (
    KITTI_NORMALIZED_K,
    DatasetError,
    NormalizedIntrinsics,
    SplitEntry,
    read_split,
)
from training.datasets.odometry import ODOMETRY_FILE, OdometryTrack, read_odometry
from training.datasets.sequence import SequenceDataset
from training.kitti_depth import CAMERA_OF_SIDE, matrix_of, read_calib_file

CAMERA_FOLDERS = {"l": "image_02", "r": "image_03"}  # KITTI's left and right colour cameras
OTHER_SIDE = {"l": "r", "r": "l"}


class KittiRawDataset(SequenceDataset):
    has_stereo = True
    has_odometry = True

    def __init__(self, cfg: DataConfig, split_file: str | Path, train: bool):
        self.root = Path(cfg.root)
        self.image_ext = cfg.image_ext
        self._tracks: dict[str, OdometryTrack] = {}
        self._stamps: dict[tuple[str, str], np.ndarray] = {}
        self._mountings: dict[tuple[Path, str], np.ndarray] = {}
        super().__init__(cfg, read_split(split_file), train, source=str(split_file))
        if cfg.odometry:  # read every drive's files now: a missing one fails before training
            for entry in self.entries:
                self.odometry(entry)

    def odometry(self, entry: SplitEntry) -> tuple[OdometryTrack, np.ndarray, np.ndarray]:
        """(the drive's odometry, its camera's frame stamps, the camera-to-vehicle pose)."""
        if entry.folder not in self._tracks:
            self._tracks[entry.folder] = read_odometry(self.root / entry.folder / ODOMETRY_FILE)
        key = (entry.folder, entry.side)
        if key not in self._stamps:
            path = self.root / entry.folder / CAMERA_FOLDERS[entry.side] / "timestamps.txt"
            self._stamps[key] = read_kitti_timestamps(path)
        calib_dir = (self.root / entry.folder).parent
        if (calib_dir, entry.side) not in self._mountings:
            self._mountings[calib_dir, entry.side] = camera_to_vehicle(
                calib_dir, CAMERA_OF_SIDE[entry.side])
        return (self._tracks[entry.folder], self._stamps[key],
                self._mountings[calib_dir, entry.side])

    def frame_path(self, entry: SplitEntry, frame_index: int) -> Path:
        return self._image_path(entry.folder, entry.side, frame_index)

    def stereo_path(self, entry: SplitEntry) -> Path:
        return self._image_path(entry.folder, OTHER_SIDE[entry.side], entry.frame_index)

    def intrinsics(self, entry: SplitEntry) -> NormalizedIntrinsics:
        return KITTI_NORMALIZED_K

    def depth_path(self, entry: SplitEntry) -> Path | None:
        if entry.side != "l":
            return None  # ground truth is for image_02 only
        return self.root / entry.folder / "depth_gt" / f"{entry.frame_index:010d}.npy"

    def read_depth(self, path: Path) -> np.ndarray:
        return np.load(path).astype(np.float32, copy=False)

    def frame_stamp(self, entry: SplitEntry, frame_index: int) -> float:
        stamps = self.odometry(entry)[1]
        if frame_index >= len(stamps):
            raise DatasetError(f"{self.root / entry.folder}: frame {frame_index} has no "
                               f"timestamp; timestamps.txt lists {len(stamps)} frames")
        return float(stamps[frame_index])

    def camera_to_base(self, entry: SplitEntry) -> np.ndarray:
        return self.odometry(entry)[2]

    def odometry_track(self, entry: SplitEntry) -> OdometryTrack:
        return self.odometry(entry)[0]

    def _image_path(self, folder: str, side: str, frame_index: int) -> Path:
        name = f"{frame_index:010d}{self.image_ext}"
        return self.root / folder / CAMERA_FOLDERS[side] / "data" / name


def read_kitti_timestamps(path: Path) -> np.ndarray:
    """Frame times in seconds since the Unix epoch from KITTI's `YYYY-MM-DD hh:mm:ss.nnnnnnnnn`."""
    if not path.is_file():
        raise DatasetError(f"frame timestamps {path} do not exist; odometry needs them")
    lines = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    try:
        times = np.array([np.datetime64(line.replace(" ", "T"), "ns") for line in lines])
    except ValueError:
        raise DatasetError(f"{path}: a line is not `YYYY-MM-DD hh:mm:ss.nnnnnnnnn`") from None
    return (times - np.datetime64("1970-01-01T00:00:00", "ns")).astype(np.int64) / 1e9


def camera_to_vehicle(calib_dir: Path, camera: int) -> np.ndarray:
    """4 x 4 pose of rectified colour camera `camera` (optical frame) in the vehicle's IMU frame.

    The chain imu -> velodyne -> camera 0 -> rectified camera 0 -> camera k, the last a shift
    by K^-1 of P_rect_0k's fourth column (metres).
    """
    cam_path = calib_dir / "calib_cam_to_cam.txt"
    velo_path, imu_path = calib_dir / "calib_velo_to_cam.txt", calib_dir / "calib_imu_to_velo.txt"
    cam, velo, imu = (read_calib_file(path) for path in (cam_path, velo_path, imu_path))
    imu_to_velo, velo_to_cam0, rectify, rect_to_camera = (np.eye(4) for _ in range(4))
    imu_to_velo[:3, :3] = matrix_of(imu, "R", (3, 3), imu_path)
    imu_to_velo[:3, 3] = matrix_of(imu, "T", (3,), imu_path)
    velo_to_cam0[:3, :3] = matrix_of(velo, "R", (3, 3), velo_path)
    velo_to_cam0[:3, 3] = matrix_of(velo, "T", (3,), velo_path)
    rectify[:3, :3] = matrix_of(cam, "R_rect_00", (3, 3), cam_path)
    projection = matrix_of(cam, f"P_rect_{camera:02d}", (3, 4), cam_path)
    rect_to_camera[:3, 3] = np.linalg.solve(projection[:, :3], projection[:, 3])
    return np.linalg.inv(rect_to_camera @ rectify @ velo_to_cam0 @ imu_to_velo)
