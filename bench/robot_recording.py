"""Generated robot recording: generation time and bag size, then the rosbag2 dataset's start-up.

    .venv/bin/python -m bench.robot_recording [--frames 300] [--width 320 --height 240] \\
        [--compressed] [--storage mcap] [--config config/train/rosbag2_mono.yaml]

Writes the bag to a temporary folder, times `generate_robot`, sums the bag's files, then times
building the config's training split from it (reading, decoding and resizing every frame,
odometry and static-frame checks), the same again from the frame cache, and loading one sample.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from training.config import load_config
from training.datasets.augment import Augmentation
from training.datasets.build import build_dataset
from training.datasets.sequence import SequenceDataset
from training.synthetic.rosbag2 import STORAGES, generate_robot


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--width", type=int, default=320)
    parser.add_argument("--height", type=int, default=240)
    parser.add_argument("--compressed", action="store_true")
    parser.add_argument("--storage", choices=STORAGES, default="sqlite3")
    parser.add_argument("--config", default="config/train/rosbag2_mono.yaml")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / "robot"
        summary = generate_robot(root, frames=args.frames, width=args.width, height=args.height,
                                 compressed=args.compressed, storage=args.storage)
        size = sum(path.stat().st_size for path in root.rglob("*") if path.is_file())
        kind = "JPEG" if args.compressed else "rgb8"
        print(f"generated {args.frames} frames at {args.width}x{args.height} ({kind}, "
              f"{args.storage}) in {summary.seconds:.1f} s: {size / 1e6:.1f} MB, "
              f"{size / args.frames / 1e3:.0f} kB per frame")
        topic = "/camera/image_raw/compressed" if args.compressed else "/camera/image_raw"
        cfg = load_config(args.config, [f"data.root={root}", f"data.image_topic={topic}",
                                        f"data.frame_cache={Path(folder) / 'cache'}"])
        for label in ("decoded", "from the frame cache"):
            start = time.perf_counter()
            dataset = build_dataset(cfg.data, cfg.data.train_split, train=True)
            print(f"train split {label}: {len(dataset)} samples at "
                  f"{cfg.data.width}x{cfg.data.height} in {time.perf_counter() - start:.2f} s")
        assert isinstance(dataset, SequenceDataset), "a recording loads as a frame sequence"
        start = time.perf_counter()
        for index in range(min(len(dataset), 50)):
            dataset.load_sample(index, Augmentation(flip=index % 2 == 1))
        per_sample = (time.perf_counter() - start) / min(len(dataset), 50)
        print(f"one sample (frames, odometry, depth): {per_sample * 1e3:.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
