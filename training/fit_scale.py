"""`python -m training fit-scale`: metres per depth unit of a model from an odometry recording.

    python -m training fit-scale --checkpoint runs/x/last.pt --output runs/x/metric.pt
    python -m training fit-scale --checkpoint street.pt --set data.root=data/robot \\
        --set data.dataset=rosbag2 --output robot_metric.pt

For models trained without model.scale_from_odometry: monocular runs on a recording, models
adapted from elsewhere, or a check of a model against another recording. The fit is the one the
trainer runs (training/odometry_scale.py) on the training split of the checkpoint's data, or of
the data the `--set` overrides name; data.odometry is switched on for it. `--output` writes a copy
of the checkpoint whose config carries the scale (model.metres_per_unit), which `export` turns
into a metric model; the checkpoint given is never changed.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import sys

import torch

from training.checkpoint import CheckpointError, load_weights, read_checkpoint, save_checkpoint
from training.config import ConfigError, apply_overrides, config_from_dict, config_to_dict
from training.datasets import DatasetError
from training.odometry_scale import FIT_FRAMES, ScaleFitError, fit_on_training_frames
from training.tasks.build import build_task
from training.tasks.monodepth2 import Monodepth2Task


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, help="our checkpoint (.pt)")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE",
                        help="override the checkpoint's data config for the fit, e.g. "
                             "data.root=data/robot (repeatable)")
    parser.add_argument("--frames", type=int, default=FIT_FRAMES,
                        help=f"training frames to fit on, evenly spaced (default {FIT_FRAMES})")
    parser.add_argument("--output", help="write a copy of the checkpoint carrying the scale")
    parser.add_argument("--device", default="cpu", help="cpu | cuda | cuda:N (default cpu)")


def main(args: argparse.Namespace) -> int:
    if args.frames < 1:
        print(f"error: --frames {args.frames} must be >= 1", file=sys.stderr)
        return 2
    device = torch.device(args.device)
    try:
        state = read_checkpoint(args.checkpoint, device)
        trained = config_from_dict(state["config"])
        fit_config = config_from_dict(apply_overrides(
            copy.deepcopy(state["config"]), [*args.overrides, "data.odometry=true"]))
        if not [offset for offset in fit_config.data.frame_offsets if offset != 0]:
            raise ConfigError("the fit warps temporal neighbours; data.frame_offsets has none: "
                              "add --set data.frame_offsets=[0,-1,1]")
        build_config = copy.deepcopy(fit_config)
        build_config.model.weights_init = "scratch"
        task = build_task(build_config)
        if not isinstance(task, Monodepth2Task):
            raise ConfigError(f"{args.checkpoint} is a {trained.model.architecture} model; the "
                              "odometry fit needs a self-supervised monodepth2 one")
        load_weights(task, state["model"], source=args.checkpoint, may_lack="pose_net.")
        task.to(device)
        fit = fit_on_training_frames(task, fit_config.data, device, args.frames)
    except (CheckpointError, ConfigError, DatasetError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except ScaleFitError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"1 depth unit = {fit.metres_per_unit:.4g} m ({fit.per_batch_low:.4g}-"
          f"{fit.per_batch_high:.4g} per batch of 8), fitted on {fit.frames} frames of "
          f"{fit_config.data.root} (photometric error {fit.photometric:.4f} there, "
          f"{fit.photometric_as_is:.4f} in the model's units, {fit.photometric_unwarped:.4f} "
          "not warped)")
    if args.output:
        metric = dataclasses.replace(trained, model=dataclasses.replace(
            trained.model, metres_per_unit=fit.metres_per_unit))
        save_checkpoint(args.output, {**state, "config": config_to_dict(metric)})
        print(f"wrote {args.output}: units metric, {fit.metres_per_unit:.4g} m per unit")
    return 0
