"""Training-step time of a config: seconds per step, images/s and peak memory, per thread count.

    .venv/bin/python -m bench.train_step --config config/train/synthetic.yaml [--steps 5]
    .venv/bin/python -m bench.train_step --config config/train/kitti_mono.yaml --set run.amp=bf16
    .venv/bin/python -m bench.train_step --config config/train/synthetic_mono.yaml \
        --threads default rule --competing --repeats 3

Times the trainer's own step (forward, loss, backward, optimiser step) on the device, AMP mode
and memory format the config selects, repeating one batch of the config's training data so that
data loading is not measured. Warm-up steps (allocator, cuDNN autotuning) are excluded.

On the CPU, `--threads` names the intra-op thread counts to compare: integers, `default` (torch's
own choice, one per core) or `rule` (training/device.py's rule for this config). They run
interleaved in one process (A B A B ...), `--repeats` rounds of `--steps` steps each, so that a
change in the machine's load hits every setting alike. `--competing` repeats every round with
one extra CPU-bound process running (a busy loop), the case where spinning OpenMP threads
collapse. Every cell is the median seconds per step over the rounds, with min and max, and the
CPU seconds this process used per step; the load average is printed before and after.
Peak memory is CUDA max_memory_allocated on a GPU, the process's peak RSS on the CPU.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import torch

from training.config import load_config
from training.device import choose_cpu_threads, setup_runtime, teardown_runtime
from training.trainer import Trainer

BUSY_LOOP = "while True: pass"


@dataclass
class Cell:
    """Per-round figures of one (threads, competing) setting."""

    wall_s: list[float] = field(default_factory=list)  # seconds per step, one per round
    cpu_s: list[float] = field(default_factory=list)  # this process's CPU seconds per step

    def summary(self) -> str:
        wall = np.asarray(self.wall_s)
        return (f"{np.median(wall):7.3f} s [{wall.min():.3f}-{wall.max():.3f}] "
                f"cpu {np.median(self.cpu_s):6.3f} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", required=True)
    parser.add_argument("--steps", type=int, default=5, help="timed steps per round")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    parser.add_argument("--repeats", type=int, default=3, help="rounds over all settings")
    parser.add_argument("--threads", nargs="+", default=["rule"],
                        help="CPU thread counts to interleave: N, default or rule")
    parser.add_argument("--competing", action="store_true",
                        help="also time every setting beside one CPU-bound process")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()

    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as out_dir:
        cfg = load_config(args.config, [*args.set, f"run.out_dir={out_dir}"])
        runtime = setup_runtime(cfg.run, loader_workers=cfg.data.num_workers)
        thread_counts = {name: resolve_threads(name, cfg.run.cpu_threads, cfg.data.num_workers)
                         for name in args.threads}  # fmt: skip
        conditions = [False, True] if args.competing else [False]
        cells = {(name, c): Cell() for c in conditions for name in args.threads}
        try:
            trainer = Trainer(cfg, runtime)
            batch = runtime.to_device(next(iter(trainer.loader)))
            images = len(batch["index"])
            for _ in range(args.warmup):
                trainer.train_step(batch)
            for _ in range(args.repeats):
                for competing in conditions:
                    with competing_process(competing):
                        for name in args.threads:
                            torch.set_num_threads(thread_counts[name])
                            cell = cells[(name, competing)]
                            time_round(trainer, batch, args.steps, cell)
                            print(f"round: {name} ({thread_counts[name]} threads), "
                                  f"{'competing' if competing else 'alone'}: "
                                  f"{cell.wall_s[-1]:.3f} s/step, cpu {cell.cpu_s[-1]:.3f} s, "
                                  f"load {fmt_load(os.getloadavg())}", flush=True)
        finally:
            teardown_runtime(runtime)
    load_after = os.getloadavg()

    print(f"config: {args.config} {' '.join(args.set)}")
    print(f"device: {runtime.device}, amp: {cfg.run.amp}, channels_last: {cfg.run.channels_last}")
    print(f"batch: {images} x {cfg.data.width}x{cfg.data.height}, "
          f"{len(cfg.data.frame_offsets)} frames{' + stereo' if cfg.data.use_stereo else ''}")
    with without_env("OMP_NUM_THREADS"):
        rule_threads, rule_reason = choose_cpu_threads(cfg.run.cpu_threads, cfg.data.num_workers)
    print(f"rule: {rule_threads} threads ({rule_reason}); this run started with "
          f"{runtime.cpu_threads} ({runtime.cpu_threads_reason})")
    print(f"{args.repeats} interleaved rounds of {args.steps} steps after {args.warmup} warm-up; "
          f"load average before {fmt_load(load_before)}, after {fmt_load(load_after)}")
    print(f"{'threads':<14} " + " ".join(f"{label:<38}" for label in
                                         ("alone: s/step [min-max], CPU s/step",
                                          "one competing process")[:len(conditions)]))
    for name in args.threads:
        row = " ".join(f"{cells[(name, c)].summary():<38}" for c in conditions)
        print(f"{name + ' (' + str(thread_counts[name]) + ')':<14} {row}")
    for name in args.threads:
        alone = float(np.median(cells[(name, False)].wall_s))
        print(f"{name}: images/s alone {images / alone:.2f}")
    kind = "CUDA max_memory_allocated" if runtime.device.type == "cuda" else "process peak RSS"
    print(f"peak memory: {peak_memory_mib(runtime.device):.0f} MiB ({kind})")
    return 0


def resolve_threads(name: str, configured: int, loader_workers: int) -> int:
    if name == "default":
        return os.cpu_count() or 1  # torch's own choice without OMP_NUM_THREADS
    if name == "rule":
        with without_env("OMP_NUM_THREADS"):
            return choose_cpu_threads(configured, loader_workers)[0]
    if name.isdigit() and int(name) > 0:
        return int(name)
    raise SystemExit(f"--threads {name!r} is invalid; expected a positive integer, default or rule")


@contextlib.contextmanager
def without_env(name: str) -> Iterator[None]:
    saved = os.environ.pop(name, None)
    try:
        yield
    finally:
        if saved is not None:
            os.environ[name] = saved


@contextlib.contextmanager
def competing_process(active: bool) -> Iterator[None]:
    """One CPU-bound Python busy loop for the duration of the block (when `active`)."""
    if not active:
        yield
        return
    process = subprocess.Popen([sys.executable, "-c", BUSY_LOOP])
    try:
        time.sleep(0.2)  # scheduled and spinning before the timing starts
        yield
    finally:
        process.kill()
        process.wait()


def time_round(trainer: Trainer, batch: dict[str, torch.Tensor], steps: int, cell: Cell) -> None:
    trainer.train_step(batch)  # the new thread count's pool starts outside the timing
    synchronize(trainer.rt.device)
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(steps):
        trainer.train_step(batch)
    synchronize(trainer.rt.device)
    cell.wall_s.append((time.perf_counter() - wall) / steps)
    cell.cpu_s.append((time.process_time() - cpu) / steps)


def fmt_load(load: tuple[float, float, float]) -> str:
    return "/".join(f"{v:.2f}" for v in load)


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
