"""The client side of the DDS link (tests, demo, bench): publish camera messages, record the
node's outputs, call its parameter services. Runs its own rclpy Context on the caller's domain,
spun in a background thread, so several tests in one pytest process never share ROS state.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import numpy as np
import rclpy
from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.msg import SetParametersResult
from rcl_interfaces.srv import GetParameters, SetParameters
from rclpy.client import Client
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.parameter import Parameter, parameter_value_to_python
from rclpy.qos import QoSProfile, qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, Image

from depth_ros.camera import PinholeIntrinsics
from depth_ros.image_codec import array_to_image
from depth_ros.node import NODE_NAME

MessageT = TypeVar("MessageT")
RELIABLE = QoSProfile(depth=50)
FIRST_STAMP_S = 1000  # stamp_of(index) has sec = FIRST_STAMP_S + index
STAMP_NANOSEC = 7


def stamp_of(index: int) -> Time:
    """A distinct, recognisable stamp per frame index (seconds 1000 + index, nanosec 7): the
    node copies it to its outputs, so each output names the frame it was computed from."""
    return Time(sec=FIRST_STAMP_S + index, nanosec=STAMP_NANOSEC)


def index_of(stamp: Time) -> int:
    """The frame index that `stamp_of` turned into `stamp` (its inverse)."""
    return stamp.sec - FIRST_STAMP_S


def image_message(pixels: np.ndarray, encoding: str, frame_id: str, stamp: Time) -> Image:
    msg = array_to_image(pixels, encoding)
    msg.header.frame_id = frame_id
    msg.header.stamp = stamp
    return msg


def camera_info_message(camera: PinholeIntrinsics, frame_id: str, stamp: Time) -> CameraInfo:
    msg = camera.to_camera_info()
    msg.header.frame_id = frame_id
    msg.header.stamp = stamp
    return msg


@dataclass(frozen=True)
class Received(Generic[MessageT]):
    message: MessageT  # or what the recorder's `keep` made of it
    at: float  # the recorder's clock (time.monotonic() unless told) when it was received


class Recorder(Generic[MessageT]):
    """Every message of one topic, with its arrival time."""

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        keep: Callable[[Any], MessageT] | None = None,
    ) -> None:
        """`clock` stamps arrivals (a benchmark wants the clock it times publishing with);
        `keep` reduces each message to what is worth holding (a long benchmark keeps headers,
        not megabytes of point clouds)."""
        self._items: list[Received[MessageT]] = []
        self._lock = threading.Lock()
        self._clock = clock
        self._keep = keep

    def __call__(self, message: Any) -> None:
        at = self._clock()
        kept = message if self._keep is None else self._keep(message)
        with self._lock:
            self._items.append(Received(kept, at))

    @property
    def items(self) -> list[Received[MessageT]]:
        with self._lock:
            return list(self._items)

    @property
    def messages(self) -> list[MessageT]:
        return [item.message for item in self.items]


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def diagnostic_values(array: DiagnosticArray, name_part: str = "monocular depth") -> dict[str, str]:
    for status in array.status:
        if name_part in status.name:
            return {kv.key: kv.value for kv in status.values}
    raise AssertionError(f"no status named like {name_part!r} in {[s.name for s in array.status]}")


class RosHarness:
    """A test node on its own context and domain; close() tears everything down."""

    def __init__(self, domain_id: int) -> None:
        self.context = Context()
        rclpy.init(context=self.context, domain_id=domain_id)
        self.node = rclpy.create_node("depth_ros_test_client", context=self.context)
        self._executor = SingleThreadedExecutor(context=self.context)
        self._executor.add_node(self.node)
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        while self.context.ok():
            try:
                self._executor.spin_once(timeout_sec=0.05)
            except Exception:  # context shut down under us at close()
                if self.context.ok():
                    raise
                return

    def close(self) -> None:
        self.context.try_shutdown()
        self._thread.join(timeout=5.0)
        self._executor.shutdown()
        self.node.destroy_node()

    # -- topics -------------------------------------------------------------------------------

    def publisher(self, message_type: type, topic: str, qos: QoSProfile = qos_profile_sensor_data):
        return self.node.create_publisher(message_type, topic, qos)

    def record(
        self,
        message_type: type,
        topic: str,
        qos: QoSProfile = RELIABLE,
        *,
        clock: Callable[[], float] = time.monotonic,
        keep: Callable[[Any], Any] | None = None,
    ) -> Recorder:
        """Record `topic` from now on; `clock` and `keep` as in `Recorder`."""
        recorder: Recorder = Recorder(clock, keep)
        self.node.create_subscription(message_type, topic, recorder, qos)
        return recorder

    def wait_for_node(self, node_name: str = NODE_NAME, timeout: float = 30.0) -> None:
        """Until the node is discovered and serves its parameters (it is fully constructed)."""
        client: Client[Any, Any] = self.node.create_client(
            GetParameters, f"/{node_name}/get_parameters"
        )
        try:
            if not client.wait_for_service(timeout_sec=timeout):
                raise AssertionError(f"/{node_name} did not appear within {timeout} s")
        finally:
            self.node.destroy_client(client)

    def wait_for_subscribers(self, publisher: Any, count: int = 1, timeout: float = 20.0) -> None:
        wait_until(
            lambda: publisher.get_subscription_count() >= count,
            timeout,
            f"{count} subscriber(s) on {publisher.topic_name}",
        )

    def wait_for_publishers(self, topic: str, count: int = 1, timeout: float = 20.0) -> None:
        wait_until(
            lambda: self.node.count_publishers(topic) >= count,
            timeout,
            f"{count} publisher(s) of {topic}",
        )

    # -- parameters ---------------------------------------------------------------------------

    def _call(self, service_type: type, name: str, request: Any, timeout: float) -> Any:
        client: Client[Any, Any] = self.node.create_client(service_type, name)
        try:
            if not client.wait_for_service(timeout_sec=timeout):
                raise AssertionError(f"service {name} not available within {timeout} s")
            future = client.call_async(request)
            wait_until(future.done, timeout, f"a reply from {name}")
            return future.result()
        finally:
            self.node.destroy_client(client)

    def set_parameters(
        self, values: Mapping[str, Any], node_name: str = NODE_NAME, timeout: float = 30.0
    ) -> list[SetParametersResult]:
        """One set_parameters service call (each parameter gets its own result)."""
        request = SetParameters.Request()
        request.parameters = [Parameter(k, value=v).to_parameter_msg() for k, v in values.items()]
        return list(
            self._call(SetParameters, f"/{node_name}/set_parameters", request, timeout).results
        )

    def get_parameters(
        self, names: list[str], node_name: str = NODE_NAME, timeout: float = 10.0
    ) -> dict[str, Any]:
        request = GetParameters.Request(names=names)
        reply = self._call(GetParameters, f"/{node_name}/get_parameters", request, timeout)
        return {
            name: parameter_value_to_python(value)
            for name, value in zip(names, reply.values, strict=True)
        }


def same_stamp(a: Time, b: Time) -> bool:
    return (a.sec, a.nanosec) == (b.sec, b.nanosec)


def send_until_received(
    publishers: list[tuple[Any, Any]], recorder: Recorder, stamp: Time, timeout: float = 20.0
) -> Any:
    """Publish each (publisher, message) pair every 0.5 s until `recorder` holds a message
    stamped `stamp`; return it. Covers discovery races and best-effort loss."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for publisher, message in publishers:
            publisher.publish(message)
        resend_at = time.monotonic() + 0.5
        while time.monotonic() < min(resend_at, deadline):
            for message in recorder.messages:
                if same_stamp(message.header.stamp, stamp):
                    return message
            time.sleep(0.01)
    raise AssertionError(f"nothing stamped {stamp.sec}.{stamp.nanosec} within {timeout} s")
