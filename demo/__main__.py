"""`make demo`: the robot workflow, record -> train -> deploy, on this machine's CPU.

    python -m demo                                  # reuse the recording and a finished run
    python -m demo --retrain                        # train again from scratch
    python -m demo --set optim.max_steps=50         # a shorter run (any training config key)

Stages: write a generated robot recording (rosbag2: camera 320 x 240 with camera_info, noisy
/odom, /tf_static, a ground-truth depth topic) -> train Monodepth2 monocular on it with the
odometry's motion driving the warps, so depth comes out in metres (config/train/robot_demo.yaml)
-> export ONNX (metric contract carrying the bag's camera) -> build the ROS 2 package with colcon
-> start monodepth_node from the install tree (scale mode `metadata`) -> stream the recording's
held-out frames to it as Image + CameraInfo -> score what it published against the bag's depth
and write demo_output/: metrics.json, input | depth | ground-truth strips, a view of the cloud.
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

from demo.recording import HeldOut, held_out_frames
from demo.report import DemoReport, write_report
from demo.stream import StreamResult, stream_frames
from harness.colcon import colcon_build, install_environment, installed_executable
from harness.node_process import NodeProcess, claim_domain_id, localhost_discovery
from harness.ros_link import RosHarness
from training.__main__ import main as training_main
from training.config import ConfigError, TrainConfig, config_to_dict, load_config
from training.export import export_onnx
from training.synthetic.rosbag2 import generate_robot
from training.tasks.build import load_task

REPO = Path(__file__).resolve().parents[1]
TRAIN_CONFIG = REPO / "config" / "train" / "robot_demo.yaml"
STAGES = ("generate data", "train", "export ONNX", "colcon build", "run the ROS 2 node", "report")
RECORDING_FRAMES = 300  # 30 s of camera at 10 Hz
RECORDING_SIZE = (320, 240)  # camera width, height
STREAM_RATE_HZ = 10.0  # the recording's camera rate


class StageError(RuntimeError):
    """A stage failed; the message says which and why."""


@dataclass(frozen=True)
class DemoPaths:
    data: Path  # the generated recording(s)
    run: Path  # training run folder
    model: Path  # exported ONNX model
    build: Path  # colcon build and install trees
    output: Path  # what the demo shows

    @classmethod
    def under(cls, root: Path, output: Path) -> DemoPaths:
        return cls(root / "data" / "robot_demo", root / "runs" / "robot_demo",
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


def generate_data(paths: DemoPaths, frames: int) -> None:
    """Write the robot recording, unless a complete one is there (rosbags writes a bag's
    metadata.yaml last; a bag without it was interrupted and is written again)."""
    if any(paths.data.glob("*/metadata.yaml")):
        print(f"    reusing {paths.data}")
        return
    shutil.rmtree(paths.data, ignore_errors=True)
    width, height = RECORDING_SIZE
    print(f"    writing a rosbag2 robot recording ({frames} frames, {width} x {height}) to "
          f"{paths.data}")  # fmt: skip
    summary = generate_robot(paths.data, frames=frames, width=width, height=height, seed=0,
                             progress=True)  # fmt: skip
    print(f"    {summary.line()}")


def train(paths: DemoPaths, overrides: list[str], retrain: bool) -> Path:
    checkpoint = paths.run / "last.pt"
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


def run_config(run: Path, overrides: list[str]) -> TrainConfig:
    """The demo's training config as it reads now, for the run folder `run`."""
    return load_config(TRAIN_CONFIG, [*overrides, f"run.out_dir={run}"])


def finished_with(run: Path, overrides: list[str]) -> bool:
    """Whether the run in `run` was trained with the demo's config as it reads now."""
    try:
        used = load_config(run / "config.yaml")
    except (ConfigError, OSError):
        return False
    return config_to_dict(used) == config_to_dict(run_config(run, overrides))


def export(paths: DemoPaths, checkpoint: Path) -> None:
    """The metric contract (units metres) with the recording's camera (data.root's camera_info)."""
    cfg, task = load_task(checkpoint)
    result = export_onnx(task.eval(), cfg, paths.model, created=f"make demo from {checkpoint}")
    contract = result.contract
    print(f"    {result.path}: units {contract.units} x {contract.metres_per_unit} m; ONNX "
          f"Runtime vs PyTorch max relative difference {result.parity.max_rel_diff:.1e}")


def build_package(paths: DemoPaths) -> Path:
    """Build the package as a robot would; return the installed monodepth_node."""
    executable = installed_executable(colcon_build(paths.build))
    if not executable.is_file():
        raise StageError(f"stage 4 (colcon build): {executable} was not installed")
    print(f"    installed {executable}")
    return executable


def run_node(
    paths: DemoPaths, executable: Path, held_out: HeldOut, range_max_m: float
) -> StreamResult:
    """Start the installed node on a ROS domain claimed for the demo (never one a test run
    holds), stream the held-out frames to it and stop it; return what it published."""
    params = {"model": str(paths.model.resolve()), "scale.mode": "metadata",
              "range.max": range_max_m, "providers": ["CPUExecutionProvider"],
              "cloud.rgb": True, "cloud.decimation": 1}  # fmt: skip
    install = paths.build / "install"
    frames = [frame.rgb for frame in held_out.frames]
    with claim_domain_id() as domain_id, localhost_discovery():
        node = NodeProcess(domain_id, paths.output / "node", params,
                           executable=[str(executable)],
                           extra_env=install_environment(install))  # fmt: skip
        ros = RosHarness(domain_id)
        try:
            ros.wait_for_node(timeout=60.0)
            print(f"    monodepth_node is up (pid {node.pid}); streaming {len(frames)} held-out "
                  f"frames of {held_out.bag.name} at {STREAM_RATE_HZ:g} Hz")  # fmt: skip
            result = stream_frames(ros, frames, held_out.camera, STREAM_RATE_HZ,
                                   held_out.frame_id)  # fmt: skip
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
    parser.add_argument("--workdir", type=Path, default=REPO,
                        help="where data/, runs/ and build/ go (default: the repository)")
    parser.add_argument("--frames", type=int, default=RECORDING_FRAMES,
                        help="frames of the generated recording (10 Hz)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help=f"override a key of {TRAIN_CONFIG.name}, e.g. optim.max_steps=50")
    args = parser.parse_args(argv)
    paths = DemoPaths.under(args.workdir, args.output)
    paths.output.mkdir(parents=True, exist_ok=True)
    overrides = [f"data.root={paths.data}", *args.set]
    started = time.monotonic()
    try:
        with stage(1):
            generate_data(paths, args.frames)
        with stage(2):
            checkpoint = train(paths, overrides, args.retrain)
        with stage(3):
            export(paths, checkpoint)
        with stage(4):
            executable = build_package(paths)
        with stage(5):
            cfg = run_config(paths.run, overrides)
            held_out = held_out_frames(cfg.data)
            streamed = run_node(paths, executable, held_out, cfg.model.max_depth)
        with stage(6):
            report: DemoReport = write_report(paths.output, paths.model,
                                              paths.run / "summary.json", held_out, streamed,
                                              cfg.model.max_depth)  # fmt: skip
    except StageError as err:
        print(f"\ndemo failed: {err}", file=sys.stderr)
        return 1
    print(f"\n{report.summary()}\n\ndemo finished in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
