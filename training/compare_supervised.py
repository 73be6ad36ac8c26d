"""Train the four supervised NYUv2 models of Zheng, Sznaier Camps and Guo, "Estimating Depth From
RGB Monocular Images", on the same data and compare them (the paper's Table 1).

    # generated rooms on a CPU: small encoders, no ImageNet weights, 300 steps each
    python -m training generate --kind indoor --out data/synthetic_indoor --width 96 --height 64
    python -m training compare-supervised --root data/synthetic_indoor --height 64 --width 96 \
        --small --steps 300 --out-dir runs/compare_synthetic
    # the paper's setup on labelled NYUv2 (config/train/nyu_*.yaml: 480 x 640, ImageNet encoders)
    python -m training compare-supervised --dataset nyu_labeled \
        --root data/nyu_depth_v2_labeled.mat --test-split splits/nyu_labeled/test_files.txt

Each model starts from config/train/nyu_<model>.yaml; the data options, `--small` and `--set`
overrides apply to all of them, and all share one input normalisation (the training split's
per-channel mean and std), so only the architecture differs. Each trains with the ordinary
trainer into <out-dir>/<model>/ and is scored on the test split with training/evaluation's
protocol for the dataset (metric: no scaling). With `--steps`, every model takes that many
optimiser steps at a constant learning rate. Prints the table and writes <out-dir>/comparison.json.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
from dataclasses import dataclass
from pathlib import Path

from training.config import ConfigError, TrainConfig, load_config
from training.datasets import find_split
from training.datasets.build import build_dataset
from training.device import setup_runtime
from training.evaluation.runner import evaluate_depth_model
from training.models.supervised import SUPERVISED_ARCHITECTURES, architecture_label
from training.tasks.supervised import resolve_input_statistics
from training.trainer import Trainer

LOG = logging.getLogger(__name__)

# CPU-sized encoders without ImageNet weights, for generated data and quick checks. The encoders
# then train (a frozen random encoder would only offer random features).
SMALL_OVERRIDES = ("model.weights_init=scratch", "model.freeze_encoder=false",
                   "model.num_layers=18", "model.fpn_backbone=resnet18", "data.num_workers=0")
TABLE_METRICS = (("l1", "L1"), ("l2", "L2"), ("smooth_l1", "smooth-L1"), ("abs_rel", "AbsRel"),
                 ("rmse", "RMSE"), ("a1", "delta1"))


@dataclass
class ModelResult:
    """One row of the comparison."""

    architecture: str  # cfg.model.architecture
    label: str  # e.g. unet-resnet18
    parameters: int  # all parameters of the depth model
    trainable: int  # those the optimiser updates (a frozen encoder is not)
    train_seconds: float  # the trainer's wall time (data, steps, validation, checkpoints)
    steps: int
    metrics: dict[str, float]  # training/metrics.py names, averaged over test images
    untrained_rmse: float  # the same model before training, for scale


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--models", default=",".join(SUPERVISED_ARCHITECTURES),
                        help="comma-separated subset of " + ", ".join(SUPERVISED_ARCHITECTURES))
    parser.add_argument("--config-dir", default="config/train",
                        help="folder with the nyu_<model>.yaml base configs")
    parser.add_argument("--dataset", default="rgbd_folder", help="rgbd_folder or nyu_labeled")
    parser.add_argument("--root", required=True, help="dataset root (folder, or the .mat file)")
    parser.add_argument("--train-split", default="splits/train_files.txt",
                        help="relative paths are looked up in the working directory, then root")
    parser.add_argument("--val-split", default="splits/val_files.txt")
    parser.add_argument("--test-split", default="splits/test_files.txt",
                        help="held-out split the table is computed on")
    parser.add_argument("--height", type=int, help="network input height (multiple of 32)")
    parser.add_argument("--width", type=int, help="network input width (multiple of 32)")
    parser.add_argument("--steps", type=int, default=0,
                        help="optimiser steps per model (0: the configs' epochs)")
    parser.add_argument("--batch-size", type=int, help="override optim.batch_size")
    parser.add_argument("--small", action="store_true", help="resnet18 encoders trained from "
                        "scratch, no loader workers (CPU runs on generated data)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="config override applied to every model (repeatable)")
    parser.add_argument("--out-dir", default="runs/compare_supervised",
                        help="one run folder per model plus comparison.json")


def main(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    try:
        configs = build_configs(args)
        results = [train_and_evaluate(cfg, args.test_split) for cfg in configs]
    except (ConfigError, FileNotFoundError, ValueError) as error:
        print(f"compare-supervised: {error}", file=sys.stderr)
        return 2
    table = format_table(results)
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "comparison.json").write_text(json.dumps([vars(r) for r in results], indent=2) + "\n")
    print(f"test split {args.test_split} of {args.root} ({configs[0].data.dataset}, "
          f"{configs[0].data.height} x {configs[0].data.width}), metres; lower is better except "
          "delta1")
    print(table)
    return 0


def build_configs(args: argparse.Namespace) -> list[TrainConfig]:
    """One validated config per requested model, sharing data, steps and input statistics."""
    names = [name.strip() for name in args.models.split(",") if name.strip()]
    unknown = [name for name in names if name not in SUPERVISED_ARCHITECTURES]
    if unknown or not names:
        raise ConfigError(f"--models {args.models!r} is invalid; expected a comma-separated "
                          f"subset of {SUPERVISED_ARCHITECTURES}")
    common = [f"data.dataset={args.dataset}", f"data.root={args.root}",
              f"data.train_split={args.train_split}", f"data.val_split={args.val_split}",
              "data.frame_offsets=[0]"]
    common += [f"data.{key}={value}" for key, value in
               (("height", args.height), ("width", args.width)) if value]
    if args.batch_size:
        common.append(f"optim.batch_size={args.batch_size}")
    common += list(SMALL_OVERRIDES) if args.small else []
    common += list(args.set)
    configs = [load_config(Path(args.config_dir) / f"nyu_{name}.yaml",
                           [*common, f"run.out_dir={Path(args.out_dir) / name}"])
               for name in names]
    mean, std = resolve_input_statistics(configs[0].data)
    samples = _training_samples(configs[0]) if args.steps else 0  # the data are shared
    for cfg in configs:
        cfg.data.input_mean, cfg.data.input_std = list(mean), list(std)
        if args.steps:
            _fix_steps(cfg, args.steps, samples)
    return configs


def train_and_evaluate(cfg: TrainConfig, test_split: str) -> ModelResult:
    """Train one model with the ordinary trainer, then score it on the test split."""
    LOG.info("training %s into %s", architecture_label(cfg.model), cfg.run.out_dir)
    trainer = Trainer(cfg, setup_runtime(cfg.run))
    untrained = evaluate_depth_model(trainer.task, cfg, test_split)
    run = trainer.fit()
    if run.exit_code:
        raise ConfigError(f"training {cfg.model.architecture} stopped with exit code "
                          f"{run.exit_code}; see {cfg.run.out_dir}")
    task = trainer.task
    evaluation = evaluate_depth_model(task, cfg, test_split)
    depth_model = task.depth_model()
    return ModelResult(
        architecture=cfg.model.architecture,
        label=architecture_label(cfg.model),
        parameters=sum(p.numel() for p in depth_model.parameters()),
        trainable=sum(p.numel() for p in depth_model.parameters() if p.requires_grad),
        train_seconds=float(run.summary["wall_time_s"]),
        steps=int(run.summary["steps"]),
        metrics=evaluation.metrics,
        untrained_rmse=untrained.metrics["rmse"],
    )


def format_table(results: list[ModelResult]) -> str:
    """Markdown table: the paper's L1 / L2 / smooth-L1 plus AbsRel, RMSE, delta1, size, time,
    and the RMSE of the same model untrained."""
    header = ["model", "params (M)", "trainable (M)", "steps", "train s",
              *(title for _, title in TABLE_METRICS), "RMSE untrained"]
    rows = [[r.label, f"{r.parameters / 1e6:.2f}", f"{r.trainable / 1e6:.2f}", str(r.steps),
             f"{r.train_seconds:.0f}", *(f"{r.metrics[key]:.4f}" for key, _ in TABLE_METRICS),
             f"{r.untrained_rmse:.4f}"]
            for r in results]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |"
             for row in [header, *rows]]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def _training_samples(cfg: TrainConfig) -> int:
    """Samples in the training split (built once: every model shares the data options)."""
    split = find_split(cfg.data.train_split, cfg.data.root, "data.train_split")
    return len(build_dataset(cfg.data, split, train=False))


def _fix_steps(cfg: TrainConfig, steps: int, samples: int) -> None:
    """Exactly `steps` optimiser steps over `samples` training samples: enough epochs, a constant
    learning rate."""
    per_epoch = samples // cfg.optim.batch_size
    if per_epoch == 0:
        raise ConfigError(f"the training split has {samples} samples, fewer than one batch of "
                          f"optim.batch_size={cfg.optim.batch_size}")
    cfg.optim.max_steps = steps
    cfg.optim.epochs = math.ceil(steps / per_epoch)
    cfg.optim.scheduler_step = cfg.optim.epochs + 1

