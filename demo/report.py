"""Score what the node published against the recording's ground truth; write demo_output/.

The node's depth (metres, from the model contract: scale mode `metadata`) is scored with the
same code as `python -m training evaluate --bag` (generic protocol: depth 1e-3 to 80 m, no
crop), twice: as published, which is what a metric model promises, and median-scaled per
image, as monocular benchmarks do. The median of the per-image scaling ratios says how far the
published scale is from metric (1.0). Beside them: the training summary's held-out figures for
the untrained network, the content-blind prior (the training frames' per-pixel median depth)
and the trained network, all on the same validation block of the recording.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from demo.cloud_picture import ROOM_VIEW, cloud_view
from demo.recording import HeldOut, HeldOutFrame
from demo.stream import StreamResult
from depth_ros.colorize import colorize_depth
from depth_ros.contract import ModelContract
from depth_ros.pointcloud import unpack_rgb, write_ply
from training.evaluation.protocol import Scaling, protocol_for
from training.evaluation.runner import evaluate_samples
from training.evaluation.samples import EvalSample
from training.model_contract import read_contract

PREVIEW_FRAMES = 4  # rows in the strip picture
PREVIEW_RANGE_M = (0.3, 6.0)  # furniture at arm's length gets the hot end; far walls the cold
TRAINING_FIGURES = ("abs_rel", "abs_rel_unscaled", "scale_ratio", "a1")


class RecordedDepth:
    """A Predictor (training.evaluation.predictors) that answers with the node's published
    depth, frame by frame, so the evaluation code scores it exactly like a model."""

    def __init__(self, contract: ModelContract, depth: Sequence[np.ndarray], fill_m: float) -> None:
        """`fill_m`: metres for pixels the node published as NaN (beyond its range)."""
        self.contract = contract
        self._depth = iter(depth)
        self._fill_m = fill_m

    def predict(self, images: np.ndarray) -> np.ndarray:
        depth = next(self._depth)
        return np.nan_to_num(depth, nan=self._fill_m)[None]


@dataclass(frozen=True)
class DemoReport:
    metrics: dict[str, Any]  # what metrics.json holds
    files: list[Path]  # what was written

    def summary(self) -> str:
        """The lines printed at the end of the demo."""
        m = self.metrics
        node, training = m["node"], m["training"]
        lines = [
            "demo summary (held-out frames of the recording, metres)",
            f"  node output AbsRel: {node['abs_rel_unscaled']:.3f} as published (metric), "
            f"{node['abs_rel']:.3f} median-scaled; median scaling ratio "
            f"{node['scale_ratio']:.3f} (1.0 = metric)",
        ]
        for label, key in (("untrained", "untrained"), ("median-depth prior", "prior"),
                           ("trained", "trained")):
            figures = training.get(key) or {}
            if "abs_rel" in figures:
                lines.append(f"  training summary, {label}: median-scaled AbsRel "
                             f"{figures['abs_rel']:.3f}")
        lines.append(f"  trained {training['steps']} steps in {training['wall_time_s']:.0f} s")
        lines.append(f"  node: {node['fps']:.1f} fps, latency p50 {node['latency_ms_p50']:.0f} ms, "
                     f"p99 {node['latency_ms_p99']:.0f} ms, {node['frames_received']}/"
                     f"{node['frames_published']} frames")
        return "\n".join([*lines, *(f"  {path}" for path in self.files)])


def score_published(
    contract: ModelContract, frames: Sequence[HeldOutFrame], depth: dict[int, np.ndarray],
    fill_m: float,
) -> dict[str, float]:
    """AbsRel, δ1 and RMSE of the node's depth as published and median-scaled, and the median
    of the per-image median-scaling ratios."""
    received = sorted(depth)
    if not received:
        raise RuntimeError("the node published no depth image for the streamed frames")
    protocol = protocol_for("rosbag2")
    samples = [EvalSample(str(i), np.empty(0), frames[i].gt) for i in received]
    published = [depth[i] for i in received]
    scored = {
        mode: evaluate_samples(RecordedDepth(contract, published, fill_m), iter(samples),
                               protocol, Scaling(mode))
        for mode in ("median", "none")
    }
    ratios = scored["median"].ratio_summary()
    assert ratios is not None
    return {
        "abs_rel_unscaled": scored["none"].metrics["abs_rel"],
        "abs_rel": scored["median"].metrics["abs_rel"],
        "scale_ratio": ratios["median"],
        "scale_ratio_std": ratios["std"],
        "delta1_unscaled": scored["none"].metrics["a1"],
        "rmse_m_unscaled": scored["none"].metrics["rmse"],
    }


def training_figures(summary: dict[str, Any]) -> dict[str, Any]:
    """The held-out figures of a training run's summary.json, with its budget."""
    def pick(key: str) -> dict[str, float] | None:
        values = summary.get(key)
        if not values:
            return None
        return {name: values[name] for name in TRAINING_FIGURES if name in values}

    return {"untrained": pick("val_initial"), "prior": pick("val_prior"),
            "trained": pick("val_final"), "steps": summary["steps"],
            "wall_time_s": summary["wall_time_s"]}  # fmt: skip


def strip_picture(frames: Sequence[HeldOutFrame], depth: dict[int, np.ndarray]) -> np.ndarray:
    """Rows of input | published depth | ground truth for a few frames spread over the stream,
    on one colour scale (PREVIEW_RANGE_M, near is hot)."""
    received = sorted(depth)
    picks = sorted({received[i] for i in
                    np.linspace(0, len(received) - 1, PREVIEW_FRAMES).round().astype(int)})
    rows = []
    for index in picks:
        frame = frames[index]
        height, width = frame.gt.shape
        published = cv2.resize(depth[index], (width, height), interpolation=cv2.INTER_NEAREST)
        gt = np.where(frame.gt > 0, frame.gt, np.nan)
        rows.append(np.hstack([
            cv2.cvtColor(frame.rgb, cv2.COLOR_RGB2BGR),
            colorize_depth(published, *PREVIEW_RANGE_M),
            colorize_depth(gt, *PREVIEW_RANGE_M),
        ]))  # fmt: skip
    return np.vstack(rows)


def write_report(
    output: Path, model: Path, training_summary: Path, held_out: HeldOut, streamed: StreamResult,
    fill_m: float,
) -> DemoReport:
    """Write metrics.json, strips.png, cloud.png and cloud.ply under `output`."""
    contract = read_contract(model)
    frames = held_out.frames
    latencies_ms = np.array(streamed.latencies_s) * 1000.0
    node = {
        **score_published(contract, frames, streamed.depth, fill_m),
        "fps": streamed.output_fps,
        "latency_ms_p50": float(np.percentile(latencies_ms, 50)),
        "latency_ms_p99": float(np.percentile(latencies_ms, 99)),
        "frames_published": streamed.published,
        "frames_received": len(streamed.depth),
        "stream_rate_hz": streamed.publish_rate_hz,
        "diagnostics": streamed.diagnostics,
    }
    metrics = {
        "node": node,
        "training": training_figures(json.loads(training_summary.read_text())),
        "model": {"path": str(model), "units": contract.units,
                  "metres_per_unit": contract.metres_per_unit},
        "recording": {"bag": str(held_out.bag), "held_out_frames": len(frames),
                      "first_stamp_s": frames[0].stamp, "last_stamp_s": frames[-1].stamp},
        "protocol": "generic: depth 1e-3..80 m, no crop; abs_rel median-scaled per image, "
                    "abs_rel_unscaled as published; training figures from the run's "
                    "summary.json on the same validation block at the model's input size",
    }  # fmt: skip
    files = [output / "metrics.json", output / "strips.png"]
    files[0].write_text(json.dumps(metrics, indent=2) + "\n")
    cv2.imwrite(str(files[1]), strip_picture(frames, streamed.depth))
    if streamed.cloud is not None and streamed.cloud_index is not None:
        cloud = streamed.cloud
        xyz = np.stack([cloud["x"], cloud["y"], cloud["z"]], axis=-1)
        fields = cloud.dtype.names or ()  # a structured array: always named
        rgb = unpack_rgb(cloud["rgb"].view(np.uint32)) if "rgb" in fields else None
        write_ply(output / "cloud.ply", xyz, rgb)
        colours = rgb if rgb is not None else np.full(xyz.shape, 200, np.uint8)
        picture, _ = cloud_view(xyz, colours, held_out.camera, ROOM_VIEW, fill_m,
                                frames[streamed.cloud_index].rgb)
        cv2.imwrite(str(output / "cloud.png"), picture)
        files += [output / "cloud.png", output / "cloud.ply"]
    return DemoReport(metrics, [*files, model])
