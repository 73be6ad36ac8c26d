"""Metric scale: how many metres one model depth unit is, per frame.

Modes (`ScaleMode`):
- `metadata`: the contract's `metres_per_unit` (exact for metric models; for relative models it is
  only the training set's scale, e.g. KITTI stereo's 5.4, so a warning says the result is not
  metric);
- `fixed`: a factor the user measured;
- `ground_plane`: from a camera mounted `camera_height` metres above flat ground. The lower part
  of the image is back-projected with the model depth (optical frame: x right, y down, z
  forward), a plane is fitted with RANSAC, and factor = camera_height / (distance from the camera
  centre to the plane, in model units). Planes whose normal is far from the camera's y axis
  (down) are not ground and are rejected. Per-frame factors are clamped, jumps are rejected, and
  the rest are smoothed exponentially;
- `none`: factor 1, depth stays relative.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from enum import Enum

import numpy as np

from depth_ros.camera import PinholeIntrinsics
from depth_ros.contract import ModelContract
from depth_ros.pointcloud import depth_to_points

log = logging.getLogger(__name__)

SCORE_POINTS = 600  # RANSAC scores each hypothesis on about this many points


class ScaleMode(str, Enum):
    METADATA = "metadata"
    FIXED = "fixed"
    GROUND_PLANE = "ground_plane"
    NONE = "none"


@dataclass(frozen=True)
class GroundPlaneConfig:
    """Settings of the ground-plane estimator (model units are whatever the depth is in)."""

    row_margin: float = 0.05  # use rows below the principal point + this fraction of the height
    max_points: int = 3000  # about this many of those pixels (a regular grid) go to RANSAC
    iterations: int = 100  # RANSAC hypotheses, fixed: same cost every frame
    inlier_threshold: float = 0.03  # inlier: depth within this fraction of the plane's depth
    max_tilt_deg: float = 25.0  # ground normal within this angle of the camera's +y axis
    min_inlier_ratio: float = 0.3  # fewer inliers: the frame gives no estimate
    smoothing: float = 0.2  # weight of a new estimate in the exponential average
    min_factor: float = 1e-3  # clamp of the factor, metres per model unit
    max_factor: float = 1e3
    max_jump: float = 0.3  # reject an estimate this far (relative) from the average...
    reset_after: int = 10  # ...unless that many in a row were rejected: then start again
    seed: int = 0  # RANSAC random generator seed (deterministic output)

    def __post_init__(self) -> None:
        rules = (  # (setting, holds, expected)
            ("row_margin", -0.5 <= self.row_margin < 1.0, "in [-0.5, 1)"),
            ("max_points", self.max_points >= 3, ">= 3"),
            ("iterations", self.iterations >= 1, ">= 1"),
            ("inlier_threshold", self.inlier_threshold > 0.0, "> 0"),
            ("max_tilt_deg", 0.0 < self.max_tilt_deg < 90.0, "in (0, 90)"),
            ("min_inlier_ratio", 0.0 <= self.min_inlier_ratio <= 1.0, "in [0, 1]"),
            ("smoothing", 0.0 < self.smoothing <= 1.0, "in (0, 1]"),
            ("min_factor", 0.0 < self.min_factor < self.max_factor, "in (0, max_factor)"),
            ("max_factor", self.max_factor < math.inf, "finite"),
            ("max_jump", self.max_jump > 0.0, "> 0"),
            ("reset_after", self.reset_after >= 1, ">= 1"),
        )
        for name, holds, expected in rules:
            if not holds:  # NaN fails every comparison, so it lands here too
                raise ValueError(
                    f"ground plane setting {name} = {getattr(self, name)} must be {expected}"
                )


@dataclass(frozen=True)
class PlaneFit:
    """Plane n . X = distance in the optical frame; n is unit, points from the camera to the
    ground (roughly +y), distance is in the depth's units."""

    normal: tuple[float, float, float]
    distance: float
    inlier_ratio: float  # inliers / points tried
    tilt_deg: float  # angle between n and the camera's +y axis


@dataclass(frozen=True)
class ScaleEstimate:
    """What the scaler decided for the last frame, for diagnostics."""

    factor: float  # metres per model unit in use
    metric: bool  # False when the factor does not give metres (relative model, mode none)
    valid: bool  # ground_plane: this frame's plane was accepted; other modes: True
    raw_factor: float = math.nan  # ground_plane: this frame's measurement before smoothing
    inlier_ratio: float = math.nan  # ground_plane: of this frame's plane
    status: str = "ok"  # why, in words


def _planes_through(triples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Planes n . X = d through point triples (K x 3 x 3) as a = n / d (K x 3), so a . X = 1 on
    the plane and a / |a| points from the camera to it; and whether each triple was usable
    (not collinear, plane not through the camera centre)."""
    a, b, c = triples[:, 0], triples[:, 1], triples[:, 2]
    normals = np.cross(b - a, c - a)
    distances = np.einsum("ij,ij->i", normals, a)  # n . a with n not yet unit
    ok = np.abs(distances) > 1e-9 * np.linalg.norm(a, axis=1) * np.linalg.norm(normals, axis=1)
    return normals / np.where(ok, distances, 1.0)[:, None], ok


def fit_ground_plane(
    points: np.ndarray,
    rng: np.random.Generator,
    iterations: int = 100,
    inlier_threshold: float = 0.03,
    max_tilt_deg: float = 25.0,
) -> PlaneFit | None:
    """RANSAC ground plane through N x 3 back-projected points (optical frame, z > 0).

    The plane n . X = d is handled as a = n / d, so that a . X = z / z_plane: the depth a point
    has, over the depth the plane predicts on its pixel's ray. A point is an inlier when that
    ratio is within `inlier_threshold` of 1 (a depth error relative to depth), and only planes
    whose normal is within `max_tilt_deg` of the camera's +y axis (down) are hypotheses. The
    winner is refined by least squares on inverse depth, 1/z = a . (X / z): rays are exact
    (pixel positions), the noise is in the depth, so this fit is not biased the way an
    orthogonal 3-D fit is by noise along the rays. None when no hypothesis qualifies.
    """
    points = points[points[:, 2] > 0.0].astype(np.float64, copy=False)
    if len(points) < 3:
        return None
    min_cos = math.cos(math.radians(max_tilt_deg))
    hypotheses, ok = _planes_through(points[rng.integers(0, len(points), (iterations, 3))])
    lengths = np.linalg.norm(hypotheses, axis=1)
    ok &= hypotheses[:, 1] >= min_cos * lengths
    if not ok.any():
        return None
    hypotheses = hypotheses[ok]
    # Score the hypotheses on a regular subset of ~SCORE_POINTS points (the winner is refined on
    # all of them): ratios a . X in float32, written out rather than as a matmul, because for a
    # product this small a multi-threaded BLAS spends more on waking threads than on arithmetic.
    p32 = points[:: max(1, len(points) // SCORE_POINTS)].astype(np.float32)
    h32 = hypotheses.astype(np.float32)
    ratios = p32[:, :1] * h32[:, 0] + p32[:, 1:2] * h32[:, 1] + p32[:, 2:3] * h32[:, 2]
    counts = (np.abs(ratios - np.float32(1.0)) < inlier_threshold).sum(axis=0)
    plane = hypotheses[int(np.argmax(counts))]
    rays, inverse_depth = points / points[:, 2:3], 1.0 / points[:, 2]
    for _ in range(2):  # refit on the inliers, then once more on the refit's inliers
        inliers = np.abs(points @ plane - 1.0) < inlier_threshold
        if inliers.sum() < 3:
            break
        refit = np.linalg.lstsq(rays[inliers], inverse_depth[inliers], rcond=None)[0]
        if refit[1] < min_cos * np.linalg.norm(refit):
            break  # refinement left the cone of ground normals: keep the last plane
        plane = refit
    inlier_ratio = float((np.abs(points @ plane - 1.0) < inlier_threshold).mean())
    length = float(np.linalg.norm(plane))
    normal = plane / length
    return PlaneFit(
        normal=(float(normal[0]), float(normal[1]), float(normal[2])),
        distance=1.0 / length,
        inlier_ratio=inlier_ratio,
        tilt_deg=math.degrees(math.acos(min(1.0, float(normal[1])))),
    )


def ground_points(
    depth: np.ndarray, intrinsics: PinholeIntrinsics, row_margin: float, max_points: int
) -> np.ndarray:
    """Points (M x 3, depth units, optical frame) of the valid pixels in the rows below
    cy + row_margin x height (where the ground is when the camera looks at the horizon), on a
    regular pixel grid coarse enough to give about `max_points` of them."""
    first_row = min(max(0, math.ceil(intrinsics.cy + row_margin * intrinsics.height)),
                    intrinsics.height - 1)  # fmt: skip
    lower = PinholeIntrinsics(
        intrinsics.fx, intrinsics.fy, intrinsics.cx, intrinsics.cy - first_row,
        intrinsics.width, intrinsics.height - first_row,
    )  # fmt: skip
    step = max(1, math.ceil(math.sqrt(lower.width * lower.height / max_points)))
    points = depth_to_points(depth[first_row:], lower, step=step).reshape(-1, 3)
    return points[np.isfinite(points[:, 2])]


class MetricScaler:
    """Turns model depth into metres: `update(depth, intrinsics)` returns the factor (metres per
    model unit) for this frame and records a ScaleEstimate in `.estimate`."""

    def __init__(
        self,
        mode: ScaleMode | str,
        fixed_factor: float = 1.0,
        camera_height: float = 1.65,
        *,
        contract: ModelContract | None = None,
        ground: GroundPlaneConfig | None = None,
    ) -> None:
        """`camera_height` is metres from the camera centre to the ground (ground_plane mode);
        `contract` is needed by metadata mode and gives ground_plane mode its initial factor."""
        try:
            self.mode = ScaleMode(mode)
        except ValueError as err:
            modes = [m.value for m in ScaleMode]
            raise ValueError(f"scale mode {mode!r} unknown; expected one of {modes}") from err
        if not (math.isfinite(fixed_factor) and fixed_factor > 0.0):
            raise ValueError(f"scale factor {fixed_factor} must be a positive finite number")
        if not (math.isfinite(camera_height) and camera_height > 0.0):
            raise ValueError(f"camera height {camera_height} m must be positive and finite")
        if self.mode is ScaleMode.METADATA and contract is None:
            raise ValueError("scale mode 'metadata' needs the model contract")
        self.fixed_factor = fixed_factor
        self.camera_height = camera_height
        self.contract = contract
        self.ground = ground or GroundPlaneConfig()
        self.reset()
        if self.mode is ScaleMode.METADATA and contract is not None and not contract.is_metric:
            log.warning(
                "model units are relative: metres_per_unit=%s from the metadata is the training "
                "data's scale, so depth will not be metric; use scale mode 'ground_plane' or "
                "'fixed' for metres",
                contract.metres_per_unit,
            )

    def reset(self) -> None:
        """Forget the smoothed ground-plane factor (new model, camera or scene)."""
        self._rng = np.random.default_rng(self.ground.seed)
        self._smoothed: float | None = None
        self._rejected_in_row = 0
        self.estimate = self._constant_estimate()

    def _constant_estimate(self) -> ScaleEstimate:
        if self.mode is ScaleMode.METADATA:
            assert self.contract is not None
            metric = self.contract.is_metric
            status = "ok" if metric else "relative model: metres_per_unit is not metric"
            return ScaleEstimate(self.contract.metres_per_unit, metric, True, status=status)
        if self.mode is ScaleMode.FIXED:
            return ScaleEstimate(self.fixed_factor, True, True)
        if self.mode is ScaleMode.NONE:
            return ScaleEstimate(1.0, False, True, status="relative depth (scale mode none)")
        initial = self.contract.metres_per_unit if self.contract is not None else 1.0
        return ScaleEstimate(initial, False, False, status="waiting for a ground plane")

    @property
    def factor(self) -> float:
        return self.estimate.factor

    def update(self, depth: np.ndarray, intrinsics: PinholeIntrinsics) -> float:
        """Factor for this frame; `depth` is h x w in model units (NaN = unknown) and
        `intrinsics` describe that h x w. Only ground_plane mode looks at the depth."""
        if self.mode is ScaleMode.GROUND_PLANE:
            self.estimate = self._ground_plane_estimate(depth, intrinsics)
        return self.estimate.factor

    def _ground_plane_estimate(
        self, depth: np.ndarray, intrinsics: PinholeIntrinsics
    ) -> ScaleEstimate:
        config = self.ground
        points = ground_points(depth, intrinsics, config.row_margin, config.max_points)
        plane = fit_ground_plane(
            points, self._rng, config.iterations, config.inlier_threshold, config.max_tilt_deg
        )
        if plane is None or plane.inlier_ratio < config.min_inlier_ratio:
            found = "no" if plane is None else f"only {plane.inlier_ratio:.0%} inliers for a"
            return self._keep(f"{found} ground plane in {len(points)} lower-image points", plane)
        raw = min(max(self.camera_height / plane.distance, config.min_factor), config.max_factor)
        if self._smoothed is not None and abs(raw / self._smoothed - 1.0) > config.max_jump:
            self._rejected_in_row += 1
            if self._rejected_in_row < config.reset_after:
                jump = raw / self._smoothed - 1.0
                return self._keep(f"rejected a {jump:+.0%} jump (factor {raw:.4g})", plane, raw)
            self._smoothed = None  # the scene really changed: start again from this estimate
        self._rejected_in_row = 0
        if self._smoothed is None:
            self._smoothed = raw
        else:
            self._smoothed += config.smoothing * (raw - self._smoothed)
        return ScaleEstimate(
            self._smoothed, True, True, raw, plane.inlier_ratio,
            f"ground plane {plane.tilt_deg:.1f} deg from the y axis",
        )  # fmt: skip

    def _keep(self, status: str, plane: PlaneFit | None, raw: float = math.nan) -> ScaleEstimate:
        """Keep the previous factor, marked invalid for this frame."""
        factor = self._smoothed if self._smoothed is not None else self.estimate.factor
        ratio = plane.inlier_ratio if plane is not None else math.nan
        return ScaleEstimate(factor, self._smoothed is not None, False, raw, ratio, status)
