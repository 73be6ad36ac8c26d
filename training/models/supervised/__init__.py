"""The four supervised depth networks of Zheng, Sznaier Camps and Guo, "Estimating Depth From RGB
Monocular Images" (NYUv2; Zheng et al. elsewhere here), built from `cfg.model`.

Every network maps a normalised N x 3 x H x W image to N x 1 x H x W raw depth logits; the task
(training.tasks.supervised) adds the input normalisation and the logits -> metres mapping around it.
"""

from __future__ import annotations

from torch import nn

from training.config import SUPERVISED_ARCHITECTURES, ModelConfig
from training.models.supervised.backbone import ResnetTrunk, resnet_name
from training.models.supervised.fpn import SemanticFPN
from training.models.supervised.multiscale import MultiScaleEigen
from training.models.supervised.resnet_baseline import ResnetBaseline
from training.models.supervised.unet import UNet

__all__ = [
    "SUPERVISED_ARCHITECTURES",
    "MultiScaleEigen",
    "ResnetBaseline",
    "ResnetTrunk",
    "SemanticFPN",
    "UNet",
    "architecture_label",
    "build_supervised_network",
]


def build_supervised_network(model: ModelConfig, height: int, width: int) -> nn.Module:
    """The network named by `model.architecture` for H x W input (pixels)."""
    pretrained = model.weights_init == "pretrained"
    if model.architecture == "unet":
        return UNet(model.num_layers, pretrained, model.pretrained_path, model.freeze_encoder,
                    model.dropout)
    if model.architecture == "fpn":
        return SemanticFPN(model.fpn_backbone, pretrained, model.pretrained_path,
                           model.freeze_encoder, model.dropout)
    if model.architecture == "resnet_baseline":
        return ResnetBaseline(height, width, pretrained, model.pretrained_path,
                              model.freeze_encoder)
    if model.architecture == "multiscale":
        return MultiScaleEigen(height, width, model.dropout)
    raise ValueError(f"model.architecture={model.architecture!r} is not a supervised model; "
                     f"expected one of {SUPERVISED_ARCHITECTURES}")


def architecture_label(model: ModelConfig) -> str:
    """Name for the ONNX contract and tables, e.g. 'unet-resnet34', 'fpn-resnext50_32x4d'."""
    if model.architecture == "unet":
        return f"unet-{resnet_name(model.num_layers)}"
    if model.architecture == "fpn":
        return f"fpn-{model.fpn_backbone}"
    if model.architecture == "resnet_baseline":
        return "resnet_baseline-resnet18"
    return model.architecture
