"""The node's parts that need no DDS: the latest-frame slot, rate and latency statistics, the
diagnostics message, per-kind warning throttling, and parameter validation."""

from __future__ import annotations

import threading
import time

import pytest
from diagnostic_msgs.msg import DiagnosticStatus

from depth_ros.diagnostics import (
    CameraReport,
    HealthReport,
    LatencySummary,
    LatencyWindow,
    RateBounds,
    RateMeter,
    camera_status,
    depth_status,
    rate_status,
)
from depth_ros.frame_slot import LatestFrameSlot
from depth_ros.node import ThrottledWarnings, problem_kind
from depth_ros.node_parameters import PARAMETERS, ParameterError, settings_from_values
from depth_ros.scale import ScaleMode


def test_slot_keeps_only_the_newest_frame_and_counts_the_overwritten() -> None:
    slot: LatestFrameSlot[int] = LatestFrameSlot()
    assert slot.put(1) is False
    assert slot.put(2) is True and slot.put(3) is True
    frame = slot.take(timeout=0.0)
    assert frame is not None and frame.message == 3 and slot.dropped == 2
    assert slot.take(timeout=0.01) is None  # taken: empty again
    slot.put(4)
    assert slot.dropped == 2  # nothing was waiting


def test_slot_wakes_a_waiting_worker_and_close_releases_it() -> None:
    slot: LatestFrameSlot[str] = LatestFrameSlot()
    taken: list[object] = []
    worker = threading.Thread(target=lambda: taken.append(slot.take(timeout=5.0)))
    worker.start()
    time.sleep(0.05)
    slot.put("frame")
    worker.join(timeout=2.0)
    assert taken[0].message == "frame"  # type: ignore[union-attr]

    waiting = threading.Thread(target=lambda: taken.append(slot.take(timeout=5.0)))
    started = time.monotonic()
    waiting.start()
    slot.close()
    waiting.join(timeout=2.0)
    assert taken[1] is None and time.monotonic() - started < 1.0
    slot.put("late")
    assert slot.take(timeout=0.0) is None


def test_rate_meter_counts_events_in_its_window() -> None:
    meter = RateMeter(window_s=2.0)
    t0 = time.monotonic()
    for i in range(40):
        meter.tick(t0 + 5.0 + i * 0.05)  # 20 Hz for 2 s
    assert meter.rate_hz(t0 + 7.0) == pytest.approx(20.0, rel=0.05)
    assert meter.rate_hz(t0 + 20.0) == 0.0  # silence empties the window


def test_latency_window_reports_milliseconds_and_keeps_the_latest() -> None:
    window = LatencyWindow(capacity=100)
    assert window.summary() == LatencySummary(0, 0.0, 0.0, 0.0)
    for value in range(1000):  # only the last 100 (0.900 .. 0.999 s) stay
        window.add(value / 1000.0)
    summary = window.summary()
    assert summary.count == 100
    assert summary.mean_ms == pytest.approx(949.5)
    assert summary.p50_ms == pytest.approx(949.5)
    assert 998.0 <= summary.p99_ms <= 999.0


def report(**overrides) -> HealthReport:
    values = dict(
        input_rate_hz=30.0, output_rate_hz=10.0,
        inference=LatencySummary(10, 80.0, 79.0, 95.0),
        end_to_end=LatencySummary(10, 120.0, 110.0, 190.0),
        frames_received=300, frames_published=100, frames_dropped=195, frames_rejected=5,
        model="/models/m.onnx", model_problem="",
        providers=("CUDAExecutionProvider", "CPUExecutionProvider"),
        scale_mode="ground_plane", scale_factor=3.71, ground_plane="ground plane 0.4 deg",
        camera_info="ok",
    )  # fmt: skip
    values.update(overrides)
    return HealthReport(**values)


def test_depth_status_carries_every_figure_and_names_the_trouble() -> None:
    status = depth_status(report(), "monodepth_node: monocular depth", "m.onnx")
    values = {kv.key: kv.value for kv in status.values}
    assert status.level == DiagnosticStatus.OK and status.hardware_id == "m.onnx"
    assert status.name == "monodepth_node: monocular depth"
    assert values["input_rate_hz"] == "30.000" and values["output_rate_hz"] == "10.000"
    assert values["inference_latency_p99_ms"] == "95.000"
    assert values["frames_dropped"] == "195" and values["frames_rejected"] == "5"
    assert values["providers"] == "CUDAExecutionProvider,CPUExecutionProvider"
    assert values["scale_factor"] == "3.71" and values["ground_plane"] == "ground plane 0.4 deg"

    stalled = depth_status(report(output_rate_hz=0.0), "n", "m")
    assert stalled.level == DiagnosticStatus.WARN and "no depth" in stalled.message
    no_info = depth_status(report(camera_info="no camera_info"), "n", "m")
    assert no_info.level == DiagnosticStatus.WARN and "no camera_info" in no_info.message
    no_model = depth_status(report(model="", model_problem="model file x does not exist"), "n", "m")
    assert no_model.level == DiagnosticStatus.ERROR
    assert no_model.message == "no model: model file x does not exist"


def test_rate_status_warns_outside_the_bounds_and_errs_after_the_timeout() -> None:
    bounds = RateBounds(min_hz=5.0, max_hz=50.0, timeout_s=3.0)
    levels = {
        rate: rate_status("n: image rate", "images", rate, 0.1, bounds, "m").level
        for rate in (1.0, 20.0, 80.0)
    }
    assert levels == {
        1.0: DiagnosticStatus.WARN, 20.0: DiagnosticStatus.OK, 80.0: DiagnosticStatus.WARN
    }  # fmt: skip
    silent = rate_status("n: image rate", "images", 0.0, 3.5, bounds, "m")
    assert silent.level == DiagnosticStatus.ERROR and silent.message == "no images for 3.5 s"
    tolerated = rate_status("n: depth rate", "depth", 0.0, 9.0, bounds, "m", silence_is_error=False)
    assert tolerated.level == DiagnosticStatus.WARN


def camera_report(**overrides) -> CameraReport:
    values = dict(
        fit_mode="crop", focal_ratio=1.1, focal_known=True, window="640x193+0+143",
        window_change=0.6, fit_problems=(), camera_info="ok", camera_info_silent_s=0.2,
        geometry_wanted=True,
    )  # fmt: skip
    values.update(overrides)
    return CameraReport(**values)


def test_camera_status_errs_only_when_geometry_is_wanted_without_camera_info_for_long() -> None:
    ok = camera_status(camera_report(), "n: camera", "m", timeout_s=5.0)
    values = {kv.key: kv.value for kv in ok.values}
    assert ok.level == DiagnosticStatus.OK and values["focal_ratio"] == "1.1000"
    assert values["window"] == "640x193+0+143" and values["camera_fit"] == "crop"
    missing = dict(camera_info="no camera_info received yet", camera_info_silent_s=6.0)
    assert camera_status(camera_report(**missing), "n", "m", 5.0).level == DiagnosticStatus.ERROR
    unwanted = camera_report(**missing, geometry_wanted=False)
    assert camera_status(unwanted, "n", "m", 5.0).level == DiagnosticStatus.OK
    recent = camera_report(camera_info="no camera_info received yet", camera_info_silent_s=1.0)
    assert camera_status(recent, "n", "m", 5.0).level == DiagnosticStatus.OK
    far = camera_status(camera_report(fit_problems=("focal ratio 2.134 is outside",)), "n", "m", 5)
    assert far.level == DiagnosticStatus.WARN and "focal ratio 2.134" in far.message


class FakeLogger:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def warning(self, message: str) -> None:
        self.lines.append(message)


def test_warnings_are_throttled_per_kind_and_count_what_was_held_back() -> None:
    logger = FakeLogger()
    warnings = ThrottledWarnings(logger, period_s=0.2)
    for _ in range(50):
        warnings.warn("image step", "dropped image: image step 3 is shorter than a row")
    warnings.warn("camera", "ignoring camera_info")  # another kind is not hidden by the flood
    assert logger.lines == [
        "dropped image: image step 3 is shorter than a row",
        "ignoring camera_info",
    ]
    time.sleep(0.25)
    warnings.warn("image step", "dropped image: image step 4 is shorter than a row")
    assert logger.lines[-1].endswith("(49 more like this since the last report)")


def test_problem_kind_blanks_values_so_kinds_stay_few() -> None:
    assert problem_kind("image step 20 is shorter than a row: width 8") == problem_kind(
        "image step 7 is shorter than a row: width 3"
    )
    assert problem_kind("image encoding 'yuv' is not a colour encoding") == problem_kind(
        "image encoding '32FC1' is not a colour encoding"
    )
    assert problem_kind("image size 0x8 is zero") != problem_kind("image step 1 is short")


def test_defaults_are_valid_and_an_empty_model_means_none() -> None:
    assert settings_from_values({}).model.path == ""
    settings = settings_from_values({"model": "/m.onnx"})
    assert settings.scale.mode is ScaleMode.METADATA
    assert settings.output.range_min < settings.output.range_max
    assert settings.model.trt_cache_dir.startswith("/")  # '~' expanded
    assert settings_from_values({"providers": ["CUDA", "cpu"]}).model.providers == (
        "CUDAExecutionProvider", "CPUExecutionProvider"
    )  # fmt: skip
    assert settings.output.scan_range_max == 10.0  # scan.range_max, below range.max
    assert all(spec.description for spec in PARAMETERS)


@pytest.mark.parametrize(
    ("values", "reason"),
    [
        ({"range.min": 5.0, "range.max": 2.0}, "range.min = 5.0 m must be below range.max"),
        ({"range.max": float("nan")}, "out of range"),
        ({"cloud.decimation": 17}, "expected 1 to 16"),
        ({"cloud.decimation": 2.0}, "has type float; expected int"),
        ({"cloud.rgb": 1}, "has type int; expected bool"),
        ({"scale.mode": "auto"}, "expected one of metadata, fixed, ground_plane, none"),
        ({"providers": []}, "must name at least one"),
        ({"providers": ["gpu"]}, "parameter providers: execution provider 'gpu' unknown"),
        ({"camera_fit": "squeeze"}, "expected one of crop, pad"),
        ({"diagnostics.min_rate_hz": 9.0, "diagnostics.max_rate_hz": 2.0},
         "diagnostics.min_rate_hz = 9.0 must not exceed"),
        ({"scale.ground_plane.min_factor": 10.0, "scale.ground_plane.max_factor": 1.0},
         "scale.ground_plane parameters: ground plane setting min_factor"),
    ],
)  # fmt: skip
def test_bad_values_name_the_parameter_and_the_rule(values: dict, reason: str) -> None:
    with pytest.raises(ParameterError) as error:
        settings_from_values({"model": "/m.onnx", **values})
    assert reason in str(error.value)
