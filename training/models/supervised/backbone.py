"""ResNet / ResNeXt feature trunks shared by the supervised NYUv2 models of Zheng et al.

The trunk takes an already normalised N x 3 x H x W image (normalisation lives in the task's depth
model, so the ONNX input stays RGB in [0, 1]) and returns five feature maps at strides 2, 4, 8, 16
and 32. ImageNet weights come only from a local file or the torch hub cache: nothing is downloaded.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torchvision
from torch import nn

from training.models.resnet_encoder import (
    IMAGENET_WEIGHT_FILES,
    TRUNK_CHANNELS,
    hub_checkpoints,
    load_imagenet_weights,
    read_imagenet_file,
    resnet_features,
    without_classifier,
)


class ResnetTrunk(nn.Module):
    """A torchvision ResNet/ResNeXt without its classifier, returning its five feature levels.

    The torchvision network is kept as `self.net` (state-dict keys `net.conv1.weight`,
    `net.layer1.0...`). With `frozen=True` its parameters get no gradients and its batch-norm
    layers stay in eval mode, so frozen ImageNet statistics are not overwritten by training.
    """

    def __init__(self, name: str, pretrained: bool = False, pretrained_path: str = "",
                 frozen: bool = False) -> None:
        super().__init__()
        if name not in TRUNK_CHANNELS:
            raise ValueError(f"encoder {name!r} is not supported; expected one of "
                             f"{sorted(TRUNK_CHANNELS)}")
        self.name = name
        self.num_ch = TRUNK_CHANNELS[name]
        self.net = getattr(torchvision.models, name)(weights=None)
        del self.net.fc, self.net.avgpool  # classifier: replaced by each model's own head
        if pretrained:
            self.net.load_state_dict(without_classifier(imagenet_state_dict(name, pretrained_path)))
        self.frozen = frozen
        if frozen:
            self.net.requires_grad_(False)

    def train(self, mode: bool = True) -> ResnetTrunk:
        super().train(mode and not self.frozen)
        return self

    def forward(self, image: torch.Tensor) -> list[torch.Tensor]:
        """Normalised N x 3 x H x W -> [N x C_i x H/2^(i+1) x W/2^(i+1) for i in 0..4]."""
        return resnet_features(self.net, image)


def resnet_name(num_layers: int) -> str:
    """`cfg.model.num_layers` -> torchvision name, with an error naming the accepted depths."""
    name = f"resnet{num_layers}"
    if name not in TRUNK_CHANNELS:
        raise ValueError(f"model.num_layers={num_layers} is not a ResNet depth; expected one of "
                         "18, 34, 50, 101, 152")
    return name


def imagenet_state_dict(name: str, path: str = "") -> dict[str, torch.Tensor]:
    """ImageNet weights of torchvision network `name` from `path` or the local torch hub cache.

    ResNet-18/34/50 go through the Monodepth2 encoder's loader so both pipelines look for the
    same files; the others are looked up as `<hub>/checkpoints/<name>-*.pth`. Never downloads;
    FileNotFoundError names what was searched.
    """
    depth = name.removeprefix("resnet")
    if depth.isdigit() and int(depth) in IMAGENET_WEIGHT_FILES:
        return load_imagenet_weights(int(depth), path or None)
    if path:
        file = Path(path)
        if not file.is_file():
            raise FileNotFoundError(f"model.pretrained_path {path} for {name} does not exist")
    else:
        folder = hub_checkpoints()
        found = sorted(folder.glob(f"{name}-*.pth"))
        if not found:
            raise FileNotFoundError(
                f"no ImageNet weights for {name}: nothing matches {folder}/{name}-*.pth (no "
                "download is attempted); set model.pretrained_path or model.weights_init=scratch"
            )
        file = found[-1]
    return read_imagenet_file(file, name)
