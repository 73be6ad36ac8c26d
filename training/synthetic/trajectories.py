"""Paths through the scenes: 4 x 4 camera-to-world poses (metres, world y down), and the ground
robot's base path in its odometry frame (REP 103: x forward, y left, z up)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


def _pose(position: np.ndarray, yaw: float, pitch: float = 0.0, roll: float = 0.0) -> np.ndarray:
    """4 x 4 camera-to-world: yaw about world y (down; + turns right), then pitch (+ up), roll."""
    cy, sy, cp, sp, cr, sr = (math.cos(yaw), math.sin(yaw), math.cos(pitch), math.sin(pitch),
                              math.cos(roll), math.sin(roll))
    r_yaw = np.array([[cy, 0.0, sy], [0.0, 1.0, 0.0], [-sy, 0.0, cy]])
    r_pitch = np.array([[1.0, 0.0, 0.0], [0.0, cp, -sp], [0.0, sp, cp]])
    r_roll = np.array([[cr, -sr, 0.0], [sr, cr, 0.0], [0.0, 0.0, 1.0]])
    pose = np.eye(4)
    pose[:3, :3] = r_yaw @ r_pitch @ r_roll
    pose[:3, 3] = position
    return pose


def outdoor_trajectory(rng: np.random.Generator, frames: int) -> list[np.ndarray]:
    """Driving in the right lane: 0.6-1 m per frame, yaw swaying by 1-3 degrees."""
    speed, amplitude = rng.uniform(0.6, 1.0), math.radians(rng.uniform(1.0, 3.0))
    period, phase = rng.uniform(30.0, 60.0), rng.uniform(0.0, 2.0 * math.pi)
    position, poses = np.array([1.75, 0.0, 0.0]), []
    for k in range(frames):
        yaw = amplitude * math.sin(2.0 * math.pi * k / period + phase)
        poses.append(_pose(position.copy(), yaw))
        position += speed * np.array([math.sin(yaw), 0.0, math.cos(yaw)])
    return poses


def indoor_trajectory(rng: np.random.Generator, frames: int, radius: float) -> list[np.ndarray]:
    """Hand-held: a slow loop (~8 cm per frame) inside `radius`, panning and tilting gently."""
    loop = rng.uniform(0.3, max(0.31, min(0.7, radius)))
    step, phase = 0.08 / loop, rng.uniform(0.0, 2.0 * math.pi)
    yaw0, pan = rng.uniform(0.0, 2.0 * math.pi), rng.uniform(0.004, 0.012)
    poses = []
    for k in range(frames):
        angle = phase + step * k
        position = np.array([loop * math.sin(angle), 0.05 * math.sin(k / 23.0),
                             -loop * math.cos(angle)])
        yaw = yaw0 + pan * k + 0.5 * math.sin(k / 40.0)
        pitch = -0.1 + 0.08 * math.sin(k / 31.0)
        poses.append(_pose(position, yaw, pitch, 0.03 * math.sin(k / 17.0)))
    return poses


@dataclass(frozen=True)
class RobotPath:
    """A ground robot driving a figure of eight on the floor, with one stop on the way.

    The figure spans `half_x` and `half_z` metres (world x and z) around the room centre; the
    robot drives at `speed` m/s along it, heading along the path, and stands still for
    `stop_duration` seconds from `stop_time`.
    """

    half_x: float
    half_z: float
    speed: float  # metres per second
    stop_time: float  # seconds from the start
    stop_duration: float  # seconds
    phase: float  # where on the figure (radians of its parameter) the robot starts

    def travelled(self, time: float) -> float:
        """Metres along the path after `time` seconds."""
        moving = min(time, self.stop_time) + max(0.0, time - self.stop_time - self.stop_duration)
        return self.speed * moving

    def base_pose(self, time: float) -> np.ndarray:
        """4 x 4 base_link pose (REP 103, on the floor) at `time` in the room's floor frame:
        origin on the floor under the world origin, axes WORLD_FROM_FLOOR."""
        position, heading = self._on_figure(self.travelled(time))
        return _base_pose(position, heading)

    def _on_figure(self, distance: float) -> tuple[np.ndarray, np.ndarray]:
        """World (x, z) point and unit direction `distance` metres from the start."""
        u = np.linspace(0.0, 2.0 * math.pi, 4097) + self.phase
        points = np.stack([self.half_x * np.sin(u), self.half_z * np.sin(2.0 * u)], 1)
        lengths = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(points, axis=0),
                                                                  axis=1))])
        along = distance % lengths[-1]
        at = float(np.interp(along, lengths, u))
        point = np.array([self.half_x * math.sin(at), self.half_z * math.sin(2.0 * at)])
        tangent = np.array([self.half_x * math.cos(at), 2.0 * self.half_z * math.cos(2.0 * at)])
        return point, tangent / np.linalg.norm(tangent)


# World axes (y down, the renderer's) of the room's floor frame (REP 103, z up), whose origin is
# on the floor under the world origin: floor x = world z, y = world -x, z = world -y.
WORLD_FROM_FLOOR = np.array([[0.0, -1.0, 0.0], [0.0, 0.0, -1.0], [1.0, 0.0, 0.0]])


def robot_path(rng: np.random.Generator, clear_x: float, clear_z: float,
               duration: float) -> RobotPath:
    """A figure of eight within +-clear_x, +-clear_z metres, 0.4-0.6 m/s, stopping 1.5-2.5 s."""
    stop_time = rng.uniform(0.35, 0.55) * duration
    return RobotPath(half_x=clear_x, half_z=clear_z, speed=rng.uniform(0.4, 0.6),
                     stop_time=stop_time, stop_duration=rng.uniform(1.5, 2.5),
                     phase=rng.uniform(0.0, 2.0 * math.pi))


def _base_pose(point: np.ndarray, direction: np.ndarray) -> np.ndarray:
    """Base pose in the floor frame from a world (x, z) floor point and heading."""
    pose = np.eye(4)
    yaw = math.atan2(-direction[0], direction[1])  # floor x = world z, floor y = -world x
    pose[:2, :2] = [[math.cos(yaw), -math.sin(yaw)], [math.sin(yaw), math.cos(yaw)]]
    pose[:3, 3] = [point[1], -point[0], 0.0]
    return pose
