"""Score what the node published against ground truth and write demo_output/.

The node's depth is scored with the same KITTI protocol as `python -m training evaluate` (Garg
crop, 80 m cap): median-scaled, as monocular benchmarks do, and as published, in metres from the
node's ground-plane scale. The untrained network (same architecture and seed, no training) is
scored on the same frames for comparison.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from depth_ros.colorize import colorize_depth
from depth_ros.contract import ModelContract
from depth_ros.pointcloud import unpack_rgb, write_ply
from training.evaluate import EvalSample, Scaling, evaluate_samples, protocol_for

if TYPE_CHECKING:
    from demo.__main__ import DemoPaths, HeldOutFrame
    from demo.stream import StreamResult

PREVIEW_FRAMES = 4  # rows in the strip picture
PREVIEW_RANGE_M = (3.0, 80.0)  # parked cars at 3 m get the hot end; the horizon the cold one


class RecordedDepth:
    """A DepthPredictor that answers with the node's published depth, frame by frame, so the
    evaluation code scores it exactly like a model."""

    def __init__(self, contract: ModelContract, depth: Sequence[np.ndarray], cap_m: float) -> None:
        self.contract = contract
        self._depth = iter(depth)
        self._cap_m = cap_m

    def predict(self, images: np.ndarray) -> np.ndarray:
        depth = next(self._depth)
        return np.nan_to_num(depth, nan=self._cap_m)[None]  # beyond range.max: the cap


def untrained_scores(checkpoint: Path, split: Path) -> dict[str, float]:
    """Metrics of the same network before training: built from the run's config and seed."""
    import torch

    from training.checkpoint import read_checkpoint
    from training.config import config_from_dict
    from training.evaluate import evaluate_depth_model
    from training.task import build_task

    cfg = config_from_dict(read_checkpoint(checkpoint)["config"])
    torch.manual_seed(cfg.run.seed)
    return evaluate_depth_model(build_task(cfg), cfg, split, gt_source="dense").metrics


def strip_picture(frames: Sequence[HeldOutFrame], depth: dict[int, np.ndarray]) -> np.ndarray:
    """Rows of input | predicted depth | ground truth for a few frames spread over the stream."""
    picks = np.linspace(0, len(frames) - 1, PREVIEW_FRAMES).round().astype(int)
    rows = []
    for index in picks:
        if int(index) not in depth:
            continue
        frame = frames[int(index)]
        height, width = frame.gt.shape
        predicted = cv2.resize(depth[int(index)], (width, height), interpolation=cv2.INTER_NEAREST)
        gt = np.where(frame.gt > 0, frame.gt, np.nan)
        rows.append(np.hstack([
            cv2.cvtColor(frame.rgb, cv2.COLOR_RGB2BGR),
            colorize_depth(predicted, *PREVIEW_RANGE_M),
            colorize_depth(gt, *PREVIEW_RANGE_M),
        ]))  # fmt: skip
    return np.vstack(rows)


def write_report(
    paths: DemoPaths, checkpoint: Path, frames: Sequence[HeldOutFrame], streamed: StreamResult
) -> str:
    """Write metrics.json, strips.png and cloud.ply; return the printed summary."""
    from training.export import read_contract

    contract = read_contract(paths.model)
    protocol = protocol_for("kitti")
    received = sorted(streamed.depth)
    if not received:
        raise RuntimeError("the node published no depth image for the streamed frames")
    samples = [EvalSample(str(i), np.empty(0), frames[i].gt) for i in received]
    depth = [streamed.depth[i] for i in received]
    scored = {
        mode: evaluate_samples(RecordedDepth(contract, depth, protocol.max_depth), iter(samples),
                               protocol, Scaling(mode)).metrics
        for mode in ("median", "none")
    }
    untrained = untrained_scores(checkpoint, paths.data / "splits" / "test_files.txt")
    latencies_ms = np.array(streamed.latencies_s) * 1000.0
    metrics = {
        "abs_rel": scored["median"]["abs_rel"],
        "abs_rel_untrained": untrained["abs_rel"],
        "abs_rel_ratio_to_untrained": scored["median"]["abs_rel"] / untrained["abs_rel"],
        "abs_rel_metric_ground_plane": scored["none"]["abs_rel"],
        "delta1": scored["median"]["a1"],
        "rmse_m": scored["median"]["rmse"],
        "node_fps": streamed.output_fps,
        "latency_ms_p50": float(np.percentile(latencies_ms, 50)),
        "latency_ms_p99": float(np.percentile(latencies_ms, 99)),
        "frames_published": streamed.published,
        "frames_received": len(received),
        "stream_rate_hz": streamed.publish_rate_hz,
        "node_diagnostics": streamed.diagnostics,
        "protocol": "KITTI Garg crop, depth 1e-3..80 m; abs_rel median-scaled per image",
    }
    out = paths.output
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    cv2.imwrite(str(out / "strips.png"), strip_picture(frames, streamed.depth))
    cloud_points = 0
    if streamed.cloud is not None:
        cloud = streamed.cloud
        xyz = np.stack([cloud["x"], cloud["y"], cloud["z"]], axis=-1)
        rgb = unpack_rgb(cloud["rgb"].view(np.uint32)) if "rgb" in cloud.dtype.names else None
        cloud_points = write_ply(out / "cloud.ply", xyz, rgb)
    return "\n".join([
        "demo summary",
        f"  held-out AbsRel (median-scaled): {metrics['abs_rel']:.3f} vs untrained "
        f"{metrics['abs_rel_untrained']:.3f} (ratio {metrics['abs_rel_ratio_to_untrained']:.2f})",
        f"  AbsRel in metres from the ground-plane scale: "
        f"{metrics['abs_rel_metric_ground_plane']:.3f}",
        f"  node: {metrics['node_fps']:.1f} fps, latency p50 {metrics['latency_ms_p50']:.0f} ms, "
        f"p99 {metrics['latency_ms_p99']:.0f} ms, {len(received)}/{streamed.published} frames",
        f"  {out / 'metrics.json'}",
        f"  {out / 'strips.png'}  (input | depth | ground truth)",
        f"  {out / 'cloud.ply'}  ({cloud_points} points, camera optical frame)",
        f"  {paths.model}",
    ])  # fmt: skip
