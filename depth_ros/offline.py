"""Offline depth for your own footage, no ROS needed.

    python -m depth_ros.offline model.onnx frames/ --out depth_out
    python -m depth_ros.offline model.onnx drive.mp4 --intrinsics camera.yaml --ply
    python -m depth_ros.offline model.onnx my_bag/ --topic /camera/image_raw --npy --ply

Inputs are image files, folders of images, videos, or rosbag2 recordings (sqlite3 or MCAP) with an
image topic. For every frame it writes, under --out:
  <name>_depth.png   16-bit millimetres, 0 = unknown (REP 118)            (--png16, default on)
  <name>.npy         float32 metres, NaN = unknown                        (--npy)
  <name>_color.png   colour-mapped preview                                (--color, default on)
  <name>.ply         point cloud in the camera optical frame, metres      (--ply)
<name> is the input's file name without its extension (videos and bags add the frame's index or
stamp); inputs whose names repeat (a/1.png b/1.png, x.png x.jpg) get their folders or extension
too (a_1_png, b_1_png, x_png, x_jpg), so that no output overwrites another.
It runs the same preprocessing, metric scaling and point-cloud code as the node. Files that cannot
be read are reported by name and skipped; the exit status is then 1. Arguments and the model (it
must give finite depth) are checked before anything is written. Every output is written whole or
not at all; a failed write (disk full, read-only folder) stops the run with one line naming the
file, exit status 1. `--debug` (or DEPTH_ROS_DEBUG=1) shows the traceback of an unexpected error.
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
from pathlib import Path

import numpy as np
from tqdm import tqdm

from depth_ros.atomic_files import (
    FileWriteError,
    atomic_write,
    describe_os_error,
    remove_orphaned_temps,
    write_png,
)
from depth_ros.camera import CameraInfoError, PinholeIntrinsics, read_intrinsics_yaml
from depth_ros.camera_fit import FIT_MODES
from depth_ros.colorize import COLORMAPS, colorize_depth
from depth_ros.depth_pipeline import DepthFrame, DepthPipeline, cloud_points
from depth_ros.error_report import DEBUG_HELP, run_reporting_errors
from depth_ros.frame_sources import Frame, SourceError, expand_inputs, input_names, read_frames
from depth_ros.inference import DepthEstimator, ModelLoadError
from depth_ros.pointcloud import write_ply
from depth_ros.scale import MetricScaler, ScaleMode

log = logging.getLogger("depth_ros.offline")
MAX_PNG16_M = 65.535  # metres that fit in a uint16 of millimetres


def depth_to_png16(depth_m: np.ndarray) -> np.ndarray:
    """Metres (NaN unknown) to uint16 millimetres (0 unknown, REP 118); beyond 65.535 m is 0."""
    with np.errstate(invalid="ignore"):
        valid = np.isfinite(depth_m) & (depth_m > 0.0) & (depth_m <= MAX_PNG16_M)
    millimetres = np.zeros(depth_m.shape, np.uint16)
    millimetres[valid] = np.rint(depth_m[valid] * 1000.0).astype(np.uint16)
    return millimetres


def frame_camera(frame: Frame, fixed: PinholeIntrinsics | None) -> PinholeIntrinsics | None:
    """The camera of this frame: the --intrinsics file (scaled to the frame's size), else the
    recording's camera_info, else unknown."""
    height, width = frame.rgb.shape[:2]
    camera = fixed if fixed is not None else frame.intrinsics
    return None if camera is None else camera.scaled(width, height)  # same size: an equal copy


def save_outputs(
    out_dir: Path, frame: Frame, result: DepthFrame, args: argparse.Namespace
) -> None:
    if args.png16:
        write_png(out_dir / f"{frame.name}_depth.png", depth_to_png16(result.depth))
    if args.npy:
        with atomic_write(out_dir / f"{frame.name}.npy") as handle:
            np.save(handle, result.depth)
    if args.color:
        preview = colorize_depth(result.depth, args.range_min, args.range_max, args.colormap)
        write_png(out_dir / f"{frame.name}_color.png", preview)
    if args.ply and result.camera is not None:
        points, colours = cloud_points(result, frame.rgb)
        write_ply(out_dir / f"{frame.name}.ply", points, colours)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", type=Path, help="exported ONNX model")
    parser.add_argument("inputs", type=Path, nargs="+", help="images, folders, videos, rosbag2")
    parser.add_argument("--out", type=Path, default=Path("depth_out"), help="output folder")
    parser.add_argument("--topic", default="", help="image topic, for rosbag2 inputs")
    parser.add_argument("--camera-info-topic", default="",
                        help="rosbag2 camera_info topic (default: next to the image topic)")
    parser.add_argument("--intrinsics", type=Path,
                        help="camera YAML (fx, fy, cx, cy, width, height); overrides the bag's")
    parser.add_argument("--camera-fit", default="crop", choices=FIT_MODES,
                        help="reach the model's training aspect by cropping or padding")
    parser.add_argument("--png16", action=argparse.BooleanOptionalAction, default=True,
                        help="16-bit millimetre PNGs")
    parser.add_argument("--npy", action=argparse.BooleanOptionalAction, default=False,
                        help="float32 metre arrays")
    parser.add_argument("--color", action=argparse.BooleanOptionalAction, default=True,
                        help="colour-mapped previews")
    parser.add_argument("--ply", action=argparse.BooleanOptionalAction, default=False,
                        help="point clouds (need intrinsics)")
    parser.add_argument("--colormap", default="turbo", choices=sorted(COLORMAPS))
    parser.add_argument("--scale-mode", default="metadata", choices=[m.value for m in ScaleMode])
    parser.add_argument("--scale-factor", type=float, default=1.0, help="metres per model unit")
    parser.add_argument("--camera-height", type=float, default=1.65,
                        help="metres above the ground (ground_plane mode)")
    parser.add_argument("--range-min", type=float, default=0.1, help="metres")
    parser.add_argument("--range-max", type=float, default=100.0, help="metres")
    parser.add_argument("--full-resolution", action="store_true",
                        help="upsample depth to the input resolution")
    parser.add_argument("--providers", default="",
                        help="ONNX Runtime providers in priority order, comma-separated: "
                             "tensorrt, cuda, cpu or full names (default: all three)")
    parser.add_argument("--debug", action="store_true", help=DEBUG_HELP)


def argument_problem(args: argparse.Namespace) -> str:
    """What is wrong with the numeric arguments, or "" (checked before anything is written)."""
    if not (math.isfinite(args.range_min) and args.range_min > 0):
        return f"--range-min {args.range_min} must be a finite distance > 0 (metres)"
    if not (math.isfinite(args.range_max) and args.range_max > args.range_min):
        return (f"--range-max {args.range_max} must be finite and above --range-min "
                f"{args.range_min} (metres)")
    if not (math.isfinite(args.scale_factor) and args.scale_factor > 0):
        return f"--scale-factor {args.scale_factor} must be a finite number > 0 (metres per unit)"
    if not (math.isfinite(args.camera_height) and args.camera_height > 0):
        return f"--camera-height {args.camera_height} must be a finite height > 0 (metres)"
    return ""


def model_problem(estimator: DepthEstimator) -> str:
    """"" when the model gives finite depth on a grey frame; broken weights give NaN/Inf."""
    width, height = estimator.input_size
    depth = estimator.predict(np.full((height, width, 3), 128, np.uint8))
    broken = int(np.count_nonzero(~np.isfinite(depth)))
    if broken:
        return (f"model {estimator.model_path} gives NaN/Inf depth at {broken} of {depth.size} "
                "pixels of a grey test frame: its weights are broken")
    return ""


def main(argv: list[str] | None = None) -> int:
    return run_reporting_errors(run, sys.argv[1:] if argv is None else argv)


def run(argv: list[str]) -> int:
    """Parse `argv` and write depth for every input (exceptions escape)."""
    parser = argparse.ArgumentParser(
        prog="python -m depth_ros.offline",
        description=__doc__.split("\n")[0],
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_arguments(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    problem = argument_problem(args)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    try:
        providers = [p.strip() for p in args.providers.split(",") if p.strip()] or None
        estimator = DepthEstimator(args.model, providers)
        scaler = MetricScaler(args.scale_mode, args.scale_factor, args.camera_height,
                              contract=estimator.contract)  # fmt: skip
        fixed_camera = read_intrinsics_yaml(args.intrinsics) if args.intrinsics else None
        inputs = expand_inputs(args.inputs)
        names = input_names(inputs)
        problem = model_problem(estimator)
    except (ModelLoadError, CameraInfoError, SourceError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if problem:
        print(f"error: {problem}; nothing written", file=sys.stderr)
        return 2
    pipeline = DepthPipeline(estimator, scaler, args.range_min, args.range_max,
                             args.full_resolution, args.camera_fit)  # fmt: skip
    try:
        args.out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        print(f"error: cannot create the output folder {args.out}: {describe_os_error(err)}",
              file=sys.stderr)
        return 1
    for orphan in remove_orphaned_temps(args.out):
        log.info("removed %s, left by an interrupted run", orphan)
    log.info("model %s on %s", args.model, ", ".join(estimator.providers))

    failed: list[str] = []
    written = 0
    missing_camera = False
    with tqdm(total=len(inputs), unit="input", desc="depth") as progress:
        for path, name in zip(inputs, names, strict=True):
            try:
                for frame in read_frames(path, args.topic, args.camera_info_topic, name):
                    result = pipeline.process(frame.rgb, frame_camera(frame, fixed_camera))
                    missing_camera |= args.ply and result.camera is None
                    save_outputs(args.out, frame, result, args)
                    written += 1
                    progress.set_postfix(frames=written, scale=f"{result.factor:.3g}")
            except FileWriteError as err:
                progress.close()
                print(f"error: {err}; {written} frame(s) were written to {args.out} before it",
                      file=sys.stderr)
                return 1
            except (SourceError, CameraInfoError, OSError) as err:
                failed.append(str(path))
                tqdm.write(f"skipped {path}: {err}")
            progress.update()
    if missing_camera:
        log.warning("no intrinsics for some frames: give --intrinsics to get point clouds")
    print(f"{written} frame(s) from {len(inputs) - len(failed)} input(s) written to {args.out}")
    if failed:
        print(f"{len(failed)} input(s) failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
