"""The published Eigen ground truth against camera-z ground truth on a generated KITTI-layout
drive: how the maps differ, and what each does to the same evaluation.

    .venv/bin/python -m training generate --kind outdoor --out data/synthetic_outdoor
    .venv/bin/python -m bench.velodyne_ground_truth --root data/synthetic_outdoor \
        --checkpoint runs/synthetic/last.pt

Both maps come from the same velodyne scans of the split (default splits/test_files.txt, drive 3):
`camera` (optical-axis z, 0-based pixels: the evaluation's ground truth before the published
convention became the default; exact on these drives) and `published` (velodyne x, the devkit's
pixels: what the Monodepth2 benchmark is scored against). Printed: the share of stored pixels that
differ, the depth difference on the returns both maps hold (published shifted back by its one
pixel), then the AbsRel of the generator's true depth and, with --checkpoint, of a model, scored
against each map median-scaled and with a fixed factor (x5.4 for a stereo-trained model; the true
depth is scored as it is, i.e. as a stereo model predicting it exactly).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from training.datasets import find_split, read_split
from training.evaluation.protocol import PROTOCOLS, Scaling, score_image
from training.evaluation.runner import evaluate_depth_model
from training.kitti_depth import CONVENTIONS, DEFAULT_CONVENTION, load_ground_truth
from training.tasks.build import load_task

STEREO_METRES_PER_UNIT = 5.4  # a stereo-trained model's units: baseline 0.54 m = 0.1 units


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", required=True, help="generated outdoor root")
    parser.add_argument("--split", default="splits/test_files.txt")
    parser.add_argument("--checkpoint", help="a model to evaluate against both ground truths")
    args = parser.parse_args()

    split = find_split(args.split, args.root, "--split")
    entries = read_split(split)
    maps = {name: load_ground_truth(args.root, entries, convention=name) for name in CONVENTIONS}
    truths = [np.load(Path(args.root) / e.folder / "depth_gt" / f"{e.frame_index:010d}.npy")
              for e in entries]

    differing = hit = 0
    published_all, camera_all = [], []
    for published, camera in zip(maps["published"], maps["camera"], strict=True):
        differing += int(np.count_nonzero(published != camera))
        hit += int(np.count_nonzero((published > 0) | (camera > 0)))
        both = (published[:-1, :-1] > 0) & (camera[1:, 1:] > 0)  # the same return
        published_all.append(published[:-1, :-1][both])
        camera_all.append(camera[1:, 1:][both])
    published_depth, camera_depth = np.concatenate(published_all), np.concatenate(camera_all)
    offset = published_depth - camera_depth
    relative = offset / camera_depth
    print(f"{len(entries)} images of {split}")
    print(f"pixels differing as stored: {differing} ({100 * differing / hit:.1f}% of the "
          f"{hit} pixels either map holds)")
    print(f"same return, published - camera: mean {offset.mean():.3f} m, median "
          f"{np.median(offset):.3f} m, min {offset.min():.3f} m, max {offset.max():.3f} m; "
          f"relative mean {100 * relative.mean():.2f}%, max {100 * relative.max():.2f}%")

    protocol = PROTOCOLS["kitti"]
    print("\nAbsRel against each ground truth (KITTI protocol)")
    for name in CONVENTIONS:
        cells = []
        for label, scaling in (("median", Scaling("median")), ("unscaled", Scaling("none"))):
            scores = [score_image(truth, gt, protocol, scaling)
                      for truth, gt in zip(truths, maps[name], strict=True)]
            cells.append(f"{label} {np.mean([s.metrics['abs_rel'] for s in scores if s]):.4f}")
        print(f"  true depth vs {name:9s}: {', '.join(cells)}")

    if args.checkpoint:
        cfg, task = load_task(args.checkpoint, map_location="cpu")
        cfg.data.root = args.root
        # (ground truth, velodyne convention); dense is the generator's depth_gt, every pixel
        sources = {name: ("velodyne", name) for name in CONVENTIONS}
        sources["dense"] = ("dense", DEFAULT_CONVENTION)
        for name, (gt_source, convention) in sources.items():
            cells = []
            for label, scaling in (("median", Scaling("median")),
                                   ("x5.4", Scaling("fixed", STEREO_METRES_PER_UNIT))):
                result = evaluate_depth_model(task, cfg, split, gt_source=gt_source,
                                              velodyne_gt=convention, scaling=scaling)
                cells.append(f"{label} {result.metrics['abs_rel']:.4f}")
            print(f"  model vs {name:9s}: {', '.join(cells)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
