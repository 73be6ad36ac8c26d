"""DepthEstimator with tiny ONNX models on the real ONNX Runtime (CPU here)."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from depth_ros.inference import DepthEstimator, ModelLoadError, provider_options
from depth_ros.providers import startable_providers
from harness.onnx_models import (
    channel_model,
    constant_depth_model,
    constant_tensor_model,
    contract_intrinsics,
    make_contract,
    plane_depth,
    plane_depth_model,
)

REPO = Path(__file__).resolve().parents[2]
CPU = ["CPUExecutionProvider"]


def red_answer(channel: np.ndarray) -> np.ndarray:
    """What `channel_model` (gain 10, offset 1) returns for these uint8 channel values."""
    return 1.0 + 10.0 * channel.astype(np.float64) / 255.0


def test_plane_model_gives_the_analytic_depth(tmp_path: Path) -> None:
    contract = make_contract(units="relative", metres_per_unit=5.4)
    path = plane_depth_model(tmp_path / "plane.onnx", (0.1, -0.2, 1.0), 5.0, contract)
    estimator = DepthEstimator(path, CPU)
    assert estimator.contract == contract
    assert estimator.input_size == (64, 32)
    frame = np.random.default_rng(0).integers(0, 256, (120, 200, 3), dtype=np.uint8)
    depth = estimator.predict(frame)
    assert depth.shape == (32, 64) and depth.dtype == np.float32
    expected = plane_depth(contract_intrinsics(contract), (0.1, -0.2, 1.0), 5.0)
    np.testing.assert_allclose(depth, expected, rtol=1e-6)


def test_channel_order_and_scaling(tmp_path: Path) -> None:
    """depth = 1 + 10 * channel / 255 exactly at model size: RGB order, [0, 1] scaling."""
    rng = np.random.default_rng(1)
    frame = rng.integers(0, 256, (32, 64, 3), dtype=np.uint8)
    for channel in (0, 2):
        estimator = DepthEstimator(channel_model(tmp_path / f"c{channel}.onnx", channel), CPU)
        depth = estimator.predict(frame)
        np.testing.assert_allclose(depth, red_answer(frame[..., channel]), rtol=1e-6)


@pytest.mark.parametrize(
    ("size", "interpolation"),
    [((96, 200), cv2.INTER_AREA), ((20, 50), cv2.INTER_LINEAR), ((16, 100), cv2.INTER_LINEAR)],
)
def test_resize_uses_area_when_shrinking_and_linear_otherwise(
    tmp_path: Path, size: tuple[int, int], interpolation: int
) -> None:
    estimator = DepthEstimator(channel_model(tmp_path / "red.onnx", 0), CPU)
    frame = np.random.default_rng(2).integers(0, 256, (*size, 3), dtype=np.uint8)
    expected_red = cv2.resize(frame, (64, 32), interpolation=interpolation)[..., 0]
    other = cv2.INTER_LINEAR if interpolation == cv2.INTER_AREA else cv2.INTER_AREA
    assert not np.array_equal(
        expected_red, cv2.resize(frame, (64, 32), interpolation=other)[..., 0]
    )
    np.testing.assert_allclose(estimator.predict(frame), red_answer(expected_red), rtol=1e-6)


def test_strided_frame_from_a_padded_message_is_accepted(tmp_path: Path) -> None:
    estimator = DepthEstimator(channel_model(tmp_path / "red.onnx", 0), CPU)
    padded = np.random.default_rng(3).integers(0, 256, (32, 70, 3), dtype=np.uint8)
    frame = padded[:, :64]
    assert not frame.flags.c_contiguous
    np.testing.assert_allclose(estimator.predict(frame), red_answer(frame[..., 0]), rtol=1e-6)


def test_predict_returns_a_fresh_array_each_call(tmp_path: Path) -> None:
    estimator = DepthEstimator(channel_model(tmp_path / "red.onnx", 0), CPU)
    first = estimator.predict(np.zeros((32, 64, 3), np.uint8))
    second = estimator.predict(np.full((32, 64, 3), 255, np.uint8))
    assert first.max() == pytest.approx(1.0) and second.min() == pytest.approx(11.0)


@pytest.mark.parametrize("batch", ["N", 1])
def test_predict_batch_equals_single_predictions(tmp_path: Path, batch: int | str) -> None:
    contract = make_contract()
    depth = np.arange(32 * 64, dtype=np.float32).reshape(32, 64)
    path = constant_tensor_model(tmp_path / "m.onnx", depth, contract, batch=batch)
    estimator = DepthEstimator(path, CPU)
    frames = [np.full((40 + i, 80, 3), i, np.uint8) for i in range(3)]
    batch_depth = estimator.predict_batch(frames)
    assert batch_depth.shape == (3, 32, 64)
    for i, frame in enumerate(frames):
        np.testing.assert_array_equal(batch_depth[i], estimator.predict(frame))
    assert estimator.predict_batch([]).shape == (0, 32, 64)

    red = DepthEstimator(channel_model(tmp_path / "red.onnx", 0), CPU)
    colours = [np.full((32, 64, 3), value, np.uint8) for value in (0, 51, 255)]
    np.testing.assert_allclose(red.predict_batch(colours)[:, 0, 0], [1.0, 3.0, 11.0], rtol=1e-6)


def test_bad_frames_are_rejected(tmp_path: Path) -> None:
    estimator = DepthEstimator(constant_depth_model(tmp_path / "m.onnx"), CPU)
    for frame in (np.zeros((32, 64), np.uint8), np.zeros((32, 64, 3), np.float32)):
        with pytest.raises(ValueError, match=r"expected uint8 H x W x 3 RGB"):
            estimator.predict(frame)


def test_providers_in_use_are_read_back_and_drops_are_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """ONNX Runtime falls back to CPU when a GPU provider cannot start (as on this machine,
    which has the GPU build but no CUDA libraries): `.providers` must say what runs."""
    path = constant_depth_model(tmp_path / "m.onnx")
    with caplog.at_level(logging.WARNING, logger="depth_ros.inference"):
        estimator = DepthEstimator(path, trt_cache_dir=str(tmp_path / "trt"), trt_fp16=True)
    assert estimator.requested_providers == startable_providers()
    assert estimator.providers == estimator._session.get_providers()
    assert estimator.providers[-1] == "CPUExecutionProvider"
    dropped = [p for p in estimator.requested_providers if p not in estimator.providers]
    for provider in dropped:
        assert provider in caplog.text
    if dropped:
        assert "failed to initialise" in caplog.text
    assert estimator.predict(np.zeros((8, 8, 3), np.uint8)) == pytest.approx(2.0)
    if "TensorrtExecutionProvider" in estimator.requested_providers:
        assert (tmp_path / "trt").is_dir()


def test_provider_options() -> None:
    trt = provider_options("TensorrtExecutionProvider", "/tmp/engines", trt_fp16=True)
    assert trt["trt_fp16_enable"] == "True"
    assert trt["trt_engine_cache_enable"] == "True"
    assert trt["trt_engine_cache_path"] == "/tmp/engines"
    assert "trt_engine_cache_path" not in provider_options("TensorrtExecutionProvider")
    assert provider_options("TensorrtExecutionProvider")["trt_fp16_enable"] == "False"
    cuda = provider_options("CUDAExecutionProvider")
    assert cuda["arena_extend_strategy"] == "kSameAsRequested"
    assert provider_options("CPUExecutionProvider") == {}


def test_missing_model_file(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match=r"model file .*nope.onnx does not exist"):
        DepthEstimator(tmp_path / "nope.onnx", CPU)
    with pytest.raises(ModelLoadError, match=r"does not exist or is not a file"):
        DepthEstimator(tmp_path, CPU)


def test_corrupt_model_file(tmp_path: Path) -> None:
    good = constant_depth_model(tmp_path / "good.onnx").read_bytes()
    for name, data in (("garbage", b"\x08\x01 this is no protobuf"), ("truncated", good[:-40])):
        path = tmp_path / f"{name}.onnx"
        path.write_bytes(data)
        with pytest.raises(ModelLoadError, match=r"could not be loaded by ONNX Runtime"):
            DepthEstimator(path, CPU)


def test_missing_metadata(tmp_path: Path) -> None:
    path = constant_tensor_model(tmp_path / "bare.onnx", np.ones((32, 64), np.float32), None)
    with pytest.raises(ModelLoadError, match=r"lacks 'depth_ros.architecture'.*training export"):
        DepthEstimator(path, CPU)


@pytest.mark.parametrize(
    ("metadata", "match"),
    [
        ({"depth_ros.units": "furlongs"}, r"units 'furlongs' unknown"),
        ({"depth_ros.input_height": "tall"}, r"input_height='tall' is not a valid int"),
        ({"depth_ros.metres_per_unit": "-1"}, r"metres_per_unit -1.0 must be a positive"),
        ({"depth_ros.min_depth": None}, r"lacks 'depth_ros.min_depth'"),
    ],
)
def test_bad_metadata(tmp_path: Path, metadata: dict, match: str) -> None:
    depth = np.ones((32, 64), np.float32)
    path = constant_tensor_model(tmp_path / "bad.onnx", depth, make_contract(), metadata)
    with pytest.raises(ModelLoadError, match=match):
        DepthEstimator(path, CPU)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"input_name": "rgb"}, r"inputs \['rgb'\] .*expected input 'image' and output 'depth'"),
        ({"output_name": "disp"}, r"outputs \['disp'\]"),
        ({"output_rank": 3}, r"'depth' is tensor\(float\) \['N', 32, 64\]; expected float32 N x 1"),
        ({"metadata": {"depth_ros.input_width": "128"}}, r"'image' .* expected .*N x 3 x 32 x 128"),
    ],
)
def test_graph_must_match_the_contract(tmp_path: Path, kwargs: dict, match: str) -> None:
    depth = np.ones((32, 64), np.float32)
    path = constant_tensor_model(tmp_path / "odd.onnx", depth, make_contract(), **kwargs)
    with pytest.raises(ModelLoadError, match=match):
        DepthEstimator(path, CPU)


def test_warmup_runs_one_black_frame_at_model_size_through_predict(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The node warms up before its first camera frame, so the lazy work (TensorRT engines,
    cuDNN search) must happen in warmup(): one full predict at the model's own input size."""
    estimator = DepthEstimator(channel_model(tmp_path / "red.onnx", 0), CPU)
    calls: list[tuple[np.ndarray, np.ndarray]] = []
    predict = estimator.predict

    def recorded(frame: np.ndarray) -> np.ndarray:
        depth = predict(frame)
        calls.append((frame, depth))
        return depth

    monkeypatch.setattr(estimator, "predict", recorded)
    estimator.warmup()
    ((frame, depth),) = calls
    assert frame.shape == (32, 64, 3) and frame.dtype == np.uint8 and not frame.any()
    assert depth.shape == (32, 64) and depth.dtype == np.float32
    np.testing.assert_allclose(depth, red_answer(frame[..., 0]), rtol=1e-6)  # 1.0 everywhere


RUNTIME_MODULES = ("image_codec", "camera", "inference", "scale", "pointcloud", "colorize")


def test_runtime_modules_import_without_torch_and_without_ros() -> None:
    """The ROS runtime must not need torch; ROS message packages load only when a message is
    built. torch is made unimportable in a fresh interpreter (sys.modules[name] = None)."""
    code = (
        "import sys\n"
        "for name in ('torch', 'torchvision'):\n"
        "    sys.modules[name] = None\n"
        f"for module in {RUNTIME_MODULES!r}:\n"
        "    __import__('depth_ros.' + module)\n"
        "loaded = sorted(m for m in ('rclpy', 'sensor_msgs', 'std_msgs') if m in sys.modules)\n"
        "assert not loaded, f'imported at module import time: {loaded}'\n"
        "try:\n"
        "    import torch\n"
        "except ImportError:\n"
        "    print('torch blocked')\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "torch blocked"


@pytest.mark.parametrize("spinning", [False, True])
def test_spinning_reaches_the_session(tmp_path: Path, spinning: bool) -> None:
    """Idle intra-op threads sleep unless asked to spin (the session's own options say so)."""
    path = plane_depth_model(tmp_path / "plane.onnx", (0.0, 0.0, 1.0), 5.0, make_contract())
    estimator = DepthEstimator(path, CPU, intra_op_threads=2, intra_op_spinning=spinning)
    options = estimator._session.get_session_options()
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == str(int(spinning))
    assert options.intra_op_num_threads == 2
