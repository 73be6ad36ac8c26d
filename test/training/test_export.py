"""ONNX export: graph shape, metadata round trip, PyTorch parity, fp16/int8 variants, the CLI."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from depth_ros.contract import INPUT_NAME, OUTPUT_NAME, ModelContract
from training import export
from training.checkpoint import save_checkpoint
from training.config import TrainConfig, config_to_dict
from training.datasets.split_frames import spread_indices
from training.export import PARITY_TOLERANCE, export_onnx, main, pattern_images
from training.model_contract import OPSET, ExportError, model_contract, read_contract
from training.models.supervised import architecture_label
from training.quantize import compare_to_reference, convert_to_fp16, output_tail, quantize_int8
from training.tasks.build import build_task

HEIGHT, WIDTH = 64, 96


def _config(**data: object) -> TrainConfig:
    cfg = TrainConfig()
    cfg.data.height, cfg.data.width = HEIGHT, WIDTH
    cfg.model.weights_init = "scratch"
    for key, value in data.items():
        setattr(cfg.data, key, value)
    return cfg


@pytest.fixture(scope="module")
def mono() -> tuple[TrainConfig, torch.nn.Module]:
    torch.manual_seed(0)
    cfg = _config()
    return cfg, build_task(cfg).eval()


@pytest.fixture(scope="module")
def fp32(mono: tuple[TrainConfig, torch.nn.Module], tmp_path_factory: pytest.TempPathFactory):
    cfg, task = mono
    path = tmp_path_factory.mktemp("export") / "model.onnx"
    return export_onnx(task, cfg, path)


def _images(count: int, seed: int) -> np.ndarray:
    """Smooth-ish deterministic frames: a vertical gradient (like a road scene) plus noise."""
    rng = np.random.default_rng(seed)
    rows = np.linspace(0.2, 0.9, HEIGHT, dtype=np.float32)[:, None]
    noise = rng.random((count, 3, HEIGHT, WIDTH), dtype=np.float32)
    return (0.6 * rows + 0.4 * noise).astype(np.float32)


def test_graph_has_the_contract_shape_and_opset(fp32) -> None:
    model = onnx.load(str(fp32.path))
    onnx.checker.check_model(model, full_check=True)
    assert max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")) >= OPSET
    (graph_input,), (graph_output,) = model.graph.input, model.graph.output
    assert (graph_input.name, graph_output.name) == (INPUT_NAME, OUTPUT_NAME)
    in_dims = graph_input.type.tensor_type.shape.dim
    out_dims = graph_output.type.tensor_type.shape.dim
    assert in_dims[0].dim_param and out_dims[0].dim_param  # dynamic batch
    assert [d.dim_value for d in in_dims[1:]] == [3, HEIGHT, WIDTH]
    assert [d.dim_value for d in out_dims[1:]] == [1, HEIGHT, WIDTH]
    assert graph_input.type.tensor_type.elem_type == onnx.TensorProto.FLOAT


def test_metadata_round_trips_through_the_file(fp32, mono) -> None:
    cfg, _ = mono
    props = {p.key: p.value for p in onnx.load(str(fp32.path)).metadata_props}
    contract = ModelContract.from_metadata(props)
    expected = model_contract(cfg)
    assert dataclasses.replace(contract, created="") == expected
    assert contract.units == "relative" and contract.metres_per_unit == 1.0
    assert (contract.fx, contract.fy, contract.cx, contract.cy) == (0.58, 1.92, 0.5, 0.5)
    assert contract.architecture == "monodepth2-resnet18"
    assert "fp32" in contract.created and contract.created == fp32.contract.created


def test_onnx_runtime_matches_pytorch_for_any_batch(fp32, mono) -> None:
    _, task = mono
    assert fp32.parity.passed and fp32.parity.max_rel_diff <= PARITY_TOLERANCE
    images = _images(3, seed=1)
    session = ort.InferenceSession(str(fp32.path), providers=["CPUExecutionProvider"])
    got = session.run([OUTPUT_NAME], {INPUT_NAME: images})[0]
    with torch.no_grad():
        expected = task.depth_model()(torch.from_numpy(images)).numpy()
    assert got.shape == (3, 1, HEIGHT, WIDTH)
    np.testing.assert_allclose(got, expected, rtol=PARITY_TOLERANCE)
    assert np.all(got >= 0.1) and np.all(got <= 100.0)


def test_runtime_estimator_accepts_the_export(fp32) -> None:
    from depth_ros.inference import DepthEstimator

    estimator = DepthEstimator(fp32.path, providers=["CPUExecutionProvider"])
    assert estimator.contract == fp32.contract
    frame = (np.random.default_rng(2).random((128, 192, 3)) * 255).astype(np.uint8)
    assert estimator.predict(frame).shape == (HEIGHT, WIDTH)


def test_stereo_and_supervised_models_declare_metric_units() -> None:
    stereo = model_contract(_config(use_stereo=True, frame_offsets=[0]))
    assert (stereo.units, stereo.metres_per_unit) == ("metric", 5.4)
    supervised = _config(dataset="nyu")
    supervised.model.architecture = "unet"
    supervised.model.num_layers = 34
    contract = model_contract(supervised)
    assert (contract.units, contract.metres_per_unit) == ("metric", 1.0)
    assert contract.architecture == "unet-resnet34"
    assert contract.fx == pytest.approx(518.858 / 640)
    # Named like the supervised comparison tables: the baseline is always ResNet-18, the
    # multi-scale network has no ResNet, FPN names its backbone.
    for architecture, name in [("resnet_baseline", "resnet_baseline-resnet18"),
                               ("multiscale", "multiscale"), ("fpn", "fpn-resnext50_32x4d")]:
        supervised.model.architecture = architecture
        assert model_contract(supervised).architecture == name
        assert name == architecture_label(supervised.model)


def test_odometry_trained_models_declare_metres() -> None:
    """Video alone is relative; a velocity term or odometry poses make the units metres."""
    assert model_contract(_config()).units == "relative"
    velocity = _config(odometry=True)
    velocity.loss.velocity_weight = 0.05
    poses = _config(odometry=True)
    poses.model.pose_source = "odometry"
    for cfg in (velocity, poses):
        contract = model_contract(cfg)
        assert (contract.units, contract.metres_per_unit) == ("metric", 1.0)


@pytest.mark.parametrize(("precision", "max_abs_rel"), [("fp16", 5e-3), ("int8", 0.1)])
def test_reduced_precision_variants_load_run_and_stay_close(
    fp32, tmp_path: Path, precision: str, max_abs_rel: float
) -> None:
    path = tmp_path / f"{precision}.onnx"
    if precision == "fp16":
        convert_to_fp16(fp32.path, path)
    else:
        quantize_int8(fp32.path, path, calibration_images=_images(8, seed=3))
    model = onnx.load(str(path))
    onnx.checker.check_model(model)
    ops = {node.op_type for node in model.graph.node}
    weight_types = {init.data_type for init in model.graph.initializer}
    if precision == "fp16":
        assert onnx.TensorProto.FLOAT16 in weight_types and "Cast" in ops
    else:
        assert {"QuantizeLinear", "DequantizeLinear"} <= ops
        assert onnx.TensorProto.INT8 in weight_types
        # The disparity head and disparity -> depth stay float: no Q/DQ between them.
        producer = {name: node for node in model.graph.node for name in node.output}
        (sigmoid,) = [node for node in model.graph.node if node.op_type == "Sigmoid"]
        assert producer[sigmoid.input[0]].op_type == "Conv"
        # Every other convolution is quantised with its bias, also where the exporter shared one
        # bias tensor between several convolutions (the untrained net's zero biases).
        tail = set(output_tail(model))
        float_bias = [node.name for node in model.graph.node
                      if node.op_type == "Conv" and len(node.input) > 2 and node.name not in tail
                      and getattr(producer.get(node.input[2]), "op_type", "") != "DequantizeLinear"]
        assert not float_bias
        assert sigmoid.name in output_tail(onnx.load(str(fp32.path)))
    assert read_contract(path) == fp32.contract  # the metadata survives the conversion

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].type == "tensor(float)"  # the runtime feeds float32 always
    images = _images(2, seed=5)
    depth = session.run([OUTPUT_NAME], {INPUT_NAME: images})[0]
    assert depth.dtype == np.float32 and depth.shape == (2, 1, HEIGHT, WIDTH)
    reference = ort.InferenceSession(str(fp32.path), providers=["CPUExecutionProvider"])
    expected = reference.run([OUTPUT_NAME], {INPUT_NAME: images})[0]
    assert np.mean(np.abs(depth - expected) / expected) < max_abs_rel
    assert not np.array_equal(depth, expected)  # really a different precision
    accuracy = compare_to_reference(fp32.path, path, _images(4, seed=4))
    assert accuracy.images == 4
    assert 0 < accuracy.median_rel_diff <= accuracy.max_rel_diff and accuracy.abs_rel < max_abs_rel


def test_bad_requests_are_refused(mono, tmp_path: Path) -> None:
    cfg, task = mono
    with pytest.raises(ExportError, match="precision 'int4' unknown"):
        export_onnx(task, cfg, tmp_path / "a.onnx", "int4")
    with pytest.raises(ExportError, match="needs calibration_images"):
        export_onnx(task, cfg, tmp_path / "b.onnx", "int8")
    wrong = np.zeros((1, 3, 32, 32), np.float32)
    with pytest.raises(ExportError, match=f"expected N x 3 x {HEIGHT} x {WIDTH}"):
        export_onnx(task, cfg, tmp_path / "c.onnx", test_images=wrong)


def _checkpoint(mono, tmp_path: Path) -> Path:
    cfg, task = mono
    cfg = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, root=str(tmp_path / "none")))
    return save_checkpoint(tmp_path / "last.pt", {
        "config": config_to_dict(cfg), "model": task.state_dict(), "step": 7, "epoch": 1})


def _cli_args(checkpoint: Path, output: Path, precision: str) -> argparse.Namespace:
    return argparse.Namespace(checkpoint=str(checkpoint), output=str(output), precision=precision,
                              calibration_images=4, eval_images=2, root=None, intrinsics=None)


@pytest.mark.parametrize(("precision", "eval_images", "loads"),
                         [("fp32", 16, [2]), ("fp16", 16, [16]), ("fp16", 1, [1, 2])])
def test_cli_reads_the_parity_frames_from_the_validation_split(
    mono, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, precision: str, eval_images: int,
    loads: list[int]
) -> None:
    """The 2 parity frames are the ends of the validation split; when the evaluation frames
    (16 spread over it) are read anyway, they come from those instead of a second read."""
    frames = _images(10, seed=6)
    counts: list[int] = []

    def load_split_images(data, split, count, size) -> np.ndarray:
        counts.append(count)
        return frames[spread_indices(len(frames), count)]

    passed: dict = {}

    def export_onnx(*args, **kwargs) -> None:
        passed.update(kwargs)
        raise ExportError("stop here")

    monkeypatch.setattr(export, "load_split_images", load_split_images)
    monkeypatch.setattr(export, "export_onnx", export_onnx)
    args = _cli_args(_checkpoint(mono, tmp_path), tmp_path / "x.onnx", precision)
    args.eval_images = eval_images
    assert main(args) == 1
    assert counts == loads
    np.testing.assert_array_equal(passed["test_images"], frames[[0, 9]])
    if precision != "fp32":
        expected = frames[spread_indices(len(frames), eval_images)]
        np.testing.assert_array_equal(passed["eval_images"], expected)


@pytest.mark.slow
def test_cli_exports_a_variant_and_reports_its_accuracy(
    mono, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    output = tmp_path / "cli_fp16.onnx"
    assert main(_cli_args(_checkpoint(mono, tmp_path), output, "fp16")) == 0
    printed = capsys.readouterr().out
    assert "onnx.checker: passed" in printed and "-> ok" in printed
    assert "fp16 vs fp32 on 2 images: AbsRel" in printed  # no data: the fixed test pattern
    contract = read_contract(output)
    assert "from last.pt step 7" in contract.created and "fp16" in contract.created
    np.testing.assert_array_equal(pattern_images(contract), pattern_images(contract))


def test_cli_int8_needs_the_training_data(
    mono, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    output = tmp_path / "cli_int8.onnx"
    assert main(_cli_args(_checkpoint(mono, tmp_path), output, "int8")) == 2
    assert "int8 needs calibration images" in capsys.readouterr().err
    assert not output.exists()
