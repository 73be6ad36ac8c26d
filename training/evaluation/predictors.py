"""The models an evaluation scores: a PyTorch task or an exported ONNX file, one interface."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from torch import nn

from depth_ros.contract import ModelContract
from depth_ros.inference import DepthEstimator
from depth_ros.providers import CPU
from training.model_contract import ContractGraph, depth_model_of


class Predictor(Protocol):
    """A model under evaluation: images at its input size in, depth in model units out."""

    contract: ModelContract

    def predict(self, images: np.ndarray) -> np.ndarray:
        """N x 3 x h x w float32 RGB [0, 1] -> N x h x w float32 depth (model units)."""
        ...


class TorchPredictor:
    """A task's (or bare) depth model in PyTorch, clamped like the exported graph."""

    def __init__(
        self, model: nn.Module, contract: ModelContract, device: str | None = None
    ) -> None:
        depth_model = depth_model_of(model)
        self.contract = contract
        if device is None:  # where the model already is (e.g. the trainer's GPU)
            first = next(depth_model.parameters(), None)
            device = str(first.device) if first is not None else "cpu"
        self.device = torch.device(device)
        self.graph = ContractGraph(depth_model, contract.min_depth, contract.max_depth)

    def predict(self, images: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            batch = torch.from_numpy(np.ascontiguousarray(images)).to(self.device)
            return self.graph(batch)[:, 0].float().cpu().numpy()


class OnnxPredictor:
    """An exported model run by ONNX Runtime (CPU unless other providers are asked for), loaded
    and checked against its contract like the runtime does (ModelLoadError naming the file)."""

    def __init__(self, path: str | Path, providers: Sequence[str] | None = None) -> None:
        self.estimator = DepthEstimator(path, list(providers or [CPU]))
        self.contract = self.estimator.contract

    def predict(self, images: np.ndarray) -> np.ndarray:
        return self.estimator.predict_normalized(images)
