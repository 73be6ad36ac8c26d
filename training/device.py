"""The one place that decides where and how training runs: device, AMP, memory format, DDP.

Everything else asks the `Runtime` built here instead of calling `.cuda()` or reading environment
variables. Under `torchrun` the process group is initialised from its environment variables
(RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT): NCCL on CUDA, Gloo on
CPU.

Thread rule: torch's intra-op threads = the cores this process may run on (sched_getaffinity)
divided among the training processes of this node (LOCAL_WORLD_SIZE), less one core per
DataLoader worker, at least 1. OpenMP threads that outnumber the free cores spin against each
other and against any other process: on a 2-core machine one competing CPU-bound process slowed a
training step tenfold with 2 threads and not at all with 1. run.cpu_threads > 0 or
OMP_NUM_THREADS in the environment overrides the rule.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import torch
import torch.distributed as dist

from training.config import ConfigError, RunConfig

ModuleT = TypeVar("ModuleT", bound=torch.nn.Module)

log = logging.getLogger(__name__)

AMP_DTYPES = {"off": None, "bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass(frozen=True)
class Runtime:
    """Where this process trains and how it talks to the others."""

    device: torch.device  # under DDP, the GPU of this node's rank (LOCAL_RANK)
    rank: int  # global rank, 0..world_size-1
    world_size: int  # number of training processes over all nodes
    amp_dtype: torch.dtype | None  # autocast dtype, None for full fp32
    channels_last: bool  # NHWC convolution weights, hence NHWC activations
    cpu_threads: int  # torch intra-op threads of this process
    cpu_threads_reason: str  # which rule or setting chose cpu_threads, for the log

    @property
    def is_main(self) -> bool:
        """Rank 0 logs, writes TensorBoard and saves checkpoints."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def uses_grad_scaler(self) -> bool:
        """fp16 gradients underflow without loss scaling; bf16 has fp32's exponent range."""
        return self.amp_dtype == torch.float16

    def autocast(self) -> contextlib.AbstractContextManager:
        """Mixed-precision region for forward passes (a no-op when AMP is off)."""
        return torch.autocast(
            self.device.type, dtype=self.amp_dtype, enabled=self.amp_dtype is not None
        )

    def to_device(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Move a collated batch to the device, memory format unchanged.

        Images need no NHWC copy for `channels_last`: a convolution whose weight is channels_last
        (prepare_module) writes channels_last output whatever its input's layout, so from the
        first convolution on the network runs in NHWC.
        """
        return {key: value.to(self.device, non_blocking=True) for key, value in batch.items()}

    def prepare_module(self, module: ModuleT) -> ModuleT:
        """Move a module to the device (and its 4-D weights to NHWC when asked), in place."""
        module.to(self.device)
        if self.channels_last:
            module.to(memory_format=torch.channels_last)
        return module

    def all_reduce_(self, values: torch.Tensor, op: str = "sum") -> torch.Tensor:
        """In-place all-reduce across ranks ("sum" or "max"); identity without DDP."""
        if self.distributed:
            ops = {"sum": dist.ReduceOp.SUM, "max": dist.ReduceOp.MAX}
            dist.all_reduce(values, op=ops[op])
        return values

    def sum_over_ranks(self, values: dict[str, float]) -> dict[str, float]:
        """Sum numbers over all ranks in one all-reduce, keys sorted (every rank must call this
        with the same keys)."""
        keys = sorted(values)
        if not self.distributed or not keys:
            return {k: values[k] for k in keys}
        packed = torch.tensor([values[k] for k in keys], dtype=torch.float64, device=self.device)
        self.all_reduce_(packed)
        return dict(zip(keys, packed.tolist(), strict=True))

    def mean_over_ranks(self, values: dict[str, float]) -> dict[str, float]:
        """Average logged numbers over all ranks, keys sorted (same keys on every rank)."""
        return {k: v / self.world_size for k, v in self.sum_over_ranks(values).items()}

    def gather_objects(self, obj: object) -> list[object]:
        """Every rank's `obj`, indexed by rank (a one-element list without DDP)."""
        if not self.distributed:
            return [obj]
        gathered: list[object] = [None] * self.world_size
        dist.all_gather_object(gathered, obj)
        return gathered


def setup_runtime(run: RunConfig, loader_workers: int = 0) -> Runtime:
    """Pick the device, AMP mode and CPU threads, and join the process group under torchrun.

    `run` comes from a validated config (load_config / config_from_dict), which has checked the
    values that do not depend on the machine; what does (CUDA present, GPU count) is checked here.
    run.device: "auto" (CUDA when available), "cpu", "cuda" or "cuda:N". Under DDP each process
    uses GPU `LOCAL_RANK` whatever N says, so one config serves any number of GPUs.
    `loader_workers`: the DataLoader worker processes this process starts (data.num_workers).
    """
    threads, reason = choose_cpu_threads(run.cpu_threads, loader_workers)
    torch.set_num_threads(threads)
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = _choose_device(run.device, local_rank, world_size)
    amp_dtype = AMP_DTYPES[run.amp]
    if amp_dtype is not None and device.type != "cuda":
        raise ConfigError(
            f"run.amp={run.amp!r} needs a CUDA device but training runs on {device}; "
            "set run.amp=off"
        )
    if device.type == "cuda":
        torch.cuda.set_device(device)
        torch.backends.cudnn.benchmark = not run.deterministic
        torch.backends.cudnn.deterministic = run.deterministic
    if world_size > 1 and not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        kwargs: dict[str, Any] = {"device_id": device} if device.type == "cuda" else {}
        dist.init_process_group(backend=backend, rank=rank, world_size=world_size, **kwargs)
        log.info("rank %d/%d joined the %s process group on %s", rank, world_size, backend, device)
    return Runtime(
        device=device,
        rank=rank,
        world_size=world_size,
        amp_dtype=amp_dtype,
        channels_last=run.channels_last,
        cpu_threads=threads,
        cpu_threads_reason=reason,
    )


def choose_cpu_threads(configured: int, loader_workers: int) -> tuple[int, str]:
    """torch intra-op threads for this process and why (the thread rule in the module doc)."""
    if configured > 0:
        return configured, f"run.cpu_threads={configured}"
    if os.environ.get("OMP_NUM_THREADS", "").strip():
        return torch.get_num_threads(), f"OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']}"
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    cores = cores or 1
    local_processes = max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
    threads = max(1, cores // local_processes - loader_workers)
    return threads, (f"{cores} cores available / {local_processes} training processes on this "
                     f"node - {loader_workers} loader workers")


def teardown_runtime(runtime: Runtime) -> None:
    """Leave the process group (torchrun expects every rank to do this before exiting)."""
    if runtime.distributed and dist.is_initialized():
        dist.destroy_process_group()


def seed_everything(seed: int, rank: int = 0) -> None:
    """Seed Python, NumPy and torch (CPU and every GPU); each rank gets its own stream.

    Parameters may start different on each rank: DDP broadcasts rank 0's weights when it wraps
    the model, so the ranks still train one model.
    """
    value = seed + rank
    random.seed(value)
    np.random.seed(value % 2**32)
    torch.manual_seed(value)


def _choose_device(requested: str, local_rank: int, world_size: int) -> torch.device:
    if requested == "auto":
        requested = "cuda" if torch.cuda.is_available() else "cpu"
    if requested == "cpu":
        return torch.device("cpu")
    if requested == "cuda" or requested.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise ConfigError(
                f"run.device={requested!r} but CUDA is not available; use auto or cpu"
            )
        suffix = requested[5:]
        if world_size > 1 or requested == "cuda":
            index = local_rank
        elif suffix.isdigit():
            index = int(suffix)
        else:
            raise ConfigError(f"run.device={requested!r} is invalid; expected cuda:N, N an integer")
        if index >= torch.cuda.device_count():
            raise ConfigError(
                f"run.device={requested!r}: GPU {index} requested but only "
                f"{torch.cuda.device_count()} visible"
            )
        return torch.device("cuda", index)
    raise ConfigError(f"run.device={requested!r} is invalid; expected auto, cpu, cuda or cuda:N")


@contextlib.contextmanager
def preserved_rng(device: torch.device) -> Iterator[None]:
    """Run a block (validation, previews) without disturbing the training random streams."""
    py_state, np_state = random.getstate(), np.random.get_state()
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        yield
    random.setstate(py_state)
    np.random.set_state(np_state)
