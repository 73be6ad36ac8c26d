"""Recorded odometry from a true trajectory: per-step distance and heading noise, drift, gaps.

Seeded through the caller's generator, so the same seed gives the same bytes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from training.datasets.odometry import OdometryTrack


@dataclass(frozen=True)
class OdometryNoise:
    """How recorded odometry departs from the true motion; all zero gives the truth.

    Each odometry step's travelled distance is scaled by 1 + N(0, distance); its heading turns
    by N(0, heading) plus a per-recording drift (a rate drawn once from N(0, heading_drift), in
    radians per metre travelled, like a wheel slightly larger than the other). Gaps: each sample
    starts a run of `gap_samples` missing samples with probability `gap_rate`.
    """

    distance: float = 0.0  # relative standard deviation of each step's distance
    heading: float = 0.0  # radians, standard deviation of each step's heading error
    heading_drift: float = 0.0  # radians per metre, standard deviation of the drift rate
    gap_rate: float = 0.0  # chance per sample that a gap starts there
    gap_samples: tuple[int, int] = (2, 8)  # shortest and longest gap, samples


# Wheel odometry of a car: 3 % distance noise per step, 0.05 deg heading noise, a heading drift of
# the order of 2 deg per 100 m, a gap (0.1-0.4 s) every ~2.5 s on average.
STREET_ODOMETRY_NOISE = OdometryNoise(0.03, math.radians(0.05), math.radians(0.02), 0.02)
# Wheel odometry of a small differential-drive robot: 2 % distance noise per step, 0.1 deg heading
# noise, drift of the order of 0.5 deg per metre (wheel slip), a gap every ~5 s on average.
ROBOT_ODOMETRY_NOISE = OdometryNoise(0.02, math.radians(0.1), math.radians(0.5), 0.01)


def noisy_odometry(truth: list[np.ndarray], start: float, rate: float,
                   rng: np.random.Generator, noise: OdometryNoise) -> OdometryTrack:
    """Integrate the true base poses' steps with OdometryNoise; drop the samples in gaps.

    `truth` are base poses (x forward, y left, z up) `1 / rate` seconds apart from `start`.
    """
    count = len(truth)
    scale = 1.0 + noise.distance * rng.standard_normal(count)
    heading = noise.heading * rng.standard_normal(count)
    drift = noise.heading_drift * rng.standard_normal()
    gap_starts = rng.random(count) < noise.gap_rate
    gap_lengths = rng.integers(noise.gap_samples[0], noise.gap_samples[1] + 1, count)
    poses, keep = [truth[0].copy()], np.ones(count, bool)
    for i in range(1, count):
        step = np.linalg.inv(truth[i - 1]) @ truth[i]
        distance = float(np.linalg.norm(step[:3, 3]))
        step[:3, 3] *= scale[i]
        yaw = heading[i] + drift * distance
        turn = np.eye(4)
        turn[:2, :2] = [[math.cos(yaw), -math.sin(yaw)], [math.sin(yaw), math.cos(yaw)]]
        poses.append(poses[-1] @ step @ turn)
        if gap_starts[i]:
            keep[i:i + gap_lengths[i]] = False
    stamps = start + np.arange(count) / rate
    return OdometryTrack(stamps[keep], np.array(poses)[keep])
