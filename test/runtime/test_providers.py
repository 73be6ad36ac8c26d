"""Provider names, aliases and the quiet probe, on this machine's real onnxruntime build."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest

from depth_ros.providers import (
    CPU,
    CUDA,
    TENSORRT,
    ProviderError,
    provider_names,
    startable_providers,
    why_not_startable,
)
from harness.onnx_models import constant_depth_model

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_aliases_and_full_names_resolve_in_order_without_repeats() -> None:
    assert provider_names() == [TENSORRT, CUDA, CPU]
    assert provider_names(["CUDA", " cpu", CPU]) == [CUDA, CPU]
    assert provider_names(["OpenVINOExecutionProvider"]) == ["OpenVINOExecutionProvider"]


def test_an_unknown_name_is_one_error_naming_it_and_the_aliases() -> None:
    with pytest.raises(ProviderError, match=r"'gpu' unknown; expected one of \['cpu', 'cuda'"):
        provider_names(["gpu"])


def test_only_startable_providers_are_tried_and_one_line_says_why(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.INFO, logger="depth_ros.providers"):
        kept = startable_providers(["tensorrt", "cuda", "cpu", "NoSuchExecutionProvider"])
    reasons = {name: why_not_startable(name) for name in (TENSORRT, CUDA, CPU)}
    assert kept == [name for name in (TENSORRT, CUDA, CPU) if not reasons[name]]
    assert reasons[CPU] == "" and kept[-1] == CPU
    lines = [r.getMessage() for r in caplog.records if r.name == "depth_ros.providers"]
    assert len(lines) == 1 and str(kept) in lines[0]
    assert "NoSuchExecutionProvider: not in this onnxruntime build" in lines[0]
    for name, why in reasons.items():
        if why:
            assert f"{name}: {why}" in lines[0]
    assert startable_providers(["NoSuchExecutionProvider"]) == [CPU]


def test_a_model_opened_with_the_default_providers_prints_no_onnxruntime_errors(
    tmp_path: Path,
) -> None:
    """onnxruntime-gpu asked for CUDA without its libraries prints red [E:onnxruntime] lines
    and an "EP Error" banner; the probe must keep it from trying."""
    model = constant_depth_model(tmp_path / "m.onnx")
    code = (
        "from depth_ros.inference import DepthEstimator\n"
        f"print(DepthEstimator({str(model)!r}).providers)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    )
    output = result.stdout + result.stderr
    assert "[E:onnxruntime" not in output and "EP Error" not in output, output
    assert "CPUExecutionProvider" in result.stdout
