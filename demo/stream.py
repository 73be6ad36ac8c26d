"""Play camera frames to a running monodepth_node over DDS and record what it publishes.

Frames go out as Image + CameraInfo at a fixed rate, each stamped with its index (the node copies
the stamp to its outputs), so every depth image is matched to its input and its latency is the
time from publishing to receiving it, on one monotonic clock.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray
from sensor_msgs.msg import CameraInfo, Image, PointCloud2

from depth_ros.camera import PinholeIntrinsics
from depth_ros.image_codec import image_to_array
from depth_ros.pointcloud import pointcloud2_to_array
from harness.ros_link import (
    RosHarness,
    camera_info_message,
    diagnostic_values,
    image_message,
    index_of,
    stamp_of,
)


@dataclass
class StreamResult:
    """What came back from the node for a stream of frames."""

    depth: dict[int, np.ndarray]  # frame index -> h x w float32 metres (NaN unknown)
    latencies_s: list[float]  # publish -> receive, per depth image received
    published: int
    publish_span_s: float  # first image published to the last one
    duration_s: float  # first publish to last depth received
    cloud: np.ndarray | None  # the last organized cloud, h x w x 3 metres (optical frame)
    cloud_index: int | None  # the frame the last cloud was computed from
    diagnostics: dict[str, str]  # the node's last diagnostics key/values

    @property
    def output_fps(self) -> float:
        """Depth images received per second, from the first publish to the last depth."""
        return len(self.depth) / self.duration_s if self.duration_s > 0 else 0.0

    @property
    def publish_rate_hz(self) -> float:
        """The rate frames really went out at (sleep overshoot makes it lower than asked)."""
        if self.published < 2 or self.publish_span_s <= 0:
            return 0.0
        return (self.published - 1) / self.publish_span_s


def stream_frames(
    ros: RosHarness,
    frames: list[np.ndarray],
    camera: PinholeIntrinsics,
    rate_hz: float,
    frame_id: str = "camera_optical_frame",
    settle_s: float = 3.0,
) -> StreamResult:
    """Publish RGB frames (H x W x 3 uint8) at `rate_hz` on `image` and `camera_info`; wait up to
    `settle_s` after the last for outputs; return what arrived."""
    image_pub = ros.publisher(Image, "image")
    info_pub = ros.publisher(CameraInfo, "camera_info")
    depth_rec = ros.record(Image, "depth/image_rect")
    cloud_rec = ros.record(PointCloud2, "depth/points")
    diag_rec = ros.record(DiagnosticArray, "/diagnostics")
    ros.wait_for_subscribers(image_pub)
    ros.wait_for_publishers("depth/image_rect")

    sent_at: dict[int, float] = {}
    period = 1.0 / rate_hz
    start = time.monotonic()
    for index, rgb in enumerate(frames):
        stamp = stamp_of(index)
        info_pub.publish(camera_info_message(camera, frame_id, stamp))
        sent_at[index] = time.monotonic()
        image_pub.publish(image_message(rgb, "rgb8", frame_id, stamp))
        time.sleep(max(0.0, start + (index + 1) * period - time.monotonic()))
    deadline = time.monotonic() + settle_s
    while time.monotonic() < deadline and len(depth_rec.items) < len(frames):
        time.sleep(0.05)

    depth: dict[int, np.ndarray] = {}
    latencies: list[float] = []
    last_arrival = start
    for item in depth_rec.items:
        index = index_of(item.message.header.stamp)
        if index in sent_at and index not in depth:
            depth[index] = np.array(image_to_array(item.message), np.float32)
            latencies.append(item.at - sent_at[index])
            last_arrival = max(last_arrival, item.at)
    clouds = cloud_rec.messages
    diagnostics = diag_rec.messages
    return StreamResult(
        depth=depth,
        latencies_s=latencies,
        published=len(frames),
        publish_span_s=max(sent_at.values(), default=start) - min(sent_at.values(), default=start),
        duration_s=last_arrival - start,
        cloud=pointcloud2_to_array(clouds[-1]) if clouds else None,
        cloud_index=index_of(clouds[-1].header.stamp) if clouds else None,
        diagnostics=diagnostic_values(diagnostics[-1]) if diagnostics else {},
    )
