"""The model contract: what an exported ONNX depth model promises to the runtime.

`training/` writes it into the ONNX file's `metadata_props` at export; `depth_ros/` reads it back
before running the model. Both sides import this module, so the keys are spelled once.

Graph: input `image` float32 N x 3 x H x W, RGB in [0, 1]; output `depth` float32 N x 1 x H x W in
model units. Metres = model units x `metres_per_unit` (only meaningful when units are `metric`, or
for stereo-trained models whose baseline fixes the scale).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields

FORMAT_VERSION = 1
INPUT_NAME = "image"
OUTPUT_NAME = "depth"
METADATA_PREFIX = "depth_ros."
UNITS = ("relative", "metric")


class ContractError(ValueError):
    """The model's metadata is missing, malformed or inconsistent."""


@dataclass(frozen=True)
class ModelContract:
    """Metadata stored with every exported model; intrinsics are normalised (fx/W, fy/H, ...)."""

    architecture: str  # e.g. "monodepth2-resnet18", "unet-resnet34"
    input_height: int  # pixels the graph was exported for
    input_width: int
    min_depth: float  # model units; outputs are clamped to [min_depth, max_depth]
    max_depth: float
    units: str  # "relative" (scale unknown) or "metric"
    metres_per_unit: float  # 5.4 for KITTI stereo-trained models, 1.0 for metric ones
    fx: float  # training camera intrinsics, normalised by image width/height
    fy: float
    cx: float
    cy: float
    dataset: str  # what it was trained on, e.g. "kitti", "nyu", "synthetic-outdoor"
    created: str = ""  # free text: date, tool versions, checkpoint
    format_version: int = FORMAT_VERSION

    def __post_init__(self) -> None:
        if self.format_version != FORMAT_VERSION:
            raise ContractError(
                f"model contract format_version {self.format_version} is not supported; "
                f"expected {FORMAT_VERSION}"
            )
        if self.units not in UNITS:
            raise ContractError(f"model units {self.units!r} unknown; expected one of {UNITS}")
        if self.input_height <= 0 or self.input_width <= 0:
            raise ContractError(
                f"model input size {self.input_width}x{self.input_height} must be positive"
            )
        if not (0.0 < self.min_depth < self.max_depth) or not math.isfinite(self.max_depth):
            raise ContractError(
                f"model depth range [{self.min_depth}, {self.max_depth}] must satisfy "
                "0 < min_depth < max_depth < inf"
            )
        if not (self.metres_per_unit > 0.0 and math.isfinite(self.metres_per_unit)):
            raise ContractError(
                f"model metres_per_unit {self.metres_per_unit} must be a positive finite number"
            )
        for name in ("fx", "fy", "cx", "cy"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0.0):
                raise ContractError(f"model intrinsic {name}={value} must be positive and finite")

    def to_metadata(self) -> dict[str, str]:
        """Flatten into ONNX `metadata_props` (string to string)."""
        return {METADATA_PREFIX + key: str(value) for key, value in asdict(self).items()}

    @classmethod
    def from_metadata(cls, props: Mapping[str, str]) -> ModelContract:
        """Parse `metadata_props`; raise ContractError naming the missing or bad key."""
        values: dict[str, object] = {}
        for field in fields(cls):
            key = METADATA_PREFIX + field.name
            if key not in props:
                if field.name in ("created", "format_version"):
                    continue
                raise ContractError(
                    f"model metadata lacks {key!r}; was the model exported by "
                    "`python -m training export`?"
                )
            raw = props[key]
            try:
                if field.type in ("int", int):
                    values[field.name] = int(raw)
                elif field.type in ("float", float):
                    values[field.name] = float(raw)
                else:
                    values[field.name] = raw
            except ValueError as err:
                raise ContractError(
                    f"model metadata {key}={raw!r} is not a valid {field.type}"
                ) from err
        return cls(**values)  # type: ignore[arg-type]

    @property
    def is_metric(self) -> bool:
        return self.units == "metric"
