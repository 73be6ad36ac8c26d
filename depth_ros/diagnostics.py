"""Health figures of the depth node and their `/diagnostics` message.

The node counts and times its work with `RateMeter` and `LatencyWindow` (thread-safe: the
subscription callback and the inference worker update them, the 1 Hz timer reads them) and
publishes one diagnostic_msgs/DiagnosticArray per second with four statuses, named as
diagnostic_updater names them, "<node name>: <task>", so that `rqt_robot_monitor` and the
diagnostic aggregator group them:
  monocular depth   the model, providers, scale, counters and latencies (`HealthReport`);
                    ERROR without a model
  image rate        images per second against diagnostics.min/max_rate_hz (WARN outside);
                    ERROR after diagnostics.timeout seconds without an image
  depth rate        depth images published per second, same bounds (WARN outside, ERROR
                    when images arrive but no depth leaves)
  camera            the camera fit (focal ratio, window) with WARN beyond camera_fit's
                    bounds; ERROR when depth/points or depth/scan is subscribed and no usable
                    camera_info came for diagnostics.timeout seconds
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue

if TYPE_CHECKING:
    from builtin_interfaces.msg import Time


class RateMeter:
    """Events per second over a sliding window of `window_s` seconds (monotonic clock)."""

    def __init__(self, window_s: float = 5.0) -> None:
        self._window_s = window_s
        self._events: deque[float] = deque()
        self._started = time.monotonic()
        self._last_forgotten = self._started  # the newest event that left the window
        self._lock = threading.Lock()

    def tick(self, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        with self._lock:
            self._events.append(now)
            self._forget_before(now - self._window_s)

    def rate_hz(self, now: float | None = None) -> float:
        """Events in the window divided by the window (or by the time since start, if shorter)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            self._forget_before(now - self._window_s)
            span = min(self._window_s, now - self._started)
            return len(self._events) / span if span > 0.0 else 0.0

    def seconds_since_last(self, now: float | None = None) -> float:
        """Seconds since the last event, or since the meter started when there was none."""
        now = time.monotonic() if now is None else now
        with self._lock:
            last = self._events[-1] if self._events else self._last_forgotten
        return now - last

    def _forget_before(self, horizon: float) -> None:
        while self._events and self._events[0] < horizon:
            self._last_forgotten = self._events.popleft()


@dataclass(frozen=True)
class LatencySummary:
    """Milliseconds over the most recent samples; all zero when there are none."""

    count: int
    mean_ms: float
    p50_ms: float
    p99_ms: float


class LatencyWindow:
    """The most recent `capacity` durations (seconds in, milliseconds out)."""

    def __init__(self, capacity: int = 500) -> None:
        self._samples: deque[float] = deque(maxlen=capacity)
        self._lock = threading.Lock()

    def add(self, seconds: float) -> None:
        with self._lock:
            self._samples.append(seconds)

    def summary(self) -> LatencySummary:
        with self._lock:
            samples = np.asarray(self._samples, dtype=np.float64) * 1000.0
        if samples.size == 0:
            return LatencySummary(0, 0.0, 0.0, 0.0)
        p50, p99 = np.percentile(samples, [50.0, 99.0])
        return LatencySummary(int(samples.size), float(samples.mean()), float(p50), float(p99))


# Where a frame's time goes inside the node, in order (seconds, the node's monotonic clock):
# wait: received -> taken by the worker; decode: message -> RGB; preprocess: camera fit, resize
# to the model; inference: the network; scale: focal correction, scale factor, range mask;
# publish: depth image and its camera_info; cloud: build and publish the point cloud.
FRAME_STAGES = ("wait", "decode", "preprocess", "inference", "scale", "publish", "cloud")


@dataclass(frozen=True)
class HealthReport:
    """Everything `/diagnostics` says about the node, gathered once per period."""

    input_rate_hz: float
    output_rate_hz: float
    inference: LatencySummary  # model run only
    end_to_end: LatencySummary  # frame received -> outputs published
    frames_received: int
    frames_published: int
    frames_dropped: int  # overwritten in the latest-frame slot before the worker took them
    frames_rejected: int  # malformed input (encoding, size, step, decode) or processing errors
    model: str  # path of the model in use, "" without one
    model_problem: str  # why there is no model, "" with one
    providers: tuple[str, ...]  # ONNX Runtime execution providers actually in use
    scale_mode: str
    scale_factor: float  # metres per model unit applied to the latest frame
    ground_plane: str  # ground-plane fit status, "" when the mode is not ground_plane
    camera_info: str  # "ok", or why the cloud is skipped
    stages_p50_ms: tuple[tuple[str, float], ...] = ()  # per stage of a frame (FRAME_STAGES)

    def level_and_message(self) -> tuple[bytes, str]:
        """ERROR without a model; WARN when frames come in but nothing goes out, or the cloud
        cannot be built."""
        if self.model_problem:
            return DiagnosticStatus.ERROR, f"no model: {self.model_problem}"
        if self.input_rate_hz > 0.0 and self.output_rate_hz == 0.0:
            return DiagnosticStatus.WARN, "receiving images but publishing no depth"
        if self.input_rate_hz == 0.0:
            return DiagnosticStatus.OK, "waiting for images"
        if self.camera_info != "ok":
            return DiagnosticStatus.WARN, f"point cloud skipped: {self.camera_info}"
        return DiagnosticStatus.OK, "publishing depth"


def _value(number: float) -> str:
    return f"{number:.3f}"


def _status(
    level: bytes, name: str, message: str, hardware_id: str, pairs: list[tuple[str, str]]
) -> DiagnosticStatus:
    return DiagnosticStatus(
        level=level,
        name=name,
        message=message,
        hardware_id=hardware_id,
        values=[KeyValue(key=key, value=value) for key, value in pairs],
    )


def depth_status(report: HealthReport, name: str, hardware_id: str) -> DiagnosticStatus:
    """The node's main status: `report`'s figures as key/values."""
    level, message = report.level_and_message()
    pairs = [
        ("input_rate_hz", _value(report.input_rate_hz)),
        ("output_rate_hz", _value(report.output_rate_hz)),
        ("inference_latency_mean_ms", _value(report.inference.mean_ms)),
        ("inference_latency_p50_ms", _value(report.inference.p50_ms)),
        ("inference_latency_p99_ms", _value(report.inference.p99_ms)),
        ("end_to_end_latency_p50_ms", _value(report.end_to_end.p50_ms)),
        ("end_to_end_latency_p99_ms", _value(report.end_to_end.p99_ms)),
        ("frames_received", str(report.frames_received)),
        ("frames_published", str(report.frames_published)),
        ("frames_dropped", str(report.frames_dropped)),
        ("frames_rejected", str(report.frames_rejected)),
        ("model", report.model),
        ("providers", ",".join(report.providers)),
        ("scale_mode", report.scale_mode),
        ("scale_factor", f"{report.scale_factor:.6g}"),
        ("ground_plane", report.ground_plane),
        ("camera_info", report.camera_info),
        *((f"stage_{stage}_p50_ms", _value(ms)) for stage, ms in report.stages_p50_ms),
    ]
    return _status(level, name, message, hardware_id, pairs)


@dataclass(frozen=True)
class RateBounds:
    """Acceptable events per second, and the silence (seconds) that is an ERROR."""

    min_hz: float
    max_hz: float
    timeout_s: float


def rate_status(
    name: str,
    what: str,
    rate_hz: float,
    silent_s: float,
    bounds: RateBounds,
    hardware_id: str,
    silence_is_error: bool = True,
) -> DiagnosticStatus:
    """diagnostic_updater's frequency status for `what` (e.g. "images"): WARN outside the
    bounds, ERROR after `bounds.timeout_s` seconds without one (when `silence_is_error`)."""
    if silent_s >= bounds.timeout_s and silence_is_error:
        level, message = DiagnosticStatus.ERROR, f"no {what} for {silent_s:.1f} s"
    elif rate_hz < bounds.min_hz:
        level, message = DiagnosticStatus.WARN, f"{what} rate too low"
    elif rate_hz > bounds.max_hz:
        level, message = DiagnosticStatus.WARN, f"{what} rate too high"
    else:
        level, message = DiagnosticStatus.OK, f"{what} rate within bounds"
    pairs = [
        ("rate_hz", _value(rate_hz)),
        ("min_acceptable_rate_hz", _value(bounds.min_hz)),
        ("max_acceptable_rate_hz", _value(bounds.max_hz)),
        ("seconds_since_last", _value(silent_s)),
    ]
    return _status(level, name, message, hardware_id, pairs)


@dataclass(frozen=True)
class CameraReport:
    """What the camera status says: the latest camera fit and the camera_info state."""

    fit_mode: str  # "crop" or "pad"
    focal_ratio: float  # metric depth = model depth x focal_ratio; NaN before the first frame
    focal_known: bool  # False when no camera_info was used (ratio 1 by assumption)
    window: str  # "WxH+X+Y" in image pixels, "" before the first frame
    window_change: float  # fraction cropped away or padded
    fit_problems: tuple[str, ...]  # camera_fit's reasons to warn
    camera_info: str  # "ok", or why there is no usable camera_info
    camera_info_silent_s: float  # seconds since the last usable camera_info (or start)
    geometry_wanted: bool  # depth/points or depth/scan has subscribers


def camera_status(
    report: CameraReport, name: str, hardware_id: str, timeout_s: float
) -> DiagnosticStatus:
    """ERROR when the cloud or scan is wanted and no usable camera_info came for `timeout_s`;
    WARN for a fit beyond camera_fit's bounds."""
    if report.geometry_wanted and report.camera_info != "ok" and (
        report.camera_info_silent_s >= timeout_s
    ):
        level = DiagnosticStatus.ERROR
        message = f"depth/points or depth/scan subscribed but {report.camera_info}"
    elif report.fit_problems:
        level, message = DiagnosticStatus.WARN, "; ".join(report.fit_problems)
    elif not report.focal_known:
        level, message = DiagnosticStatus.OK, "no camera_info: focal length not corrected"
    else:
        level, message = DiagnosticStatus.OK, "camera fitted to the model"
    pairs = [
        ("camera_fit", report.fit_mode),
        ("focal_ratio", f"{report.focal_ratio:.4f}"),
        ("focal_known", str(report.focal_known).lower()),
        ("window", report.window),
        ("window_change", f"{report.window_change:.3f}"),
        ("camera_info", report.camera_info),
        ("camera_info_age_s", _value(report.camera_info_silent_s)),
    ]
    return _status(level, name, message, hardware_id, pairs)


def to_diagnostic_array(statuses: list[DiagnosticStatus], stamp: Time | None) -> DiagnosticArray:
    array = DiagnosticArray()
    if stamp is not None:
        array.header.stamp = stamp
    array.status = statuses
    return array
