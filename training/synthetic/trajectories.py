"""Camera paths through the scenes: 4 x 4 camera-to-world poses (metres, world y down)."""

from __future__ import annotations

import math

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
