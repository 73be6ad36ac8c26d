"""Scoring a model over a split's samples: the library entry behind every evaluation."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
from torch import nn

from training.config import TrainConfig
from training.datasets import DatasetError
from training.evaluation.predictors import OnnxPredictor, Predictor, TorchPredictor
from training.evaluation.protocol import (
    EvalProtocol,
    Scaling,
    protocol_for,
    resize_depth,
    scaling_for,
    score_image,
)
from training.evaluation.report import EvaluationResult, ImageResult, Preview
from training.evaluation.samples import EvalSample, iter_samples
from training.kitti_depth import DEFAULT_CONVENTION
from training.metrics import average_metrics
from training.model_contract import scoring_contract
from training.tasks.build import load_task


class NonFiniteDepthError(RuntimeError):
    """The model predicted NaN/Inf depth (broken weights); no scores are written."""


def evaluate_samples(
    predictor: Predictor,
    samples: Iterator[EvalSample],
    protocol: EvalProtocol,
    scaling: Scaling,
    smooth_l1_beta: float = 2.0,
    previews: int = 0,
) -> EvaluationResult:
    """Score a model on samples (one image at a time, the runtime's batch size)."""
    results: list[ImageResult] = []
    skipped: list[str] = []
    kept: list[Preview] = []
    for sample in samples:
        gt = sample.gt
        raw = predictor.predict(sample.image[None])[0]
        broken = int(np.count_nonzero(~np.isfinite(raw)))
        if broken:
            raise NonFiniteDepthError(
                f"the model's depth for {sample.name} is NaN/Inf at {broken} of {raw.size} "
                "pixels: its weights are broken (a diverged run?)")
        prediction = resize_depth(raw, gt.shape)
        score = score_image(prediction, gt, protocol, scaling, smooth_l1_beta)
        if score is None:
            skipped.append(sample.name)
            continue
        results.append(ImageResult(sample.name, score.valid_pixels, score.scale, score.metrics))
        if len(kept) < previews:
            rgb: np.ndarray = (sample.image.transpose(1, 2, 0) * 255).round().astype(np.uint8)
            rgb = cv2.resize(rgb, (gt.shape[1], gt.shape[0]), interpolation=cv2.INTER_LINEAR)
            kept.append(Preview(rgb, prediction * score.scale, gt))
    if not results:
        raise DatasetError(f"no image had valid ground truth ({len(skipped)} skipped)")
    return EvaluationResult(protocol, scaling, average_metrics([r.metrics for r in results]),
                            results, skipped, kept)


@contextlib.contextmanager
def _eval_mode(model: nn.Module) -> Iterator[None]:
    """Evaluate in eval mode and give the caller (e.g. the trainer) its mode back."""
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


def evaluate_depth_model(
    model: nn.Module | str | Path,
    cfg: TrainConfig,
    split: str | Path | None = None,
    *,
    gt_source: str = "auto",
    gt_cache: str | Path | None = None,
    velodyne_gt: str = DEFAULT_CONVENTION,
    protocol: EvalProtocol | None = None,
    scaling: Scaling | None = None,
    max_images: int | None = None,
    device: str | None = None,
    previews: int = 0,
) -> EvaluationResult:
    """Evaluate a task/depth model (trained with `cfg`), an .onnx file or a checkpoint file.

    Data come from `cfg.data` and `split` (default cfg.data.val_split); the protocol defaults to
    the dataset's, the scaling to the model contract's (see the module docstring). A module runs
    on `device` (default: where its weights are) and gets its train/eval mode back afterwards.
    """
    if isinstance(model, str | Path) and Path(model).suffix == ".onnx":
        predictor: Predictor = OnnxPredictor(model)
        module = None
    else:
        if isinstance(model, str | Path):
            cfg, model = load_task(model, map_location=device or "cpu")
        predictor = TorchPredictor(model, scoring_contract(cfg), device)
        module = model
    contract = predictor.contract
    size = (contract.input_width, contract.input_height)
    _, samples = iter_samples(cfg.data, split or cfg.data.val_split, size, gt_source, gt_cache,
                              velodyne_gt, max_images)
    with _eval_mode(module) if module is not None else contextlib.nullcontext():
        return evaluate_samples(predictor, samples, protocol or protocol_for(cfg.data.dataset),
                                scaling or scaling_for(contract), cfg.loss.smooth_l1_beta, previews)
