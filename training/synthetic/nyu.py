"""Room walk-throughs in the NYU layout (training/datasets/nyu.py).

Per scene `synthetic_room_%04d/`: image/%010d.jpg, depth/%010d.png (uint16 millimetres),
poses.txt; the camera is a hand-held Kinect (its normalised intrinsics at the chosen size).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from training.datasets import KINECT_NORMALIZED_K
from training.synthetic.rendering import render_view
from training.synthetic.scene import indoor_scene
from training.synthetic.sequence_files import (
    GenerationSummary,
    check_arguments,
    pixel_matrix,
    write_image,
    write_poses,
    write_splits,
)
from training.synthetic.trajectories import indoor_trajectory

INDOOR_SCENE = "synthetic_room_{:04d}"


def generate_indoor(out_dir: str | Path, sequences: int = 3, frames: int = 100,
                    width: int = 320, height: int = 240, seed: int = 0,
                    progress: bool = False) -> GenerationSummary:
    """Write room walk-throughs in the NYU layout under `out_dir` (see the module docstring).

    Per scene `synthetic_room_%04d/`: image/%010d.jpg (quality 95), depth/%010d.png (uint16
    millimetres, Kinect normalised intrinsics at width x height), poses.txt.
    """
    start, out = time.perf_counter(), Path(out_dir)
    check_arguments(sequences, frames, width, height)
    k = pixel_matrix(KINECT_NORMALIZED_K, width, height)
    folders = []
    with tqdm(total=sequences * frames, desc="indoor", unit="frame", disable=not progress) as bar:
        for sequence in range(sequences):
            rng = np.random.default_rng([seed, 1, sequence])
            scene, clear_radius = indoor_scene(rng)
            poses = indoor_trajectory(rng, frames, clear_radius)
            folder = INDOOR_SCENE.format(sequence)
            for name in ("image", "depth"):
                (out / folder / name).mkdir(parents=True, exist_ok=True)
            for index, pose in enumerate(poses):
                rgb, depth = render_view(scene, pose, k, width, height)
                write_image(out / folder / "image" / f"{index:010d}.jpg", rgb)
                millimetres = np.clip(np.rint(depth * 1000.0), 0, 65535).astype(np.uint16)
                write_image(out / folder / "depth" / f"{index:010d}.png", millimetres)
                bar.update()
            write_poses(out / folder / "poses.txt", poses)
            folders.append(folder)
    sizes = write_splits(out / "splits", folders, frames, train_sides=("l",))
    return GenerationSummary("indoor", out, sequences, frames, width, height, sizes,
                             time.perf_counter() - start)
