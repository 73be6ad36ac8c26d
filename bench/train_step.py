"""Training-step throughput of a config: steps/s, images/s and peak memory.

    .venv/bin/python -m bench.train_step --config config/train/synthetic.yaml [--steps 20]
    .venv/bin/python -m bench.train_step --config config/train/kitti_mono.yaml --set run.amp=bf16

Times the trainer's own step (forward, loss, backward, optimiser step) on the device, AMP mode
and memory format the config selects, repeating one batch of the config's training data so that
data loading is not measured. Warm-up steps (allocator, cuDNN autotuning) are excluded. Peak
memory is CUDA max_memory_allocated on a GPU, the process's peak RSS on the CPU.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time

import torch

from training.config import load_config
from training.device import setup_runtime, teardown_runtime
from training.trainer import Trainer


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", required=True)
    parser.add_argument("--steps", type=int, default=20, help="timed steps")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as out_dir:
        cfg = load_config(args.config, [*args.set, f"run.out_dir={out_dir}"])
        runtime = setup_runtime(cfg.run)
        try:
            trainer = Trainer(cfg, runtime)
            batch = runtime.to_device(next(iter(trainer.loader)))
            images = len(batch["index"])
            for _ in range(args.warmup):
                trainer.train_step(batch)
            synchronize(runtime.device)
            started = time.perf_counter()
            for _ in range(args.steps):
                trainer.train_step(batch)
            synchronize(runtime.device)
            elapsed = time.perf_counter() - started
        finally:
            teardown_runtime(runtime)

    steps_per_s = args.steps / elapsed
    print(f"config: {args.config} {' '.join(args.set)}")
    print(f"device: {runtime.device}, amp: {cfg.run.amp}, channels_last: {cfg.run.channels_last}, "
          f"torch threads: {torch.get_num_threads()}")
    print(f"batch: {images} x {cfg.data.width}x{cfg.data.height}, "
          f"{len(cfg.data.frame_offsets)} frames{' + stereo' if cfg.data.use_stereo else ''}")
    print(f"steps/s: {steps_per_s:.3f} ({args.steps} steps after {args.warmup} warm-up)")
    print(f"images/s: {steps_per_s * images:.2f}")
    kind = "CUDA max_memory_allocated" if runtime.device.type == "cuda" else "process peak RSS"
    print(f"peak memory: {peak_memory_mib(runtime.device):.0f} MiB ({kind})")
    return 0


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def peak_memory_mib(device: torch.device) -> float:
    """CUDA: peak tensor memory; CPU: peak resident set size of this process (Linux: KiB)."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


if __name__ == "__main__":
    sys.exit(main())
