"""Supervised metric depth from RGB-D ground truth: the task that trains Zheng et al.'s four models.

The trainer is generic over tasks (training.tasks); this one holds one network (unet | fpn |
resnet_baseline | multiscale, built from `cfg.model`) wrapped in `MetricDepthModel`, and compares
its depth with `depth_gt` over the pixels where the ground truth is known (> 0):

    l1 = mean |d - d*|    l2 = mean (d - d*)^2    smooth_l1 = mean Huber_beta(d - d*)
    abs_rel = mean |d - d*| / d*                  (d, d* in metres; beta = loss.smooth_l1_beta)

`cfg.loss.supervised_loss` picks which of the first three is minimised; all four are logged.
Predictions are metres, so exported models are `metric` with 1 metre per unit.
"""

from __future__ import annotations

import logging

import torch
import torch.nn.functional as F
from torch import nn

from training.config import ConfigError, DataConfig, TrainConfig
from training.datasets import DatasetError, find_split
from training.datasets.build import build_dataset
from training.datasets.depth_augment import channel_statistics
from training.datasets.split_frames import spread_indices
from training.models.supervised import architecture_label, build_supervised_network
from training.tasks.step import StepOutput

LOG = logging.getLogger(__name__)

STATISTICS_MAX_IMAGES = 500  # training images (evenly spaced) behind the input mean and std


class MetricDepthModel(nn.Module):
    """RGB in [0, 1] -> metres: the network between the input normalisation and the depth range.

    forward(image N x 3 x H x W, RGB in [0, 1]) -> N x 1 x H x W depth in metres within
    [min_depth, max_depth]. The training set's per-channel mean and std are buffers (saved in
    checkpoints, baked into ONNX), so callers never normalise. Depth = min + (max - min) *
    sigmoid(logits): bounded and positive whatever the network outputs.
    """

    input_mean: torch.Tensor  # buffers, registered in __init__
    input_std: torch.Tensor

    def __init__(self, network: nn.Module, input_mean: list[float], input_std: list[float],
                 min_depth: float, max_depth: float) -> None:
        super().__init__()
        self.network = network
        self.register_buffer("input_mean", torch.tensor(input_mean).view(1, 3, 1, 1))
        self.register_buffer("input_std", torch.tensor(input_std).view(1, 3, 1, 1))
        self.min_depth = min_depth
        self.max_depth = max_depth

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        logits = self.network((image - self.input_mean) / self.input_std)
        return self.min_depth + (self.max_depth - self.min_depth) * torch.sigmoid(logits)


class SupervisedTask(nn.Module):
    """Trains one of Zheng et al.'s networks on `frames_aug[:, 0]` against `depth_gt` (metres,
    0 unknown).

    What it predicts, for callers holding only the task: `architecture_label` (e.g.
    "unet-resnet18"), `units` ("metric"), `metres_per_unit` (1.0), `min_depth` / `max_depth`
    (metres). training/model_contract.py derives the same contract values from the config.
    """

    units = "metric"
    metres_per_unit = 1.0

    def __init__(self, cfg: TrainConfig) -> None:
        super().__init__()
        self.architecture = cfg.model.architecture
        self.architecture_label = architecture_label(cfg.model)
        self.min_depth = cfg.model.min_depth
        self.max_depth = cfg.model.max_depth
        self.loss_name = cfg.loss.supervised_loss
        self.smooth_l1_beta = cfg.loss.smooth_l1_beta
        mean, std = resolve_input_statistics(cfg.data)
        network = build_supervised_network(cfg.model, cfg.data.height, cfg.data.width)
        self.model = MetricDepthModel(network, mean, std, self.min_depth, self.max_depth)

    def depth_model(self) -> nn.Module:
        return self.model

    def forward(self, batch: dict[str, torch.Tensor]) -> StepOutput:
        image = batch["frames_aug"][:, 0]
        gt = batch["depth_gt"]
        pred = self.model(image)
        terms = depth_errors(pred, gt, self.smooth_l1_beta)
        return StepOutput(
            loss=terms[self.loss_name],
            scalars={name: value.detach() for name, value in terms.items()},
            images={  # the first 4 of the batch; depth as a fraction of max_depth
                "image": image[:4].detach(),
                "depth_pred": (pred[:4].detach() / self.max_depth).clamp(0, 1),
                "depth_gt": (gt[:4] / self.max_depth).clamp(0, 1),
            },
        )


def depth_errors(pred: torch.Tensor, gt: torch.Tensor, beta: float) -> dict[str, torch.Tensor]:
    """l1, l2, smooth_l1 (Huber with `beta` metres) and abs_rel over pixels with gt > 0.

    pred, gt: N x 1 x H x W metres. A batch without any known pixel gives zeros that still
    depend on `pred`, so every rank of a DDP run back-propagates through the same graph.
    """
    if pred.shape != gt.shape:
        raise ValueError(f"prediction {tuple(pred.shape)} and depth_gt {tuple(gt.shape)} "
                         "shapes differ; expected both N x 1 x H x W")
    valid = gt > 0
    if not bool(valid.any()):
        zero = pred.sum() * 0.0
        return {"l1": zero, "l2": zero, "smooth_l1": zero, "abs_rel": zero}
    d, g = pred[valid].float(), gt[valid].float()
    diff = d - g
    return {
        "l1": diff.abs().mean(),
        "l2": (diff**2).mean(),
        "smooth_l1": F.smooth_l1_loss(d, g, beta=beta),
        "abs_rel": (diff.abs() / g).mean(),
    }


def resolve_input_statistics(data: DataConfig) -> tuple[list[float], list[float]]:
    """The per-channel input mean and std: `data.input_mean/std`, or computed once and stored.

    When the config has none, up to STATISTICS_MAX_IMAGES evenly spaced un-augmented images of
    the training split are read and the result is written back into `data`, so the config saved
    with every checkpoint (and `config.yaml`) carries it and export or resume never recompute.
    """
    if data.input_mean and data.input_std:
        return list(data.input_mean), list(data.input_std)
    try:
        split = find_split(data.train_split, data.root, "data.train_split")
        dataset = build_dataset(data, split, train=False)
    except (ConfigError, DatasetError, OSError) as error:
        raise ConfigError(
            f"data.input_mean/input_std are not set and the training split {data.train_split!r} "
            f"under {data.root!r} cannot be read to compute them: {error}"
        ) from error
    picks = spread_indices(len(dataset), STATISTICS_MAX_IMAGES)
    mean, std = channel_statistics(dataset[i]["frames"][0].permute(1, 2, 0).numpy() for i in picks)
    LOG.info("input statistics from %d training images: mean %s std %s", len(picks),
             [round(v, 4) for v in mean], [round(v, 4) for v in std])
    data.input_mean, data.input_std = mean, std
    return mean, std
