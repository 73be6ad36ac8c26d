"""`make demo`: the whole pipeline on a generated street, on this machine's CPU.

    python -m demo              # reuse data and a finished training run when they exist
    python -m demo --retrain    # train again from scratch

Stages: generate a road sequence with exact depth -> train Monodepth2 on it -> export ONNX ->
build the ROS 2 package with colcon -> start monodepth_node from the install tree -> stream the
held-out frames to it as Image + CameraInfo -> score and save what it published in demo_output/:
input | depth | ground-truth strips, a PLY cloud, metrics.json.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

if TYPE_CHECKING:
    from demo.stream import StreamResult

REPO = Path(__file__).resolve().parents[1]
TRAIN_CONFIG = REPO / "config" / "train" / "synthetic.yaml"
STAGES = ("generate data", "train", "export ONNX", "colcon build", "run the ROS 2 node", "report")
STREAM_RATE_HZ = 10.0  # a typical camera driver rate
CAMERA_HEIGHT_M = 1.65  # the generator's camera height above the road
FRAME_ID = "camera_optical_frame"


class StageError(RuntimeError):
    """A stage failed; the message says which and why."""


@dataclass(frozen=True)
class DemoPaths:
    data: Path  # generated dataset root
    run: Path  # training run folder
    model: Path  # exported ONNX model
    build: Path  # colcon build and install trees
    output: Path  # what the demo shows

    @classmethod
    def under(cls, root: Path, output: Path) -> DemoPaths:
        return cls(root / "data" / "synthetic_outdoor", root / "runs" / "synthetic",
                   output / "model.onnx", root / "build" / "demo", output)  # fmt: skip


@contextlib.contextmanager
def stage(number: int) -> Iterator[None]:
    """Announce a stage, time it, and turn any failure into a StageError naming it."""
    name = STAGES[number - 1]
    print(f"\n[{number}/{len(STAGES)}] {name}", flush=True)
    started = time.monotonic()
    try:
        yield
    except StageError:
        raise
    except BaseException as err:
        if isinstance(err, KeyboardInterrupt):
            raise
        raise StageError(f"stage {number} ({name}) failed: {type(err).__name__}: {err}") from err
    print(f"    done in {time.monotonic() - started:.1f} s", flush=True)


def generate_data(paths: DemoPaths) -> None:
    from training.synthetic.kitti import generate_outdoor

    if (paths.data / "splits" / "test_files.txt").is_file():
        print(f"    reusing {paths.data}")
        return
    print(f"    writing KITTI-raw layout with exact depth to {paths.data}")
    summary = generate_outdoor(paths.data, seed=0, progress=True)
    print(f"    {summary.line()}")


def train(paths: DemoPaths, retrain: bool) -> Path:
    from training.__main__ import main as training_main

    checkpoint = paths.run / "last.pt"
    overrides = [f"data.root={paths.data}"]
    if checkpoint.is_file() and (paths.run / "summary.json").is_file() and not retrain:
        if finished_with(paths.run, overrides):
            print(f"    reusing the finished run {paths.run} (pass --retrain to train again)")
            return checkpoint
        print(f"    {TRAIN_CONFIG.name} changed since {paths.run} was trained: training again")
    if paths.run.exists():  # the trainer never overwrites a run; keep the last one beside it
        previous = paths.run.with_name(f"{paths.run.name}.previous")
        shutil.rmtree(previous, ignore_errors=True)
        paths.run.rename(previous)
        print(f"    the earlier run is kept in {previous}")
    argv = ["train", "--config", str(TRAIN_CONFIG), "--out-dir", str(paths.run)]
    for override in overrides:
        argv += ["--set", override]
    code = training_main(argv)  # exactly `python -m training train ...`
    if code != 0:
        raise StageError(f"stage 2 (train) failed: the trainer exited with {code}")
    return checkpoint


def finished_with(run: Path, overrides: list[str]) -> bool:
    """Whether the run in `run` was trained with the quick config as it reads now."""
    from training.config import ConfigError, config_to_dict, load_config

    wanted = load_config(TRAIN_CONFIG, [*overrides, f"run.out_dir={run}"])
    try:
        used = load_config(run / "config.yaml")
    except (ConfigError, OSError):
        return False
    return config_to_dict(used) == config_to_dict(wanted)


def export(paths: DemoPaths, checkpoint: Path) -> None:
    from training.checkpoint import load_task
    from training.export import export_onnx

    cfg, task = load_task(checkpoint)
    result = export_onnx(task.eval(), cfg, paths.model, created=f"make demo from {checkpoint}")
    print(f"    {result.path}: ONNX Runtime vs PyTorch max relative difference "
          f"{result.parity.max_rel_diff:.1e}")  # fmt: skip


def build_package(paths: DemoPaths) -> Path:
    """Build the package as a robot would; return the installed monodepth_node."""
    from demo.colcon import colcon_build, installed_executable

    executable = installed_executable(colcon_build(paths.build))
    if not executable.is_file():
        raise StageError(f"stage 4 (colcon build): {executable} was not installed")
    print(f"    installed {executable}")
    return executable


@dataclass(frozen=True)
class HeldOutFrame:
    rgb: np.ndarray  # H x W x 3 uint8, camera resolution
    gt: np.ndarray  # H x W float32 metres, 0 = unknown (sky)


def held_out_frames(paths: DemoPaths) -> tuple[list[HeldOutFrame], object]:
    """The test split's left-camera frames with ground truth, and their camera."""
    from depth_ros.camera import PinholeIntrinsics
    from training.datasets import KITTI_NORMALIZED_K, read_split
    from training.synthetic.sequence_files import read_depth

    frames = []
    for entry in read_split(paths.data / "splits" / "test_files.txt"):
        drive = paths.data / entry.folder
        bgr = cv2.imread(str(drive / "image_02" / "data" / f"{entry.frame_index:010d}.png"))
        frames.append(HeldOutFrame(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB),
                                   read_depth(drive, entry.frame_index)))  # fmt: skip
    height, width = frames[0].rgb.shape[:2]
    k = KITTI_NORMALIZED_K
    camera = PinholeIntrinsics.from_normalized(k.fx, k.fy, k.cx, k.cy, width, height)
    return frames, camera


def run_node(
    paths: DemoPaths, executable: Path, frames: list[HeldOutFrame], camera: object
) -> StreamResult:
    """Start the installed node on a ROS domain claimed for the demo (never one a test run
    holds), stream the frames to it and stop it; return what it published."""
    from demo.colcon import install_environment
    from demo.node_process import NodeProcess, claim_domain_id, localhost_discovery
    from demo.ros_link import RosHarness
    from demo.stream import stream_frames

    params = {"model": str(paths.model.resolve()), "scale.mode": "ground_plane",
              "scale.camera_height": CAMERA_HEIGHT_M, "range.max": 1000.0,
              "providers": ["CPUExecutionProvider"], "cloud.rgb": True,
              "cloud.decimation": 1}  # fmt: skip
    install = paths.build / "install"
    with claim_domain_id() as domain_id, localhost_discovery():
        node = NodeProcess(domain_id, paths.output / "node", params,
                           executable=[str(executable)],
                           extra_env=install_environment(install))  # fmt: skip
        ros = RosHarness(domain_id)
        try:
            ros.wait_for_node(timeout=60.0)
            print(f"    monodepth_node is up (pid {node.pid}); streaming {len(frames)} held-out "
                  f"frames at {STREAM_RATE_HZ:g} Hz")  # fmt: skip
            result = stream_frames(ros, [f.rgb for f in frames], camera, STREAM_RATE_HZ,
                                   FRAME_ID)  # fmt: skip
        finally:
            ros.close()
            code = node.stop()
    if code != 0:
        raise StageError(f"stage 5: monodepth_node exited with {code}; log: {node.log_path}")
    print(f"    received {len(result.depth)}/{result.published} depth images, "
          f"{result.output_fps:.1f} fps")  # fmt: skip
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m demo", description=__doc__.split("\n")[0])
    parser.add_argument("--retrain", action="store_true", help="train again from scratch")
    parser.add_argument("--output", type=Path, default=REPO / "demo_output")
    args = parser.parse_args(argv)
    paths = DemoPaths.under(REPO, args.output)
    paths.output.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    try:
        with stage(1):
            generate_data(paths)
        with stage(2):
            checkpoint = train(paths, args.retrain)
        with stage(3):
            export(paths, checkpoint)
        with stage(4):
            executable = build_package(paths)
        with stage(5):
            frames, camera = held_out_frames(paths)
            streamed = run_node(paths, executable, frames, camera)
        with stage(6):
            from demo.report import write_report

            report = write_report(paths, checkpoint, frames, streamed)
    except StageError as err:
        print(f"\ndemo failed: {err}", file=sys.stderr)
        return 1
    print(f"\n{report}\n\ndemo finished in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
