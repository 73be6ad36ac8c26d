"""`python -m training generate` (or `python -m training.synthetic`): write a generated dataset.

    python -m training generate --kind outdoor --out data/synthetic_outdoor
    python -m training generate --kind indoor --out data/synthetic_indoor --sequences 2 --frames 200
    python -m training generate --kind robot --out data/robot --storage mcap --compressed
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from training.synthetic.kitti import generate_outdoor
from training.synthetic.nyu import generate_indoor
from training.synthetic.rosbag2 import STORAGES, generate_robot

DEFAULTS = {  # kind -> (sequences, frames, width, height)
    "outdoor": (3, 100, 416, 128),
    "indoor": (3, 100, 320, 240),
    "robot": (1, 300, 320, 240),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--kind", choices=sorted(DEFAULTS), required=True,
                        help="outdoor: KITTI-raw street drives; indoor: NYU-layout rooms; "
                        "robot: rosbag2 recordings of a ground robot")
    parser.add_argument("--out", type=Path, required=True, help="dataset root to write")
    parser.add_argument("--sequences", type=int,
                        help="drives, rooms or bags (default 3; robot 1)")
    parser.add_argument("--frames", type=int, help="frames per sequence (default 100; robot 300)")
    parser.add_argument("--width", type=int,
                        help="pixels (default 416 outdoor, 320 indoor and robot)")
    parser.add_argument("--height", type=int,
                        help="pixels (default 128 outdoor, 240 indoor and robot)")
    parser.add_argument("--seed", type=int, default=0, help="same seed, same bytes")
    parser.add_argument("--storage", choices=STORAGES, default="sqlite3",
                        help="robot: rosbag2 storage plugin")
    parser.add_argument("--compressed", action="store_true",
                        help="robot: JPEG images on /camera/image_raw/compressed")


def main(args: argparse.Namespace) -> int:
    names = ("sequences", "frames", "width", "height")
    defaults = dict(zip(names, DEFAULTS[args.kind], strict=True))
    chosen: dict[str, Any] = {
        name: default if getattr(args, name) is None else getattr(args, name)
        for name, default in defaults.items()
    }
    try:
        if args.kind == "robot":
            summary = generate_robot(args.out, seed=args.seed, progress=True,
                                     compressed=args.compressed, storage=args.storage, **chosen)
        else:
            generate = generate_outdoor if args.kind == "outdoor" else generate_indoor
            summary = generate(args.out, seed=args.seed, progress=True, **chosen)
    except ValueError as error:
        print(f"generate: {error}", file=sys.stderr)
        return 2
    print(summary.line())
    return 0
