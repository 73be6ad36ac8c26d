"""Building the task a config asks for, fresh or with the weights of a checkpoint."""

from __future__ import annotations

import copy
from pathlib import Path

import torch

from training.checkpoint import load_weights, read_checkpoint
from training.config import TrainConfig, config_from_dict
from training.tasks.monodepth2 import Monodepth2Task
from training.tasks.supervised import SupervisedTask

# Every method the trainer trains; all share forward(batch) -> StepOutput and depth_model().
Task = Monodepth2Task | SupervisedTask


def build_task(cfg: TrainConfig) -> Task:
    """Instantiate the task for `cfg.model.architecture`.

    Every task has `forward(batch) -> StepOutput` and `depth_model()`, an nn.Module mapping
    N x 3 x H x W RGB in [0, 1] to N x 1 x H x W depth in model units (what ONNX exports).
    """
    if cfg.model.architecture == "monodepth2":
        return Monodepth2Task(cfg)
    return SupervisedTask(cfg)


def load_task(
    path: str | Path, map_location: str | torch.device = "cpu"
) -> tuple[TrainConfig, Task]:
    """Rebuild the trained task of a checkpoint, in eval mode on `map_location`.

    The task is built without downloading or reading ImageNet weights (they are overwritten by
    the checkpoint anyway); the returned config is the one the run trained with.
    """
    state = read_checkpoint(path, map_location)
    config = config_from_dict(state["config"])
    build_config = copy.deepcopy(config)
    build_config.model.weights_init = "scratch"
    task = build_task(build_config)
    load_weights(task, state["model"], source=str(path))
    task.to(map_location)
    task.eval()
    return config, task
