"""Health figures of the depth node and their `/diagnostics` message.

The node counts and times its work with `RateMeter` and `LatencyWindow` (thread-safe: the
subscription callback and the inference worker update them, the 1 Hz timer reads them) and
publishes a `HealthReport` as one diagnostic_msgs/DiagnosticStatus, the form that
`rqt_robot_monitor` and diagnostic aggregators expect.
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

    def _forget_before(self, horizon: float) -> None:
        while self._events and self._events[0] < horizon:
            self._events.popleft()


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
    model: str
    providers: tuple[str, ...]  # ONNX Runtime execution providers actually in use
    scale_mode: str
    scale_factor: float  # metres per model unit applied to the latest frame
    ground_plane: str  # ground-plane fit status, "" when the mode is not ground_plane
    camera_info: str  # "ok", or why the cloud is skipped

    def level_and_message(self) -> tuple[bytes, str]:
        """WARN when frames come in but nothing goes out, or the cloud cannot be built."""
        if self.input_rate_hz > 0.0 and self.output_rate_hz == 0.0:
            return DiagnosticStatus.WARN, "receiving images but publishing no depth"
        if self.input_rate_hz == 0.0:
            return DiagnosticStatus.OK, "waiting for images"
        if self.camera_info != "ok":
            return DiagnosticStatus.WARN, f"point cloud skipped: {self.camera_info}"
        return DiagnosticStatus.OK, "publishing depth"


def _value(number: float) -> str:
    return f"{number:.3f}"


def to_diagnostic_array(
    report: HealthReport, status_name: str, hardware_id: str, stamp: Time | None
) -> DiagnosticArray:
    """One DiagnosticStatus named `status_name` with the report's figures as key/values."""
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
    ]
    status = DiagnosticStatus(
        level=level,
        name=status_name,
        message=message,
        hardware_id=hardware_id,
        values=[KeyValue(key=key, value=value) for key, value in pairs],
    )
    array = DiagnosticArray()
    if stamp is not None:
        array.header.stamp = stamp
    array.status = [status]
    return array
