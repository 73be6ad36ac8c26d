"""Reduced-precision variants of an exported fp32 ONNX depth model, and how far they drift from it.

fp16: every weight and activation in half precision, but the graph's input `image` and output
`depth` stay float32 (Cast nodes at the edges), so the runtime feeds every variant the same way.
Made with onnxruntime.transformers.float16. Fast on GPUs (CUDA/TensorRT); ONNX Runtime's CPU
provider has few fp16 kernels, so on CPU it is usually slower than fp32.

int8: ONNX Runtime static quantisation in QDQ form (QuantizeLinear/DequantizeLinear pairs around
int8 convolutions): weights per output channel (int8), activations per tensor (uint8) with ranges
calibrated (MinMax) on images from the training data; the output tail (disparity head and
disparity -> depth) stays float. The QDQ form is what TensorRT and the CPU provider both fuse
into integer kernels.

Both variants keep the fp32 model's ModelContract metadata. `compare_to_reference` reports a
variant's deviation from fp32 on evaluation images: AbsRel = mean |d - d32| / d32 per image,
averaged over images, and the median of |d - d32| / d32 over all pixels.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnxruntime.quantization import (
    CalibrationDataReader,
    CalibrationMethod,
    QuantFormat,
    QuantType,
    quantize_static,
)
from onnxruntime.quantization.shape_inference import quant_pre_process
from onnxruntime.transformers.float16 import convert_float_to_float16

from depth_ros.contract import INPUT_NAME, OUTPUT_NAME

logger = logging.getLogger(__name__)


def _copy_metadata(source: onnx.ModelProto, target: onnx.ModelProto) -> None:
    """Replace target's metadata_props by source's (the quantiser writes its own)."""
    del target.metadata_props[:]
    for prop in source.metadata_props:
        target.metadata_props.add(key=prop.key, value=prop.value)


def _sort_nodes(graph: onnx.GraphProto) -> None:
    """Reorder nodes so each comes after the producers of its inputs (the ONNX rule).

    The fp16 converter appends its input Cast nodes at the end; ONNX Runtime copes, but the
    checker and other runtimes need producers first. Stable: unrelated nodes keep their order.
    """
    produced_by = {name: i for i, node in enumerate(graph.node) for name in node.output}
    ordered: list[onnx.NodeProto] = []
    state = [0] * len(graph.node)  # 0 new, 1 in progress, 2 placed

    def place(index: int) -> None:
        stack = [(index, iter(graph.node[index].input))]
        state[index] = 1
        while stack:
            current, inputs = stack[-1]
            for name in inputs:
                producer = produced_by.get(name)
                if producer is not None and state[producer] == 0:
                    state[producer] = 1
                    stack.append((producer, iter(graph.node[producer].input)))
                    break
            else:
                stack.pop()
                state[current] = 2
                ordered.append(graph.node[current])

    for index in range(len(graph.node)):
        if state[index] == 0:
            place(index)
    nodes = [onnx.NodeProto.FromString(node.SerializeToString()) for node in ordered]
    del graph.node[:]
    graph.node.extend(nodes)


def convert_to_fp16(source: str | Path, output: str | Path) -> Path:
    """Write the fp16 variant of the fp32 model `source` to `output` (float32 input/output)."""
    model = onnx.load(str(source))
    half = convert_float_to_float16(model, keep_io_types=True)
    _sort_nodes(half.graph)
    _copy_metadata(model, half)
    onnx.checker.check_model(half)
    onnx.save(half, str(output))
    return Path(output)


class ImageCalibrationReader(CalibrationDataReader):
    """Feeds calibration images one at a time as {"image": 1 x 3 x H x W float32 RGB [0, 1]}."""

    def __init__(self, images: np.ndarray) -> None:
        if images.ndim != 4 or images.shape[1] != 3 or len(images) == 0:
            raise ValueError(
                f"calibration images have shape {images.shape}; expected N x 3 x H x W, N >= 1"
            )
        self.images = images.astype(np.float32, copy=False)
        self._batches: Iterator[np.ndarray] = iter(())
        self.rewind()

    def get_next(self) -> dict[str, np.ndarray] | None:
        batch = next(self._batches, None)
        return None if batch is None else {INPUT_NAME: batch}

    def rewind(self) -> None:
        self._batches = (image[None] for image in self.images)


def output_tail(model: onnx.ModelProto) -> list[str]:
    """Names of the nodes from the last convolution to the output (the disparity head, sigmoid,
    disparity-to-depth and clamp).

    They stay in float: a uint8 disparity has 256 levels, which at far range are metres apart;
    quantising them tripled the drift from fp32 on the synthetic street model (AbsRel 5.7% vs
    2.0%, worst pixel 32% vs 12%) while the work they hold is negligible.
    """
    producer = {name: node for node in model.graph.node for name in node.output}
    tail: list[str] = []
    name = model.graph.output[0].name
    while name in producer:
        node = producer[name]
        tail.append(node.name)
        if node.op_type == "Conv" or not node.input:
            break
        name = node.input[0]
    return tail


def unshare_initializers(model: onnx.ModelProto) -> onnx.ModelProto:
    """Give every Identity of an initializer its own copy of the tensor, in place.

    The exporter stores equal tensors once (e.g. the zero biases of several convolutions) and
    reaches them through Identity nodes; the quantiser only quantises a convolution's bias that
    is an initializer, and leaves the others' convolutions unfused, in float.
    """
    initializers = {tensor.name: tensor for tensor in model.graph.initializer}
    kept = []
    for node in model.graph.node:
        if node.op_type == "Identity" and node.input[0] in initializers:
            copy = onnx.TensorProto()
            copy.CopyFrom(initializers[node.input[0]])
            copy.name = node.output[0]
            model.graph.initializer.append(copy)
        else:
            kept.append(node)
    del model.graph.node[:]
    model.graph.node.extend(kept)
    return model


def quantize_int8(source: str | Path, output: str | Path, calibration_images: np.ndarray) -> Path:
    """Write the statically quantised int8 (QDQ) variant of the fp32 model `source` to `output`.

    `calibration_images`: N x 3 x H x W float32 RGB in [0, 1] at the model's input size, drawn
    from the training data (activation ranges are measured on them). The output tail stays in
    float (see output_tail).
    """
    model = onnx.load(str(source))
    reader = ImageCalibrationReader(calibration_images)
    with tempfile.TemporaryDirectory(prefix="depth_ros_int8_") as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        # Shape inference only: ORT graph optimisation here would bake CPU-specific fused ops
        # (com.microsoft) into a file meant for every provider.
        quant_pre_process(str(source), str(prepared), skip_optimization=True,
                          skip_symbolic_shape=True)
        quantize_static(
            unshare_initializers(onnx.load(str(prepared))),
            str(output),
            reader,
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.MinMax,
            nodes_to_exclude=output_tail(model),
        )
    quantized = onnx.load(str(output))
    _copy_metadata(model, quantized)
    onnx.checker.check_model(quantized)
    onnx.save(quantized, str(output))
    logger.info("int8 model calibrated on %d images written to %s", len(calibration_images), output)
    return Path(output)


def cpu_session(path: str | Path, threads: int = 0) -> ort.InferenceSession:
    """ONNX Runtime session on the CPU provider (threads 0: ORT's default)."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def run_session(session: ort.InferenceSession, images: np.ndarray) -> np.ndarray:
    """N x 3 x H x W float32 -> N x H x W depth, one image per run (the runtime's batch size)."""
    outputs = [session.run([OUTPUT_NAME], {INPUT_NAME: image[None]})[0] for image in images]
    return np.concatenate(outputs)[:, 0]


@dataclass(frozen=True)
class VariantAccuracy:
    """Deviation of a variant's depth from the fp32 model's on the same images (no unit)."""

    abs_rel: float  # mean over images of mean |d - d32| / d32
    median_rel_diff: float  # median over all pixels of |d - d32| / d32
    max_rel_diff: float  # worst pixel
    images: int


def relative_differences(reference: np.ndarray, variant: np.ndarray) -> VariantAccuracy:
    """Compare two N x H x W depth stacks (reference = fp32)."""
    if reference.shape != variant.shape:
        raise ValueError(
            f"depth shapes differ: reference {reference.shape}, variant {variant.shape}"
        )
    rel = np.abs(variant.astype(np.float64) - reference) / reference
    return VariantAccuracy(
        abs_rel=float(rel.reshape(len(rel), -1).mean(1).mean()),
        median_rel_diff=float(np.median(rel)),
        max_rel_diff=float(rel.max()),
        images=len(rel),
    )


def compare_to_reference(
    reference: str | Path, variant: str | Path, images: np.ndarray | Sequence[np.ndarray]
) -> VariantAccuracy:
    """Run both models on the CPU over `images` (N x 3 x H x W) and compare their depths."""
    images = np.asarray(images, dtype=np.float32)
    return relative_differences(
        run_session(cpu_session(reference), images), run_session(cpu_session(variant), images)
    )
