"""Tiny ONNX depth models that honour the model contract, built with the `onnx` helper API.

No torch, no weights: tests, benches and scripts build them on the spot. Every model has input
`image` float32 N x 3 x H x W (RGB in [0, 1]) and output `depth` float32 N x 1 x H x W in model
units, H x W = the contract's input size, N symbolic unless `batch` is given. The known-answer
models ignore the pixel values: their depth is a constant tensor that the matching numpy
function (`plane_depth`, `ground_plane_depth`) reproduces, so a test can compare the runtime's
output with the analytic answer.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from depth_ros.camera import PinholeIntrinsics
from depth_ros.contract import INPUT_NAME, OUTPUT_NAME, ModelContract

OPSET = 17
IR_VERSION = 8  # old enough for every onnxruntime the runtime supports


def make_contract(**overrides: object) -> ModelContract:
    """A valid contract (KITTI-like normalised intrinsics, 64 x 32 input); override any field."""
    values: dict[str, object] = {
        "architecture": "test-analytic",
        "input_height": 32,
        "input_width": 64,
        "min_depth": 0.1,
        "max_depth": 100.0,
        "units": "metric",
        "metres_per_unit": 1.0,
        "fx": 0.58,
        "fy": 1.92,
        "cx": 0.5,
        "cy": 0.5,
        "dataset": "analytic",
        "created": "harness/onnx_models.py",
    }
    values.update(overrides)
    return ModelContract(**values)  # type: ignore[arg-type]


def contract_intrinsics(contract: ModelContract) -> PinholeIntrinsics:
    """The contract's camera in pixels at the model input size."""
    return PinholeIntrinsics.from_normalized(
        contract.fx,
        contract.fy,
        contract.cx,
        contract.cy,
        contract.input_width,
        contract.input_height,
    )


def plane_depth(
    intrinsics: PinholeIntrinsics,
    normal: tuple[float, float, float],
    distance: float,
    far: float = 100.0,
) -> np.ndarray:
    """Depth z (H x W float32) of the plane n . X = distance seen by a pinhole camera.

    X = z * ((u - cx)/fx, (v - cy)/fy, 1) in the optical frame (x right, y down, z forward), so
    z = distance / (n . ray). Pixels whose ray misses the plane (n . ray <= 0) or meets it beyond
    `far` get `far`.
    """
    n = np.asarray(normal, dtype=np.float64)
    n = n / np.linalg.norm(n)
    u = np.arange(intrinsics.width, dtype=np.float64)
    v = np.arange(intrinsics.height, dtype=np.float64)
    ray_x = (u - intrinsics.cx) / intrinsics.fx
    ray_y = (v - intrinsics.cy) / intrinsics.fy
    facing = n[0] * ray_x[None, :] + n[1] * ray_y[:, None] + n[2]
    with np.errstate(divide="ignore"):
        depth = np.where(facing > 0.0, distance / np.where(facing > 0, facing, 1.0), far)
    return np.minimum(depth, far).astype(np.float32)


def ground_normal(pitch_deg: float) -> tuple[float, float, float]:
    """Unit normal (optical frame) of flat ground, pointing from the camera down to it, for a
    camera pitched down by `pitch_deg` (0 = optical axis parallel to the ground)."""
    pitch = math.radians(pitch_deg)
    return (0.0, math.cos(pitch), math.sin(pitch))


def ground_plane_depth(
    intrinsics: PinholeIntrinsics, camera_height: float, pitch_deg: float = 0.0, far: float = 80.0
) -> np.ndarray:
    """Depth of a flat ground `camera_height` below the camera, sky and horizon at `far`."""
    return plane_depth(intrinsics, ground_normal(pitch_deg), camera_height, far)


def save_model(
    path: str | Path,
    nodes: list[onnx.NodeProto],
    initializers: list[onnx.TensorProto],
    height: int,
    width: int,
    metadata: dict[str, str] | None,
    input_name: str = INPUT_NAME,
    output_name: str = OUTPUT_NAME,
    output_rank: int = 4,
    batch: int | str = "N",
) -> Path:
    """Check and write a one-input one-output graph; `metadata` None writes no metadata."""
    image = helper.make_tensor_value_info(input_name, TensorProto.FLOAT, [batch, 3, height, width])
    out_shape = [batch, 1, height, width] if output_rank == 4 else [batch, height, width]
    depth = helper.make_tensor_value_info(output_name, TensorProto.FLOAT, out_shape)
    graph = helper.make_graph(nodes, "analytic_depth", [image], [depth], initializer=initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = IR_VERSION
    if metadata is not None:
        helper.set_model_props(model, metadata)
    onnx.checker.check_model(model, full_check=True)
    path = Path(path)
    onnx.save(model, path)
    return path


def save_contract_model(
    path: str | Path,
    nodes: list[onnx.NodeProto],
    initializers: list[onnx.TensorProto],
    contract: ModelContract,
) -> Path:
    """save_model at the contract's input size, carrying the contract as metadata."""
    return save_model(path, nodes, initializers, contract.input_height, contract.input_width,
                      contract.to_metadata())


def constant_tensor_model(
    path: str | Path,
    depth: np.ndarray,
    contract: ModelContract | None,
    metadata: dict[str, str | None] | None = None,
    input_name: str = INPUT_NAME,
    output_name: str = OUTPUT_NAME,
    output_rank: int = 4,
    batch: int | str = "N",
) -> Path:
    """A model whose output is `depth` (H x W) for every image: depth = 0 * mean(image) + D.

    `contract` None writes no metadata; `metadata` entries replace contract keys (None deletes
    one), e.g. {"depth_ros.units": "furlongs"} for a bad contract.
    """
    height, width = depth.shape
    props = contract.to_metadata() if contract is not None else None
    if props is not None and metadata:
        for key, value in metadata.items():
            if value is None:
                props.pop(key, None)
            else:
                props[key] = value
    const = numpy_helper.from_array(depth.astype(np.float32)[None, None], "analytic_depth")
    zero = numpy_helper.from_array(np.zeros((), np.float32), "zero")
    depth_node = output_name if output_rank == 4 else "depth_nchw"
    nodes = [
        helper.make_node("ReduceMean", [input_name], ["mean"], axes=[1], keepdims=1),
        helper.make_node("Mul", ["mean", "zero"], ["zeros"]),
        helper.make_node("Add", ["zeros", "analytic_depth"], [depth_node]),
    ]
    initializers = [const, zero]
    if output_rank != 4:
        initializers.append(numpy_helper.from_array(np.array([1], np.int64), "channel_axis"))
        nodes.append(helper.make_node("Squeeze", [depth_node, "channel_axis"], [output_name]))
    return save_model(
        path,
        nodes,
        initializers,
        height,
        width,
        props,
        input_name,
        output_name,
        output_rank,
        batch,
    )


def constant_depth_model(
    path: str | Path, value: float = 2.0, contract: ModelContract | None = None, **kwargs: object
) -> Path:
    """Every pixel at `value` model units (contract defaults to `make_contract()`)."""
    contract = contract or make_contract()
    depth = np.full((contract.input_height, contract.input_width), value, np.float32)
    return constant_tensor_model(path, depth, contract, **kwargs)  # type: ignore[arg-type]


def plane_depth_model(
    path: str | Path,
    normal: tuple[float, float, float] = (0.1, -0.2, 1.0),
    distance: float = 5.0,
    contract: ModelContract | None = None,
) -> Path:
    """The plane n . X = distance seen with the contract's intrinsics; see `plane_depth`.

    The default plane faces the camera (tilted), so every pixel sees it at a finite depth.
    """
    contract = contract or make_contract()
    depth = plane_depth(contract_intrinsics(contract), normal, distance, contract.max_depth)
    return constant_tensor_model(path, depth, contract)


def channel_model(
    path: str | Path,
    channel: int = 0,
    gain: float = 10.0,
    offset: float = 1.0,
    contract: ModelContract | None = None,
) -> Path:
    """depth = offset + gain * image[:, channel]: shows channel order, /255 scaling and resizing."""
    contract = contract or make_contract()
    initializers = [
        numpy_helper.from_array(np.array([channel], np.int64), "channel"),
        numpy_helper.from_array(np.array(gain, np.float32), "gain"),
        numpy_helper.from_array(np.array(offset, np.float32), "offset"),
    ]
    nodes = [
        helper.make_node("Gather", [INPUT_NAME, "channel"], ["picked"], axis=1),
        helper.make_node("Mul", ["picked", "gain"], ["scaled"]),
        helper.make_node("Add", ["scaled", "offset"], [OUTPUT_NAME]),
    ]
    return save_contract_model(path, nodes, initializers, contract)


def disc_size_model(path: str | Path, disc_radius: float, contract: ModelContract) -> Path:
    """A model that judges depth from apparent size, as a trained network does, for one scene:
    a bright disc of radius `disc_radius` metres, facing the camera on its optical axis, on a
    black background.

    Under the contract's camera the disc covers p = pi fx_n fy_n (R / Z)^2 of the image (fx_n,
    fy_n normalised), so every pixel answers Z = R sqrt(pi fx_n fy_n / p), with p the mean of
    the red channel. Shown another camera's image, it answers what the training camera would
    have seen: the depth the camera fit must correct.
    """
    gain = disc_radius * math.sqrt(math.pi * contract.fx * contract.fy)
    initializers = [
        numpy_helper.from_array(np.array([0], np.int64), "red"),
        numpy_helper.from_array(np.array(gain, np.float32), "gain"),
        numpy_helper.from_array(np.zeros((), np.float32), "zero"),
    ]
    nodes = [
        helper.make_node("Gather", [INPUT_NAME, "red"], ["picked"], axis=1),
        helper.make_node("ReduceMean", ["picked"], ["coverage"], axes=[2, 3], keepdims=1),
        helper.make_node("Sqrt", ["coverage"], ["root"]),
        helper.make_node("Div", ["gain", "root"], ["disc_depth"]),
        helper.make_node("Mul", ["picked", "zero"], ["zeros"]),
        helper.make_node("Add", ["zeros", "disc_depth"], [OUTPUT_NAME]),
    ]
    return save_contract_model(path, nodes, initializers, contract)


def disc_image(camera: PinholeIntrinsics, disc_radius: float, depth: float) -> np.ndarray:
    """H x W x 3 uint8 RGB of that disc at `depth` metres on the optical axis, antialiased: each
    pixel's brightness is the fraction of it the disc covers (8 x 8 samples per pixel)."""
    samples = 8
    offsets = (np.arange(samples) + 0.5) / samples - 0.5
    u = (np.arange(camera.width)[:, None] + offsets[None, :]).ravel()
    v = (np.arange(camera.height)[:, None] + offsets[None, :]).ravel()
    x = (u - camera.cx) / camera.fx * depth  # metres on the disc's plane
    y = (v - camera.cy) / camera.fy * depth
    inside = (x[None, :] ** 2 + y[:, None] ** 2) <= disc_radius**2
    coverage = inside.reshape(camera.height, samples, camera.width, samples).mean(axis=(1, 3))
    grey = np.rint(coverage * 255.0).astype(np.uint8)
    return np.repeat(grey[..., None], 3, axis=2)
