"""MetricScaler: constant modes, and the ground-plane RANSAC on synthetic road depth."""

from __future__ import annotations

import logging
import math
import re
from pathlib import Path

import numpy as np
import pytest

from depth_ros.camera import PinholeIntrinsics
from depth_ros.scale import GroundPlaneConfig, MetricScaler, ScaleMode, fit_ground_plane
from harness.onnx_models import ground_normal, ground_plane_depth, make_contract, plane_depth

HEIGHT_M = 1.65  # KITTI camera height above the road
CAMERA = PinholeIntrinsics.from_normalized(0.58, 1.92, 0.5, 0.5, 416, 128)  # KITTI at 416 x 128


def road_frame(
    metres_per_unit: float, seed: int = 0, pitch_deg: float = 2.0, noise: float = 0.02
) -> np.ndarray:
    """Model-unit depth of a flat road seen from HEIGHT_M, with 2% multiplicative noise, a car
    (a fronto-parallel box at 9 m), 15% random outliers and some unknown pixels."""
    rng = np.random.default_rng(seed)
    depth = ground_plane_depth(CAMERA, HEIGHT_M, pitch_deg).astype(np.float64)
    depth *= 1.0 + noise * rng.standard_normal(depth.shape)
    depth[50:100, 150:260] = 9.0  # the back of a car
    outliers = rng.random(depth.shape) < 0.15
    depth[outliers] = rng.uniform(1.0, 80.0, outliers.sum())
    depth[rng.random(depth.shape) < 0.05] = np.nan
    return (depth / metres_per_unit).astype(np.float32)


def test_fit_ground_plane_recovers_normal_and_distance() -> None:
    rng = np.random.default_rng(1)
    normal = np.array(ground_normal(5.0))
    # points on the plane n . X = 2.0 in front of the camera, plus 30% clutter
    z = rng.uniform(3.0, 30.0, 2000)
    x = rng.uniform(-8.0, 8.0, 2000)
    y = (2.0 - normal[2] * z - normal[0] * x) / normal[1]
    points = np.stack([x, y, z], axis=1)
    points += rng.normal(0.0, 0.01, points.shape)
    points[:600] = rng.uniform([-10, -5, 2], [10, 2, 40], (600, 3))
    plane = fit_ground_plane(points, np.random.default_rng(0))
    assert plane is not None
    assert plane.distance == pytest.approx(2.0, rel=0.01)
    assert np.degrees(np.arccos(np.dot(plane.normal, normal))) < 0.5
    assert plane.tilt_deg == pytest.approx(5.0, abs=0.5)
    assert 0.6 < plane.inlier_ratio < 0.8


@pytest.mark.parametrize("metres_per_unit", [0.2, 5.4, 31.0])
def test_ground_plane_recovers_a_known_scale(metres_per_unit: float) -> None:
    scaler = MetricScaler(ScaleMode.GROUND_PLANE, camera_height=HEIGHT_M)
    factor = scaler.update(road_frame(metres_per_unit), CAMERA)
    assert factor == pytest.approx(metres_per_unit, rel=0.05)
    estimate = scaler.estimate
    assert estimate.valid and estimate.metric
    assert estimate.raw_factor == factor  # first estimate: nothing to smooth with
    assert estimate.inlier_ratio > 0.6


def test_ground_plane_is_deterministic_per_seed() -> None:
    first = MetricScaler("ground_plane").update(road_frame(5.4, seed=3), CAMERA)
    second = MetricScaler("ground_plane").update(road_frame(5.4, seed=3), CAMERA)
    assert first == second


def test_a_wall_is_not_ground() -> None:
    """A fronto-parallel wall fills the lower image: its normal is the z axis, so no estimate."""
    wall = plane_depth(CAMERA, (0.0, 0.0, 1.0), 4.0)
    scaler = MetricScaler("ground_plane", contract=make_contract(metres_per_unit=5.4))
    assert scaler.update(wall, CAMERA) == 5.4  # the contract's factor until a plane is seen
    assert not scaler.estimate.valid and not scaler.estimate.metric
    assert "no ground plane" in scaler.estimate.status


def test_tilt_tolerance() -> None:
    """Ground seen by a camera rolled 35 degrees: rejected at 25 degrees tolerance, found at 40."""
    roll = math.radians(35.0)
    rolled = plane_depth(CAMERA, (math.sin(roll), math.cos(roll), 0.02), HEIGHT_M, far=80.0)
    strict = MetricScaler("ground_plane")
    strict.update(rolled / 2.0, CAMERA)
    assert not strict.estimate.valid
    loose = MetricScaler("ground_plane", ground=GroundPlaneConfig(max_tilt_deg=40.0))
    assert loose.update(rolled / 2.0, CAMERA) == pytest.approx(2.0, rel=0.02)


def test_smoothing_jump_rejection_and_restart() -> None:
    config = GroundPlaneConfig(smoothing=0.25, max_jump=0.3, reset_after=3)
    scaler = MetricScaler("ground_plane", ground=config)
    clean = ground_plane_depth(CAMERA, HEIGHT_M, 2.0)
    assert scaler.update(clean / 4.0, CAMERA) == pytest.approx(4.0, rel=1e-3)
    assert scaler.update(clean / 4.4, CAMERA) == pytest.approx(4.1, rel=1e-3)  # 25% of the way
    for _ in range(2):  # 8.0 is a +95% jump: rejected, the factor stays
        assert scaler.update(clean / 8.0, CAMERA) == pytest.approx(4.1, rel=1e-3)
        assert not scaler.estimate.valid and "jump" in scaler.estimate.status
        assert scaler.estimate.raw_factor == pytest.approx(8.0, rel=1e-3)
    assert scaler.update(clean / 8.0, CAMERA) == pytest.approx(8.0, rel=1e-3)  # third: restart
    assert scaler.estimate.valid


def test_factor_is_clamped() -> None:
    scaler = MetricScaler("ground_plane", ground=GroundPlaneConfig(max_factor=3.0))
    assert scaler.update(road_frame(5.4), CAMERA) == 3.0
    scaler.reset()
    assert not scaler.estimate.valid


def test_too_few_inliers_keeps_the_previous_factor() -> None:
    scaler = MetricScaler("ground_plane")
    scaler.update(road_frame(5.4), CAMERA)
    previous = scaler.factor
    noise = np.random.default_rng(2).uniform(0.1, 20.0, (128, 416)).astype(np.float32)
    assert scaler.update(noise, CAMERA) == previous
    assert not scaler.estimate.valid and scaler.estimate.metric
    assert re.search(r"ground plane in \d+ lower-image points", scaler.estimate.status)


def test_constant_modes(caplog: pytest.LogCaptureFixture) -> None:
    depth = np.ones((128, 416), np.float32)
    metric = MetricScaler("metadata", contract=make_contract(units="metric", metres_per_unit=1.0))
    assert metric.update(depth, CAMERA) == 1.0 and metric.estimate.metric
    with caplog.at_level(logging.WARNING, logger="depth_ros.scale"):
        relative = MetricScaler(
            "metadata", contract=make_contract(units="relative", metres_per_unit=5.4)
        )
    assert "will not be metric" in caplog.text
    assert relative.update(depth, CAMERA) == 5.4 and not relative.estimate.metric
    fixed = MetricScaler("fixed", fixed_factor=2.5)
    assert fixed.update(depth, CAMERA) == 2.5 and fixed.estimate.metric
    none = MetricScaler("none", fixed_factor=2.5)
    assert none.update(depth, CAMERA) == 1.0 and not none.estimate.metric


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        (("sonar",), {}, r"scale mode 'sonar' unknown; expected one of \['metadata'"),
        (("fixed", 0.0), {}, r"scale factor 0.0 must be a positive finite number"),
        (("fixed", math.nan), {}, r"scale factor nan"),
        (("ground_plane", 1.0, -1.65), {}, r"camera height -1.65 m must be positive"),
        (("metadata",), {}, r"scale mode 'metadata' needs the model contract"),
    ],
)
def test_bad_settings(args: tuple, kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        MetricScaler(*args, **kwargs)


def test_bad_ground_config() -> None:
    with pytest.raises(ValueError, match=r"setting max_tilt_deg = 95.0 must be in \(0, 90\)"):
        GroundPlaneConfig(max_tilt_deg=95.0)
    with pytest.raises(ValueError, match=r"setting smoothing = nan must be in \(0, 1\]"):
        GroundPlaneConfig(smoothing=math.nan)
    with pytest.raises(ValueError, match=r"setting min_factor = 5.0 must be in \(0, max_factor\)"):
        GroundPlaneConfig(min_factor=5.0, max_factor=2.0)


def test_generated_outdoor_frames(outdoor_root: Path) -> None:
    """Frames of training.synthetic.kitti.generate_outdoor (camera 1.65 m above the road;
    the session's `outdoor_root`): ground-truth depth divided by an unknown scale gives that
    scale back within 5%."""
    frames = sorted(outdoor_root.glob("*/*_sync/depth_gt/*.npy"))
    assert len(frames) == 48  # 2 drives x 24 frames
    true_factor = 7.3
    for path in frames:
        depth_m = np.load(path).astype(np.float32)
        depth_m[depth_m <= 0.0] = np.nan
        height, width = depth_m.shape
        camera = PinholeIntrinsics.from_normalized(0.58, 1.92, 0.5, 0.5, width, height)
        scaler = MetricScaler("ground_plane", camera_height=HEIGHT_M)
        factor = scaler.update(depth_m / true_factor, camera)
        assert scaler.estimate.valid, (path, scaler.estimate)
        assert factor == pytest.approx(true_factor, rel=0.05), path
