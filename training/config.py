"""Typed training configuration, loaded from YAML with `--set key=value` overrides.

Every field has a default next to a comment saying what it is for; an unknown key or a value of the
wrong type is an error that names the key. The defaults are the Monodepth2 paper's KITTI setup.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from depth_ros.atomic_files import write_text


class ConfigError(ValueError):
    """A configuration file or override is invalid; the message names the key."""


# The allowed values of every choice key, as types: loading checks a value against its field's
# Literal (one place, _coerce), and code that needs the list reads it from here (no torch here).
Dataset = Literal["kitti", "nyu", "folder", "nyu_labeled", "rgbd_folder", "rosbag2"]
Architecture = Literal["monodepth2", "unet", "fpn", "resnet_baseline", "multiscale"]
WeightsInit = Literal["pretrained", "scratch"]  # ImageNet weights, or a random initialisation
PoseSource = Literal["network", "odometry", "odometry_refined"]
SupervisedLoss = Literal["l1", "l2", "smooth_l1"]
Amp = Literal["off", "bf16", "fp16"]

SUPERVISED_ARCHITECTURES: tuple[Architecture, ...] = typing.get_args(Architecture)[1:]


@dataclass
class DataConfig:
    dataset: Dataset = "kitti"
    # dataset root folder (the .mat file for nyu_labeled; rosbag2: a bag or a folder of bags)
    root: str = "data/kitti_raw"
    train_split: str = "splits/kitti/train_files.txt"  # lines `folder frame_index side`
    val_split: str = "splits/kitti/val_files.txt"  # held-out lines in the same format
    height: int = 192  # network input height, pixels (multiple of 32)
    width: int = 640  # network input width, pixels (multiple of 32)
    frame_offsets: list[int] = field(default_factory=lambda: [0, -1, 1])  # target first
    use_stereo: bool = False  # add the other camera of the stereo pair as a source frame
    image_ext: str = ".png"  # KITTI: .png (raw) or .jpg (converted); NYU uses .jpg
    intrinsics_file: str = ""  # folder dataset: YAML with fx, fy, cx, cy, width, height
    depth_scale: float = 1000.0  # rgbd_folder/nyu depth pngs: stored value per metre
    odometry: bool = False  # samples carry odom_T / odom_valid (robot odometry, metres)
    # Odometry samples further apart than this (seconds) are a gap: frames inside get no motion.
    odometry_max_gap: float = 0.12
    # rosbag2 recordings (training/datasets/rosbag2.py); the splits are `train` and `val`, blocks
    # of time: the last val_fraction of each bag's moving frames is validation.
    image_topic: str = "/camera/image_raw"  # sensor_msgs/Image or CompressedImage
    camera_info_topic: str = ""  # empty: camera_info next to the image topic
    odometry_topic: str = "/odom"  # nav_msgs/Odometry; used when present (data.odometry needs it)
    depth_topic: str = ""  # ground-truth depth (32FC1 metres or 16UC1 mm) for evaluation only
    undistort: bool = False  # undistort raw images with camera_info D (refused otherwise)
    val_fraction: float = 0.1  # share of each bag's moving frames, at its end, for validation
    min_translation: float = 0.02  # metres to each neighbour (odometry) for a frame to count ...
    min_rotation: float = 0.5  # ... or degrees of turn; both below: a static frame, skipped
    min_image_change: float = 2.0  # without odometry: mean |grey difference| (0-255) to neighbours
    frame_cache: str = ""  # folder for decoded, resized frames (memory-mapped); empty: in memory
    augment: bool = True  # colour jitter + flip for Monodepth2; Zheng et al.'s set for supervised
    # Supervised models (Zheng et al.): per-channel RGB mean / std of the training
    # images in [0, 1] that the depth model normalises its input with. Empty: computed from the
    # training split when the task is built and written back here, so checkpoints carry them.
    input_mean: list[float] = field(default_factory=list)
    input_std: list[float] = field(default_factory=list)
    num_workers: int = 4  # DataLoader worker processes


@dataclass
class ModelConfig:
    architecture: Architecture = "monodepth2"
    num_layers: int = 18  # ResNet depth of the depth encoder: 18 | 34 | 50 (| 101 | 152 supervised)
    weights_init: WeightsInit = "pretrained"
    pretrained_path: str = ""  # ImageNet state dict file; empty: the local torch hub cache
    pose_num_layers: int = 18  # ResNet depth of the separate pose encoder
    scales: list[int] = field(default_factory=lambda: [0, 1, 2, 3])  # decoder output scales
    # Where the target -> source motion of temporal frames comes from: `network` (the pose
    # network, the paper), `odometry` (the recorded motion moved into the camera frame; the pose
    # network fills odometry gaps) or `odometry_refined` (the pose network predicts a small
    # correction on top of the odometry). Odometry modes need data.odometry: true.
    pose_source: PoseSource = "network"
    min_depth: float = 0.1  # metres (or relative units) that disparity 1 maps to
    max_depth: float = 100.0  # depth that disparity 0 maps to
    # After training, find the metres per depth unit at which the recorded odometry's motion
    # best explains the training frames (the photometric loss's minimum over one global scale;
    # training/odometry_scale.py) and write it to model.metres_per_unit. Needs data.odometry.
    scale_from_odometry: bool = False
    # Metres per depth unit, as fitted from odometry (or measured); 0: from the recipe (stereo
    # 5.4, odometry or velocity 1.0, otherwise relative units).
    metres_per_unit: float = 0.0
    freeze_encoder: bool = False  # supervised models: keep the ImageNet encoder fixed
    dropout: float = 0.0  # supervised UNet decoder dropout probability
    fpn_backbone: str = "resnext50_32x4d"  # supervised FPN encoder (a torchvision name)


@dataclass
class LossConfig:
    ssim_weight: float = 0.85  # alpha in pe = alpha (1 - SSIM) / 2 + (1 - alpha) L1
    smoothness_weight: float = 1e-3  # edge-aware smoothness, divided by 2^scale
    automask: bool = True  # drop pixels whose un-warped error beats the warped one
    automask_tiebreak: bool = True  # tiny noise on the identity error breaks exact ties
    min_reprojection: bool = True  # per-pixel minimum over sources (False: average)
    # Weak velocity supervision (PackNet-SfM): the pose network's travelled distance should match
    # the odometry's (smooth L1, slope 1 beyond the delta). Any weight > 0 declares the model
    # metric; PackNet uses 0.05. A short run stays far from metres: pair it with
    # model.scale_from_odometry (config/train/rosbag2_velocity.yaml).
    velocity_weight: float = 0.0
    velocity_huber_delta: float = 0.05  # metres: odometry noise below this is penalised softly
    supervised_loss: SupervisedLoss = "smooth_l1"  # supervised models only
    smooth_l1_beta: float = 2.0  # metres; the paper chose the dataset's mean depth


@dataclass
class OptimConfig:
    learning_rate: float = 1e-4  # Adam
    epochs: int = 20
    scheduler_step: int = 15  # epochs between learning-rate decays
    scheduler_gamma: float = 0.1  # decay factor
    batch_size: int = 12  # per process; DDP multiplies by the world size
    weight_decay: float = 0.0
    max_steps: int = 0  # stop after this many optimiser steps (0: run all epochs)


@dataclass
class RunConfig:
    out_dir: str = "runs/kitti_mono"  # checkpoints, TensorBoard logs, summary
    device: str = "auto"  # auto (CUDA when available) | cuda | cuda:N | cpu
    amp: Amp = "off"  # CUDA only; fp16 uses a gradient scaler
    channels_last: bool = False  # NHWC memory format, faster convolutions on tensor cores
    seed: int = 42
    log_every: int = 50  # steps between TensorBoard scalar writes
    image_every: int = 500  # steps between TensorBoard disparity images
    save_every: int = 1000  # steps between checkpoints (also saved at every epoch end)
    deterministic: bool = False  # cuDNN deterministic algorithms (slower)
    cpu_threads: int = 0  # torch intra-op threads; 0: the rule in training/device.py decides


@dataclass
class TrainConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    run: RunConfig = field(default_factory=RunConfig)

    def validate(self) -> None:
        """Check values that types alone cannot; raise ConfigError naming the key."""
        d, m, r, lo = self.data, self.model, self.run, self.loss
        _require(d.height > 0 and d.height % 32 == 0, "data.height", d.height, "a multiple of 32")
        _require(d.width > 0 and d.width % 32 == 0, "data.width", d.width, "a multiple of 32")
        _require(d.frame_offsets[:1] == [0], "data.frame_offsets", d.frame_offsets,
                 "a list starting with 0 (the target frame)")
        _require(d.input_mean == [] or len(d.input_mean) == 3, "data.input_mean", d.input_mean,
                 "empty (computed from the training split) or 3 values (R, G, B)")
        _require(d.input_std == [] or (len(d.input_std) == 3 and min(d.input_std) > 0),
                 "data.input_std", d.input_std, "empty or 3 positive values (R, G, B)")
        _require(d.odometry_max_gap > 0.0, "data.odometry_max_gap", d.odometry_max_gap,
                 "> 0 seconds")
        _require(0.0 <= d.val_fraction < 1.0, "data.val_fraction", d.val_fraction,
                 "within [0, 1)")
        for key in ("min_translation", "min_rotation", "min_image_change"):
            _require(getattr(d, key) >= 0.0, f"data.{key}", getattr(d, key), ">= 0")
        _require(0 < m.min_depth < m.max_depth, "model.min_depth", m.min_depth,
                 "0 < min_depth < max_depth")
        # DepthNet / DepthDecoder raise for these too, but only once the model is built.
        _require(0 in m.scales and all(0 <= s <= 3 for s in m.scales)
                 and len(set(m.scales)) == len(m.scales), "model.scales", m.scales,
                 "distinct scales within 0..3 including 0 (the output scale)")
        _require(0.0 <= lo.ssim_weight <= 1.0, "loss.ssim_weight", lo.ssim_weight, "within [0, 1]")
        _require(lo.velocity_weight >= 0.0, "loss.velocity_weight", lo.velocity_weight, ">= 0")
        _require(lo.velocity_huber_delta > 0.0, "loss.velocity_huber_delta",
                 lo.velocity_huber_delta, "> 0 metres")
        uses_odometry = lo.velocity_weight > 0.0 or m.pose_source != "network"
        _require(d.odometry or not uses_odometry, "data.odometry", d.odometry,
                 "true when loss.velocity_weight > 0 or model.pose_source uses odometry")
        _require(not (uses_odometry and d.use_stereo), "data.use_stereo", d.use_stereo,
                 "false when odometry sets the scale in metres (stereo fixes 0.1 units = 0.54 m)")
        _require(r.cpu_threads >= 0, "run.cpu_threads", r.cpu_threads, ">= 0 (0: automatic)")
        self._validate_ranges()
        is_mono = m.architecture == "monodepth2"
        _require(not m.scale_from_odometry or (is_mono and d.odometry and not d.use_stereo
                                               and len(d.frame_offsets) > 1),
                 "model.scale_from_odometry", m.scale_from_odometry,
                 "false unless a monodepth2 model trains on video (data.frame_offsets beyond 0) "
                 "with data.odometry: true and without stereo")
        _require(not is_mono or len(d.frame_offsets) > 1 or d.use_stereo, "data.frame_offsets",
                 d.frame_offsets, "source frames besides 0, or data.use_stereo: true")

    def _validate_ranges(self) -> None:
        """Every numeric key within its range; floats finite (NaN and Inf fail every check)."""
        d, m, o, r, lo = self.data, self.model, self.optim, self.run, self.loss
        _positive("data.depth_scale", d.depth_scale)
        _require(d.num_workers >= 0, "data.num_workers", d.num_workers,
                 ">= 0 (0 loads in the training process)")
        _require(all(math.isfinite(v) and 0.0 <= v <= 1.0 for v in d.input_mean), "data.input_mean",
                 d.input_mean, "values within [0, 1] (images are scaled to [0, 1])")
        _require(all(math.isfinite(v) for v in d.input_std), "data.input_std", d.input_std,
                 "finite values")
        resnets = (18, 34, 50) if m.architecture == "monodepth2" else (18, 34, 50, 101, 152)
        _require(m.num_layers in resnets, "model.num_layers", m.num_layers, f"one of {resnets}")
        _require(m.pose_num_layers in (18, 34, 50), "model.pose_num_layers", m.pose_num_layers,
                 "one of (18, 34, 50)")
        _require(math.isfinite(m.max_depth), "model.max_depth", m.max_depth, "a finite depth")
        _non_negative("model.metres_per_unit", m.metres_per_unit)
        _require(math.isfinite(m.dropout) and 0.0 <= m.dropout < 1.0, "model.dropout", m.dropout,
                 "within [0, 1)")
        _non_negative("loss.smoothness_weight", lo.smoothness_weight)
        _non_negative("loss.velocity_weight", lo.velocity_weight)
        _non_negative("loss.smooth_l1_beta", lo.smooth_l1_beta)
        _positive("loss.velocity_huber_delta", lo.velocity_huber_delta)
        _positive("optim.learning_rate", o.learning_rate)
        _non_negative("optim.weight_decay", o.weight_decay)
        _positive("optim.scheduler_gamma", o.scheduler_gamma)
        for key, value in (("optim.epochs", o.epochs), ("optim.batch_size", o.batch_size),
                           ("optim.scheduler_step", o.scheduler_step),
                           ("run.log_every", r.log_every), ("run.image_every", r.image_every),
                           ("run.save_every", r.save_every)):
            _require(value > 0, key, value, "> 0")
        _require(o.max_steps >= 0, "optim.max_steps", o.max_steps, ">= 0 (0: run all epochs)")
        _require(r.seed >= 0, "run.seed", r.seed, ">= 0")


def _positive(key: str, value: float) -> None:
    _require(math.isfinite(value) and value > 0, key, value, "a finite number > 0")


def _non_negative(key: str, value: float) -> None:
    _require(math.isfinite(value) and value >= 0, key, value, "a finite number >= 0")


def _require(ok: bool, key: str, value: object, expected: str) -> None:
    if not ok:
        raise ConfigError(f"{key}={value!r} is invalid; expected {expected}")


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> TrainConfig:
    """Read a YAML config (or the defaults), apply `key=value` overrides and validate."""
    raw: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist")
        try:
            loaded = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as error:
            raise ConfigError(f"config file {path} is not valid YAML: {error}") from None
        if not isinstance(loaded, dict):
            kind = type(loaded).__name__
            raise ConfigError(f"config file {path} must hold a mapping, got {kind}")
        raw = loaded
    return config_from_dict(apply_overrides(raw, overrides or []))


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Set each `section.key=value` (value parsed as YAML) in the nested dict `raw`, in place."""
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"override {item!r} must look like section.key=value")
        *parents, leaf = key.split(".")
        node = raw
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {item!r}: {part!r} is not a section")
        try:
            node[leaf] = yaml.safe_load(text) if text.strip() else ""  # `key=`: an empty string
        except yaml.YAMLError as error:
            raise ConfigError(f"override {item!r}: the value is not valid YAML: {error}") from None
    return raw


def save_config(config: TrainConfig, path: Path) -> None:
    """Write `config` as YAML that load_config reads back (a run's config.yaml)."""
    write_text(path, yaml.safe_dump(config_to_dict(config), sort_keys=False))


def config_to_dict(config: TrainConfig) -> dict[str, Any]:
    """Plain nested dict, for checkpoints and YAML dumps."""
    return dataclasses.asdict(config)


def config_from_dict(raw: dict[str, Any]) -> TrainConfig:
    """Inverse of config_to_dict (used when a checkpoint carries its config)."""
    config = _build(TrainConfig, raw, "")
    config.validate()
    return config


def _build(cls: type, raw: dict[str, Any], prefix: str) -> Any:
    if not isinstance(raw, dict):
        raise ConfigError(f"{prefix.rstrip('.') or 'config'} must be a mapping, got {raw!r}")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ConfigError(
            f"unknown config key {prefix}{unknown[0]}; expected one of {sorted(known)}"
        )
    kwargs = {}
    for name, value in raw.items():
        hint = hints[name]
        key = prefix + name
        if isinstance(hint, type) and dataclasses.is_dataclass(hint):
            kwargs[name] = _build(hint, value, key + ".")
        else:
            kwargs[name] = _coerce(value, hint, key)
    return cls(**kwargs)


def _coerce(value: Any, hint: Any, key: str) -> Any:
    origin = typing.get_origin(hint)
    if origin is Literal:
        choices = typing.get_args(hint)
        if isinstance(value, bool) or value not in choices:
            quote = ""
            if isinstance(value, bool):
                quote = " (YAML reads a bare off/on/no/yes as false/true: quote it)"
            raise ConfigError(f"{key}={value!r} is invalid; expected one of "
                              f"{', '.join(choices)}{quote}")
        return value
    if origin is list:
        (item_type,) = typing.get_args(hint)
        if not isinstance(value, list):
            raise ConfigError(f"{key}={value!r} is invalid; expected a list")
        return [_coerce(v, item_type, f"{key}[{i}]") for i, v in enumerate(value)]
    if origin in (typing.Union, types.UnionType):
        raise ConfigError(f"{key}: union types are not supported in configs")
    if hint is float and not isinstance(value, bool) and isinstance(value, int | str):
        try:
            return float(value)  # YAML reads "1e-3" (no dot) as a string
        except ValueError:
            raise ConfigError(f"{key}={value!r} is invalid; expected a number") from None
    if hint is bool and not isinstance(value, bool):
        raise ConfigError(f"{key}={value!r} is invalid; expected true or false")
    if hint is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise ConfigError(f"{key}={value!r} is invalid; expected an integer")
    if not isinstance(value, hint):
        raise ConfigError(f"{key}={value!r} is invalid; expected {hint.__name__}")
    return value
