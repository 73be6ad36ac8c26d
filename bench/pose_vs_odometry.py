"""How a trained pose network's motion compares with the recorded odometry, per frame pair.

    .venv/bin/python -m bench.pose_vs_odometry runs/rosbag2_mono/last.pt [--split val]

For every sample of the split with valid odometry and every temporal source, the network's
target -> source camera motion is compared with the odometry's (both in the camera frame):
the ratio of translation lengths (1.0: the network's units are metres), the cosine between the
translation directions (1.0: it moves the way the robot did; near 0: it explains the travel
some other way, typically as rotation), and both rotation angles. Prints medians with the
10th-90th percentile range, per source offset.
"""

from __future__ import annotations

import argparse
import math
import sys

import numpy as np
import torch

from training.datasets import find_split
from training.datasets.build import build_dataset
from training.datasets.odometry import rotation_degrees
from training.geometry import transformation_from_parameters
from training.tasks.build import load_task
from training.tasks.monodepth2 import Monodepth2Task


def compare(checkpoint: str, split: str | None, max_samples: int) -> dict[int, dict[str, list]]:
    cfg, task = load_task(checkpoint)
    if not isinstance(task, Monodepth2Task) or task.pose_net is None or not cfg.data.odometry:
        raise SystemExit(f"{checkpoint}: needs a pose network and data.odometry: true")
    split_name = split or cfg.data.val_split
    dataset = build_dataset(cfg.data, find_split(split_name, cfg.data.root, "--split"),
                            train=False)
    picks = np.linspace(0, len(dataset) - 1, min(max_samples, len(dataset))).round().astype(int)
    rows: dict[int, dict[str, list]] = {}
    with torch.no_grad():
        for index in sorted(set(picks.tolist())):
            sample = dataset[index]
            frames = sample["frames"][None]
            motions = task.predict_motions(frames)
            for source, offset in enumerate(task.temporal_offsets):
                if not bool(sample["odom_valid"][source]):
                    continue
                axisangle, translation = motions[offset]
                network = transformation_from_parameters(axisangle, translation,
                                                         invert=offset < 0)[0]
                odometry = sample["odom_T"][source].float()
                t_net, t_odom = network[:3, 3], odometry[:3, 3]
                row = rows.setdefault(offset, {k: [] for k in ("ratio", "cosine", "rot_net",
                                                               "rot_odom", "metres")})
                row["metres"].append(float(t_odom.norm()))
                row["ratio"].append(float(t_net.norm() / t_odom.norm().clamp_min(1e-6)))
                row["cosine"].append(float(torch.nn.functional.cosine_similarity(
                    t_net, t_odom, dim=0)))
                row["rot_net"].append(rotation_degrees(network[:3, :3].numpy()))
                row["rot_odom"].append(rotation_degrees(odometry[:3, :3].numpy()))
    return rows


def spread(values: list[float]) -> str:
    low, mid, high = np.percentile(values, [10, 50, 90])
    return f"{mid:.3f} ({low:.3f}..{high:.3f})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("checkpoint")
    parser.add_argument("--split", help="default: data.val_split of the checkpoint's config")
    parser.add_argument("--max-samples", type=int, default=200)
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows = compare(args.checkpoint, args.split, args.max_samples)
    if not rows:
        print("no frame pair with valid odometry", file=sys.stderr)
        return 1
    print("| source | pairs | odometry travel m | length ratio net/odom | direction cosine | "
          "rotation net deg | rotation odom deg |")
    print("|---|---|---|---|---|---|---|")
    for offset, row in sorted(rows.items()):
        print(f"| {offset:+d} | {len(row['ratio'])} | {spread(row['metres'])} | "
              f"{spread(row['ratio'])} | {spread(row['cosine'])} | {spread(row['rot_net'])} | "
              f"{spread(row['rot_odom'])} |")
    angle = math.degrees(math.acos(max(-1.0, min(1.0, float(np.median(
        [c for row in rows.values() for c in row["cosine"]]))))))
    print(f"median angle between the translations: {angle:.1f} deg")
    return 0


if __name__ == "__main__":
    sys.exit(main())
