"""The model contract of a trained network: what its ONNX export promises the runtime.

One place answers, for a training config, which units the depth is in, which camera the network
was trained with, what the graph is called and which depth range it is clamped to. The exporter
writes this contract into the file; evaluation and the trainer's validation score by it; the
runtime (depth_ros/contract.py) reads it back.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Protocol, runtime_checkable

import onnx
import torch
from torch import nn

from depth_ros.contract import ModelContract
from training.config import SUPERVISED_ARCHITECTURES, DataConfig, TrainConfig
from training.datasets import (
    KINECT_NORMALIZED_K,
    KITTI_NORMALIZED_K,
    DatasetError,
    NormalizedIntrinsics,
)
from training.datasets.folder import read_camera_yaml
from training.datasets.rosbag2 import recording_intrinsics
from training.models.supervised import architecture_label

OPSET = 17
STEREO_METRES_PER_UNIT = 5.4  # Monodepth2: the 0.54 m KITTI baseline is 0.1 units
KINECT_DATASETS = ("nyu", "nyu_labeled")
YAML_INTRINSICS_DATASETS = ("folder", "rgbd_folder")


class ExportError(RuntimeError):
    """The model could not be exported, or the exported file failed its self-check."""


# Contract ---------------------------------------------------------------------------------------


def depth_units(cfg: TrainConfig) -> tuple[str, float]:
    """(units, metres_per_unit) of what the model predicts.

    Supervised models regress metres. Monodepth2 trained with the stereo pair knows the baseline
    (0.1 units = 0.54 m), so its depth is metric after x5.4; trained on video with odometry (a
    velocity term or odometry poses) its units are the odometry's metres; trained on video alone
    it is relative (scale unknown; the runtime or the evaluation has to recover it). A scale
    fitted from odometry after training (model.metres_per_unit) overrides the recipe's.
    """
    if cfg.model.architecture in SUPERVISED_ARCHITECTURES:
        return "metric", 1.0
    if cfg.model.metres_per_unit > 0.0:
        return "metric", cfg.model.metres_per_unit
    if cfg.data.use_stereo:
        return "metric", STEREO_METRES_PER_UNIT
    if cfg.loss.velocity_weight > 0.0 or cfg.model.pose_source != "network":
        return "metric", 1.0
    return "relative", 1.0


def training_intrinsics(data: DataConfig) -> NormalizedIntrinsics:
    """Normalised intrinsics (fx/W, fy/H, cx/W, cy/H) of the camera the model was trained on."""
    if data.dataset == "kitti":
        return KITTI_NORMALIZED_K
    if data.dataset in KINECT_DATASETS or (data.dataset == "rgbd_folder"
                                           and not data.intrinsics_file):
        return KINECT_NORMALIZED_K  # rgbd_folder without a YAML is NYU's layout and camera
    if data.dataset in YAML_INTRINSICS_DATASETS:
        path = Path(data.intrinsics_file) if data.intrinsics_file else Path(data.root) / (
            "intrinsics.yaml"
        )
        try:
            return read_camera_yaml(path)
        except DatasetError as exc:
            raise ExportError(f"{exc}; or pass --intrinsics fx,fy,cx,cy (normalised)") from None
    if data.dataset == "rosbag2":  # the recording's camera_info
        try:
            return recording_intrinsics(data)
        except DatasetError as exc:
            raise ExportError(f"{exc}; or pass --intrinsics fx,fy,cx,cy (normalised)") from None
    raise ExportError(
        f"no known camera for data.dataset={data.dataset!r}; pass --intrinsics fx,fy,cx,cy "
        "(normalised by the image width/height)"
    )


def architecture_name(cfg: TrainConfig) -> str:
    """e.g. monodepth2-resnet18; supervised models are named as in their comparison tables
    (architecture_label: unet-resnet34, fpn-resnext50_32x4d, multiscale)."""
    if cfg.model.architecture in SUPERVISED_ARCHITECTURES:
        return architecture_label(cfg.model)
    return f"{cfg.model.architecture}-resnet{cfg.model.num_layers}"


def model_contract(
    cfg: TrainConfig, created: str = "", intrinsics: NormalizedIntrinsics | None = None
) -> ModelContract:
    """The contract an export of a model trained with `cfg` carries."""
    units, metres_per_unit = depth_units(cfg)
    k = intrinsics or training_intrinsics(cfg.data)
    return ModelContract(
        architecture=architecture_name(cfg),
        input_height=cfg.data.height,
        input_width=cfg.data.width,
        min_depth=cfg.model.min_depth,
        max_depth=cfg.model.max_depth,
        units=units,
        metres_per_unit=metres_per_unit,
        fx=k.fx,
        fy=k.fy,
        cx=k.cx,
        cy=k.cy,
        dataset=f"{cfg.data.dataset}:{Path(cfg.data.root).name}",
        created=created,
    )


def read_contract(path: str | Path) -> ModelContract:
    """The ModelContract stored in an ONNX file's metadata_props."""
    model = onnx.load(str(path), load_external_data=False)
    return ModelContract.from_metadata({p.key: p.value for p in model.metadata_props})


@runtime_checkable
class HasDepthModel(Protocol):
    """A training task, as opposed to a bare depth model: its depth model is what is exported."""

    def depth_model(self) -> nn.Module: ...


def depth_model_of(model: nn.Module) -> nn.Module:
    """The depth model a task exports, or `model` itself when it is already a bare depth model."""
    return model.depth_model() if isinstance(model, HasDepthModel) else model


class ContractGraph(nn.Module):
    """What gets traced: the depth model with its output clamped to the contract's range."""

    def __init__(self, depth_model: nn.Module, min_depth: float, max_depth: float) -> None:
        super().__init__()
        self.depth_model = depth_model
        self.min_depth = min_depth
        self.max_depth = max_depth

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.depth_model(image).clamp(self.min_depth, self.max_depth)


def contract_graph(model: nn.Module, contract: ModelContract) -> ContractGraph:
    """A CPU float32 eval-mode copy of the task's depth model (the caller's model is untouched)."""
    graph = ContractGraph(copy.deepcopy(depth_model_of(model)), contract.min_depth,
                          contract.max_depth)
    return graph.cpu().float().eval()



def scoring_contract(cfg: TrainConfig) -> ModelContract:
    """The contract an export would carry, for scoring a model that has not been exported.

    Scoring uses its units and size, never its camera, so a dataset without a known camera
    (a folder without intrinsics.yaml) gets KITTI's rather than an error."""
    try:
        return model_contract(cfg)
    except ExportError:
        return model_contract(cfg, intrinsics=KITTI_NORMALIZED_K)
