"""Street drives in the KITTI raw layout (training/datasets/kitti.py).

Per drive `<date>/<date>_drive_<n>_sync/`: image_02|image_03/data/%010d.png and timestamps.txt,
velodyne_points/data/%010d.bin, depth_gt/%010d.npy, poses.txt and odometry.txt; per date the
calibration files in KITTI's text format.

Frames (metres, right-handed):
    camera          the rectified image_02 camera, optical axes; image_03 is 0.54 m to its right
    velodyne        x forward, y left, z up; 0.08 m above and 0.27 m behind camera 0 as in KITTI
    vehicle (IMU)   x forward, y left, z up; KITTI's IMU-to-velodyne offset (calib_imu_to_velo)
    odometry.txt    per sample the stamp (s) and the vehicle's pose in the odometry frame (the
                    vehicle at frame 0), training/datasets/odometry.py's format
"""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import ArrayLike
from tqdm import tqdm

from training.datasets import KITTI_NORMALIZED_K
from training.datasets.odometry import ODOMETRY_FILE, OdometryTrack, interpolate, write_odometry
from training.synthetic.odometry import STREET_ODOMETRY_NOISE, OdometryNoise, noisy_odometry
from training.synthetic.rendering import render_view
from training.synthetic.scene import outdoor_scene
from training.synthetic.sequence_files import (
    GenerationSummary,
    check_arguments,
    pixel_matrix,
    write_image,
    write_poses,
    write_splits,
)
from training.synthetic.trajectories import outdoor_trajectory

STEREO_BASELINE = 0.54  # metres from the left (image_02) to the right (image_03) camera
OUTDOOR_DATE = "2000_01_01"  # the KITTI "date" folder of generated drives (clearly not real)
LIDAR_MAX_RANGE = 120.0  # metres, the HDL-64E's reach; farther surfaces give no return
# HDL-64E beam elevations in degrees: upper block +2..-8.33, lower block -8.83..-24.33.
LIDAR_ELEVATIONS = np.concatenate([np.linspace(2.0, -8.33, 32), np.linspace(-8.83, -24.33, 32)])
# KITTI-like rig in the rectified camera-0 frame: camera centres (x right) and calibration.
CAMERA_CENTRES = {
    0: (0.0, 0.0, 0.0), 1: (0.54, 0.0, 0.0), 2: (-0.06, 0.0, 0.0), 3: (0.48, 0.0, 0.0)
}
R_RECT_00 = cv2.Rodrigues(np.array([0.0021, -0.0043, 0.0012]))[0]  # ~0.3 deg, like KITTI's
VELO_TO_CAM_R = cv2.Rodrigues(np.array([-0.0015, 0.0032, 0.0009]))[0] @ np.array(
    [[0.0, -1.0, 0.0], [0.0, 0.0, -1.0], [1.0, 0.0, 0.0]]  # x fwd, y left, z up -> optical
)
VELO_TO_CAM_T = np.array([0.0, -0.08, -0.27])  # velodyne origin in camera-0 coordinates
# The vehicle's base (KITTI's IMU: x fwd, y left, z up) in velodyne coordinates, as in KITTI.
IMU_TO_VELO_R = cv2.Rodrigues(np.array([0.0008, -0.0012, 0.0005]))[0]
IMU_TO_VELO_T = np.array([-0.81, 0.32, -0.80])
FRAME_RATE = 10.0  # Hz, the camera (KITTI's)
ODOMETRY_RATE = 20.0  # Hz, the vehicle's odometry; samples fall on frames and halfway between
OUTDOOR_EPOCH = "2000-01-01 00:00:00"  # time of frame 0 of every drive (seconds 946684800)
OUTDOOR_EPOCH_SECONDS = 946684800.0


def generate_outdoor(out_dir: str | Path, sequences: int = 3, frames: int = 100,
                     width: int = 416, height: int = 128, seed: int = 0,
                     progress: bool = False,
                     odometry_noise: OdometryNoise | None = None) -> GenerationSummary:
    """Write street drives in the KITTI raw layout under `out_dir` (see the module docstring).

    Per drive `<date>/<date>_drive_<n>_sync/`: image_02|image_03/data/%010d.png and
    timestamps.txt, velodyne_points/data/%010d.bin, depth_gt/%010d.npy (image_02 depth, float32
    metres, 0 = sky), poses.txt, odometry.txt (noisy vehicle odometry, `odometry_noise`, default
    STREET_ODOMETRY_NOISE); per date calib_cam_to_cam.txt, calib_velo_to_cam.txt and
    calib_imu_to_velo.txt.
    """
    odometry_noise = STREET_ODOMETRY_NOISE if odometry_noise is None else odometry_noise
    start, out = time.perf_counter(), Path(out_dir)
    check_arguments(sequences, frames, width, height)
    k = pixel_matrix(KITTI_NORMALIZED_K, width, height)
    date_dir = out / OUTDOOR_DATE
    date_dir.mkdir(parents=True, exist_ok=True)
    write_kitti_calibration(date_dir, k, width, height)
    right_of_left = np.eye(4)
    right_of_left[0, 3] = STEREO_BASELINE
    folders = []
    with tqdm(total=sequences * frames, desc="outdoor", unit="frame", disable=not progress) as bar:
        for sequence in range(sequences):
            rng = np.random.default_rng([seed, 0, sequence])
            poses = outdoor_trajectory(rng, frames)
            scene = outdoor_scene(rng, poses[0][2, 3], poses[-1][2, 3])
            folder = f"{OUTDOOR_DATE}/{OUTDOOR_DATE}_drive_{sequence + 1:04d}_sync"
            drive = out / folder
            for name in ("image_02/data", "image_03/data", "velodyne_points/data", "depth_gt"):
                (drive / name).mkdir(parents=True, exist_ok=True)
            for index, pose in enumerate(poses):
                rgb, depth = render_view(scene, pose, k, width, height)
                right, _ = render_view(scene, pose @ right_of_left, k, width, height)
                name = f"{index:010d}"
                write_image(drive / "image_02" / "data" / f"{name}.png", rgb)
                write_image(drive / "image_03" / "data" / f"{name}.png", right)
                np.save(drive / "depth_gt" / f"{name}.npy", depth)
                points = velodyne_scan(rgb, depth, k)
                points.tofile(drive / "velodyne_points" / "data" / f"{name}.bin")
                bar.update()
            write_poses(drive / "poses.txt", poses)
            for camera in ("image_02", "image_03"):
                write_kitti_timestamps(drive / camera / "timestamps.txt", frames)
            noise_rng = np.random.default_rng([seed, 2, sequence])
            write_odometry(drive / ODOMETRY_FILE,
                           vehicle_odometry(poses, noise_rng, odometry_noise))
            folders.append(folder)
    sizes = write_splits(out / "splits", folders, frames, train_sides=("l", "r"))
    return GenerationSummary("outdoor", out, sequences, frames, width, height, sizes,
                             time.perf_counter() - start)


def velodyne_scan(rgb: np.ndarray, depth: np.ndarray, k: np.ndarray) -> np.ndarray:
    """N x 4 float32 (x fwd, y left, z up, reflectance) velodyne points seen by image_02.

    A 64-beam pattern: each beam is the pixel row at its elevation, sampled at every column, so
    every point is an exact surface hit that projects back onto a pixel centre of image_02.
    """
    height, width = depth.shape
    rows = np.unique(np.rint(k[1, 2] - k[1, 1] * np.tan(np.radians(LIDAR_ELEVATIONS))))
    rows = rows[(rows >= 0) & (rows < height)].astype(int)
    v, u = np.meshgrid(rows, np.arange(width), indexing="ij")
    z = depth[v, u].astype(float)
    camera2 = np.stack([(u - k[0, 2]) / k[0, 0] * z, (v - k[1, 2]) / k[1, 1] * z, z], -1)
    rect0 = camera2 + np.array(CAMERA_CENTRES[2])  # rectified camera-0 frame
    camera0 = rect0 @ R_RECT_00  # R_rect^T X, as row vectors
    velodyne = (camera0 - VELO_TO_CAM_T) @ VELO_TO_CAM_R  # R^T (X - T)
    reflectance = rgb[v, u].mean(axis=-1) / 255.0
    keep = (z > 0) & (np.linalg.norm(velodyne, axis=-1) < LIDAR_MAX_RANGE)
    points = np.concatenate([velodyne[keep], reflectance[keep][:, None]], axis=1)
    return points.astype(np.float32)


def write_kitti_calibration(date_dir: Path, k: np.ndarray, width: int, height: int) -> None:
    """calib_cam_to_cam.txt and calib_velo_to_cam.txt in KITTI's `key: numbers` text format.

    P_rect_0i = K [I | -c_i] with c_i the camera centre in the rectified camera-0 frame, so
    P_rect_02 @ R_rect_00 @ [R | T] maps velodyne points onto image_02 pixels.
    """
    def numbers(values: ArrayLike) -> str:
        return " ".join(f"{value:.12e}" for value in np.asarray(values, float).ravel())

    lines = ["calib_time: 01-Jan-2000 00:00:00", f"corner_dist: {numbers([0.0995])}"]
    for camera, centre in CAMERA_CENTRES.items():
        projection = np.hstack([k, -k @ np.array(centre)[:, None]])
        lines += [
            f"S_{camera:02d}: {numbers([width, height])}",
            f"K_{camera:02d}: {numbers(k)}",
            f"D_{camera:02d}: {numbers(np.zeros(5))}",
            f"R_{camera:02d}: {numbers(np.eye(3))}",
            f"T_{camera:02d}: {numbers(0.0 - np.array(centre))}",
            f"S_rect_{camera:02d}: {numbers([width, height])}",
            f"R_rect_{camera:02d}: {numbers(R_RECT_00)}",
            f"P_rect_{camera:02d}: {numbers(projection)}",
        ]
    (date_dir / "calib_cam_to_cam.txt").write_text("\n".join(lines) + "\n")
    (date_dir / "calib_velo_to_cam.txt").write_text("\n".join([
        "calib_time: 01-Jan-2000 00:00:00",
        f"R: {numbers(VELO_TO_CAM_R)}",
        f"T: {numbers(VELO_TO_CAM_T)}",
        f"delta_f: {numbers([0.0, 0.0])}",
        f"delta_c: {numbers([0.0, 0.0])}",
    ]) + "\n")
    (date_dir / "calib_imu_to_velo.txt").write_text("\n".join([
        "calib_time: 01-Jan-2000 00:00:00",
        f"R: {numbers(IMU_TO_VELO_R)}",
        f"T: {numbers(IMU_TO_VELO_T)}",
    ]) + "\n")


def write_kitti_timestamps(path: Path, frames: int) -> None:
    """KITTI's `YYYY-MM-DD hh:mm:ss.nnnnnnnnn` per frame, FRAME_RATE apart from OUTDOOR_EPOCH."""
    lines = []
    for frame in range(frames):
        nanoseconds = round(frame * 1e9 / FRAME_RATE)
        minutes, seconds = divmod(nanoseconds // 10**9, 60)
        fraction = nanoseconds % 10**9
        lines.append(f"{OUTDOOR_EPOCH[:11]}{minutes // 60:02d}:{minutes % 60:02d}:{seconds:02d}"
                     f".{fraction:09d}\n")
    path.write_text("".join(lines))


def camera_to_vehicle(camera: int = 2) -> np.ndarray:
    """4 x 4 pose of rectified camera `camera` in the vehicle (IMU) frame, from the rig above."""
    imu_to_velo, velo_to_cam0, rectify = np.eye(4), np.eye(4), np.eye(4)
    imu_to_velo[:3, :3], imu_to_velo[:3, 3] = IMU_TO_VELO_R, IMU_TO_VELO_T
    velo_to_cam0[:3, :3], velo_to_cam0[:3, 3] = VELO_TO_CAM_R, VELO_TO_CAM_T
    rectify[:3, :3] = R_RECT_00
    rect_to_camera = np.eye(4)
    rect_to_camera[:3, 3] = -np.array(CAMERA_CENTRES[camera])
    return np.linalg.inv(rect_to_camera @ rectify @ velo_to_cam0 @ imu_to_velo)


def vehicle_odometry(camera_poses: list[np.ndarray], rng: np.random.Generator,
                     noise: OdometryNoise) -> OdometryTrack:
    """Noisy vehicle odometry at ODOMETRY_RATE for a drive whose image_02 poses are given.

    The true vehicle poses follow from the camera's through camera_to_vehicle (samples between
    frames are interpolated); the odometry frame is the vehicle at frame 0. Stamps are in
    seconds since the Unix epoch, on the clock of the frames' timestamps.
    """
    vehicle_of_camera = np.linalg.inv(camera_to_vehicle(2))
    truth = [pose @ vehicle_of_camera for pose in camera_poses]
    per_frame = round(ODOMETRY_RATE / FRAME_RATE)
    samples = [truth[0]] + [interpolate(truth[k - 1], truth[k], step / per_frame)
                            for k in range(1, len(truth)) for step in range(1, per_frame + 1)]
    origin = np.linalg.inv(samples[0])
    samples = [origin @ pose for pose in samples]
    return noisy_odometry(samples, OUTDOOR_EPOCH_SECONDS, ODOMETRY_RATE, rng, noise)
