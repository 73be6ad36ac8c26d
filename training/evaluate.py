"""Standard depth metrics of a checkpoint or an exported ONNX model on a split with ground truth.

    python -m training evaluate --checkpoint runs/synthetic/last.pt        # data.val_split
    python -m training evaluate --checkpoint runs/synthetic/last.pt --split splits/test_files.txt \
        --grid eval/grid.png --csv eval/per_image.csv
    python -m training evaluate --onnx model.onnx --config config/train/kitti_mono.yaml \
        --split splits/kitti/eigen_test_files.txt --gt velodyne --gt-cache eval/eigen_gt.npz
    python -m training evaluate --onnx model.onnx --bag data/robot/robot_0000 \
        --depth-topic /ground_truth/depth     # every frame of a recording with a depth topic

Per image, the prediction is resized to the ground truth's size (bilinearly in inverse depth),
cropped, capped and scaled by the dataset's protocol and the model contract
(training/evaluation/protocol.py), and the metrics of training/metrics.py are averaged over
images. With --bag (rosbag2, generic protocol, ground truth from the depth topic at the model's
size) both the median-scaled and the unscaled AbsRel are reported.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
from pathlib import Path
from typing import Any

from depth_ros.atomic_files import write_png
from depth_ros.inference import ModelLoadError
from training.checkpoint import CheckpointError
from training.config import (
    ConfigError,
    TrainConfig,
    apply_overrides,
    config_from_dict,
    config_to_dict,
    load_config,
)
from training.datasets import DatasetError
from training.datasets.rosbag2 import evaluation_data
from training.evaluation.predictors import OnnxPredictor, Predictor, TorchPredictor
from training.evaluation.protocol import PROTOCOLS, Scaling, protocol_for, scaling_for
from training.evaluation.report import preview_grid, write_csv, write_json
from training.evaluation.runner import NonFiniteDepthError, evaluate_samples
from training.evaluation.samples import GT_CHOICES, iter_samples
from training.kitti_depth import CONVENTIONS, DEFAULT_CONVENTION
from training.model_contract import scoring_contract
from training.tasks.build import load_task


def add_arguments(parser: argparse.ArgumentParser) -> None:
    model = parser.add_mutually_exclusive_group(required=True)
    model.add_argument("--checkpoint", help="our checkpoint (.pt)")
    model.add_argument("--onnx", help="an exported model (.onnx, with the model contract)")
    parser.add_argument("--config", help="YAML whose data section says where the data are "
                                         "(default: the checkpoint's own config)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config key, e.g. data.root=/data/kitti (repeatable)")
    parser.add_argument("--split", help="split file (default data.val_split; relative paths are "
                                        "also looked up under data.root)")
    parser.add_argument("--bag", help="score on every frame of a rosbag2 recording (or a folder "
                                      "of them) with a depth topic instead of a split")
    parser.add_argument("--depth-topic", default="/ground_truth/depth",
                        help="--bag: ground-truth depth topic (32FC1 metres or 16UC1 mm)")
    parser.add_argument("--gt", choices=GT_CHOICES, default="auto",
                        help="KITTI ground truth: velodyne scans or dense depth_gt/*.npy "
                             "(auto: velodyne where the scans exist)")
    parser.add_argument("--gt-cache", help="velodyne ground truth cache (.npz), built if absent")
    parser.add_argument("--velodyne-gt", choices=CONVENTIONS, default=DEFAULT_CONVENTION,
                        help="velodyne depth and pixels: published (velodyne x, devkit pixels: "
                             "the Eigen ground truth behind the paper's tables) or camera "
                             "(optical-axis z, exact on the generated drives)")
    parser.add_argument("--protocol", choices=sorted(PROTOCOLS),
                        help="crop and depth caps (default: from data.dataset)")
    parser.add_argument("--scaling", choices=("median", "fixed", "none"),
                        help="default: median for relative models, the contract's factor else")
    parser.add_argument("--scale-factor", type=float, default=5.4,
                        help="metres per model unit with --scaling fixed (default 5.4)")
    parser.add_argument("--max-images", type=int, help="evaluate this many images, spread evenly")
    parser.add_argument("--device", default="cpu", help="PyTorch device for checkpoints")
    parser.add_argument("--providers", default="CPUExecutionProvider",
                        help="ONNX Runtime providers, comma separated")
    parser.add_argument("--json", help="write the results here (default: next to the model)")
    parser.add_argument("--csv", help="write per-image metrics here")
    parser.add_argument("--grid", help="write a PNG grid input | prediction | ground truth here")
    parser.add_argument("--grid-images", type=int, default=4)


def main(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        if args.checkpoint:
            ckpt_cfg, task = load_task(args.checkpoint, map_location=args.device)
            cfg = _config(args, ckpt_cfg)
            contract = scoring_contract(ckpt_cfg)
            predictor: Predictor = TorchPredictor(task, contract, args.device)
            model_path = Path(args.checkpoint)
        else:
            predictor = OnnxPredictor(args.onnx, args.providers.split(","))
            cfg = _config(args, None)
            model_path = Path(args.onnx)
        split = args.split or cfg.data.val_split
        if args.bag:
            cfg = dataclasses.replace(cfg, data=evaluation_data(cfg.data, args.bag,
                                                                args.depth_topic))
            split = "all"
        contract = predictor.contract
        size = (contract.input_width, contract.input_height)
        count, samples = iter_samples(cfg.data, split, size, args.gt, args.gt_cache,
                                      args.velodyne_gt, args.max_images)
        protocol = PROTOCOLS[args.protocol] if args.protocol else protocol_for(cfg.data.dataset)
        scaling = scaling_for(contract)
        if args.scaling:
            scaling = Scaling(args.scaling, args.scale_factor if args.scaling == "fixed" else 1.0)
        if args.bag:  # scored twice, median-scaled and not: keep the decoded frames
            samples = iter(kept := list(samples))
        result = evaluate_samples(predictor, samples, protocol, scaling, cfg.loss.smooth_l1_beta,
                                  args.grid_images if args.grid else 0)
        other = None
        if args.bag:
            other_scaling = Scaling("none") if scaling.mode == "median" else Scaling("median")
            other = evaluate_samples(predictor, iter(kept), protocol, other_scaling,
                                     cfg.loss.smooth_l1_beta)
    except (CheckpointError, ConfigError, DatasetError, FileNotFoundError, ModelLoadError,
            ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except NonFiniteDepthError as exc:
        print(f"error: {exc}; no scores written", file=sys.stderr)
        return 1

    print(f"model {model_path} ({contract.architecture}, units {contract.units}) on {split} "
          f"under {cfg.data.root}")
    print(result.describe())
    extra: dict[str, Any] = {"model": str(model_path), "split": str(split),
                             "root": cfg.data.root, "requested_images": count}
    if other is not None:
        print(f"abs_rel with scaling {result.scaling.describe()}: "
              f"{result.metrics['abs_rel']:.4f}; with scaling {other.scaling.describe()}: "
              f"{other.metrics['abs_rel']:.4f}")
        extra["other_scaling"] = other.to_dict()
    json_path = Path(args.json) if args.json else model_path.with_name(
        f"eval_{model_path.stem}_{Path(args.bag or split).stem}.json")
    write_json(result, json_path, extra)
    print(f"results written to {json_path}")
    if args.csv:
        write_csv(result, args.csv)
        print(f"per-image metrics written to {args.csv}")
    if args.grid and result.previews:
        write_png(args.grid, preview_grid(result.previews))
        print(f"preview grid written to {args.grid}")
    return 0


def _config(args: argparse.Namespace, checkpoint_cfg: TrainConfig | None) -> TrainConfig:
    """--config (or the checkpoint's config, or the defaults) with --set overrides applied."""
    if args.config or checkpoint_cfg is None:
        return load_config(args.config, args.set)
    return config_from_dict(apply_overrides(config_to_dict(checkpoint_cfg), args.set or []))
