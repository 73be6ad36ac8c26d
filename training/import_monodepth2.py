"""Turn a published Monodepth2 model folder into our checkpoint (then export it as usual).

    python -m training import-monodepth2 models/mono_640x192 --output models/mono_640x192.pt
    python -m training export --checkpoint models/mono_640x192.pt --output mono_640x192.onnx

The published folders (mono_640x192/, stereo_640x192/, mono+stereo_640x192/, ...) hold:
    encoder.pth       `encoder.` + torchvision ResNet keys (fc.* unused), plus the entries
                      height, width (the training input size) and use_stereo
    depth.pth         decoder.<k>.conv.conv.weight|bias, k = 0..9: the conv blocks upconv(4,0),
                      upconv(4,1), upconv(3,0), ..., upconv(0,1); decoder.<10+s>.conv.weight|bias:
                      the disparity head of scale s = 0..3
    pose_encoder.pth  like encoder.pth with a 6-channel conv1 (two stacked frames); absent in
    pose.pth          stereo-only models. net.0 (1x1 squeeze), net.1, net.2 (3x3), net.3 (1x1 to
                      2 frames x 6 numbers)
Our networks keep the same parameter names after a renamed prefix (DepthDecoder.reference_prefixes,
PoseDecoder.REFERENCE_NAMES), so the import is a pure renaming: the imported model computes
exactly what the original does. Every file is read with torch.load(weights_only=True).

The checkpoint's config: architecture monodepth2, the encoder's ResNet depth, input size from
encoder.pth, depth range 0.1-100 (the published models'), KITTI intrinsics, data.use_stereo from
encoder.pth (so an export says metres = 5.4 x units for stereo-trained models), frame offsets
[0, -1, 1] when pose weights are present, [0] otherwise.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import torch

from training.checkpoint import CheckpointError, load_weights, save_checkpoint
from training.config import ConfigError, TrainConfig, config_to_dict
from training.models import DepthDecoder, PoseDecoder
from training.tasks.monodepth2 import Monodepth2Task

DEPTH_FILES = ("encoder.pth", "depth.pth")
POSE_FILES = ("pose_encoder.pth", "pose.pth")
RESNET_LAYER3_BLOCKS = {2: 18, 6: 34}  # basic-block ResNets; bottleneck (conv3) ones are 50


class WeightsImportError(ValueError):
    """The folder is not a usable Monodepth2 model; the message names the file and key."""


def load_state(path: Path) -> dict[str, Any]:
    """A .pth state dict, read without running code from the file."""
    if not path.is_file():
        raise WeightsImportError(
            f"{path} does not exist; a Monodepth2 model folder holds "
            f"{', '.join(DEPTH_FILES + POSE_FILES)}"
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated files, pickles with code, ...
        raise WeightsImportError(
            f"{path} cannot be read as a weights-only state dict: {exc}"
        ) from exc
    if not isinstance(state, dict):
        raise WeightsImportError(f"{path} holds a {type(state).__name__}; expected a state dict")
    return state


def resnet_depth(state: dict[str, Any], source: Path) -> int:
    """18, 34 or 50 from an `encoder.`-prefixed ResNet state dict."""
    if "encoder.layer1.0.conv3.weight" in state:
        return 50
    blocks = {key.split(".")[2] for key in state if key.startswith("encoder.layer3.")}
    if len(blocks) not in RESNET_LAYER3_BLOCKS:
        raise WeightsImportError(
            f"{source}: encoder.layer3 has {len(blocks)} blocks; expected 2 (ResNet-18), "
            "6 (ResNet-34) or bottleneck blocks (ResNet-50)"
        )
    return RESNET_LAYER3_BLOCKS[len(blocks)]


def encoder_weights(state: dict[str, Any], prefix: str) -> dict[str, torch.Tensor]:
    """Encoder tensors renamed under `prefix` (our ResnetEncoder keeps the `encoder.` keys)."""
    return {
        f"{prefix}.{key}": value
        for key, value in state.items()
        if key.startswith("encoder.") and not key.startswith("encoder.fc.")
    }


def decoder_weights(
    state: dict[str, Any], decoder: DepthDecoder, source: Path
) -> dict[str, torch.Tensor]:
    """`decoder.<k>.<rest>` -> `depth_net.decoder.<reference_prefixes()[k]>.<rest>`."""
    prefixes = decoder.reference_prefixes()
    renamed = {}
    for key, value in state.items():
        head, index, rest = [*key.split(".", 2), "", ""][:3]
        if head != "decoder" or not index.isdigit() or not rest:
            raise WeightsImportError(f"{source}: key {key!r} is not decoder.<index>.<parameter>")
        if int(index) >= len(prefixes):
            raise WeightsImportError(
                f"{source}: key {key!r} has no counterpart; the decoder has blocks "
                f"0..{len(prefixes) - 1}"
            )
        renamed[f"depth_net.decoder.{prefixes[int(index)]}.{rest}"] = value
    return renamed


def pose_weights(state: dict[str, Any], source: Path) -> dict[str, torch.Tensor]:
    """`net.<k>.<param>` -> `pose_net.decoder.<REFERENCE_NAMES[k]>.<param>`."""
    names = PoseDecoder.REFERENCE_NAMES
    renamed = {}
    for key, value in state.items():
        head, index, rest = [*key.split(".", 2), "", ""][:3]
        if head != "net" or not index.isdigit() or int(index) >= len(names) or not rest:
            raise WeightsImportError(
                f"{source}: key {key!r} is not net.<0..{len(names) - 1}>.<parameter>"
            )
        renamed[f"pose_net.decoder.{names[int(index)]}.{rest}"] = value
    return renamed


def import_monodepth2(folder: str | Path) -> tuple[TrainConfig, torch.nn.Module, dict[str, Any]]:
    """Build our Monodepth2 task from a published model folder: (config, task, info)."""
    folder = Path(folder)
    absent = [name for name in DEPTH_FILES if not (folder / name).is_file()]
    if absent:
        raise WeightsImportError(
            f"{folder} lacks {' and '.join(absent)}; a Monodepth2 model folder holds "
            f"{', '.join(DEPTH_FILES)} and, unless stereo-only, {', '.join(POSE_FILES)}"
        )
    encoder = load_state(folder / "encoder.pth")
    missing = [key for key in ("height", "width") if key not in encoder]
    if missing:
        raise WeightsImportError(
            f"{folder / 'encoder.pth'} lacks {missing}; the published encoders store the "
            "training input size as entries height and width"
        )
    height, width = int(encoder["height"]), int(encoder["width"])
    use_stereo = bool(encoder.get("use_stereo", False))
    has_pose = [(folder / name).is_file() for name in POSE_FILES]
    if any(has_pose) and not all(has_pose):
        absent = [name for name, present in zip(POSE_FILES, has_pose, strict=True) if not present]
        raise WeightsImportError(f"{folder} has only part of the pose network: {absent} missing")
    if not any(has_pose) and not use_stereo:
        raise WeightsImportError(
            f"{folder} has no {' / '.join(POSE_FILES)} and encoder.pth says use_stereo is "
            "false: neither a monocular nor a stereo model"
        )

    cfg = TrainConfig()
    cfg.data.dataset = "kitti"
    cfg.data.height, cfg.data.width = height, width
    cfg.data.use_stereo = use_stereo
    cfg.data.frame_offsets = [0, -1, 1] if all(has_pose) else [0]
    cfg.model.architecture = "monodepth2"
    cfg.model.weights_init = "scratch"  # every weight comes from the files
    cfg.model.num_layers = resnet_depth(encoder, folder / "encoder.pth")
    cfg.model.min_depth, cfg.model.max_depth = 0.1, 100.0
    cfg.model.scales = [0, 1, 2, 3]
    cfg.run.out_dir = str(folder)

    pose_encoder, pose = {}, {}
    if all(has_pose):
        pose_encoder = load_state(folder / "pose_encoder.pth")
        pose = load_state(folder / "pose.pth")
        cfg.model.pose_num_layers = resnet_depth(pose_encoder, folder / "pose_encoder.pth")
    try:
        cfg.validate()
    except ConfigError as exc:
        raise WeightsImportError(
            f"{folder}: the stored settings do not make a valid model: {exc}"
        ) from exc

    task = Monodepth2Task(cfg)
    weights = encoder_weights(encoder, "depth_net.encoder")
    weights |= decoder_weights(load_state(folder / "depth.pth"), task.depth_net.decoder,
                               folder / "depth.pth")
    if pose:
        weights |= encoder_weights(pose_encoder, "pose_net.encoder")
        weights |= pose_weights(pose, folder / "pose.pth")
    # Files saved before PyTorch 0.4.1 lack the batch-norm step counters, which inference never
    # reads; keep the fresh model's.
    for key, value in task.state_dict().items():
        if key.endswith(".num_batches_tracked"):
            weights.setdefault(key, value)
    try:
        load_weights(task, weights, source=str(folder))
    except CheckpointError as exc:
        raise WeightsImportError(str(exc)) from None
    task.eval()
    info = {"imported_from": str(folder.resolve()), "height": height, "width": width,
            "use_stereo": use_stereo, "num_layers": cfg.model.num_layers,
            "pose": bool(pose)}
    return cfg, task, info


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("folder", help="published model folder with encoder.pth, depth.pth, ...")
    parser.add_argument("--output", required=True, help="checkpoint file to write (.pt)")


def main(args: argparse.Namespace) -> int:
    try:
        cfg, task, info = import_monodepth2(args.folder)
    except WeightsImportError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    save_checkpoint(args.output, {"config": config_to_dict(cfg), "model": task.state_dict(),
                                  "step": 0, "epoch": 0, "summary": info})
    kind = {(False, True): "stereo", (True, False): "mono", (True, True): "mono+stereo"}[
        (info["pose"], info["use_stereo"])]
    print(f"imported {kind} Monodepth2 ResNet-{info['num_layers']} at "
          f"{info['width']}x{info['height']} from {args.folder} -> {args.output}")
    return 0
