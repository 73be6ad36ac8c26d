"""Train a depth network from a YAML config: `python -m training train --config FILE`.

    # one process: CUDA when available, otherwise the CPU
    python -m training train --config config/train/kitti_mono.yaml
    # the quick CPU run on generated data (a few minutes on 2 cores; torch's threads follow the
    # rule in training/device.py, run.cpu_threads=N or OMP_NUM_THREADS=N sets them)
    python -m training generate --kind outdoor --out data/synthetic_outdoor
    python -m training train --config config/train/synthetic.yaml
    # one node, 4 GPUs (optim.batch_size is per process: 4 x 12 images per step)
    torchrun --standalone --nproc_per_node 4 -m training train --config config/train/kitti_mono.yaml
    # two nodes, 4 GPUs each: run on both, --node_rank 1 on the second; out_dir on a shared disk
    torchrun --nnodes 2 --node_rank 0 --nproc_per_node 4 --master_addr 10.0.0.1 \
        --master_port 29500 -m training train --config config/train/kitti_mono.yaml
    # processes on CPUs talk over Gloo instead of NCCL
    torchrun --standalone --nproc_per_node 2 -m training train --config config/train/synthetic.yaml
    # continue an interrupted run exactly; start a new run from another run's weights
    python -m training train --config config/train/kitti_mono.yaml --resume
    python -m training train --config config/train/nyu_mono.yaml --init-from runs/kitti_mono/last.pt
    # override any config key
    python -m training train --config config/train/synthetic.yaml --set optim.batch_size=4

Each step: forward (the task computes its own loss), backward and optimiser step, log, and save
`<out_dir>/last.pt` every run.save_every steps and at every epoch end. Whether the loss stayed
finite is kept on the device and checked at log and save steps (the only waits for the GPU).
SIGINT/SIGTERM finish the current step, save and exit with 130/143. A NaN/Inf loss stops the
run (exit 1) without touching the last good checkpoint, and so does a save whose weights are not
sound: before every save the weights must be finite and give a finite loss on the last batch
(a step can blow the weights up to finite but useless values, e.g. |w| ~ 1e10 at lr 1e10).

One trainer per run.out_dir: `<out_dir>/train.lock` names the holder (PID, host) and a second
trainer stops at once; the lock of a killed trainer is taken over. Temporary files of saves
interrupted by a kill are removed at the next start. `--resume` applies changed optim.* settings
(learning rate, weight decay, schedule): the learning rate becomes the new rate decayed by the new
schedule for the epochs already done.

The data order of an epoch is a pure function of (run.seed, epoch, rank), and every sample draws
its augmentation from its own seed, so `--resume` reproduces an uninterrupted run, mid-epoch too.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import shlex
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler
from tqdm import tqdm

from depth_ros.atomic_files import FileWriteError, remove_orphaned_temps, write_text
from training.checkpoint import (
    CheckpointError,
    capture_rng_state,
    load_weights,
    read_checkpoint,
    restore_rng_state,
    save_checkpoint,
)
from training.config import ConfigError, TrainConfig, config_to_dict, load_config, save_config
from training.datasets import DatasetError, find_split
from training.datasets.build import build_dataset
from training.depth_prior import median_depth_prior
from training.device import Runtime, preserved_rng, seed_everything, setup_runtime, teardown_runtime
from training.evaluation.protocol import Scaling, protocol_for, score_image
from training.model_contract import depth_units
from training.odometry_scale import ScaleFit, ScaleFitError, fit_on_training_frames
from training.run_lock import RunLock, RunLockError
from training.sampling import EpochBatches, SeededSamples
from training.tasks.build import build_task
from training.tasks.monodepth2 import Monodepth2Task
from training.tasks.step import StepOutput

if TYPE_CHECKING:
    from torch.utils.tensorboard import SummaryWriter  # slow import: at run time only on rank 0

log = logging.getLogger(__name__)

EXIT_NON_FINITE = 1
EXIT_WRITE_FAILED = 1
# Validation scores averaged over images with ground truth (the rest average over all images).
DEPTH_SCORES = ("abs_rel", "a1", "abs_rel_unscaled", "scale_ratio", "depth_images")
EXIT_CONFIG = 2
# optim.* keys that --resume puts into the restored optimiser and scheduler.
OPTIMISER_KEYS = ("optim.learning_rate", "optim.weight_decay", "optim.scheduler_step",
                  "optim.scheduler_gamma")


class NonFiniteLossError(RuntimeError):
    """The loss became NaN or Inf; the message gives the step and every loss term."""


@dataclass
class RunResult:
    """How a `Trainer.fit` call ended."""

    exit_code: int  # 0 done, 128 + signal number when interrupted
    summary: dict[str, Any] = field(default_factory=dict)  # also written to summary.json


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, help="YAML file under config/train/")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config key, e.g. optim.batch_size=4 (repeatable)")
    parser.add_argument("--resume", action="store_true",
                        help="continue exactly from <out_dir>/last.pt")
    parser.add_argument("--init-from", metavar="CKPT",
                        help="start a new run from these weights (same architecture)")
    parser.add_argument("--out-dir", help="override run.out_dir")


def main(args: argparse.Namespace) -> int:
    overrides = list(args.set)
    if args.out_dir:
        overrides.append(f"run.out_dir={args.out_dir}")
    try:
        cfg = load_config(args.config, overrides)
        if args.resume and args.init_from:
            raise ConfigError("--resume and --init-from exclude each other: resume continues a "
                              "run, init-from starts a new one")
        runtime = setup_runtime(cfg.run, loader_workers=cfg.data.num_workers)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    _configure_logging(runtime)
    log.info("torch intra-op threads: %d (%s)", runtime.cpu_threads, runtime.cpu_threads_reason)
    resume_command = _resume_command(args.config, overrides)
    try:
        with hold_run_folder(cfg.run.out_dir, runtime):
            trainer = Trainer(cfg, runtime, resume=args.resume, init_from=args.init_from,
                              resume_command=resume_command)
            result = trainer.fit()
    except (ConfigError, CheckpointError, DatasetError, FileNotFoundError, RunLockError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except FileWriteError as exc:
        print(f"error: {exc}; the last checkpoint written before it is intact", file=sys.stderr)
        return EXIT_WRITE_FAILED
    except NonFiniteLossError as exc:
        if runtime.is_main:
            print(f"error: {exc}", file=sys.stderr)
        return EXIT_NON_FINITE
    finally:
        teardown_runtime(runtime)
    if runtime.is_main:
        print(format_summary(result.summary))
    return result.exit_code


@contextmanager
def hold_run_folder(out_dir: str | Path, runtime: Runtime) -> Iterator[RunLock]:
    """Rank 0 holds `<out_dir>/train.lock` for every rank while the run lasts (all ranks stop
    when it is taken), and removes temporary files of saves that a kill interrupted."""
    lock = RunLock(out_dir)
    refused: RunLockError | None = None
    if runtime.is_main:
        try:
            lock.acquire()
        except RunLockError as exc:
            refused = exc
    taken = torch.tensor([float(refused is not None)], device=runtime.device)
    runtime.all_reduce_(taken, op="max")
    if taken.item():
        raise refused or RunLockError(f"rank 0 could not lock {lock.path}")
    try:
        if runtime.is_main:
            for orphan in remove_orphaned_temps(out_dir):
                log.info("removed %s, left by an interrupted save", orphan)
        yield lock
    finally:
        lock.release()


class Trainer:
    """One training run: task, optimiser, data, and the loop that ties them together."""

    def __init__(
        self,
        cfg: TrainConfig,
        runtime: Runtime,
        *,
        resume: bool = False,
        init_from: str | Path | None = None,
        resume_command: str = "",
    ) -> None:
        self.cfg = cfg
        self.rt = runtime
        self.out_dir = Path(cfg.run.out_dir)
        self.last_path = self.out_dir / "last.pt"
        self.resume_command = resume_command or "python -m training train --config ... --resume"
        self.step = 0  # optimiser steps done
        self.epoch = 0  # index of the epoch in progress
        self.batch_in_epoch = 0  # batches of this epoch already trained on
        self.history: dict[str, Any] = {}  # validation results kept across resumes
        self._check_out_dir(resume)

        seed_everything(cfg.run.seed, runtime.rank)
        # --init-from replaces every weight, so ImageNet weights are neither needed nor read.
        build_cfg = dataclasses.replace(
            cfg, model=dataclasses.replace(cfg.model, weights_init="scratch")) if init_from else cfg
        self.task = runtime.prepare_module(build_task(build_cfg))
        if init_from:
            weights = read_checkpoint(init_from, runtime.device)["model"]
            fresh = load_weights(self.task, weights, source=str(init_from), may_lack="pose_net.")
            log.info("initialised weights from %s%s", init_from,
                     " (it has no pose network: the pose network starts fresh)" if fresh else "")
        self.model: torch.nn.Module = self.task
        if runtime.distributed:
            device_ids = [runtime.device.index] if runtime.device.type == "cuda" else None
            self.model = DistributedDataParallel(self.task, device_ids=device_ids)
        params = [p for p in self.task.parameters() if p.requires_grad]
        self.optimizer = torch.optim.Adam(
            params, lr=cfg.optim.learning_rate, weight_decay=cfg.optim.weight_decay
        )
        self.scheduler = torch.optim.lr_scheduler.StepLR(
            self.optimizer, step_size=cfg.optim.scheduler_step, gamma=cfg.optim.scheduler_gamma
        )
        self.scaler = torch.amp.GradScaler(runtime.device.type, enabled=runtime.uses_grad_scaler)

        self.batches, self.loader = self._train_loader()
        self.val_loader = self._val_loader()
        self._stop_signal: int | None = None
        # first step whose loss was not finite (0: none), kept on the device until flags are agreed
        self._first_non_finite = torch.zeros((), dtype=torch.int64, device=runtime.device)
        self._saved_step = -1  # step of the last checkpoint this run wrote or resumed from
        self._last_batch: dict[str, torch.Tensor] | None = None  # for the check before a save
        self._writer: SummaryWriter | None = None
        if resume:
            self._resume()

    # ----------------------------------------------------------------------------- the loop
    def fit(self) -> RunResult:
        """Train until the last epoch, optim.max_steps, or a stop signal; then summarise."""
        started = time.perf_counter()
        meter = _Meter()
        exit_code = 0
        with self._stop_on_signals():
            if self.rt.is_main:
                self.out_dir.mkdir(parents=True, exist_ok=True)
                save_config(self.cfg, self.out_dir / "config.yaml")
            if self.step == 0 and "initial" not in self.history:
                self._validate_into("initial")
                self._score_prior()
            while self.epoch < self.cfg.optim.epochs and not self._max_steps_reached():
                stopped = self._run_epoch(meter)
                if stopped:
                    exit_code = 128 + stopped
                    break
            if exit_code == 0:
                rescaled = self._fit_scale_to_odometry()
                if rescaled or self._saved_step != self.step:  # or max_steps ended mid-epoch
                    self._validate_into("final")
                    self.save()
        summary = self._summary(meter, time.perf_counter() - started, exit_code)
        if self.rt.is_main:
            write_text(self.out_dir / "summary.json", json.dumps(summary, indent=2) + "\n")
        if self._writer is not None:
            self._writer.close()
        return RunResult(exit_code, summary)

    def _run_epoch(self, meter: _Meter) -> int:
        """Train the rest of the current epoch; return the stop signal number or 0."""
        self.batches.set_epoch(self.epoch, start_batch=self.batch_in_epoch)
        self.task.train()
        progress = tqdm(total=self.batches.num_batches, initial=self.batch_in_epoch,
                        desc=f"epoch {self.epoch + 1}/{self.cfg.optim.epochs}",
                        disable=not self.rt.is_main, dynamic_ncols=True, leave=False)
        with progress:
            for batch in self.loader:
                output, stop = self.train_step(self.rt.to_device(batch))
                meter.add(output, images=len(batch["index"]) * self.rt.world_size)
                self._log_step(output, meter, progress)
                if stop:
                    self.save()
                    self._announce_stop(stop)
                    return stop
                if self.batch_in_epoch == self.batches.num_batches:
                    break  # the epoch end saves
                if self._max_steps_reached():
                    return 0
                if self.step % self.cfg.run.save_every == 0:
                    self.save()
        self._end_epoch()
        return 0

    def train_step(self, batch: dict[str, torch.Tensor]) -> tuple[StepOutput, int]:
        """Forward, backward, optimiser step; return the output and any stop signal all ranks
        agreed on.

        The host waits for the device only where the ranks agree on flags (a non-finite loss, a
        stop signal): at log and checkpoint steps, at the end of the epoch or run, and on a stop
        signal without DDP. A non-finite loss is noted on the device and reported there, before
        any checkpoint could take the spoilt weights.
        """
        with self.rt.autocast():
            output: StepOutput = self.model(batch)
        bad = ~torch.isfinite(output.loss.detach())
        self._first_non_finite = torch.where(bad & (self._first_non_finite == 0),
                                             self.step + 1, self._first_non_finite)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(output.loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self._last_batch = batch
        self.step += 1
        self.batch_in_epoch += 1
        due = (self.step % self.cfg.run.log_every == 0 or self.step % self.cfg.run.save_every == 0
               or self.batch_in_epoch == self.batches.num_batches or self._max_steps_reached()
               or (self._stop_signal is not None and not self.rt.distributed))
        return output, self._agree_on_flags(output) if due else 0

    def _fit_scale_to_odometry(self) -> bool:
        """With model.scale_from_odometry, set model.metres_per_unit from the odometry (rank 0
        fits on the training frames, every rank takes its value); True when it did."""
        if not self.cfg.model.scale_from_odometry:
            return False
        assert isinstance(self.task, Monodepth2Task)  # the config allows it for monodepth2 only
        fitted = dict.fromkeys((field.name for field in dataclasses.fields(ScaleFit)), 0.0)
        if self.rt.is_main:
            try:
                fitted = dataclasses.asdict(fit_on_training_frames(self.task, self.cfg.data,
                                                                   self.rt.device))
            except ScaleFitError as exc:
                units, metres_per_unit = depth_units(self.cfg)
                log.error("model.scale_from_odometry: %s; the depth keeps the recipe's units "
                          "(%s, %g m per unit)", exc, units, metres_per_unit)
        fitted = self.rt.sum_over_ranks(fitted)
        if fitted["metres_per_unit"] <= 0.0:
            return False
        self.cfg = dataclasses.replace(self.cfg, model=dataclasses.replace(
            self.cfg.model, metres_per_unit=fitted["metres_per_unit"]))
        self.history["odometry_scale"] = fitted
        log.info("depth units from odometry: 1 unit = %.4g m (%.4g-%.4g per batch of 8 of the "
                 "%d frames; photometric error %.4f there, %.4f in the training units, %.4f "
                 "not warped)", fitted["metres_per_unit"], fitted["per_batch_low"],
                 fitted["per_batch_high"], fitted["frames"], fitted["photometric"],
                 fitted["photometric_as_is"], fitted["photometric_unwarped"])
        if self.rt.is_main:
            save_config(self.cfg, self.out_dir / "config.yaml")
        return True

    def _end_epoch(self) -> None:
        self.scheduler.step()
        self.epoch += 1
        self.batch_in_epoch = 0
        self._validate_into("final")
        self.save()

    # ------------------------------------------------------------------------- validation
    def _validate_into(self, label: str) -> None:
        """Validate (if there is a val split), log, and keep the result as history[label]."""
        if self.val_loader is None:
            return
        self.history[label] = self.validate()
        self._log_scalars("val" if label == "final" else f"val_{label}", self.history[label])

    def _score_prior(self) -> None:
        """history["prior"]: the training frames' median depth map scored on the validation
        frames like the network (needs ground truth in both splits)."""
        if self.val_loader is None:
            return
        prior = median_depth_prior(self.batches.sampler.dataset)
        if prior is None:
            return
        totals: dict[str, float] = {"abs_rel": 0.0, "a1": 0.0, "depth_images": 0.0}
        for batch in self.val_loader:
            if "depth_gt" not in batch:
                continue
            gt = batch["depth_gt"]
            prediction = torch.from_numpy(prior).expand(len(gt), 1, *prior.shape)
            for name, value in self._depth_errors(prediction, gt):
                if name in totals:
                    _accumulate(totals, name, value)
        totals = self.rt.sum_over_ranks(totals)
        images = totals.pop("depth_images")
        if images:
            self.history["prior"] = {name: value / images for name, value in totals.items()}
            self._log_scalars("val_prior", self.history["prior"])

    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        """Mean loss terms on data.val_split and, where the data has depth_gt, the
        median-scaled AbsRel and δ<1.25 averaged over images."""
        assert self.val_loader is not None
        totals: dict[str, float] = {}
        was_training = self.task.training
        self.task.eval()
        with preserved_rng(self.rt.device):
            for batch in self.val_loader:
                batch = self.rt.to_device(batch)
                with self.rt.autocast():
                    output = self.task(batch)
                count = len(batch["index"])
                _accumulate(totals, "loss", float(output.loss) * count)
                for name, value in output.scalars.items():
                    _accumulate(totals, name, float(value) * count)
                _accumulate(totals, "images", count)
                if "depth_gt" in batch:
                    for name in DEPTH_SCORES:
                        _accumulate(totals, name, 0.0)  # same keys on every rank
                    with self.rt.autocast():
                        depth = self.task.depth_model()(batch["frames"][:, 0])
                    for name, value in self._depth_errors(depth.float(), batch["depth_gt"]):
                        _accumulate(totals, name, value)
        self.task.train(was_training)
        totals = self.rt.sum_over_ranks(totals)
        images = totals.pop("images", 0.0)
        depth_images = totals.pop("depth_images", 0.0)
        result = {}
        for name, value in totals.items():
            divisor = depth_images if name in DEPTH_SCORES else images
            result[name] = value / max(divisor, 1.0)
        return result

    def _depth_errors(self, depth: torch.Tensor, gt: torch.Tensor) -> Iterator[tuple[str, float]]:
        """Per-image errors under the dataset's benchmark protocol (depth caps in metres and
        crop, as `python -m training evaluate`): median-scaled AbsRel and δ1, AbsRel of the
        depth in metres without median scaling (meaningful for metric models) and the
        median-scaling ratio (1.0 for a perfectly metric model). Metric models are scored in
        metres (x5.4 for stereo-trained ones, as the exported contract says)."""
        protocol = protocol_for(self.cfg.data.dataset)
        metres_per_unit = depth_units(self.cfg)[1]
        median, unscaled = Scaling("median"), Scaling("fixed", metres_per_unit)
        for pred_image, gt_image in zip(depth[:, 0].cpu().numpy(), gt[:, 0].cpu().numpy(),
                                        strict=True):
            score = score_image(pred_image, gt_image, protocol, median)
            if score is None:
                continue
            as_is = score_image(pred_image, gt_image, protocol, unscaled)
            assert as_is is not None  # same valid pixels as the median-scaled score
            yield "abs_rel", score.metrics["abs_rel"]
            yield "a1", score.metrics["a1"]
            yield "abs_rel_unscaled", as_is.metrics["abs_rel"]
            yield "scale_ratio", score.scale / metres_per_unit
            yield "depth_images", 1.0

    # ------------------------------------------------------------------------ checkpoints
    def save(self) -> None:
        """Write last.pt (rank 0) with every rank's random state; all ranks must call this.

        Raises NonFiniteLossError, writing nothing, when the weights are not sound."""
        self._check_weights_before_save()
        rng_states = self.rt.gather_objects(capture_rng_state())
        if not self.rt.is_main:
            self._saved_step = self.step
            return
        state = {
            "config": config_to_dict(self.cfg),
            "model": self.task.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "step": self.step,
            "epoch": self.epoch,
            "batch_in_epoch": self.batch_in_epoch,
            "world_size": self.rt.world_size,
            "rng": rng_states,
            "summary": self.history,
        }
        save_checkpoint(self.last_path, state)
        self._saved_step = self.step
        log.debug("saved %s at step %d", self.last_path, self.step)

    def _check_weights_before_save(self) -> None:
        """Refuse to save weights that are non-finite, or that give a non-finite loss on the last
        training batch (what the next step, or a resume, would run into)."""
        problem = self._weights_problem()
        flag = torch.tensor([float(bool(problem))], device=self.rt.device)
        self.rt.all_reduce_(flag, op="max")
        if flag.item():
            raise NonFiniteLossError(
                f"after step {self.step} (epoch {self.epoch + 1}) "
                f"{problem or 'the weights of another rank are broken'}, so they were not saved; "
                f"{self._last_good_note()}. Try a lower optim.learning_rate or run.amp=off."
            )

    @torch.no_grad()
    def _weights_problem(self) -> str:
        """What is wrong with the current weights, or "" when they look sound. The probe forward
        leaves every buffer (BatchNorm statistics) and random stream as it found them."""
        state = self.task.state_dict()
        broken = [k for k, v in state.items() if v.is_floating_point() and not v.isfinite().all()]
        if broken:
            return f"{len(broken)} weight tensors hold NaN/Inf (first: {broken[0]})"
        if self._last_batch is None:
            return ""
        buffers = [(b, b.clone()) for b in self.task.buffers()]
        with preserved_rng(self.rt.device), self.rt.autocast():
            output: StepOutput = self.task(self._last_batch)
        for live, kept in buffers:
            live.copy_(kept)
        loss = output.loss.detach().float()
        if not loss.isfinite():
            terms = ", ".join(f"{k}={float(v):.6g}" for k, v in output.scalars.items())
            return (f"the weights give a loss of {float(loss):.6g} on the last batch (terms: "
                    f"{terms or 'none logged'}; largest |weight| "
                    f"{max(float(v.abs().max()) for v in state.values() if v.numel()):.3g})")
        return ""

    def _last_good_note(self) -> str:
        if self._saved_step >= 0 and self.last_path.is_file():
            return (f"the last good checkpoint {self.last_path} (step {self._saved_step}) is "
                    "untouched")
        return f"no checkpoint was written to {self.last_path}"

    def _resume(self) -> None:
        state = read_checkpoint(self.last_path, self.rt.device)
        saved, current = _flatten(state["config"]), _flatten(config_to_dict(self.cfg))
        changed = [k for k in current if saved.get(k) != current[k]]
        if changed:
            log.warning("config differs from the checkpoint's in %s; using the new values",
                        ", ".join(changed))
        load_weights(self.task, state["model"], source=str(self.last_path))
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        changed_optim = [k for k in changed if k in OPTIMISER_KEYS]
        if changed_optim:
            self._apply_optimiser_settings()
            log.info("applied the new %s: learning rate now %.6g", ", ".join(changed_optim),
                     self.optimizer.param_groups[0]["lr"])
        self.step, self.epoch = state["step"], state["epoch"]
        self.batch_in_epoch = state["batch_in_epoch"]
        self._saved_step = self.step
        self.history = dict(state.get("summary", {}))
        rng = state["rng"]
        if state.get("world_size") == self.rt.world_size and len(rng) == self.rt.world_size:
            restore_rng_state(rng[self.rt.rank])
        else:
            log.warning("checkpoint was written by %s processes, this run has %d: data order and "
                        "random streams will differ from an uninterrupted run",
                        state.get("world_size"), self.rt.world_size)
            seed_everything(self.cfg.run.seed + 1_000_003 * self.step, self.rt.rank)
        log.info("resumed %s at step %d (epoch %d, batch %d)", self.last_path, self.step,
                 self.epoch + 1, self.batch_in_epoch)

    def _apply_optimiser_settings(self) -> None:
        """Put the config's optim.* values into the optimiser and scheduler restored from a
        checkpoint (their state dicts carry the old ones): lr = learning_rate x
        gamma^(epochs done // scheduler_step), as if the run had used the new values all along."""
        optim = self.cfg.optim
        self.scheduler.step_size = optim.scheduler_step
        self.scheduler.gamma = optim.scheduler_gamma
        decay = optim.scheduler_gamma ** (self.scheduler.last_epoch // optim.scheduler_step)
        self.scheduler.base_lrs = [optim.learning_rate for _ in self.optimizer.param_groups]
        for group in self.optimizer.param_groups:
            group["initial_lr"] = optim.learning_rate
            group["lr"] = optim.learning_rate * decay
            group["weight_decay"] = optim.weight_decay
        self.scheduler._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def _check_out_dir(self, resume: bool) -> None:
        """Refuse to overwrite an earlier run by accident (decided on rank 0 for every rank)."""
        exists = torch.tensor([float(self.rt.is_main and self.last_path.exists())])
        exists = exists.to(self.rt.device)
        self.rt.all_reduce_(exists, op="max")
        if resume and not exists.item():
            raise CheckpointError(f"--resume: no checkpoint at {self.last_path}")
        if not resume and exists.item():
            raise ConfigError(f"run.out_dir={str(self.out_dir)!r} already holds last.pt of an "
                              "earlier run; pass --resume to continue it or choose another "
                              "--out-dir")

    # ----------------------------------------------------------------------------- stopping
    def _agree_on_flags(self, output: StepOutput) -> int:
        """All ranks learn whether any rank saw a non-finite loss or a stop signal."""
        stop = torch.tensor([float(self._stop_signal or 0)], device=self.rt.device)
        flags = torch.cat([self._first_non_finite.reshape(1).to(stop.dtype), stop])
        self.rt.all_reduce_(flags, op="max")
        first_non_finite, stop_signal = (int(v) for v in flags.tolist())  # the one host sync
        if first_non_finite:
            terms = ", ".join(f"{k}={float(v):.6g}" for k, v in output.scalars.items())
            raise NonFiniteLossError(
                f"loss became non-finite (on at least one rank) at step {first_non_finite}, "
                f"epoch {self.epoch + 1}; at step {self.step} it is "
                f"{float(output.loss.detach()):.6g}, terms: {terms or 'none logged'}; "
                f"{self._last_good_note()}. Try a lower optim.learning_rate or run.amp=off."
            )
        return stop_signal

    @contextmanager
    def _stop_on_signals(self) -> Iterator[None]:
        """SIGINT/SIGTERM ask the loop to stop after the current step; a second one acts as
        usual (KeyboardInterrupt / termination)."""
        signals = (signal.SIGINT, signal.SIGTERM)
        previous = {s: signal.getsignal(s) for s in signals}

        def request_stop(signum: int, _frame: object) -> None:
            self._stop_signal = signum
            signal.signal(signum, previous[signal.Signals(signum)])
            log.warning("%s received: stopping after this step", signal.Signals(signum).name)

        for s in signals:
            signal.signal(s, request_stop)
        try:
            yield
        finally:
            for s in signals:
                signal.signal(s, previous[s])

    def _announce_stop(self, signum: int) -> None:
        if self.rt.is_main:
            log.warning("stopped by %s after step %d; checkpoint saved to %s.\nResume with: %s",
                        signal.Signals(signum).name, self.step, self.last_path,
                        self.resume_command)

    def _max_steps_reached(self) -> bool:
        return 0 < self.cfg.optim.max_steps <= self.step

    # ------------------------------------------------------------------------------ logging
    def _log_step(self, output: StepOutput, meter: _Meter, progress: tqdm) -> None:
        progress.update(1)
        if self.rt.is_main:
            shown = {"img_s": f"{meter.images_per_second():.1f}"}
            if "loss" in meter.last_logged:  # the last logged mean: no per-step device sync
                shown["loss"] = f"{meter.last_logged['loss']:.4f}"
            progress.set_postfix(shown, refresh=False)
        if self.step % self.cfg.run.log_every == 0:
            scalars = self.rt.mean_over_ranks(meter.window_means())
            scalars["lr"] = self.optimizer.param_groups[0]["lr"]
            scalars["images_per_s"] = meter.images_per_second()
            meter.last_logged = scalars
            meter.reset_window()
            self._log_scalars("train", scalars)
        if self.rt.is_main and self.step % self.cfg.run.image_every == 0:
            writer = self._tensorboard()
            for name, images in output.images.items():
                writer.add_images(f"train/{name}", images[:4].detach().float().clamp(0, 1).cpu(),
                                  self.step)

    def _log_scalars(self, prefix: str, scalars: dict[str, float]) -> None:
        if not self.rt.is_main:
            return
        writer = self._tensorboard()
        for name, value in scalars.items():
            writer.add_scalar(f"{prefix}/{name}", value, self.step)
        if prefix.startswith("val"):
            text = ", ".join(f"{k} {v:.4g}" for k, v in scalars.items())
            log.info("%s after step %d: %s", prefix, self.step, text)

    def _tensorboard(self) -> SummaryWriter:
        if self._writer is None:
            from torch.utils.tensorboard import SummaryWriter  # slow import; rank 0 only

            self._writer = SummaryWriter(str(self.out_dir / "tb"))
        return self._writer

    def _summary(self, meter: _Meter, wall_time: float, exit_code: int) -> dict[str, Any]:
        return {
            "steps": self.step,
            "epochs_completed": self.epoch,
            "wall_time_s": round(wall_time, 2),
            "images_per_s": round(meter.overall_images_per_second(), 2),
            "world_size": self.rt.world_size,
            "device": str(self.rt.device),
            "final_losses": meter.last_logged or meter.window_means(),
            "val_initial": self.history.get("initial"),
            "val_final": self.history.get("final"),
            "val_prior": self.history.get("prior"),
            "odometry_scale": self.history.get("odometry_scale"),
            "checkpoint": str(self.last_path),
            "exit_code": exit_code,
        }

    # --------------------------------------------------------------------------------- data
    def _train_loader(self) -> tuple[EpochBatches, DataLoader]:
        data = self.cfg.data
        split = find_split(data.train_split, data.root, "data.train_split")
        dataset = build_dataset(data, split, train=True)
        batches = EpochBatches(dataset, self.cfg.optim.batch_size, self.rt, self.cfg.run.seed)
        if batches.num_batches == 0:
            raise ConfigError(f"data.train_split={data.train_split!r} has {len(dataset)} samples, "
                              f"fewer than one batch of optim.batch_size="
                              f"{self.cfg.optim.batch_size} per process")
        loader = DataLoader(
            SeededSamples(dataset), batch_sampler=batches, num_workers=data.num_workers,
            pin_memory=self.rt.device.type == "cuda", worker_init_fn=_ignore_sigint,
            persistent_workers=data.num_workers > 0,  # no worker start-up at every epoch
            generator=torch.Generator().manual_seed(self.cfg.run.seed),  # keeps global RNG still
        )
        return batches, loader

    def _val_loader(self) -> DataLoader | None:
        data = self.cfg.data
        if not data.val_split:
            return None
        split = find_split(data.val_split, data.root, "data.val_split")
        dataset = build_dataset(data, split, train=False)
        sampler: DistributedSampler[int] = DistributedSampler(
            dataset, num_replicas=self.rt.world_size, rank=self.rt.rank, shuffle=False
        )
        return DataLoader(dataset, batch_size=self.cfg.optim.batch_size, sampler=sampler,
                          num_workers=data.num_workers, worker_init_fn=_ignore_sigint,
                          pin_memory=self.rt.device.type == "cuda",
                          generator=torch.Generator().manual_seed(self.cfg.run.seed))


class _Meter:
    """Running means of logged scalars and throughput, for the progress bar and TensorBoard."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.total_images = 0
        self.last_logged: dict[str, float] = {}
        self.reset_window()

    def reset_window(self) -> None:
        self.window_start = time.perf_counter()
        self.window_images = 0
        self.sums: dict[str, torch.Tensor] = {}
        self.count = 0

    def add(self, output: StepOutput, images: int) -> None:
        terms = {"loss": output.loss.detach(), **output.scalars}
        for name, value in terms.items():
            value = value.detach().float()
            self.sums[name] = self.sums[name] + value if name in self.sums else value
        self.count += 1
        self.window_images += images
        self.total_images += images

    def window_means(self) -> dict[str, float]:
        names = sorted(self.sums)
        if not names:
            return {}
        sums = torch.stack([self.sums[k] for k in names]).tolist()  # one device sync
        return {k: v / max(self.count, 1) for k, v in zip(names, sums, strict=True)}

    def images_per_second(self) -> float:
        return self.window_images / max(time.perf_counter() - self.window_start, 1e-9)

    def overall_images_per_second(self) -> float:
        return self.total_images / max(time.perf_counter() - self.started, 1e-9)


def format_summary(summary: dict[str, Any]) -> str:
    """A few lines for the terminal at the end of a run."""
    losses = ", ".join(f"{k} {v:.4g}" for k, v in summary["final_losses"].items())
    lines = [
        f"trained {summary['steps']} steps ({summary['epochs_completed']} epochs) in "
        f"{summary['wall_time_s']:.1f} s on {summary['world_size']} x {summary['device']}, "
        f"{summary['images_per_s']:.1f} images/s",
        f"final losses: {losses or 'n/a'}",
    ]
    for label, key in (("untrained", "val_initial"), ("median-depth prior", "val_prior"),
                       ("trained", "val_final")):
        val = summary.get(key)
        if val and "abs_rel" in val:
            lines.append(f"val median-scaled AbsRel ({label}): {val['abs_rel']:.4f}")
    final = summary.get("val_final") or {}
    if "abs_rel_unscaled" in final:
        lines.append(f"val AbsRel without scaling (trained): {final['abs_rel_unscaled']:.4f}, "
                     f"median-scaling ratio {final['scale_ratio']:.3f} (1.0 = metric)")
    lines.append(f"checkpoint: {summary['checkpoint']}")
    return "\n".join(lines)


def _accumulate(totals: dict[str, float], name: str, value: float) -> None:
    totals[name] = totals.get(name, 0.0) + value


def _flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[prefix + key] = value
    return flat


def _ignore_sigint(_worker_id: int) -> None:
    """DataLoader workers leave Ctrl-C to the main process, which saves before exiting."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _configure_logging(runtime: Runtime) -> None:
    level = logging.INFO if runtime.is_main else logging.WARNING
    logging.basicConfig(level=level, format=f"[rank {runtime.rank}] %(levelname)s %(message)s"
                        if runtime.distributed else "%(levelname)s %(message)s")


def _resume_command(config: str, overrides: list[str]) -> str:
    parts = ["python", "-m", "training", "train", "--config", config]
    for item in overrides:
        parts += ["--set", item]
    return shlex.join([*parts, "--resume"])
