"""Monodepth2's training augmentation: colour jitter and horizontal flip, decided once per sample.

One Augmentation is drawn per sample and applied to every frame of it (temporal neighbours and
the stereo partner alike), so the photometric loss compares images that differ only by motion.
Randomness comes from torch's global generator: the trainer's seed and the DataLoader's per-worker
seeding make it reproducible.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torchvision.transforms import ColorJitter
from torchvision.transforms import functional as F

FLIP_PROBABILITY = 0.5
JITTER_PROBABILITY = 0.5
BRIGHTNESS = 0.2  # factor drawn from [1 - 0.2, 1 + 0.2]
CONTRAST = 0.2
SATURATION = 0.2
HUE = 0.1  # shift drawn from [-0.1, 0.1] turns of the colour wheel


@dataclass(frozen=True)
class ColorJitterParams:
    """One draw of torchvision's ColorJitter: the four factors and the order they apply in."""

    order: tuple[int, ...]  # permutation of 0 brightness, 1 contrast, 2 saturation, 3 hue
    brightness: float  # multiplicative factor
    contrast: float  # blend factor towards the mean grey level
    saturation: float  # blend factor towards the greyscale image
    hue: float  # hue shift in turns, within [-0.5, 0.5]


@dataclass(frozen=True)
class Augmentation:
    """What happens to one sample: mirror it left-right, and/or colour-jitter the network inputs."""

    flip: bool = False
    jitter: ColorJitterParams | None = None


NO_AUGMENTATION = Augmentation()


def sample_color_jitter() -> ColorJitterParams:
    """Draw jitter parameters exactly as torchvision's ColorJitter(0.2, 0.2, 0.2, 0.1) does."""
    order, brightness, contrast, saturation, hue = ColorJitter.get_params(
        [1 - BRIGHTNESS, 1 + BRIGHTNESS],
        [1 - CONTRAST, 1 + CONTRAST],
        [1 - SATURATION, 1 + SATURATION],
        [-HUE, HUE],
    )
    return ColorJitterParams(tuple(order.tolist()), brightness, contrast, saturation, hue)


def sample_augmentation() -> Augmentation:
    """Flip with p = 0.5 and jitter with p = 0.5, independently (Monodepth2's training setup)."""
    flip = bool(torch.rand(()) < FLIP_PROBABILITY)
    jitter = sample_color_jitter() if bool(torch.rand(()) < JITTER_PROBABILITY) else None
    return Augmentation(flip=flip, jitter=jitter)


def apply_color_jitter(images: torch.Tensor, params: ColorJitterParams) -> torch.Tensor:
    """Jitter RGB images in [0, 1], shape (..., 3, H, W), all with the same parameters.

    Contrast uses each image's own mean grey level, as when jittering the frames one at a time.
    """
    for op in params.order:
        if op == 0:
            images = F.adjust_brightness(images, params.brightness)
        elif op == 1:
            images = F.adjust_contrast(images, params.contrast)
        elif op == 2:
            images = F.adjust_saturation(images, params.saturation)
        else:
            images = F.adjust_hue(images, params.hue)
    return images
