"""ResNet feature encoder of Monodepth2 (depth and pose), built on torchvision's ResNets.

The torchvision network is kept whole as the submodule `encoder`, so the state-dict keys are the
torchvision ones prefixed with `encoder.` (`encoder.conv1.weight`, `encoder.layer1.0.conv1.weight`,
...), which is also the layout of the published Monodepth2 weights. The classifier (`fc`) and the
global pooling are removed: they are never used, and unused parameters break DDP.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import torch
import torchvision
from torch import nn

logger = logging.getLogger(__name__)

# ImageNet statistics the reference normalises with (one value for all three channels).
INPUT_MEAN = 0.45
INPUT_STD = 0.225

_RESNETS: dict[int, Callable[..., torchvision.models.ResNet]] = {
    18: torchvision.models.resnet18,
    34: torchvision.models.resnet34,
    50: torchvision.models.resnet50,
}

# File names torchvision gives the ImageNet (V1) weights in the torch hub cache.
IMAGENET_WEIGHT_FILES: dict[int, str] = {
    18: "resnet18-f37072fd.pth",
    34: "resnet34-b627a593.pth",
    50: "resnet50-0676ba61.pth",
}

# torchvision constructor name -> channels of the five feature levels (strides 2 .. 32), for this
# encoder and the supervised models' trunks alike.
TRUNK_CHANNELS: dict[str, tuple[int, int, int, int, int]] = {
    "resnet18": (64, 64, 128, 256, 512),
    "resnet34": (64, 64, 128, 256, 512),
    "resnet50": (64, 256, 512, 1024, 2048),
    "resnet101": (64, 256, 512, 1024, 2048),
    "resnet152": (64, 256, 512, 1024, 2048),
    "resnext50_32x4d": (64, 256, 512, 1024, 2048),
    "resnext101_32x8d": (64, 256, 512, 1024, 2048),
    "resnext101_64x4d": (64, 256, 512, 1024, 2048),
}


def _check_num_layers(num_layers: int) -> None:
    if num_layers not in _RESNETS:
        raise ValueError(f"ResNet num_layers={num_layers} is not supported; expected 18, 34 or 50")


def hub_checkpoints() -> Path:
    """Where torchvision keeps downloaded weights: `$TORCH_HOME/hub/checkpoints`."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def find_imagenet_weights(num_layers: int, path: str | Path | None = None) -> Path:
    """The file holding the ImageNet weights: `path` when given, else the torch hub cache.

    Never downloads: robots and CI machines are offline. Raises FileNotFoundError naming the
    file tried (put torchvision's file into `$TORCH_HOME/hub/checkpoints/` or pass a path).
    """
    _check_num_layers(num_layers)
    file = Path(path) if path else hub_checkpoints() / IMAGENET_WEIGHT_FILES[num_layers]
    if file.is_file():
        return file
    raise FileNotFoundError(
        f"ImageNet weights for ResNet-{num_layers} not found; tried: {file}. "
        "Copy torchvision's file there (no download is attempted) or use weights_init: scratch"
    )


def load_imagenet_weights(
    num_layers: int, path: str | Path | None = None
) -> dict[str, torch.Tensor]:
    """Read a torchvision ImageNet ResNet state dict (see find_imagenet_weights for where)."""
    return read_imagenet_file(find_imagenet_weights(num_layers, path), f"ResNet-{num_layers}")


def read_imagenet_file(file: Path, network: str) -> dict[str, torch.Tensor]:
    """The state dict in a torchvision weights file (any torchvision `network`), on the CPU."""
    logger.info("loading ImageNet %s weights from %s", network, file)
    state = torch.load(file, map_location="cpu", weights_only=True)
    if not isinstance(state, dict):
        raise ValueError(
            f"ImageNet weights file {file} holds a {type(state).__name__}; "
            f"expected a torchvision {network} state dict"
        )
    return state


def without_classifier(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """An ImageNet state dict minus `fc.*`: the trunks here have no classifier to load it into."""
    return {k: v for k, v in state.items() if not k.startswith("fc.")}


class ResnetEncoder(nn.Module):
    """ResNet-18/34/50 returning the five feature maps the depth and pose decoders consume.

    Input: N x 3k x H x W RGB in [0, 1] (k = num_input_images stacked along channels; the pose
    encoder sees two frames). Output: [relu(bn1(conv1)), layer1, layer2, layer3, layer4] at
    strides 2, 4, 8, 16, 32 with `num_ch_enc` channels.
    """

    def __init__(
        self,
        num_layers: int = 18,
        pretrained: bool = False,
        pretrained_path: str | Path | None = None,
        num_input_images: int = 1,
    ) -> None:
        super().__init__()
        _check_num_layers(num_layers)
        if num_input_images < 1:
            raise ValueError(f"num_input_images={num_input_images} is invalid; expected >= 1")
        self.num_input_images = num_input_images
        self.num_ch_enc: tuple[int, ...] = TRUNK_CHANNELS[f"resnet{num_layers}"]

        self.encoder = _RESNETS[num_layers](weights=None)
        del self.encoder.fc
        del self.encoder.avgpool
        if num_input_images > 1:
            conv1 = nn.Conv2d(3 * num_input_images, 64, kernel_size=7, stride=2, padding=3,
                              bias=False)
            # Same initialisation torchvision gives its own convolutions.
            nn.init.kaiming_normal_(conv1.weight, mode="fan_out", nonlinearity="relu")
            self.encoder.conv1 = conv1
        if pretrained:
            file = find_imagenet_weights(num_layers, pretrained_path)
            try:
                self._load_pretrained(read_imagenet_file(file, f"ResNet-{num_layers}"))
            except RuntimeError as error:
                raise ValueError(
                    f"ImageNet weights {file} do not fit ResNet-{num_layers}: {error}"
                ) from error

    def _load_pretrained(self, state: dict[str, torch.Tensor]) -> None:
        state = without_classifier(state)
        if self.num_input_images > 1 and "conv1.weight" in state:
            # Each stacked image gets an equal share, so a static input pair responds as one image.
            weight = state["conv1.weight"]
            state["conv1.weight"] = torch.cat([weight] * self.num_input_images, 1)
            state["conv1.weight"] /= self.num_input_images
        self.encoder.load_state_dict(state, strict=True)

    def forward(self, image: torch.Tensor) -> list[torch.Tensor]:
        return resnet_features(self.encoder, (image - INPUT_MEAN) / INPUT_STD)


def resnet_features(net: torchvision.models.ResNet, x: torch.Tensor) -> list[torch.Tensor]:
    """The five feature maps of a torchvision ResNet trunk, strides 2 to 32: after the stem's
    ReLU, then after layer1..layer4 (no pooling head)."""
    f0 = net.relu(net.bn1(net.conv1(x)))
    f1 = net.layer1(net.maxpool(f0))
    f2 = net.layer2(f1)
    f3 = net.layer3(f2)
    f4 = net.layer4(f3)
    return [f0, f1, f2, f3, f4]
