"""What the dataset's resize and the smoothness pyramid change against the reference's Lanczos
pipeline: loss terms under fixed weights, and held-out AbsRel after a short training run.

    .venv/bin/python -m training generate --kind outdoor --out data/synthetic_outdoor
    OMP_NUM_THREADS=1 .venv/bin/python -m bench.resize_pyramid --root data/synthetic_outdoor \
        --steps 300 --seeds 0 1 2

The reference Monodepth2 resizes its images with PIL's Lanczos filter and builds the smoothness
term's pyramid from them, each scale from the one above. Our dataset resizes with cv2 INTER_AREA;
the task builds the reference pyramid (training/resample.py). Three pipelines are compared:
    old        INTER_AREA dataset, antialiased bilinear pyramid from scale 0 (the task before)
    ours       INTER_AREA dataset, Lanczos pyramid (what training does now)
    reference  Lanczos dataset, Lanczos pyramid
The dataset's resize is chosen by writing each drive's images at the training size beforehand
(`<work>/area`, `<work>/lanczos`; a dataset at its own size resizes nothing); the old pyramid is
patched into the task module for its runs only.

Part 1 scores the same weights (untrained, and trained by the first `ours` run) on the same
unaugmented training batches under each pipeline: mean loss terms and their differences from
the reference. Part 2 trains config/train/synthetic.yaml (stereo, 128 x 64) for --steps steps per
pipeline and seed and scores drive 3 (held out, dense ground truth, KITTI protocol) with median
scaling and with the stereo factor x5.4.
"""

from __future__ import annotations

import argparse
import math
import os
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from unittest import mock

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import default_collate

import training.tasks.monodepth2
from training.config import TrainConfig, load_config
from training.datasets import find_split
from training.datasets.build import build_dataset
from training.device import setup_runtime, teardown_runtime
from training.evaluation.protocol import Scaling
from training.evaluation.runner import evaluate_depth_model
from training.tasks.build import build_task
from training.trainer import Trainer

CONFIG = "config/train/synthetic.yaml"
PIPELINES = {"old": ("area", "bilinear"), "ours": ("area", "lanczos"),
             "reference": ("lanczos", "lanczos")}
CAMERA_FOLDERS = ("image_02", "image_03")
STEREO_METRES_PER_UNIT = 5.4  # the stereo baseline 0.54 m is 0.1 model units
TERMS = ("photometric", "smoothness", "loss")


def bilinear_pyramid(image: torch.Tensor, sizes: Sequence[Sequence[int]]) -> list[torch.Tensor]:
    """The task's pyramid before: every scale from scale 0, bilinear with antialiasing."""
    return [image if tuple(image.shape[-2:]) == tuple(size) else
            F.interpolate(image, size=tuple(size), mode="bilinear", align_corners=False,
                          antialias=True) for size in sizes]


@contextmanager
def pyramid(kind: str) -> Iterator[None]:
    """Run the task with the Lanczos pyramid (as written) or the old bilinear one."""
    if kind == "lanczos":
        yield
        return
    with mock.patch.object(training.tasks.monodepth2, "lanczos_pyramid", bilinear_pyramid):
        yield


def resize_rgb(path: Path, size: tuple[int, int], method: str) -> np.ndarray:
    """H x W x 3 uint8 RGB of an image file resized to size (w, h) as a dataset would."""
    if method == "lanczos":  # the reference: PIL's loader and Lanczos resize
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB").resize(size, Image.Resampling.LANCZOS))
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise OSError(f"cannot read {path}")
    return cv2.cvtColor(cv2.resize(bgr, size, interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB)


def prepare_root(source: Path, target: Path, size: tuple[int, int], method: str) -> Path:
    """A copy of a KITTI-layout root whose camera images are already at size (w, h); all other
    files are links to the source's."""
    if target.exists():
        return target
    for path in sorted(source.rglob("*")):
        relative = path.relative_to(source)
        destination = target / relative
        if path.is_dir():
            destination.mkdir(parents=True, exist_ok=True)
        elif len(relative.parts) >= 4 and relative.parts[2] in CAMERA_FOLDERS:
            rgb = resize_rgb(path, size, method)
            cv2.imwrite(str(destination), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        else:
            destination.symlink_to(path.resolve())
    return target


def config(root: Path, overrides: Sequence[str] = ()) -> TrainConfig:
    return load_config(CONFIG, [f"data.root={root}", "data.num_workers=0", *overrides])


def fixed_batches(cfg: TrainConfig, count: int, batch_size: int) -> list[dict[str, torch.Tensor]]:
    """The first count x batch_size training samples, unaugmented, as batches."""
    cfg.data.augment = False
    dataset = build_dataset(cfg.data, find_split(cfg.data.train_split, cfg.data.root,
                                                  "data.train_split"), train=True)
    return [default_collate([dataset[i] for i in range(start, start + batch_size)])
            for start in range(0, count * batch_size, batch_size)]


def loss_terms(task: torch.nn.Module, batches: list[dict[str, torch.Tensor]],
               kind: str) -> dict[str, float]:
    """Mean photometric, smoothness and total loss of the batches under one pyramid."""
    sums = dict.fromkeys(TERMS, 0.0)
    with torch.no_grad(), pyramid(kind):
        for batch in batches:
            torch.manual_seed(0)  # the auto-mask's tie-break noise: the same in every pipeline
            out = task(batch)
            sums["photometric"] += float(out.scalars["photometric"])
            sums["smoothness"] += float(out.scalars["smoothness"])
            sums["loss"] += float(out.loss)
    return {name: value / len(batches) for name, value in sums.items()}


def fixed_weight_table(roots: dict[str, Path], weights: dict[str, dict[str, torch.Tensor]],
                       batches_per_root: int) -> None:
    cfg = config(roots["area"])
    batches = {method: fixed_batches(config(root), batches_per_root, cfg.optim.batch_size)
               for method, root in roots.items()}
    area = torch.cat([b["frames"][:, 0] for b in batches["area"]])
    lanczos = torch.cat([b["frames"][:, 0] for b in batches["lanczos"]])
    print(f"dataset images, INTER_AREA vs Lanczos: mean |difference| "
          f"{(area - lanczos).abs().mean() * 255:.2f} / 255, max "
          f"{(area - lanczos).abs().max() * 255:.0f} / 255")
    print(f"\nPart 1: fixed weights, {batches_per_root} batches x {cfg.optim.batch_size}, "
          "unaugmented; differences relative to the reference pipeline")
    for label, state in weights.items():
        task = build_task(cfg)
        task.load_state_dict(state)
        task.train()
        terms = {name: loss_terms(task, batches[PIPELINES[name][0]], PIPELINES[name][1])
                 for name in PIPELINES}
        reference = terms["reference"]
        print(f"  weights: {label}")
        for name, values in terms.items():
            cells = ", ".join(
                f"{term} {values[term]:.6f} ({values[term] - reference[term]:+.2e}, "
                f"{100 * (values[term] / reference[term] - 1):+.2f}%)" for term in TERMS)
            print(f"    {name:9s} {cells}")
        old, ours = terms["old"], terms["ours"]
        print(f"    pyramid alone (same INTER_AREA images), old vs ours: smoothness "
              f"{100 * (old['smoothness'] / ours['smoothness'] - 1):+.2f}%, total "
              f"{old['loss'] - ours['loss']:+.2e}")


def train_and_score(root: Path, out_dir: Path, kind: str, seed: int,
                    steps: int) -> tuple[dict[str, float], dict[str, torch.Tensor]]:
    """Train one short run; (held-out AbsRel median-scaled and x5.4, trained weights)."""
    steps_per_epoch = 89  # 356 training samples / batch 4
    cfg = config(root, [f"run.out_dir={out_dir}", f"run.seed={seed}",
                        f"optim.max_steps={steps}",
                        f"optim.epochs={math.ceil(steps / steps_per_epoch)}",
                        "optim.scheduler_step=1000", "run.save_every=100000",
                        "run.image_every=100000"])
    runtime = setup_runtime(cfg.run)
    try:
        with pyramid(kind):
            trainer = Trainer(cfg, runtime)
            trainer.fit()
    finally:
        teardown_runtime(runtime)
    task = trainer.task.eval()
    scores = {}
    for label, scaling in (("median", Scaling("median")),
                           ("x5.4", Scaling("fixed", STEREO_METRES_PER_UNIT))):
        result = evaluate_depth_model(task, cfg, cfg.data.val_split, gt_source="dense",
                                      scaling=scaling)
        scores[label] = result.metrics["abs_rel"]
    return scores, {k: v.detach().clone() for k, v in task.state_dict().items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", required=True, help="generated outdoor root (416 x 128)")
    parser.add_argument("--work", help="folder for the resized copies and runs (default: temp)")
    parser.add_argument("--steps", type=int, default=300, help="training steps per run")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--batches", type=int, default=8, help="batches scored in part 1")
    args = parser.parse_args()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))

    with tempfile.TemporaryDirectory() as temp:
        work = Path(args.work or temp)
        size_cfg = config(Path(args.root))
        size = (size_cfg.data.width, size_cfg.data.height)
        roots = {method: prepare_root(Path(args.root), work / method, size, method)
                 for method in ("area", "lanczos")}

        print(f"Part 2: {args.steps} steps of {CONFIG} per run, seeds {args.seeds}; AbsRel on "
              "drive 3 (held out)")
        results: dict[str, list[dict[str, float]]] = {name: [] for name in PIPELINES}
        trained: dict[str, torch.Tensor] = {}
        for seed in args.seeds:
            for name, (method, kind) in PIPELINES.items():
                scores, state = train_and_score(roots[method], work / f"run_{name}_{seed}",
                                                kind, seed, args.steps)
                results[name].append(scores)
                if name == "ours" and not trained:
                    trained = state
                print(f"  seed {seed} {name:9s} AbsRel median-scaled {scores['median']:.4f}, "
                      f"x5.4 {scores['x5.4']:.4f}", flush=True)
        for name, runs in results.items():
            cells = []
            for label in ("median", "x5.4"):
                values = np.array([run[label] for run in runs])
                cells.append(f"{label} {values.mean():.4f} +- {values.std():.4f}")
            print(f"  mean over seeds {name:9s} {', '.join(cells)}")

        torch.manual_seed(0)
        untrained = build_task(size_cfg).state_dict()
        fixed_weight_table(roots, {"untrained (seed 0)": untrained,
                                   f"trained ({args.steps} steps, ours, seed "
                                   f"{args.seeds[0]})": trained}, args.batches)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
