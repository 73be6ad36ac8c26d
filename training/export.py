"""Export a trained depth model to ONNX: the file is the contract between training/ and the runtime.

    python -m training export --checkpoint runs/synthetic/last.pt --output model.onnx
    python -m training export --checkpoint runs/synthetic/last.pt --output model_fp16.onnx \
        --precision fp16
    python -m training export --checkpoint runs/synthetic/last.pt --output model_int8.onnx \
        --precision int8          # calibrated on images of data.train_split

Graph: input `image` float32 N x 3 x H x W, RGB in [0, 1], N dynamic, H x W the training size;
output `depth` float32 N x 1 x H x W in model units (disparity already converted with min/max
depth, clamped to [min_depth, max_depth]). Opset 17. `metadata_props` hold the ModelContract
(depth_ros/contract.py): architecture, input size, depth range, units and metres per unit (5.4
for Monodepth2 models trained with the KITTI stereo baseline, 1 for metric models), the training
camera's normalised intrinsics, the dataset, and creation info.

After writing, the export checks itself: `onnx.checker` passes, and ONNX Runtime on the CPU
reproduces PyTorch on a test batch within a relative depth difference of 1e-4 (relative, since
depth spans 0.1 to 100 units). fp16/int8 variants are made from the fp32 graph (training/
quantize.py) and their deviation from fp32 is measured on evaluation images.
"""

from __future__ import annotations

import argparse
import datetime
import logging
import sys
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import torch
from torch import nn

from depth_ros.atomic_files import (
    FileWriteError,
    copy_file,
    describe_os_error,
    remove_orphaned_temps,
)
from depth_ros.contract import INPUT_NAME, OUTPUT_NAME, ModelContract
from training.checkpoint import CheckpointError, read_checkpoint
from training.config import ConfigError, TrainConfig
from training.datasets import DatasetError, NormalizedIntrinsics
from training.datasets.split_frames import load_split_images
from training.model_contract import (
    OPSET,
    ExportError,
    contract_graph,
    model_contract,
    read_contract,
)
from training.quantize import (
    VariantAccuracy,
    compare_to_reference,
    convert_to_fp16,
    cpu_session,
    quantize_int8,
    run_session,
)
from training.tasks.build import load_task

logger = logging.getLogger(__name__)

PARITY_TOLERANCE = 1e-4  # max relative depth difference, ONNX Runtime CPU vs PyTorch
PRECISIONS = ("fp32", "fp16", "int8")


# Graph ------------------------------------------------------------------------------------------


def write_onnx(graph: nn.Module, contract: ModelContract, output: str | Path) -> Path:
    """Trace `graph` to an fp32 ONNX file with a dynamic batch and the contract's metadata."""
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    example = torch.rand(1, 3, contract.input_height, contract.input_width)
    with warnings.catch_warnings(), torch.no_grad():
        # The TorchScript exporter is deprecated in favour of torch.export, which needs the
        # onnxscript package; this one is built in and handles these CNNs fully. Its notes
        # about Slice steps it cannot constant-fold (reflection padding) are harmless.
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.filterwarnings("ignore", message="Constant folding", category=UserWarning)
        torch.onnx.export(
            graph,
            (example,),
            str(output),
            dynamo=False,
            opset_version=OPSET,
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
            do_constant_folding=True,
        )
    model = onnx.load(str(output))
    # The tracer leaves the output's H x W symbolic (the padding is computed from shapes); the
    # contract fixes them, so say so in the graph for consumers that read shapes up front.
    (graph_output,) = model.graph.output
    dims = graph_output.type.tensor_type.shape.dim
    for dim, size in zip(dims[1:], (1, contract.input_height, contract.input_width), strict=True):
        dim.Clear()
        dim.dim_value = size
    for key, value in contract.to_metadata().items():
        model.metadata_props.add(key=key, value=value)
    model.producer_name = "depth_ros"
    model.doc_string = (
        "image: float32 N x 3 x H x W RGB [0, 1] -> depth: float32 N x 1 x H x W model units; "
        "see metadata depth_ros.*"
    )
    onnx.save(model, str(output))
    return output


# Checks -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ParityCheck:
    """ONNX Runtime CPU vs PyTorch on the same images (depth in model units)."""

    max_abs_diff: float
    max_rel_diff: float
    tolerance: float = PARITY_TOLERANCE

    @property
    def passed(self) -> bool:
        return bool(self.max_rel_diff <= self.tolerance)  # False for NaN


def check_parity(graph: nn.Module, onnx_path: str | Path, images: np.ndarray) -> ParityCheck:
    """Depth from PyTorch (whole batch) and from ONNX Runtime CPU (batch of all, then singles).

    Raises ExportError when PyTorch's depth is not finite (broken weights); non-finite ONNX
    Runtime depth makes the differences infinite, so the check fails."""
    with torch.no_grad():
        expected = graph(torch.from_numpy(images)).numpy()[:, 0].astype(np.float64)
    broken = int(np.count_nonzero(~np.isfinite(expected)))
    if broken:
        raise ExportError(
            f"the model's depth is NaN/Inf at {broken} of {expected.size} pixels of the test "
            "images: its weights are broken (a diverged run?); nothing was exported"
        )
    session = cpu_session(onnx_path)
    batched = session.run([OUTPUT_NAME], {INPUT_NAME: images})[0][:, 0]
    single = run_session(session, images)
    worst_abs, worst_rel = 0.0, 0.0
    for got in (batched, single):
        diff = np.abs(got - expected)
        if not np.isfinite(diff).all():
            return ParityCheck(float("inf"), float("inf"))
        worst_abs = max(worst_abs, float(diff.max()))
        worst_rel = max(worst_rel, float((diff / expected).max()))
    return ParityCheck(worst_abs, worst_rel)


def pattern_images(contract: ModelContract, count: int = 2) -> np.ndarray:
    """Deterministic N x 3 x H x W images in [0, 1] for when no real frame is at hand."""
    rng = np.random.default_rng(0)
    noise = rng.random((count, 3, contract.input_height, contract.input_width), dtype=np.float32)
    rows = np.linspace(0.0, 1.0, contract.input_height, dtype=np.float32)[:, None]
    return (0.5 * noise + 0.5 * rows).astype(np.float32)


@dataclass(frozen=True)
class ExportResult:
    path: Path  # the file written, in the requested precision
    precision: str
    contract: ModelContract
    parity: ParityCheck  # fp32 graph vs PyTorch
    accuracy: VariantAccuracy | None  # fp16/int8 vs fp32 (None for fp32)


def export_onnx(
    model: nn.Module,
    cfg: TrainConfig,
    output: str | Path,
    precision: str = "fp32",
    *,
    test_images: np.ndarray | None = None,
    calibration_images: np.ndarray | None = None,
    eval_images: np.ndarray | None = None,
    created: str = "",
    intrinsics: NormalizedIntrinsics | None = None,
) -> ExportResult:
    """Export a task (or its depth model) trained with `cfg` to `output` and check the result.

    Images are N x 3 x H x W float32 RGB in [0, 1] at the training size: `test_images` for the
    PyTorch parity check (default: a fixed pattern), `calibration_images` (training data; int8
    only, required) and `eval_images` (variant accuracy vs fp32; default: the test images).
    Raises ExportError when a check fails.
    """
    if precision not in PRECISIONS:
        raise ExportError(f"precision {precision!r} unknown; expected one of {PRECISIONS}")
    if precision == "int8" and calibration_images is None:
        raise ExportError("int8 export needs calibration_images from the training data")
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    info = f"{stamp}; {precision}; torch {torch.__version__}; onnx {onnx.__version__}"
    contract = model_contract(cfg, f"{info}; {created}" if created else info, intrinsics)
    graph = contract_graph(model, contract)
    images = pattern_images(contract) if test_images is None else test_images.astype(np.float32)
    _check_image_size(images, contract, "test images")

    _check_weights(graph)
    output = Path(output)
    with tempfile.TemporaryDirectory(prefix="depth_ros_export_") as tmp:
        # Everything is made and checked in a scratch folder; only a model that passed is copied
        # to `output`, atomically, so a failure never leaves a broken file over a good one.
        fp32_path = Path(tmp) / "fp32.onnx"
        variant_path = Path(tmp) / f"{precision}.onnx"
        try:
            write_onnx(graph, contract, fp32_path)
        except OSError as exc:
            raise FileWriteError(f"cannot write the scratch model {fp32_path}: "
                                 f"{describe_os_error(exc)}") from exc
        try:
            onnx.checker.check_model(str(fp32_path), full_check=True)
        except onnx.checker.ValidationError as exc:
            raise ExportError(f"exported graph {fp32_path} fails onnx.checker: {exc}") from exc
        parity = check_parity(graph, fp32_path, images)
        if not parity.passed:
            raise ExportError(
                f"ONNX Runtime differs from PyTorch by up to {parity.max_rel_diff:.2e} (relative; "
                f"abs {parity.max_abs_diff:.2e}); expected <= {parity.tolerance:.0e}"
            )
        accuracy = None
        if precision != "fp32":
            if precision == "fp16":
                convert_to_fp16(fp32_path, variant_path)
            else:
                assert calibration_images is not None
                _check_image_size(calibration_images, contract, "calibration images")
                quantize_int8(fp32_path, variant_path, calibration_images.astype(np.float32))
            evaluation = images if eval_images is None else eval_images.astype(np.float32)
            _check_image_size(evaluation, contract, "evaluation images")
            accuracy = compare_to_reference(fp32_path, variant_path, evaluation)
            if not np.isfinite(accuracy.max_rel_diff):
                raise ExportError(f"the {precision} variant's depth is NaN/Inf where fp32's is "
                                  "finite; nothing was exported")
        remove_orphaned_temps(output.parent, output.name)  # of exports killed mid-copy
        copy_file(variant_path if precision != "fp32" else fp32_path, output)
    return ExportResult(output, precision, read_contract(output), parity, accuracy)


def _check_weights(graph: nn.Module) -> None:
    """Refuse weights holding NaN/Inf before tracing anything."""
    broken = [k for k, v in graph.state_dict().items()
              if v.is_floating_point() and not torch.isfinite(v).all()]
    if broken:
        raise ExportError(f"{len(broken)} weight tensors hold NaN/Inf (first: {broken[0]}): the "
                          "checkpoint is broken (a diverged run?); nothing was exported")


def _check_image_size(images: np.ndarray, contract: ModelContract, what: str) -> None:
    expected = (3, contract.input_height, contract.input_width)
    if images.ndim != 4 or images.shape[1:] != expected or len(images) == 0:
        wanted = " x ".join(map(str, expected))
        raise ExportError(f"{what} have shape {images.shape}; expected N x {wanted}")


# CLI --------------------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, help="our checkpoint (.pt), e.g. last.pt")
    parser.add_argument("--output", required=True, help="ONNX file to write")
    parser.add_argument("--precision", choices=PRECISIONS, default="fp32")
    parser.add_argument("--calibration-images", type=int, default=64, metavar="N",
                        help="int8: images of data.train_split to calibrate on (default 64)")
    parser.add_argument("--eval-images", type=int, default=16, metavar="N",
                        help="fp16/int8: images of data.val_split to compare with fp32 on")
    parser.add_argument("--root", help="override data.root (where the training data lives now)")
    parser.add_argument("--intrinsics", metavar="FX,FY,CX,CY",
                        help="normalised intrinsics of the training camera, if the config's "
                             "dataset does not imply them")


def main(args: argparse.Namespace) -> int:
    try:
        cfg, task = load_task(args.checkpoint)
        step = read_checkpoint(args.checkpoint).get("step", 0)
        if args.root:
            cfg.data.root = args.root
        intrinsics = _parse_intrinsics(args.intrinsics) if args.intrinsics else None
    except (CheckpointError, ConfigError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    size = (cfg.data.width, cfg.data.height)

    def images_of(split: str, count: int) -> np.ndarray | None:
        if not split or count <= 0:
            return None
        try:
            return load_split_images(cfg.data, split, count, size)
        except (ConfigError, DatasetError, FileNotFoundError) as exc:
            logger.warning("no images from %s: %s", split, exc)
            return None

    eval_images, calibration = None, None
    if args.precision != "fp32":
        eval_images = images_of(cfg.data.val_split, args.eval_images)
    test_images: np.ndarray | None
    if eval_images is not None and args.eval_images >= 2:
        # The 2 frames spread over the split are its first and last, the ends of any larger
        # spread (split_frames.spread_indices), so the evaluation frames already hold them.
        test_images = eval_images[[0, -1]] if len(eval_images) > 1 else eval_images
    else:
        test_images = images_of(cfg.data.val_split, 2)
    if args.precision == "int8":
        calibration = images_of(cfg.data.train_split, args.calibration_images)
        if calibration is None:
            print(f"error: int8 needs calibration images from data.train_split="
                  f"{cfg.data.train_split!r} under data.root={cfg.data.root!r} (use --root)",
                  file=sys.stderr)
            return 2
    if eval_images is None and args.precision != "fp32":
        eval_images = calibration
    try:
        result = export_onnx(task, cfg, args.output, args.precision, test_images=test_images,
                             calibration_images=calibration, eval_images=eval_images,
                             created=f"from {Path(args.checkpoint).name} step {step}",
                             intrinsics=intrinsics)
    except ExportError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(format_result(result, test_images is None))
    return 0


def format_result(result: ExportResult, pattern: bool) -> str:
    c = result.contract
    source = "a fixed test pattern" if pattern else "validation frames"
    lines = [
        f"wrote {result.path} ({result.precision}, opset {OPSET}, input {INPUT_NAME} "
        f"N x 3 x {c.input_height} x {c.input_width}, output {OUTPUT_NAME} N x 1 x "
        f"{c.input_height} x {c.input_width})",
        f"contract: {c.architecture}, units {c.units} x {c.metres_per_unit} m, depth "
        f"[{c.min_depth}, {c.max_depth}], K/size ({c.fx:.4f}, {c.fy:.4f}, {c.cx:.4f}, {c.cy:.4f}), "
        f"dataset {c.dataset}",
        f"onnx.checker: passed; ONNX Runtime CPU vs PyTorch on {source}: max abs diff "
        f"{result.parity.max_abs_diff:.3e}, max rel diff {result.parity.max_rel_diff:.3e} "
        f"(tolerance {result.parity.tolerance:.0e}) -> {'ok' if result.parity.passed else 'FAIL'}",
    ]
    if result.accuracy is not None:
        a = result.accuracy
        lines.append(
            f"{result.precision} vs fp32 on {a.images} images: AbsRel {a.abs_rel:.4%}, median "
            f"relative depth difference {a.median_rel_diff:.4%}, worst pixel {a.max_rel_diff:.2%}"
        )
    return "\n".join(lines)


def _parse_intrinsics(text: str) -> NormalizedIntrinsics:
    try:
        fx, fy, cx, cy = (float(v) for v in text.split(","))
    except ValueError:
        raise ValueError(f"--intrinsics {text!r}: expected four numbers fx,fy,cx,cy") from None
    return NormalizedIntrinsics(fx, fy, cx, cy)
