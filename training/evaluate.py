"""Standard depth metrics of a checkpoint or an exported ONNX model on a split with ground truth.

    python -m training evaluate --checkpoint runs/synthetic/last.pt        # data.val_split
    python -m training evaluate --checkpoint runs/synthetic/last.pt --split splits/test_files.txt \
        --grid eval/grid.png --csv eval/per_image.csv
    python -m training evaluate --onnx model.onnx --config config/train/kitti_mono.yaml \
        --split splits/kitti/eigen_test_files.txt --gt velodyne --gt-cache eval/eigen_gt.npz
    python -m training evaluate --onnx model.onnx --bag data/robot/robot_0000 \
        --depth-topic /ground_truth/depth     # every frame of a recording with a depth topic

Per image: the prediction (model units, at the model's input size) is resized to the ground
truth's size (bilinearly in inverse depth, as the Monodepth2 benchmark does), pixels outside the
protocol's crop and depth caps are dropped, the prediction is scaled, clipped to the caps, and
the metrics of training/metrics.py are computed; the table averages them over images.
Protocols (metres):
    kitti    caps [1e-3, 80], Garg/Eigen crop rows 0.40810811-0.99189189 H, cols
             0.03594771-0.96405229 W; ground truth from the velodyne scans (training/kitti_depth;
             default the published Eigen ground truth, --velodyne-gt camera for camera-z
             depth) or the generator's dense depth_gt/*.npy
    nyu      caps [1e-3, 10], crop rows 45-471, cols 41-601 at 640 x 480 (scaled to other sizes)
    generic  caps [1e-3, 80], no crop (other folders with ground truth)
Scaling follows the model contract: relative models (monocular Monodepth2) are median-scaled per
image (median(gt) / median(pred); the median and spread of these ratios are reported), models
trained with the stereo baseline are multiplied by 5.4, metric models are used as they are.
With --bag (rosbag2, generic protocol, ground truth from the depth topic at the model's size)
both the median-scaled and the unscaled AbsRel are reported.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import dataclasses
import json
import logging
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np
import torch
from torch import nn

from depth_ros.atomic_files import atomic_write, write_png, write_text
from depth_ros.colorize import colorize_depth
from depth_ros.contract import ModelContract
from depth_ros.inference import DepthEstimator, ModelLoadError
from depth_ros.providers import CPU
from training.checkpoint import CheckpointError
from training.config import (
    ConfigError,
    DataConfig,
    TrainConfig,
    apply_overrides,
    config_from_dict,
    config_to_dict,
    load_config,
)
from training.datasets import DatasetError, SplitEntry
from training.datasets.rosbag2 import evaluation_data
from training.datasets.split_frames import eval_dataset, spread_indices
from training.kitti_depth import (
    CONVENTIONS,
    DEFAULT_CONVENTION,
    load_ground_truth,
    velodyne_scan_path,
)
from training.metrics import (
    HIGHER_IS_BETTER,
    METRIC_NAMES,
    average_metrics,
    compute_depth_metrics,
    median_scale,
)
from training.model_contract import ContractGraph, scoring_contract
from training.tasks.build import load_task

logger = logging.getLogger(__name__)

GARG_CROP = (0.40810811, 0.99189189, 0.03594771, 0.96405229)  # rows, cols as fractions of H, W
NYU_CROP = (45, 471, 41, 601)  # rows, cols in pixels of a 640 x 480 image
NYU_SIZE = (480, 640)  # H, W the NYU crop is given for
GT_CHOICES = ("auto", "velodyne", "dense")


@dataclass(frozen=True)
class EvalProtocol:
    """Which ground-truth pixels count: depth caps (metres) and an image crop."""

    name: str
    min_depth: float
    max_depth: float
    crop: str  # "garg" | "nyu" | "none"


PROTOCOLS = {
    "kitti": EvalProtocol("kitti", 1e-3, 80.0, "garg"),
    "nyu": EvalProtocol("nyu", 1e-3, 10.0, "nyu"),
    "generic": EvalProtocol("generic", 1e-3, 80.0, "none"),
}
PROTOCOL_OF_DATASET = {"kitti": "kitti", "nyu": "nyu", "nyu_labeled": "nyu", "rgbd_folder": "nyu"}


def protocol_for(dataset: str) -> EvalProtocol:
    return PROTOCOLS[PROTOCOL_OF_DATASET.get(dataset, "generic")]


def crop_mask(shape: tuple[int, int], crop: str) -> np.ndarray:
    """H x W bool mask of the pixels a protocol's crop keeps."""
    height, width = shape
    mask = np.zeros(shape, dtype=bool)
    if crop == "none":
        mask[:] = True
    elif crop == "garg":
        top, bottom, left, right = GARG_CROP
        mask[int(top * height):int(bottom * height), int(left * width):int(right * width)] = True
    elif crop == "nyu":
        top, bottom, left, right = NYU_CROP
        sy, sx = height / NYU_SIZE[0], width / NYU_SIZE[1]
        mask[round(top * sy):round(bottom * sy), round(left * sx):round(right * sx)] = True
    else:
        raise ValueError(f"crop {crop!r} unknown; expected garg, nyu or none")
    return mask


@dataclass(frozen=True)
class Scaling:
    """How predictions (model units) become metres before scoring."""

    mode: str  # "median" (per image), "fixed" (x factor) or "none"
    factor: float = 1.0  # metres per model unit for "fixed"

    def describe(self) -> str:
        if self.mode == "fixed":
            return f"fixed x{self.factor:g}"
        return {"median": "per-image median", "none": "none (metric)"}[self.mode]


def scaling_for(contract: ModelContract) -> Scaling:
    """Median scaling for relative models; the contract's factor for metric ones."""
    if not contract.is_metric:
        return Scaling("median")
    if contract.metres_per_unit == 1.0:
        return Scaling("none")
    return Scaling("fixed", contract.metres_per_unit)


# Models -----------------------------------------------------------------------------------------


class DepthPredictor(Protocol):
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
        depth_model = model.depth_model() if hasattr(model, "depth_model") else model
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


class NonFiniteDepthError(RuntimeError):
    """The model predicted NaN/Inf depth (broken weights); no scores are written."""


# Data -------------------------------------------------------------------------------------------


@dataclass
class EvalSample:
    name: str  # "folder frame side"
    image: np.ndarray  # 3 x h x w float32 RGB [0, 1] at the model's input size
    gt: np.ndarray  # H x W float32 metres at the ground truth's own size, 0 = unknown


def iter_samples(
    data: DataConfig,
    split: str | Path,
    size: tuple[int, int],
    gt_source: str = "auto",
    gt_cache: str | Path | None = None,
    velodyne_gt: str = DEFAULT_CONVENTION,
    max_images: int | None = None,
) -> tuple[int, Iterator[EvalSample]]:
    """(number of samples, iterator over them) for a split; ground truth at its native size."""
    if gt_source not in GT_CHOICES:
        raise ValueError(f"ground truth {gt_source!r} unknown; expected one of {GT_CHOICES}")
    dataset = eval_dataset(data, split, size)
    entries: list[SplitEntry] | None = getattr(dataset, "entries", None)
    if gt_source == "auto":
        gt_source = "dense"
        if data.dataset == "kitti" and entries and _has_velodyne(data.root, entries[0]):
            gt_source = "velodyne"
    picks = spread_indices(len(dataset), max_images)
    velodyne: list[np.ndarray] | None = None
    if gt_source == "velodyne":
        if data.dataset != "kitti" or entries is None:
            raise ConfigError(f"--gt velodyne needs a kitti dataset; data.dataset={data.dataset!r}")
        chosen = [entries[i] for i in picks]
        velodyne = load_ground_truth(data.root, chosen, gt_cache, velodyne_gt)
    logger.info("evaluating %d images of %s, ground truth: %s", len(picks), split, gt_source)

    def samples() -> Iterator[EvalSample]:
        for n, index in enumerate(picks):
            sample = dataset[index]
            entry = entries[index] if entries is not None else None
            name = f"{entry.folder} {entry.frame_index} {entry.side}" if entry else str(index)
            if velodyne is not None:
                gt = velodyne[n]
            else:
                gt = _dense_ground_truth(dataset, entry, sample, name)
            yield EvalSample(name, sample["frames"][0].numpy(), gt)

    return len(picks), samples()


def _has_velodyne(root: str, entry: SplitEntry) -> bool:
    calibration = (Path(root) / entry.folder).parent / "calib_velo_to_cam.txt"
    return velodyne_scan_path(root, entry).is_file() and calibration.is_file()


def _dense_ground_truth(
    dataset: Any, entry: SplitEntry | None, sample: dict[str, torch.Tensor], name: str
) -> np.ndarray:
    """The dataset's own depth file at full size, else the sample's resized depth_gt."""
    path = None
    if entry is not None and hasattr(dataset, "depth_path"):
        path = dataset.depth_path(entry)
    if path is not None and Path(path).is_file():
        depth = np.asarray(dataset.read_depth(Path(path)), dtype=np.float32)
    elif "depth_gt" in sample:
        depth = sample["depth_gt"][0].numpy().astype(np.float32)
    else:
        raise DatasetError(f"sample {name} has no ground-truth depth (use --gt velodyne for KITTI)")
    return np.where(np.isfinite(depth), depth, 0.0).astype(np.float32)


# Evaluation -------------------------------------------------------------------------------------


def resize_depth(depth: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Depth h x w -> H x W by bilinear interpolation of inverse depth (Monodepth2's benchmark)."""
    if depth.shape == shape:
        return depth.astype(np.float32)
    disparity = cv2.resize(1.0 / depth.astype(np.float32), (shape[1], shape[0]),
                           interpolation=cv2.INTER_LINEAR)
    return 1.0 / disparity


@dataclass(frozen=True)
class ImageScore:
    """One image's metrics, the factor its prediction was multiplied by, and the pixels scored."""

    metrics: dict[str, float]
    scale: float  # median ratio, fixed factor or 1
    valid_pixels: int


def score_image(
    prediction: np.ndarray,
    gt: np.ndarray,
    protocol: EvalProtocol,
    scaling: Scaling,
    smooth_l1_beta: float = 2.0,
) -> ImageScore | None:
    """Score one prediction the way every report here does (this command, the trainer's
    validation, the inference bench), so their numbers agree. None when no pixel is valid.

    prediction (model units) and gt (metres, 0 unknown) are H x W of the same size (resize the
    prediction first with resize_depth). Pixels outside the protocol's depth caps and crop are
    dropped, the prediction is scaled by `scaling` and clipped to the caps.
    """
    if prediction.shape != gt.shape:
        raise ValueError(f"prediction {prediction.shape} and ground truth {gt.shape} sizes "
                         "differ; resize the prediction first (resize_depth)")
    mask = (gt > protocol.min_depth) & (gt < protocol.max_depth)
    mask &= crop_mask(gt.shape, protocol.crop)
    if not mask.any():
        return None
    gt_valid, pred_valid = gt[mask], prediction[mask]
    scale = 1.0
    if scaling.mode == "median":
        scale = median_scale(gt_valid, pred_valid)
    elif scaling.mode == "fixed":
        scale = scaling.factor
    pred_valid = np.clip(pred_valid * scale, protocol.min_depth, protocol.max_depth)
    metrics = compute_depth_metrics(gt_valid, pred_valid, smooth_l1_beta)
    return ImageScore(metrics, scale, int(mask.sum()))


@dataclass
class ImageResult:
    name: str
    valid_pixels: int
    scale: float  # factor the prediction was multiplied by (median ratio, fixed factor or 1)
    metrics: dict[str, float]


@dataclass
class Preview:
    """One row of the PNG grid (H x W, ground-truth size): input, scaled prediction, gt."""

    image: np.ndarray  # H x W x 3 uint8 RGB
    prediction: np.ndarray  # metres
    gt: np.ndarray  # metres, 0 unknown


@dataclass
class EvaluationResult:
    protocol: EvalProtocol
    scaling: Scaling
    metrics: dict[str, float]  # averaged over images
    images: list[ImageResult]
    skipped: list[str] = field(default_factory=list)  # images without valid ground truth
    previews: list[Preview] = field(default_factory=list)

    @property
    def ratios(self) -> np.ndarray:
        return np.array([image.scale for image in self.images])

    def ratio_summary(self) -> dict[str, float] | None:
        """Median and std of the per-image median-scaling ratios (None without median scaling)."""
        if self.scaling.mode != "median":
            return None
        ratios = self.ratios
        return {"median": float(np.median(ratios)), "std": float(np.std(ratios)),
                "std_over_median": float(np.std(ratios) / np.median(ratios))}

    def table(self) -> str:
        """The metrics as a fixed-width table (one header row, one value row)."""
        header = " | ".join(f"{name:>9}" for name in METRIC_NAMES)
        values = " | ".join(f"{self.metrics[name]:9.4f}" for name in METRIC_NAMES)
        return f"{header}\n{values}"

    def describe(self) -> str:
        p = self.protocol
        lines = [
            f"{len(self.images)} images, protocol {p.name} (depth {p.min_depth:g}-{p.max_depth:g}"
            f" m, crop {p.crop}), scaling {self.scaling.describe()}",
        ]
        if self.skipped:
            lines.append(f"skipped {len(self.skipped)} images without valid ground truth")
        summary = self.ratio_summary()
        if summary is not None:
            lines.append(f"median scaling ratios: median {summary['median']:.4f}, std "
                         f"{summary['std']:.4f} (std / median {summary['std_over_median']:.4f})")
        lower = ", ".join(n for n in METRIC_NAMES if n not in HIGHER_IS_BETTER)
        lines.append(f"lower is better: {lower}; higher: a1, a2, a3")
        return "\n".join([*lines, self.table()])

    def to_dict(self) -> dict[str, Any]:
        return {
            "protocol": dataclasses.asdict(self.protocol),
            "scaling": dataclasses.asdict(self.scaling),
            "images": len(self.images),
            "skipped": self.skipped,
            "metrics": self.metrics,
            "scale_ratios": self.ratio_summary(),
        }


def evaluate_samples(
    predictor: DepthPredictor,
    samples: Iterator[EvalSample],
    protocol: EvalProtocol,
    scaling: Scaling,
    smooth_l1_beta: float = 2.0,
    previews: int = 0,
) -> EvaluationResult:
    """Score a model on samples (one image at a time, the runtime's batch size)."""
    results: list[ImageResult] = []
    skipped: list[str] = []
    kept: list[Preview] = []
    for sample in samples:
        gt = sample.gt
        raw = predictor.predict(sample.image[None])[0]
        broken = int(np.count_nonzero(~np.isfinite(raw)))
        if broken:
            raise NonFiniteDepthError(
                f"the model's depth for {sample.name} is NaN/Inf at {broken} of {raw.size} "
                "pixels: its weights are broken (a diverged run?)")
        prediction = resize_depth(raw, gt.shape)
        score = score_image(prediction, gt, protocol, scaling, smooth_l1_beta)
        if score is None:
            skipped.append(sample.name)
            continue
        results.append(ImageResult(sample.name, score.valid_pixels, score.scale, score.metrics))
        if len(kept) < previews:
            rgb = (sample.image.transpose(1, 2, 0) * 255).round().astype(np.uint8)
            rgb = cv2.resize(rgb, (gt.shape[1], gt.shape[0]), interpolation=cv2.INTER_LINEAR)
            kept.append(Preview(rgb, prediction * score.scale, gt))
    if not results:
        raise DatasetError(f"no image had valid ground truth ({len(skipped)} skipped)")
    return EvaluationResult(protocol, scaling, average_metrics([r.metrics for r in results]),
                            results, skipped, kept)


@contextlib.contextmanager
def _eval_mode(model: nn.Module) -> Iterator[None]:
    """Evaluate in eval mode and give the caller (e.g. the trainer) its mode back."""
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


def evaluate_depth_model(
    model: nn.Module | str | Path,
    cfg: TrainConfig,
    split: str | Path | None = None,
    *,
    gt_source: str = "auto",
    gt_cache: str | Path | None = None,
    velodyne_gt: str = DEFAULT_CONVENTION,
    protocol: EvalProtocol | None = None,
    scaling: Scaling | None = None,
    max_images: int | None = None,
    device: str | None = None,
    previews: int = 0,
) -> EvaluationResult:
    """Evaluate a task/depth model (trained with `cfg`), an .onnx file or a checkpoint file.

    Data come from `cfg.data` and `split` (default cfg.data.val_split); the protocol defaults to
    the dataset's, the scaling to the model contract's (see the module docstring). A module runs
    on `device` (default: where its weights are) and gets its train/eval mode back afterwards.
    """
    if isinstance(model, str | Path) and Path(model).suffix == ".onnx":
        predictor: DepthPredictor = OnnxPredictor(model)
        module = None
    else:
        if isinstance(model, str | Path):
            cfg, model = load_task(model, map_location=device or "cpu")
        predictor = TorchPredictor(model, scoring_contract(cfg), device)
        module = model
    contract = predictor.contract
    size = (contract.input_width, contract.input_height)
    _, samples = iter_samples(cfg.data, split or cfg.data.val_split, size, gt_source, gt_cache,
                              velodyne_gt, max_images)
    with _eval_mode(module) if module is not None else contextlib.nullcontext():
        return evaluate_samples(predictor, samples, protocol or protocol_for(cfg.data.dataset),
                                scaling or scaling_for(contract), cfg.loss.smooth_l1_beta, previews)


# Outputs ----------------------------------------------------------------------------------------


def write_json(result: EvaluationResult, path: str | Path, extra: dict[str, Any]) -> None:
    write_text(path, json.dumps({**extra, **result.to_dict()}, indent=2) + "\n")


def write_csv(result: EvaluationResult, path: str | Path) -> None:
    with atomic_write(path, "w") as handle:
        writer = csv.writer(handle)
        writer.writerow(["image", "valid_pixels", "scale", *METRIC_NAMES])
        for image in result.images:
            writer.writerow([image.name, image.valid_pixels, f"{image.scale:.6g}",
                             *(f"{image.metrics[n]:.6g}" for n in METRIC_NAMES)])


def preview_grid(previews: Sequence[Preview], max_width: int = 640) -> np.ndarray:
    """Rows input | prediction | ground truth (BGR uint8); sparse ground truth is thickened."""
    rows = []
    for preview in previews:
        known = preview.gt[preview.gt > 0]
        near, far = (float(known.min()), float(known.max())) if known.size else (0.1, 80.0)
        far = max(far, near * 1.01)
        gt = preview.gt
        if known.size < 0.3 * gt.size:  # velodyne: dilate inverse depth (the nearer point wins)
            inverse = np.where(gt > 0, 1.0 / np.maximum(gt, 1e-6), 0.0).astype(np.float32)
            inverse = cv2.dilate(inverse, np.ones((3, 3), np.uint8))
            gt = np.where(inverse > 0, 1.0 / np.maximum(inverse, 1e-6), 0.0)
        row = np.concatenate([
            cv2.cvtColor(preview.image, cv2.COLOR_RGB2BGR),
            colorize_depth(preview.prediction, near, far, "turbo", "inverse"),
            colorize_depth(gt.astype(np.float32), near, far, "turbo", "inverse"),
        ], axis=1)
        rows.append(row)
    width = max(row.shape[1] for row in rows)
    scale = min(1.0, 3 * max_width / width)
    rows = [cv2.resize(r, (round(r.shape[1] * scale), round(r.shape[0] * scale))) for r in rows]
    return np.concatenate(rows, axis=0)


# CLI --------------------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    model = parser.add_mutually_exclusive_group(required=True)
    model.add_argument("--checkpoint", help="our checkpoint (.pt)")
    model.add_argument("--onnx", help="an exported model (.onnx, with the model contract)")
    parser.add_argument("--config", help="YAML whose data section says where the data are "
                                         "(default: the checkpoint's own config)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config key, e.g. data.root=/data/kitti (repeatable)")
    parser.add_argument("--split", help="split file (default data.val_split; relative paths are "
                                        "also looked up under data.root)")
    parser.add_argument("--bag", help="score on every frame of a rosbag2 recording (or a folder "
                                      "of them) with a depth topic instead of a split")
    parser.add_argument("--depth-topic", default="/ground_truth/depth",
                        help="--bag: ground-truth depth topic (32FC1 metres or 16UC1 mm)")
    parser.add_argument("--gt", choices=GT_CHOICES, default="auto",
                        help="KITTI ground truth: velodyne scans or dense depth_gt/*.npy "
                             "(auto: velodyne where the scans exist)")
    parser.add_argument("--gt-cache", help="velodyne ground truth cache (.npz), built if absent")
    parser.add_argument("--velodyne-gt", choices=CONVENTIONS, default=DEFAULT_CONVENTION,
                        help="velodyne depth and pixels: published (velodyne x, devkit pixels: "
                             "the Eigen ground truth behind the paper's tables) or camera "
                             "(optical-axis z, exact on the generated drives)")
    parser.add_argument("--protocol", choices=sorted(PROTOCOLS),
                        help="crop and depth caps (default: from data.dataset)")
    parser.add_argument("--scaling", choices=("median", "fixed", "none"),
                        help="default: median for relative models, the contract's factor else")
    parser.add_argument("--scale-factor", type=float, default=5.4,
                        help="metres per model unit with --scaling fixed (default 5.4)")
    parser.add_argument("--max-images", type=int, help="evaluate this many images, spread evenly")
    parser.add_argument("--device", default="cpu", help="PyTorch device for checkpoints")
    parser.add_argument("--providers", default="CPUExecutionProvider",
                        help="ONNX Runtime providers, comma separated")
    parser.add_argument("--json", help="write the results here (default: next to the model)")
    parser.add_argument("--csv", help="write per-image metrics here")
    parser.add_argument("--grid", help="write a PNG grid input | prediction | ground truth here")
    parser.add_argument("--grid-images", type=int, default=4)


def main(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        if args.checkpoint:
            ckpt_cfg, task = load_task(args.checkpoint, map_location=args.device)
            cfg = _config(args, ckpt_cfg)
            contract = scoring_contract(ckpt_cfg)
            predictor: DepthPredictor = TorchPredictor(task, contract, args.device)
            model_path = Path(args.checkpoint)
        else:
            predictor = OnnxPredictor(args.onnx, args.providers.split(","))
            cfg = _config(args, None)
            model_path = Path(args.onnx)
        split = args.split or cfg.data.val_split
        if args.bag:
            cfg = dataclasses.replace(cfg, data=evaluation_data(cfg.data, args.bag,
                                                                args.depth_topic))
            split = "all"
        contract = predictor.contract
        size = (contract.input_width, contract.input_height)
        count, samples = iter_samples(cfg.data, split, size, args.gt, args.gt_cache,
                                      args.velodyne_gt, args.max_images)
        protocol = PROTOCOLS[args.protocol] if args.protocol else protocol_for(cfg.data.dataset)
        scaling = scaling_for(contract)
        if args.scaling:
            scaling = Scaling(args.scaling, args.scale_factor if args.scaling == "fixed" else 1.0)
        if args.bag:  # scored twice, median-scaled and not: keep the decoded frames
            samples = iter(kept := list(samples))
        result = evaluate_samples(predictor, samples, protocol, scaling, cfg.loss.smooth_l1_beta,
                                  args.grid_images if args.grid else 0)
        other = None
        if args.bag:
            other_scaling = Scaling("none") if scaling.mode == "median" else Scaling("median")
            other = evaluate_samples(predictor, iter(kept), protocol, other_scaling,
                                     cfg.loss.smooth_l1_beta)
    except (CheckpointError, ConfigError, DatasetError, FileNotFoundError, ModelLoadError,
            ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except NonFiniteDepthError as exc:
        print(f"error: {exc}; no scores written", file=sys.stderr)
        return 1

    print(f"model {model_path} ({contract.architecture}, units {contract.units}) on {split} "
          f"under {cfg.data.root}")
    print(result.describe())
    extra: dict[str, Any] = {"model": str(model_path), "split": str(split),
                             "root": cfg.data.root, "requested_images": count}
    if other is not None:
        print(f"abs_rel with scaling {result.scaling.describe()}: "
              f"{result.metrics['abs_rel']:.4f}; with scaling {other.scaling.describe()}: "
              f"{other.metrics['abs_rel']:.4f}")
        extra["other_scaling"] = other.to_dict()
    json_path = Path(args.json) if args.json else model_path.with_name(
        f"eval_{model_path.stem}_{Path(args.bag or split).stem}.json")
    write_json(result, json_path, extra)
    print(f"results written to {json_path}")
    if args.csv:
        write_csv(result, args.csv)
        print(f"per-image metrics written to {args.csv}")
    if args.grid and result.previews:
        write_png(args.grid, preview_grid(result.previews))
        print(f"preview grid written to {args.grid}")
    return 0


def _config(args: argparse.Namespace, checkpoint_cfg: TrainConfig | None) -> TrainConfig:
    """--config (or the checkpoint's config, or the defaults) with --set overrides applied."""
    if args.config or checkpoint_cfg is None:
        return load_config(args.config, args.set)
    return config_from_dict(apply_overrides(config_to_dict(checkpoint_cfg), args.set or []))
