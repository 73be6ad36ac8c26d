"""What the ROS node costs on top of the network: bare ONNX Runtime vs monodepth_node over DDS.

    .venv/bin/python -m bench.node_throughput      # untrained Monodepth2 ResNet18, 640 x 192, CPU
    .venv/bin/python -m bench.node_throughput --model model.onnx \
        --providers CUDAExecutionProvider CPUExecutionProvider --frames 100 --repeats 5

The bare and the one-frame-at-a-time node measurements are interleaved (bare, node, bare, node,
...; --repeats rounds of --frames frames, the idle side sleeping: spinning is off in both), so
each node / bare ratio compares two windows next to each other in time; the ratios are reported
as median [min-max] over the rounds, with the CPU milliseconds per frame of the bench process
(bare) and of the node process (/proc), and the load average.

Same model, same frames (generated KITTI-size road images, 1242 x 375, with camera_info):
  bare       DepthEstimator.predict in a loop (resize + normalise + ONNX Runtime): fps, p50/p99.
  node, one frame at a time
             monodepth_node in its own process; the bench publishes a frame and waits for its
             depth image and point cloud before sending the next: end-to-end latency (publish ->
             received) and fps with nothing queued.
  node, camera faster than the model
             frames at 1.5x the bare rate for --seconds: the node's output fps (latest frame
             wins; the rest are dropped and counted).
  cloud      depth_to_points + points_to_pointcloud2 in-process, at model and camera size.
The ratios (node / bare) say how much of the network's speed survives the ROS plumbing.
Without --model the network is a randomly initialised Monodepth2 exported by training/export.py
(weights do not change the speed); that needs torch, the node itself does not.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.qos import QoSProfile
from sensor_msgs.msg import CameraInfo, Image, PointCloud2
from std_msgs.msg import Header

from depth_ros.camera import PinholeIntrinsics
from depth_ros.inference import DepthEstimator
from depth_ros.pointcloud import depth_to_points, points_to_pointcloud2
from depth_ros.providers import DEFAULT_PROVIDERS
from harness.node_process import NodeProcess, claim_domain_id, localhost_discovery
from harness.ros_link import (
    Recorder,
    RosHarness,
    camera_info_message,
    diagnostic_values,
    image_message,
    index_of,
    stamp_of,
    wait_until,
)

REPO_ROOT = Path(__file__).resolve().parents[1]
CAMERA_WIDTH, CAMERA_HEIGHT = 1242, 375  # KITTI's rectified camera
FRAME_ID = "camera_optical_frame"


def export_untrained_monodepth2(out_dir: Path) -> Path:
    """A randomly initialised Monodepth2 (ResNet18, 640 x 192), exported with its contract."""
    from training.config import load_config
    from training.export import export_onnx
    from training.tasks.build import build_task

    cfg = load_config(REPO_ROOT / "config/train/kitti_mono.yaml", ["model.weights_init=scratch"])
    path = out_dir / "monodepth2_untrained.onnx"
    export_onnx(build_task(cfg), cfg, path, created="bench/node_throughput.py, untrained")
    return path


def road_frames(out_dir: Path) -> tuple[list[np.ndarray], PinholeIntrinsics]:
    """Five generated street frames at camera size (RGB) and their camera."""
    from depth_ros.frame_sources import read_frames
    from training.datasets import KITTI_NORMALIZED_K as K
    from training.synthetic.kitti import generate_outdoor

    generate_outdoor(out_dir, sequences=1, frames=5, width=CAMERA_WIDTH, height=CAMERA_HEIGHT)
    paths = sorted(out_dir.glob("*/*_sync/image_02/data/*.png"))
    frames = [frame.rgb for p in paths for frame in read_frames(p)]
    camera = PinholeIntrinsics.from_normalized(K.fx, K.fy, K.cx, K.cy, CAMERA_WIDTH, CAMERA_HEIGHT)
    return frames, camera


def percentiles_ms(seconds: list[float]) -> tuple[float, float]:
    p50, p99 = np.percentile(np.asarray(seconds) * 1000.0, [50.0, 99.0])
    return float(p50), float(p99)


def bench_bare(estimator: DepthEstimator, frames: list[np.ndarray], count: int) -> dict:
    latencies = []
    cpu, started = time.process_time(), time.perf_counter()
    for index in range(count):
        begin = time.perf_counter()
        estimator.predict(frames[index % len(frames)])
        latencies.append(time.perf_counter() - begin)
    elapsed = time.perf_counter() - started
    p50, p99 = percentiles_ms(latencies)
    cpu_ms = 1000.0 * (time.process_time() - cpu) / count
    return {"fps": count / elapsed, "p50_ms": p50, "p99_ms": p99, "cpu_ms": cpu_ms}


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bench_cloud(estimator: DepthEstimator, frame: np.ndarray, camera: PinholeIntrinsics) -> dict:
    """Milliseconds to back-project and pack one cloud (xyz, and xyz + rgb)."""
    import cv2

    depth = estimator.predict(frame)
    height, width = depth.shape
    results = {}
    for label, size in (("model", (width, height)), ("camera", (camera.width, camera.height))):
        resized = cv2.resize(depth, size, interpolation=cv2.INTER_LINEAR)
        intrinsics = camera.scaled(*size)
        rgb = cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
        for colour in (False, True):
            runs = []
            for _ in range(20):
                begin = time.perf_counter()
                points = depth_to_points(resized, intrinsics)
                points_to_pointcloud2(points, None, rgb if colour else None)
                runs.append(time.perf_counter() - begin)
            name = f"cloud_{label}_{size[0]}x{size[1]}{'_rgb' if colour else ''}_ms"
            results[name] = 1000.0 * float(np.median(runs))
    return results


class NodeUnderTest:
    """monodepth_node in a subprocess on `domain_id`, and the bench's rclpy side."""

    def __init__(
        self, model: Path, providers: list[str], threads: int, workdir: Path, domain_id: int
    ) -> None:
        self.process = NodeProcess(domain_id, workdir, {
            "model": str(model), "providers": providers, "intra_op_threads": threads,
            "scale.mode": "metadata", "output_resolution": "model", "cloud.decimation": 1,
            # 1.4 MB frames: best effort loses them to UDP fragmentation (see depth_ros.node)
            "qos_overrides./image.subscription.reliability": "reliable",
        })  # fmt: skip
        self.ros = RosHarness(domain_id)
        self.image_pub = self.ros.publisher(Image, "image", QoSProfile(depth=2))
        self.info_pub = self.ros.publisher(CameraInfo, "camera_info")
        # arrival times on the clock the sends are timed with; headers only, not the images
        reliable = QoSProfile(depth=10)
        self.depth = self.ros.record(Image, "depth/image_rect", reliable, clock=time.perf_counter,
                                     keep=header_of)  # fmt: skip
        self.points = self.ros.record(PointCloud2, "depth/points", reliable,
                                      clock=time.perf_counter, keep=header_of)  # fmt: skip
        self.diagnostics = self.ros.record(DiagnosticArray, "/diagnostics", reliable)
        self.next_index = 1  # frame indices keep rising over rounds: no stale output counts

    def wait_ready(self, timeout: float = 120.0) -> None:
        """Until the node subscribes to `image`; RuntimeError with its log if it dies first or
        takes longer than `timeout` seconds."""
        with contextlib.suppress(AssertionError):
            wait_until(lambda: self.image_pub.get_subscription_count() > 0
                       or not self.process.alive(), timeout, "the node")  # fmt: skip
        if not self.process.alive() or self.image_pub.get_subscription_count() == 0:
            raise RuntimeError(f"node did not start; log:\n{self.process.log_text()}")

    def send(self, rgb: np.ndarray, camera: PinholeIntrinsics, index: int) -> float:
        """Publish frame `index` (camera_info first); when the image went out."""
        stamp = stamp_of(index)
        self.info_pub.publish(camera_info_message(camera, FRAME_ID, stamp))
        image = image_message(rgb, "rgb8", FRAME_ID, stamp)
        sent = time.perf_counter()
        self.image_pub.publish(image)
        return sent

    def node_values(self) -> dict[str, str]:
        """The node's last diagnostics key/values."""
        return diagnostic_values(self.diagnostics.messages[-1])

    def close(self) -> None:
        try:
            self.process.stop(timeout=30.0)
        finally:
            self.ros.close()


def header_of(message: Image | PointCloud2) -> Header:
    return message.header


def arrival(recorder: Recorder[Header], index: int, since: float) -> float | None:
    """When the output of frame `index` arrived (time.perf_counter()), or None if none has since
    `since`: the warm-up pass sent the same indices, and its outputs must not count."""
    for item in reversed(recorder.items):
        if item.at < since:
            return None
        if index_of(item.message.stamp) == index:
            return item.at
    return None


def bench_node_closed_loop(node: NodeUnderTest, frames, camera, count: int) -> dict:
    """One frame in flight: send, wait for its depth and cloud, repeat."""
    depth_latency: list[float] = []
    cloud_latency: list[float] = []
    node_cpu = process_cpu_s(node.process.pid)
    index, started = node.next_index, time.perf_counter()
    first = index
    while len(depth_latency) < count:
        sent = node.send(frames[index % len(frames)], camera, index)
        deadline = time.perf_counter() + 5.0
        while (cloud_at := arrival(node.points, index, sent)) is None:
            if time.perf_counter() >= deadline:
                break
            time.sleep(0.0005)
        depth_at = arrival(node.depth, index, sent)
        if cloud_at is not None and depth_at is not None:
            depth_latency.append(depth_at - sent)
            cloud_latency.append(cloud_at - sent)
        index += 1
        if index - first > 2 * count + 10:
            raise RuntimeError(f"most frames got no depth; node log:\n{node.process.log_text()}")
    elapsed = time.perf_counter() - started
    node.next_index = index
    cpu_ms = 1000.0 * (process_cpu_s(node.process.pid) - node_cpu) / count
    depth_p50, depth_p99 = percentiles_ms(depth_latency)
    cloud_p50, cloud_p99 = percentiles_ms(cloud_latency)
    time.sleep(1.5)  # the node's next diagnostics cover these frames
    values = node.node_values()
    return {"fps": count / elapsed, "depth_p50_ms": depth_p50, "depth_p99_ms": depth_p99,
            "cloud_p50_ms": cloud_p50, "cloud_p99_ms": cloud_p99, "sent": index - first,
            "node_cpu_ms": cpu_ms, "depth_latency_s": depth_latency,
            # measured inside the node on the same frames, at the same time (same CPU load)
            "node_model_p50_ms": float(values["inference_latency_p50_ms"]),
            "node_internal_p50_ms": float(values["end_to_end_latency_p50_ms"])}  # fmt: skip


def bench_node_open_loop(node: NodeUnderTest, frames, camera, rate_hz: float, seconds: float):
    """Frames at `rate_hz` regardless of the node: how many depth images come out per second."""
    first = 1_000_000
    started = time.perf_counter()
    index = 0
    while time.perf_counter() - started < seconds:
        node.send(frames[index % len(frames)], camera, first + index)
        index += 1
        time.sleep(max(0.0, started + index / rate_hz - time.perf_counter()))
    time.sleep(2.0)
    outputs = len({i for item in node.depth.items if (i := index_of(item.message.stamp)) >= first})
    values = node.node_values()
    return {"camera_hz": rate_hz, "sent": index, "published": outputs, "fps": outputs / seconds,
            "dropped_total": int(values["frames_dropped"]),
            "node_inference_p50_ms": float(values["inference_latency_p50_ms"])}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, help="ONNX model (default: untrained Monodepth2)")
    parser.add_argument("--providers", nargs="+", default=["CPUExecutionProvider"],
                        help=f"ONNX Runtime providers (the node's default: {DEFAULT_PROVIDERS})")
    parser.add_argument("--threads", type=int, default=0, help="intra-op threads (0: per core)")
    parser.add_argument("--frames", type=int, default=30, help="frames per measurement and round")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved bare/node rounds")
    parser.add_argument("--seconds", type=float, default=10.0, help="open-loop duration")
    args = parser.parse_args()

    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="node_throughput_") as tmp:
        workdir = Path(tmp)
        model = args.model or export_untrained_monodepth2(workdir)
        frames, camera = road_frames(workdir / "road")
        estimator = DepthEstimator(model, args.providers, intra_op_threads=args.threads)
        width, height = estimator.input_size
        print(f"model {model.name}: {estimator.contract.architecture} {width}x{height}, "
              f"providers {estimator.providers}; frames {CAMERA_WIDTH}x{CAMERA_HEIGHT}")
        for frame in frames:
            estimator.predict(frame)  # warm-up
        cloud = bench_cloud(estimator, frames[0], camera)

        bares, closeds = [], []
        with claim_domain_id() as domain_id, localhost_discovery():
            node = NodeUnderTest(model, args.providers, args.threads, workdir / "node", domain_id)
            try:
                node.wait_ready()
                bench_node_closed_loop(node, frames, camera, 5)  # discovery, warm-up
                for _ in range(args.repeats):
                    bares.append(bench_bare(estimator, frames, args.frames))
                    closeds.append(bench_node_closed_loop(node, frames, camera, args.frames))
                bare_fps = float(np.median([b["fps"] for b in bares]))
                node_stages = {name[len("stage_"):-len("_p50_ms")]: float(value)
                               for name, value in node.node_values().items()
                               if name.startswith("stage_")}  # fmt: skip
                del estimator  # the open-loop node gets the machine to itself
                opened = bench_node_open_loop(node, frames, camera, 1.5 * bare_fps,
                                              args.seconds)  # fmt: skip
            finally:
                node.close()
    load_after = os.getloadavg()

    print(f"{args.repeats} interleaved rounds of {args.frames} frames; load average before "
          f"{'/'.join(f'{v:.2f}' for v in load_before)}, after "
          f"{'/'.join(f'{v:.2f}' for v in load_after)}; median [min-max] over rounds")
    print(f"{'':34s} {'fps':>22s} {'p50 ms':>22s} {'CPU ms/frame':>22s}")
    rows = [
        ("bare ONNX Runtime", bares, "fps", "p50_ms", "cpu_ms"),
        ("node, one frame at a time: depth", closeds, "fps", "depth_p50_ms", "node_cpu_ms"),
        ("node, one frame at a time: cloud", closeds, "fps", "cloud_p50_ms", "node_cpu_ms"),
    ]  # fmt: skip
    for label, runs, fps, p50, cpu in rows:
        print(f"{label:34s} {spread([r[fps] for r in runs]):>22s} "
              f"{spread([r[p50] for r in runs]):>22s} {spread([r[cpu] for r in runs]):>22s}")
    print(f"node, camera at {opened['camera_hz']:.1f} Hz: {opened['fps']:.2f} fps "
          f"({opened['published']} of {opened['sent']} frames published, "
          f"{opened['dropped_total']} dropped in total, node inference p50 "
          f"{opened['node_inference_p50_ms']:.1f} ms)")
    for name, value in cloud.items():
        print(f"{name:34s} {value:7.2f} ms")
    fps_ratio = [c["fps"] / b["fps"] for b, c in zip(bares, closeds, strict=True)]
    latency_ratio = [c["depth_p50_ms"] / b["p50_ms"] for b, c in zip(bares, closeds, strict=True)]
    print(f"ratio node / bare, same round: fps {spread(fps_ratio, 3)}, "
          f"latency p50 {spread(latency_ratio, 3)}")
    print_stages(node_stages, [s for c in closeds for s in c["depth_latency_s"]])
    return 0


def print_stages(stages: dict[str, float], depth_latency_s: list[float]) -> None:
    """The node's own per-stage medians (its diagnostics, over the same frames as the bench's
    one-frame-at-a-time rounds plus the warm-up) and what is left of the bench's latency: the
    image's and the depth's way through DDS and the executor."""
    print("inside the node, p50 ms per stage (its own timestamps): " + ", ".join(
        f"{name} {ms:.1f}" for name, ms in stages.items()))  # fmt: skip
    to_depth = sum(ms for name, ms in stages.items() if name != "cloud")
    latency_ms = 1000.0 * float(np.median(depth_latency_s))
    print(f"bench latency to depth p50 {latency_ms:.1f} ms - node stages up to the depth "
          f"{to_depth:.1f} ms = DDS transfer in and out {latency_ms - to_depth:.1f} ms")


def spread(values: list[float], digits: int = 1) -> str:
    """median [min-max]"""
    return (f"{np.median(values):.{digits}f} [{min(values):.{digits}f}-"
            f"{max(values):.{digits}f}]")


if __name__ == "__main__":
    sys.exit(main())
