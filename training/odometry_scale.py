"""Metres per depth unit from a recording's odometry.

Self-supervised depth is right up to one global scale unless the warps move in metres. A pose
network, even held to the odometry's travel by the velocity term, leaves the depth far from metres
in a short run. The odometry fixes that scale directly: warp every training frame's neighbours
with the recorded motion (metres) and depth x s, and the photometric error is smallest where s
turns the network's units into metres. One scalar, found by a coarse log-spaced scan and a
golden-section refinement, using the training objective's own reprojection (auto-masked
per-pixel minimum over sources, scale 0, no random tie-break). A fit whose warps barely beat the
un-warped neighbours is refused: then the motion explains nothing and its scale means nothing.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import default_collate

from training.config import DataConfig
from training.datasets import find_split
from training.datasets.build import build_dataset
from training.tasks.monodepth2 import Monodepth2Task, SourceView

# Scales scanned: 1e-3 .. 1e3 in steps of x1.47, wide enough for any min_depth/max_depth range.
SCAN_DECADES = 3.0
SCAN_POINTS = 37
REFINE_ITERATIONS = 14  # golden section: the bracket of two scan steps shrinks to ~0.2 %
# The fitted warps must beat not warping at all by this factor, or the motion explains nothing
# (wrong extrinsics, odometry of another robot, a depth that is noise).
MAX_ERROR_VS_UNWARPED = 0.5
SPREAD_BRACKET = math.log(3.0)  # per-batch fits are searched within x3 of the whole fit
BATCH_SIZE = 8
FIT_FRAMES = 64  # training frames, evenly spaced over the split
GOLDEN = (math.sqrt(5.0) - 1.0) / 2.0


class ScaleFitError(RuntimeError):
    """The odometry cannot fix the scale: no frames with odometry, no minimum inside the scanned
    range, or warps that barely beat not warping."""


@dataclass(frozen=True)
class ScaleFit:
    """A fitted scale with the errors that show how well it explains the frames."""

    metres_per_unit: float
    frames: int  # frames whose every temporal neighbour has odometry
    photometric: float  # mean reprojection error at the fitted scale
    photometric_as_is: float  # ... at the network's own units (scale 1)
    photometric_unwarped: float  # ... of the neighbours as they are, not warped at all
    # The fit of each batch of up to 8 frames alone (within x3 of the whole fit): how firmly
    # the frames agree on the scale.
    per_batch_low: float
    per_batch_high: float


@dataclass
class _Frame:
    target: torch.Tensor
    depth: torch.Tensor
    sources: list[SourceView]
    K: torch.Tensor
    inv_K: torch.Tensor  # noqa: N815
    identity: torch.Tensor | None
    unwarped: float  # mean over pixels of the best un-warped neighbour's error


class OdometryWarps:
    """Frames whose neighbours have odometry, with their depth computed once: error(scale) is
    the mean photometric error of the neighbours warped by the recorded motion and depth x scale.

    `samples` are unbatched dataset items with frames, K, odom_T and odom_valid; those where a
    neighbour lacks odometry are left out. `depth_of(batch)` gives N x 1 x H x W depth in the
    model's units (default: the task's depth network in eval mode on the target frames).
    """

    def __init__(
        self,
        task: Monodepth2Task,
        samples: Sequence[dict[str, torch.Tensor]],
        device: torch.device,
        depth_of: Callable[[dict[str, torch.Tensor]], torch.Tensor] | None = None,
    ) -> None:
        self.task = task
        self._frames = _prepare(task, samples, device, depth_of or _network_depth(task))
        self.frames = sum(len(frame.target) for frame in self._frames)
        self.unwarped = sum(frame.unwarped * len(frame.target)
                            for frame in self._frames) / max(self.frames, 1)

    @property
    def batches(self) -> int:
        return len(self._frames)

    def error(self, scale: float, batch: int | None = None) -> float:
        """Mean error over all frames, or over one batch of up to BATCH_SIZE frames."""
        frames = self._frames if batch is None else [self._frames[batch]]
        with torch.no_grad():
            total = sum(
                float(self.task.reprojection(frame.target, frame.depth * scale, frame.sources,
                                             frame.K, frame.inv_K, frame.identity,
                                             tiebreak=False).loss)
                * len(frame.target)
                for frame in frames
            )
        return total / max(sum(len(frame.target) for frame in frames), 1)


def fit_metres_per_unit(
    task: Monodepth2Task,
    samples: Sequence[dict[str, torch.Tensor]],
    device: torch.device,
    depth_of: Callable[[dict[str, torch.Tensor]], torch.Tensor] | None = None,
) -> ScaleFit:
    """The scale s minimising the odometry-warped photometric error of depth x s over `samples`
    (arguments as OdometryWarps)."""
    warps = OdometryWarps(task, samples, device, depth_of)
    if not warps.frames:
        raise ScaleFitError(
            f"none of the {len(samples)} frames has odometry to every temporal neighbour; the "
            "odometry cannot fix the depth's scale (check data.odometry_topic and the gaps)"
        )

    def error(log_scale: float) -> float:
        return warps.error(math.exp(log_scale))

    span = SCAN_DECADES * math.log(10.0)
    grid = np.linspace(-span, span, SCAN_POINTS)
    scanned = [error(float(log_scale)) for log_scale in grid]
    best = int(np.argmin(scanned))
    if best in (0, SCAN_POINTS - 1):
        raise ScaleFitError(
            f"the odometry-warped photometric error has no minimum between x{math.exp(-span):g} "
            f"and x{math.exp(span):g} the network's units (it falls towards x"
            f"{math.exp(grid[best]):g}): the recorded motion does not explain the frames at any "
            "scale; check the camera's /tf_static and the odometry's frame"
        )
    log_scale = _golden_section(error, float(grid[best - 1]), float(grid[best + 1]))
    fitted = error(log_scale)
    if fitted > MAX_ERROR_VS_UNWARPED * warps.unwarped:
        raise ScaleFitError(
            f"warped by the recorded motion at the best scale (x{math.exp(log_scale):.4g}), the "
            f"neighbours match the frames barely better than not warped at all (photometric "
            f"error {fitted:.4f} against {warps.unwarped:.4f}): this depth and the recorded "
            "motion do not explain the frames together; check the camera's /tf_static and the "
            "odometry's frame, or the model has not learnt depth (yet)"
        )
    per_batch = [math.exp(_golden_section(functools.partial(_batch_error, warps, batch),
                                          log_scale - SPREAD_BRACKET, log_scale + SPREAD_BRACKET))
                 for batch in range(warps.batches)]
    return ScaleFit(math.exp(log_scale), warps.frames, fitted, warps.error(1.0), warps.unwarped,
                    min(per_batch), max(per_batch))


def _batch_error(warps: OdometryWarps, batch: int, log_scale: float) -> float:
    return warps.error(math.exp(log_scale), batch)


def training_frames(data: DataConfig, frames: int = FIT_FRAMES) -> list[dict[str, torch.Tensor]]:
    """`frames` evenly spaced samples of data.train_split, as recorded (no augmentation)."""
    split = find_split(data.train_split, data.root, "data.train_split")
    dataset = build_dataset(data, split, train=False)
    picks = np.unique(np.linspace(0, len(dataset) - 1, min(frames, len(dataset))).round())
    return [dataset[int(index)] for index in picks]


def fit_on_training_frames(
    task: Monodepth2Task, data: DataConfig, device: torch.device, frames: int = FIT_FRAMES
) -> ScaleFit:
    """fit_metres_per_unit on training_frames(data, frames)."""
    return fit_metres_per_unit(task, training_frames(data, frames), device)


def _network_depth(task: Monodepth2Task) -> Callable[[dict[str, torch.Tensor]], torch.Tensor]:
    predictor = task.depth_model()

    def depth_of(batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return predictor(batch["frames"][:, 0].float())

    return depth_of


def _prepare(
    task: Monodepth2Task,
    samples: Sequence[dict[str, torch.Tensor]],
    device: torch.device,
    depth_of: Callable[[dict[str, torch.Tensor]], torch.Tensor],
) -> list[_Frame]:
    """Depth once per frame (the scan re-uses it), only frames with odometry to every source."""
    was_training = task.training
    task.eval()
    frames = []
    try:
        with torch.no_grad():
            for start in range(0, len(samples), BATCH_SIZE):
                batch = default_collate(list(samples[start:start + BATCH_SIZE]))
                batch = {key: value.to(device) if isinstance(value, torch.Tensor) else value
                         for key, value in batch.items()}
                sources, valid = task.odometry_views(batch)
                if not bool(valid.any()):
                    continue
                target = batch["frames"][:, 0].float()[valid]
                sources = [SourceView(view.image[valid], view.transform[valid])
                           for view in sources]
                depth = depth_of(batch).float()[valid]
                unwarped = task.unwarped_errors(target, sources)
                k = batch["K"].float()[valid]
                frames.append(_Frame(target, depth, sources, k, torch.linalg.inv(k),
                                     unwarped if task.automask else None,
                                     float(unwarped.min(1).values.mean())))
    finally:
        task.train(was_training)
    return frames


def _golden_section(error: Callable[[float], float], low: float, high: float) -> float:
    """Minimum of a unimodal `error` on [low, high]."""
    inner_low = high - GOLDEN * (high - low)
    inner_high = low + GOLDEN * (high - low)
    error_low, error_high = error(inner_low), error(inner_high)
    for _ in range(REFINE_ITERATIONS):
        if error_low <= error_high:
            high, inner_high, error_high = inner_high, inner_low, error_low
            inner_low = high - GOLDEN * (high - low)
            error_low = error(inner_low)
        else:
            low, inner_low, error_low = inner_low, inner_high, error_high
            inner_high = low + GOLDEN * (high - low)
            error_high = error(inner_high)
    return (low + high) / 2.0
