"""Robot odometry turned into the camera motion Monodepth2 warps with.

A robot reports the pose of its base (REP 103: x forward, y left, z up, metres) in an odometry
frame, at its own rate and with gaps; it knows where its camera sits on the base. A training
sample needs, for every temporal source frame, the transform from the target camera to the
source camera (optical frame: x right, y down, z forward, metres), the convention of
training/geometry.py:

    T_target->source = C^-1 B_source^-1 B_target C

with B the base-to-odometry pose at each frame's timestamp (interpolated between odometry
samples) and C the camera-to-base mounting. Numpy only, so datasets stay light.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from training.datasets import DatasetError

# Frames whose stamp lies this close to an odometry sample (seconds) use it as it is.
STAMP_TOLERANCE = 1e-6
MIRROR = np.diag([-1.0, 1.0, 1.0, 1.0])  # x -> -x: a horizontally flipped camera


@dataclass(frozen=True)
class OdometryTrack:
    """Base poses over time: stamps (N, seconds, increasing) and poses (N x 4 x 4, metres)."""

    stamps: np.ndarray
    poses: np.ndarray

    def __post_init__(self) -> None:
        if len(self.stamps) != len(self.poses):
            raise ValueError(f"{len(self.stamps)} odometry stamps for {len(self.poses)} poses")
        if len(self.stamps) > 1 and np.any(np.diff(self.stamps) <= 0):
            raise ValueError("odometry stamps must increase strictly")

    def at(self, query: np.ndarray, max_gap: float) -> tuple[np.ndarray, np.ndarray]:
        """(Q x 4 x 4 poses, Q bool valid) at the `query` stamps (seconds).

        A stamp is valid when an odometry sample lies on it or when its two neighbouring samples
        are at most `max_gap` seconds apart: no extrapolation and no bridging of gaps. Between
        samples the position is linear and the rotation turns at a constant rate. Invalid stamps
        get the identity.
        """
        query = np.asarray(query, np.float64)
        poses = np.tile(np.eye(4), (len(query), 1, 1))
        valid = np.zeros(len(query), bool)
        if not len(self.stamps):
            return poses, valid
        right = np.searchsorted(self.stamps, query)
        for i, (stamp, after) in enumerate(zip(query, right, strict=True)):
            exact = [j for j in (after - 1, after) if 0 <= j < len(self.stamps)
                     and abs(self.stamps[j] - stamp) <= STAMP_TOLERANCE]
            if exact:
                poses[i], valid[i] = self.poses[exact[0]], True
            elif 0 < after < len(self.stamps):
                start, end = self.stamps[after - 1], self.stamps[after]
                if end - start <= max_gap:
                    fraction = (stamp - start) / (end - start)
                    poses[i] = interpolate(self.poses[after - 1], self.poses[after], fraction)
                    valid[i] = True
        return poses, valid


def interpolate(start: np.ndarray, end: np.ndarray, fraction: float) -> np.ndarray:
    """The 4 x 4 pose `fraction` of the way from `start` to `end` (rotation along the geodesic)."""
    turn = cv2.Rodrigues(start[:3, :3].T @ end[:3, :3])[0]
    pose = np.eye(4)
    pose[:3, :3] = start[:3, :3] @ cv2.Rodrigues(turn * fraction)[0]
    pose[:3, 3] = start[:3, 3] + fraction * (end[:3, 3] - start[:3, 3])
    return pose


def camera_motion(base_target: np.ndarray, base_source: np.ndarray,
                  camera_to_base: np.ndarray) -> np.ndarray:
    """4 x 4 target camera -> source camera (optical frames, metres) from two base poses."""
    return np.linalg.inv(camera_to_base) @ np.linalg.inv(base_source) @ base_target \
        @ camera_to_base


def mirrored(transform: np.ndarray) -> np.ndarray:
    """The same motion seen by horizontally flipped images: x negated on both sides."""
    return MIRROR @ transform @ MIRROR


def source_motions(track: OdometryTrack, target_stamp: float, source_stamps: list[float],
                   camera_to_base: np.ndarray, max_gap: float,
                   flip: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(S x 4 x 4 float32 target -> source camera transforms, S float32 valid) for one sample.

    Invalid pairs (either stamp in an odometry gap) get the identity and valid 0.
    """
    poses, valid = track.at(np.array([target_stamp, *source_stamps]), max_gap)
    transforms = np.tile(np.eye(4, dtype=np.float32), (len(source_stamps), 1, 1))
    flags = np.zeros(len(source_stamps), np.float32)
    for i in range(len(source_stamps)):
        if valid[0] and valid[i + 1]:
            motion = camera_motion(poses[0], poses[i + 1], camera_to_base)
            transforms[i] = mirrored(motion) if flip else motion
            flags[i] = 1.0
    return transforms, flags


# The odometry file of generated KITTI-layout drives --------------------------------------------

ODOMETRY_FILE = "odometry.txt"  # per drive: `stamp r00 r01 r02 t0 r10 ... t2` per line


def write_odometry(path: Path, track: OdometryTrack) -> None:
    """One sample per line: the stamp (seconds) then the top 3 x 4 of the base pose, row-major."""
    path.write_text("".join(
        f"{stamp:.6f} " + " ".join(f"{v:.12e}" for v in pose[:3].ravel()) + "\n"
        for stamp, pose in zip(track.stamps, track.poses, strict=True)))


def read_odometry(path: Path) -> OdometryTrack:
    """The OdometryTrack of an odometry file (see write_odometry); an empty file has none."""
    if not path.is_file():
        raise DatasetError(f"odometry file {path} does not exist (data.odometry is true)")
    try:
        rows = np.loadtxt(path, ndmin=2)
    except ValueError as error:
        raise DatasetError(f"{path}: {error}; expected numbers only") from None
    if rows.size and rows.shape[1] != 13:
        raise DatasetError(f"{path}: {rows.shape[1]} numbers per line; expected 13 "
                           "(stamp and the 3 x 4 base pose)")
    poses = np.tile(np.eye(4), (len(rows), 1, 1))
    if rows.size:
        poses[:, :3] = rows[:, 1:].reshape(-1, 3, 4)
    return OdometryTrack(rows[:, 0] if rows.size else np.zeros(0), poses)


def rotation_degrees(rotation: np.ndarray) -> float:
    """Degrees turned by a 3 x 3 rotation."""
    return math.degrees(math.acos(float(np.clip((np.trace(rotation) - 1.0) / 2.0, -1.0, 1.0))))
