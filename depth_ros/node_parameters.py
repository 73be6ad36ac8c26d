"""The depth node's ROS parameters: names, defaults, ranges, and their validation.

One table (`PARAMETERS`) gives every parameter its default, description and allowed values. The
node turns it into ParameterDescriptors (so `ros2 param describe` shows them) and validates every
change with `settings_from_values`, which returns a frozen `NodeSettings` or raises
`ParameterError` whose message is the reason sent back to the caller of set_parameters. The
range checks are repeated here on purpose: they must hold before the node commits a change,
whatever order a ROS distribution applies descriptors and callbacks in.

Units: every distance is in metres; `scale.factor` is metres per model unit.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from depth_ros.camera_fit import FIT_MODES
from depth_ros.colorize import COLORMAPS, SCALES
from depth_ros.providers import DEFAULT_PROVIDERS, ProviderError, provider_name
from depth_ros.scale import GroundPlaneConfig, ScaleMode

IMAGE_TRANSPORTS = ("raw", "compressed")
OUTPUT_RESOLUTIONS = ("model", "input")


class ParameterError(ValueError):
    """A parameter value the node cannot use; the message names it, the value and the rule."""


@dataclass(frozen=True)
class ParameterSpec:
    """One declared parameter. `minimum`/`maximum` bound numbers, `choices` bound strings."""

    name: str
    default: Any
    description: str
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    read_only: bool = False

    @property
    def constraints(self) -> str:
        if self.choices:
            return f"one of {', '.join(self.choices)}"
        if self.minimum is not None:
            return f"{self.minimum} to {self.maximum}"
        return ""


_GROUND = GroundPlaneConfig()

PARAMETERS: tuple[ParameterSpec, ...] = (
    ParameterSpec(
        "model",
        "",
        "Path of the ONNX depth model (exported by `python -m training export`). "
        "Setting it reloads the model; a model that fails to load is rejected. Without a "
        "usable one at start the node runs, publishes nothing and reports ERROR.",
    ),
    ParameterSpec(
        "image_transport",
        "raw",
        "raw: subscribe to `image` (sensor_msgs/Image); "
        "compressed: to `image/compressed` (sensor_msgs/CompressedImage).",
        choices=IMAGE_TRANSPORTS,
        read_only=True,
    ),
    ParameterSpec(
        "providers",
        list(DEFAULT_PROVIDERS),
        "ONNX Runtime execution providers in priority order (tensorrt, cuda, cpu or full "
        "names); those that cannot start on this machine are skipped. Setting it reloads the "
        "model.",
    ),
    ParameterSpec(
        "intra_op_threads",
        0,
        "ONNX Runtime CPU threads (0: one per core). Setting it reloads the model.",
        minimum=0,
        maximum=256,
    ),
    ParameterSpec(
        "intra_op_spinning",
        False,
        "Let idle ONNX Runtime CPU threads busy-wait for work: no faster on a shared CPU, and "
        "the spinning takes cores from other processes. Setting it reloads the model.",
    ),
    ParameterSpec(
        "tensorrt.cache_dir",
        "~/.ros/depth_ros/tensorrt",
        "TensorRT engine and timing cache directory ('' disables the cache: every start "
        "rebuilds the engine). Setting it reloads the model.",
    ),
    ParameterSpec(
        "tensorrt.fp16", False, "Let TensorRT run in fp16. Setting it reloads the model."
    ),
    ParameterSpec(
        "output_resolution",
        "model",
        "model: publish depth at the model's input size; input: upsample it (bilinear) to the "
        "camera image size.",
        choices=OUTPUT_RESOLUTIONS,
    ),
    ParameterSpec(
        "camera_fit",
        "crop",
        "How an image reaches the model's training aspect: crop (around the principal point) "
        "or pad (black border, published as NaN). Depth is also corrected by the ratio of "
        "normalised focal lengths, camera over training camera, when camera_info is known.",
        choices=FIT_MODES,
    ),
    ParameterSpec(
        "range.min",
        0.1,
        "Metres; nearer depth is published as NaN (depth image, cloud, preview).",
        minimum=0.001,
        maximum=1000.0,
    ),
    ParameterSpec(
        "range.max",
        80.0,
        "Metres; farther depth is published as NaN (depth image, cloud, preview).",
        minimum=0.01,
        maximum=10000.0,
    ),
    ParameterSpec(
        "scale.mode",
        ScaleMode.METADATA.value,
        "metadata: metres per unit from the model; fixed: scale.factor; ground_plane: from "
        "scale.camera_height above flat ground, per frame; none: relative depth.",
        choices=tuple(mode.value for mode in ScaleMode),
    ),
    ParameterSpec(
        "scale.factor",
        1.0,
        "Metres per model unit in scale.mode fixed.",
        minimum=1e-6,
        maximum=1e6,
    ),
    ParameterSpec(
        "scale.camera_height",
        1.65,
        "Metres from the camera centre down to the ground, for scale.mode ground_plane.",
        minimum=0.01,
        maximum=100.0,
    ),
    ParameterSpec(
        "scale.ground_plane.smoothing",
        _GROUND.smoothing,
        "Weight of each new frame's factor in the exponential average (1: no smoothing).",
        minimum=0.01,
        maximum=1.0,
    ),
    ParameterSpec(
        "scale.ground_plane.inlier_threshold",
        _GROUND.inlier_threshold,
        "RANSAC inlier distance to the plane, as a fraction of the point's depth.",
        minimum=0.001,
        maximum=0.5,
    ),
    ParameterSpec(
        "scale.ground_plane.max_tilt_deg",
        _GROUND.max_tilt_deg,
        "Degrees between an accepted ground normal and the camera's down (+y) axis.",
        minimum=1.0,
        maximum=89.0,
    ),
    ParameterSpec(
        "scale.ground_plane.min_inlier_ratio",
        _GROUND.min_inlier_ratio,
        "Fewer inliers than this fraction of the lower-image points: the frame gives no scale.",
        minimum=0.0,
        maximum=1.0,
    ),
    ParameterSpec(
        "scale.ground_plane.max_jump",
        _GROUND.max_jump,
        "Reject a frame's factor this far (relative) from the running average.",
        minimum=0.01,
        maximum=100.0,
    ),
    ParameterSpec(
        "scale.ground_plane.min_factor",
        _GROUND.min_factor,
        "Clamp of the ground-plane factor, metres per model unit (lower bound).",
        minimum=1e-9,
        maximum=1e9,
    ),
    ParameterSpec(
        "scale.ground_plane.max_factor",
        _GROUND.max_factor,
        "Clamp of the ground-plane factor, metres per model unit (upper bound).",
        minimum=1e-9,
        maximum=1e9,
    ),
    ParameterSpec(
        "cloud.decimation",
        1,
        "Keep every n-th row and column of the depth in depth/points (organized, smaller).",
        minimum=1,
        maximum=16,
    ),
    ParameterSpec(
        "cloud.rgb",
        False,
        "Add the `rgb` field (point_step 32, like depth_image_proc point_cloud_xyzrgb).",
    ),
    ParameterSpec(
        "scan.height",
        1,
        "Image rows of depth/image_rect, centred on the optical centre row, that depth/scan "
        "takes the nearest range from (depthimage_to_laserscan's scan_height).",
        minimum=1,
        maximum=4096,
    ),
    ParameterSpec(
        "scan.range_max",
        10.0,
        "Metres; depth/scan ignores farther points (monocular error grows with distance). "
        "range.max still applies when smaller.",
        minimum=0.01,
        maximum=10000.0,
    ),
    ParameterSpec(
        "scan.frame_id",
        "",
        "Frame of depth/scan ('' : the x-forward twin of the image's optical frame, "
        "camera_optical_frame -> camera_frame).",
    ),
    ParameterSpec(
        "diagnostics.timeout",
        5.0,
        "Seconds without images (or without camera_info while depth/points or depth/scan has "
        "subscribers) before /diagnostics reports ERROR.",
        minimum=0.1,
        maximum=3600.0,
    ),
    ParameterSpec(
        "diagnostics.min_rate_hz",
        1.0,
        "Image and depth rates below this are reported as WARN.",
        minimum=0.0,
        maximum=10000.0,
    ),
    ParameterSpec(
        "diagnostics.max_rate_hz",
        1000.0,
        "Image and depth rates above this are reported as WARN.",
        minimum=0.0,
        maximum=1e6,
    ),
    ParameterSpec(
        "colorized.colormap",
        "turbo",
        "Colormap of depth/colorized (computed only while someone subscribes).",
        choices=tuple(COLORMAPS),
    ),
    ParameterSpec(
        "colorized.scale",
        "inverse",
        "inverse: colours spread by 1/depth (near gets most colours); linear: by metres.",
        choices=SCALES,
    ),
)

SPECS: dict[str, ParameterSpec] = {spec.name: spec for spec in PARAMETERS}


@dataclass(frozen=True)
class ModelSettings:
    """What a DepthEstimator is built from; a change reloads the model."""

    path: str
    providers: tuple[str, ...]
    intra_op_threads: int
    intra_op_spinning: bool
    trt_cache_dir: str  # expanded ('~' resolved); '' = no engine cache
    trt_fp16: bool


@dataclass(frozen=True)
class ScaleSettings:
    """What a MetricScaler is built from; a change starts a new scaler."""

    mode: ScaleMode
    factor: float
    camera_height: float
    ground: GroundPlaneConfig


@dataclass(frozen=True)
class OutputSettings:
    """How each depth frame is turned into messages; read by the worker per frame."""

    upsample_to_input: bool
    range_min: float  # metres
    range_max: float  # metres
    decimation: int
    cloud_rgb: bool
    colormap: str
    colour_scale: str
    camera_fit: str  # "crop" or "pad"
    scan_rows: int
    scan_range_max: float  # metres, already capped by range_max
    scan_frame_id: str  # '' = the optical frame's x-forward twin


@dataclass(frozen=True)
class DiagnosticSettings:
    """When /diagnostics reports WARN and ERROR."""

    timeout_s: float
    min_rate_hz: float
    max_rate_hz: float


@dataclass(frozen=True)
class NodeSettings:
    image_transport: str
    model: ModelSettings
    scale: ScaleSettings
    output: OutputSettings
    diagnostics: DiagnosticSettings


def _check(spec: ParameterSpec, value: Any) -> Any:
    """Type, range and choice of one value; raise ParameterError naming the rule."""
    expected_type: type[Any] | tuple[type[Any], ...] = type(spec.default)
    if isinstance(spec.default, float):
        expected_type = (float, int)
    if isinstance(spec.default, bool) != isinstance(value, bool) or not isinstance(
        value, expected_type
    ):
        raise ParameterError(
            f"parameter {spec.name} = {value!r} has type {type(value).__name__}; expected "
            f"{type(spec.default).__name__}"
        )
    if spec.choices and value not in spec.choices:
        raise ParameterError(
            f"parameter {spec.name} = {value!r} is not allowed; expected {spec.constraints}"
        )
    if spec.minimum is not None:
        assert spec.maximum is not None
        if not (math.isfinite(value) and spec.minimum <= value <= spec.maximum):
            raise ParameterError(
                f"parameter {spec.name} = {value} is out of range; expected {spec.constraints}"
            )
    return value


def settings_from_values(values: Mapping[str, Any]) -> NodeSettings:
    """Validate a full set of parameter values (name -> value) into NodeSettings."""
    checked = {name: _check(spec, values.get(name, spec.default)) for name, spec in SPECS.items()}
    providers = tuple(checked["providers"])
    if not providers or not all(isinstance(p, str) and p for p in providers):
        raise ParameterError(
            f"parameter providers = {list(providers)} must name at least one ONNX Runtime "
            f"execution provider, e.g. {list(DEFAULT_PROVIDERS)}"
        )
    try:
        providers = tuple(dict.fromkeys(provider_name(p) for p in providers))
    except ProviderError as err:
        raise ParameterError(f"parameter providers: {err}") from err
    if checked["range.min"] >= checked["range.max"]:
        raise ParameterError(
            f"range.min = {checked['range.min']} m must be below range.max = "
            f"{checked['range.max']} m"
        )
    if checked["diagnostics.min_rate_hz"] > checked["diagnostics.max_rate_hz"]:
        raise ParameterError(
            f"diagnostics.min_rate_hz = {checked['diagnostics.min_rate_hz']} must not exceed "
            f"diagnostics.max_rate_hz = {checked['diagnostics.max_rate_hz']}"
        )
    try:
        ground = GroundPlaneConfig(
            smoothing=float(checked["scale.ground_plane.smoothing"]),
            inlier_threshold=float(checked["scale.ground_plane.inlier_threshold"]),
            max_tilt_deg=float(checked["scale.ground_plane.max_tilt_deg"]),
            min_inlier_ratio=float(checked["scale.ground_plane.min_inlier_ratio"]),
            max_jump=float(checked["scale.ground_plane.max_jump"]),
            min_factor=float(checked["scale.ground_plane.min_factor"]),
            max_factor=float(checked["scale.ground_plane.max_factor"]),
        )
    except ValueError as err:
        raise ParameterError(f"scale.ground_plane parameters: {err}") from err
    cache_dir = checked["tensorrt.cache_dir"]
    return NodeSettings(
        image_transport=checked["image_transport"],
        model=ModelSettings(
            path=checked["model"],
            providers=providers,
            intra_op_threads=checked["intra_op_threads"],
            intra_op_spinning=checked["intra_op_spinning"],
            trt_cache_dir=os.path.expanduser(cache_dir) if cache_dir else "",
            trt_fp16=checked["tensorrt.fp16"],
        ),
        scale=ScaleSettings(
            mode=ScaleMode(checked["scale.mode"]),
            factor=float(checked["scale.factor"]),
            camera_height=float(checked["scale.camera_height"]),
            ground=ground,
        ),
        output=OutputSettings(
            upsample_to_input=checked["output_resolution"] == "input",
            range_min=float(checked["range.min"]),
            range_max=float(checked["range.max"]),
            decimation=checked["cloud.decimation"],
            cloud_rgb=checked["cloud.rgb"],
            colormap=checked["colorized.colormap"],
            colour_scale=checked["colorized.scale"],
            camera_fit=checked["camera_fit"],
            scan_rows=checked["scan.height"],
            scan_range_max=min(float(checked["scan.range_max"]), float(checked["range.max"])),
            scan_frame_id=checked["scan.frame_id"],
        ),
        diagnostics=DiagnosticSettings(
            timeout_s=float(checked["diagnostics.timeout"]),
            min_rate_hz=float(checked["diagnostics.min_rate_hz"]),
            max_rate_hz=float(checked["diagnostics.max_rate_hz"]),
        ),
    )
