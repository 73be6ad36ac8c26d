"""Every GPU measurement in one prepared run, for a machine with a GPU lent for minutes.

    .venv/bin/python -m bench.gpu_suite --out "$OUT" [--budget 420]

Needs the project's requirements with a CUDA build of torch and onnxruntime-gpu (TensorRT rows
need TensorRT's libraries; they are reported as not available otherwise). Each step is a
subprocess with its own timeout, so one that hangs or fails costs only its own slot; the steps
share --budget seconds and those that would start after it are skipped and listed. Everything
printed also goes to OUT/gpu_suite.txt. Steps, in order of value:

  1. the machine: GPUs, torch and onnxruntime builds and providers;
  2. training images/s at 640 x 192, batch 12, three frames (config/train/kitti_mono.yaml on a
     generated KITTI layout): fp32, bf16 AMP, channels_last, bf16 + channels_last;
  3. the loader that must feed it: samples/s per worker and with 4, 8 and 16 workers;
  4. inference ms per frame: PyTorch eager and ONNX Runtime CPU vs CUDA vs TensorRT (fp32, fp16);
  5. a 2-process DDP step (two GPUs needed: NCCL runs one rank per GPU);
  6. the node end to end with the CUDA provider (needs ROS 2's rclpy).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
TRAIN_SETTINGS = {
    "fp32": [],
    "bf16 AMP": ["run.amp=bf16"],
    "channels_last": ["run.channels_last=true"],
    "bf16 + channels_last": ["run.amp=bf16", "run.channels_last=true"],
}
MACHINE = """
import torch, onnxruntime as ort
print("torch", torch.__version__, "CUDA", torch.version.cuda, "GPUs", torch.cuda.device_count())
for i in range(torch.cuda.device_count()):
    p = torch.cuda.get_device_properties(i)
    print(f"  GPU {i}: {p.name}, {p.total_memory / 2**30:.0f} GiB, sm {p.major}.{p.minor}")
print("onnxruntime", ort.__version__, ort.get_available_providers())
"""
GPU_COUNT = "import torch; print(torch.cuda.device_count())"


class Suite:
    def __init__(self, out: Path, budget_s: float) -> None:
        self.log = (out / "gpu_suite.txt").open("a")
        self.deadline = time.monotonic() + budget_s
        self.skipped: list[str] = []

    def say(self, text: str) -> None:
        print(text, flush=True)
        self.log.write(text + "\n")
        self.log.flush()

    def step(self, title: str, command: list[str], timeout_s: float) -> str:
        """Run `command`, log its output; '' when skipped, failed or timed out."""
        left = self.deadline - time.monotonic()
        if left < min(timeout_s, 30.0):
            self.skipped.append(title)
            return ""
        self.say(f"\n=== {title}\n$ {' '.join(command)}")
        started = time.monotonic()
        try:
            done = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True,
                                  timeout=min(timeout_s, left))  # fmt: skip
        except subprocess.TimeoutExpired as err:
            self.say(f"{_text(err.stdout)}{_text(err.stderr)[-2000:]}\n(timed out after "
                     f"{time.monotonic() - started:.0f} s)")
            return ""
        self.say(done.stdout.rstrip())
        if done.returncode != 0:
            self.say(f"(exit {done.returncode}) {done.stderr[-3000:]}")
            return ""
        self.say(f"({time.monotonic() - started:.0f} s)")
        return done.stdout


def _text(stream: bytes | str | None) -> str:
    if stream is None:
        return ""
    return stream.decode(errors="replace") if isinstance(stream, bytes) else stream


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="report and data folder")
    parser.add_argument("--budget", type=float, default=420.0, help="seconds for all steps")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    suite = Suite(args.out, args.budget)
    py = sys.executable
    data = args.out / "outdoor640"

    suite.step("machine", [py, "-c", MACHINE], 60)
    suite.step("KITTI layout at 640x192", [
        py, "-m", "training.synthetic", "--kind", "outdoor", "--out", str(data),
        "--sequences", "3", "--frames", "20", "--width", "640", "--height", "192",
    ], 120)  # fmt: skip
    base = [py, "-m", "bench.train_step", "--config", "config/train/kitti_mono.yaml",
            "--steps", "20", "--warmup", "5", "--repeats", "1"]  # fmt: skip
    data_sets = [f"data.root={data}", "data.train_split=splits/train_files.txt",
                 "data.val_split=splits/val_files.txt", "model.weights_init=scratch",
                 "data.num_workers=0"]  # fmt: skip
    for label, extra in TRAIN_SETTINGS.items():
        sets = [arg for item in [*data_sets, *extra] for arg in ("--set", item)]
        suite.step(f"training step, {label}", [*base, *sets], 150)
    suite.step("loader samples/s", [
        py, "-m", "bench.loader", "--root", str(data), "--samples", "24", "--repeats", "2",
        "--workers", "4", "8", "16", "--batches", "20",
    ], 150)  # fmt: skip
    suite.step("inference: eager, ORT CPU, CUDA, TensorRT",
               [py, "-m", "bench.inference", "--frames", "30", "--threads", "1"], 240)
    gpus = suite.step("GPU count", [py, "-c", GPU_COUNT], 60).strip()
    if gpus.isdigit() and int(gpus) >= 2:
        sets = [arg for item in data_sets for arg in ("--set", item)]
        suite.step("DDP, 2 processes", [
            py, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
            *base[1:], *sets,
        ], 180)  # fmt: skip
    else:
        suite.say(f"\n=== DDP, 2 processes\nnot run: {gpus or '?'} GPU(s); NCCL needs one per rank")
    suite.step("node end to end, CUDA provider", [
        py, "-m", "bench.node_throughput", "--providers", "CUDAExecutionProvider",
        "CPUExecutionProvider", "--frames", "60", "--seconds", "5",
    ], 240)  # fmt: skip
    if suite.skipped:
        suite.say(f"\nskipped for lack of budget: {', '.join(suite.skipped)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
