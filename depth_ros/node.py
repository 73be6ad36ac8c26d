"""ROS 2 node: metric depth, its camera_info and an organized point cloud from one camera.

    ros2 run depth_ros monodepth_node --ros-args -p model:=/path/model.onnx \
        -r image:=/camera/image_raw -r camera_info:=/camera/camera_info
    ros2 launch depth_ros monodepth.launch.py model:=/path/model.onnx image:=/camera/image_raw

Topics are relative, so a namespace or a remapping moves them:
  in   image              sensor_msgs/Image rgb8, bgr8, rgba8, bgra8 or mono8, or
       image/compressed   sensor_msgs/CompressedImage with image_transport:=compressed
       camera_info        intrinsics of `image`: the pinhole is P (the rectified image), or K
                          when the driver leaves P zero
       (both with sensor-data QoS: best effort, keep last 5; a start-up parameter such as
       qos_overrides./image.subscription.reliability:=reliable changes it. Best effort loses
       whole multi-megabyte images when DDS sends them as UDP fragments instead of through
       shared memory: then ask for reliable)
  out  depth/image        32FC1 metres (REP 118), NaN where unknown or outside range.min..max,
                          at the model's size or, with output_resolution:=input, the image's
       depth/camera_info  the intrinsics of depth/image (K and P scaled to its size)
       depth/points       organized PointCloud2, x y z [rgb] (depth_image_proc's layout),
                          optical frame (x right, y down, z forward), NaN = invalid
       depth/colorized    bgr8 preview for people
       /diagnostics       every second: rates, latency, dropped frames, providers, scale
Every output carries the input image's header: its stamp and its optical frame_id. The cloud and
the preview are computed only while someone subscribes to them.

Latest frame wins: the image callback checks a raw image's layout (no copy) and puts the
message into a one-frame slot (a frame still waiting there is overwritten and counted as
dropped, but never by a malformed image); one worker thread decodes, runs the model and
publishes. So at most one frame waits while one is processed, and latency stays
bounded when the camera is faster than the model. Nothing a publisher sends can stop the node:
a bad frame is dropped with a throttled warning that names the problem.
"""

from __future__ import annotations

import logging
import math
import re
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.msg import (
    FloatingPointRange,
    IntegerRange,
    ParameterDescriptor,
    SetParametersResult,
)
from rclpy.exceptions import ParameterException
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.logging import get_logger
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.qos_overriding_options import QoSOverridingOptions
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, PointCloud2

from depth_ros.camera import CameraInfoError, PinholeIntrinsics
from depth_ros.colorize import colorize_depth
from depth_ros.depth_pipeline import DepthFrame, DepthPipeline, cloud_points
from depth_ros.diagnostics import HealthReport, LatencyWindow, RateMeter, to_diagnostic_array
from depth_ros.frame_slot import LatestFrameSlot, ReceivedFrame
from depth_ros.image_codec import (
    ImageFormatError,
    array_to_image,
    colour_image_view,
    message_to_rgb8,
)
from depth_ros.inference import DepthEstimator, ModelLoadError
from depth_ros.node_parameters import (
    PARAMETERS,
    SPECS,
    ModelSettings,
    NodeSettings,
    OutputSettings,
    ParameterError,
    ParameterSpec,
    ScaleSettings,
    settings_from_values,
)
from depth_ros.pointcloud import points_to_pointcloud2
from depth_ros.scale import MetricScaler, ScaleMode

NODE_NAME = "monodepth_node"
_VALUE = re.compile(r"'[^']*'|\"[^\"]*\"|[-+]?\d[\w.]*")  # 'text', "text", 12, 1.5e3, 0x8
WARNING_PERIOD_S = 5.0  # one warning per problem kind per period; the rest are counted
OUTPUT_QOS = QoSProfile(depth=2)  # reliable, volatile: RViz, Nav2 and recorders all accept it


class StartupError(RuntimeError):
    """The node cannot start (bad parameters, missing or corrupt model); the message says why."""


class ThrottledWarnings:
    """At most one warning per problem kind per period, each saying how many were held back.

    Keyed by kind rather than by call site (rclpy's own throttling), so a burst of one problem
    cannot hide a different one.
    """

    def __init__(self, logger: Any, period_s: float = WARNING_PERIOD_S) -> None:
        self._logger = logger
        self._period_s = period_s
        self._last: dict[str, float] = {}
        self._held_back: dict[str, int] = {}
        self._lock = threading.Lock()

    def warn(self, kind: str, message: str) -> None:
        now = time.monotonic()
        with self._lock:
            if now - self._last.get(kind, -math.inf) < self._period_s:
                self._held_back[kind] = self._held_back.get(kind, 0) + 1
                return
            self._last[kind] = now
            held_back = self._held_back.pop(kind, 0)
        if held_back:
            message += f" ({held_back} more like this since the last report)"
        self._logger.warning(message)


def problem_kind(message: str) -> str:
    """An error message with its quoted and numeric values blanked ("image step _ is shorter
    than a row: ..."): warnings are throttled per kind, so a flood of one problem cannot hide
    another, and the number of kinds stays bounded whatever values the frames carry."""
    return _VALUE.sub("_", message)[:120]


class RosLoggingHandler(logging.Handler):
    """Forward Python `logging` records of the depth_ros library modules to the node's logger,
    so provider fallbacks and scale warnings appear in the ROS log like the node's own lines."""

    def __init__(self, ros_logger: Any) -> None:
        super().__init__(level=logging.INFO)
        self._ros_logger = ros_logger

    def emit(self, record: logging.LogRecord) -> None:
        message = self.format(record)
        if record.levelno >= logging.ERROR:
            self._ros_logger.error(message)
        elif record.levelno >= logging.WARNING:
            self._ros_logger.warning(message)
        else:
            self._ros_logger.info(message)


@dataclass(frozen=True)
class Pipeline:
    """What the worker needs per frame; replaced as a whole (one reference swap) when a
    parameter changes, so a frame never mixes old and new settings."""

    settings: NodeSettings
    depth: DepthPipeline  # the estimator, the scaler and settings.output, built once

    @classmethod
    def build(
        cls, settings: NodeSettings, estimator: DepthEstimator, scaler: MetricScaler
    ) -> Pipeline:
        """Built once per parameter set, not per frame: the worker only reads it."""
        output = settings.output
        depth = DepthPipeline(
            estimator, scaler, output.range_min, output.range_max, output.upsample_to_input
        )
        return cls(settings, depth)


@dataclass(frozen=True)
class CameraState:
    """The latest camera_info: intrinsics when valid, else why not (for the cloud warning)."""

    intrinsics: PinholeIntrinsics | None
    problem: str


def sensor_data_qos() -> QoSProfile:
    """A fresh profile equal to rclpy's qos_profile_sensor_data (best effort, keep last 5)."""
    return QoSProfile(
        history=HistoryPolicy.KEEP_LAST,
        depth=5,
        reliability=ReliabilityPolicy.BEST_EFFORT,
        durability=DurabilityPolicy.VOLATILE,
    )


def _descriptor(spec: ParameterSpec) -> ParameterDescriptor:
    descriptor = ParameterDescriptor(
        description=spec.description,
        additional_constraints=spec.constraints,
        read_only=spec.read_only,
    )
    if spec.minimum is not None and isinstance(spec.default, float):
        descriptor.floating_point_range = [
            FloatingPointRange(
                from_value=float(spec.minimum), to_value=float(spec.maximum), step=0.0
            )
        ]
    elif spec.minimum is not None and isinstance(spec.default, int):
        descriptor.integer_range = [
            IntegerRange(from_value=int(spec.minimum), to_value=int(spec.maximum), step=1)
        ]
    return descriptor


def load_estimator(model: ModelSettings) -> DepthEstimator:
    """Open the model and run it once (warm-up), so a model that loads but cannot run is caught
    here, at start or at a reload, and the first camera frame does not pay lazy set-up."""
    estimator = DepthEstimator(
        model.path,
        providers=list(model.providers),
        trt_cache_dir=model.trt_cache_dir,
        trt_fp16=model.trt_fp16,
        intra_op_threads=model.intra_op_threads,
    )
    try:
        estimator.warmup()
    except Exception as err:  # onnxruntime raises its own exception classes
        raise ModelLoadError(f"model file {model.path} loads but fails to run: {err}") from err
    return estimator


def make_scaler(scale: ScaleSettings, estimator: DepthEstimator) -> MetricScaler:
    return MetricScaler(
        scale.mode,
        scale.factor,
        scale.camera_height,
        contract=estimator.contract,
        ground=scale.ground,
    )


class MonodepthNode(Node):
    """Runs an ONNX depth model on every image it can keep up with; see the module docstring."""

    def __init__(self, **node_kwargs: Any) -> None:
        super().__init__(NODE_NAME, **node_kwargs)
        self._log_handler = RosLoggingHandler(self.get_logger())
        library_log = logging.getLogger("depth_ros")
        library_log.addHandler(self._log_handler)
        library_log.setLevel(logging.INFO)
        library_log.propagate = False
        try:
            for spec in PARAMETERS:
                self.declare_parameter(spec.name, spec.default, _descriptor(spec))
            settings = settings_from_values(self._parameter_values())
            estimator = load_estimator(settings.model)
            scaler = make_scaler(settings.scale, estimator)
            self._pipeline = Pipeline.build(settings, estimator, scaler)
        except (ParameterException, ParameterError, ModelLoadError, ValueError) as err:
            self._detach_logging()
            self.destroy_node()
            raise StartupError(str(err)) from err
        self._log_model("loaded")

        self._warnings = ThrottledWarnings(self.get_logger())
        self._slot: LatestFrameSlot[Image | CompressedImage] = LatestFrameSlot()
        self._camera = CameraState(None, "no camera_info received yet")
        self._camera_status = "no image yet"
        self._input_rate = RateMeter()
        self._output_rate = RateMeter()
        self._inference_latency = LatencyWindow()
        self._end_to_end_latency = LatencyWindow()
        self._frames_received = 0
        self._frames_published = 0
        self._frames_rejected = 0
        self._counter_lock = threading.Lock()

        self._depth_pub = self.create_publisher(Image, "depth/image", OUTPUT_QOS)
        self._depth_info_pub = self.create_publisher(CameraInfo, "depth/camera_info", OUTPUT_QOS)
        self._points_pub = self.create_publisher(PointCloud2, "depth/points", OUTPUT_QOS)
        self._colorized_pub = self.create_publisher(Image, "depth/colorized", OUTPUT_QOS)
        self._diagnostics_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        # Sensor-data QoS (best effort, keep last 5), overridable at start with parameters
        # qos_overrides.<topic>.subscription.<policy> (e.g. reliability: reliable). rclpy
        # writes the overrides into the profile it is given: each subscription gets its own.
        overridable = QoSOverridingOptions.with_default_policies()
        image_type, image_topic = (
            (CompressedImage, "image/compressed")
            if settings.image_transport == "compressed"
            else (Image, "image")
        )
        self._image_sub = self.create_subscription(
            image_type,
            image_topic,
            self._on_image,
            sensor_data_qos(),
            qos_overriding_options=overridable,
        )
        self._camera_info_sub = self.create_subscription(
            CameraInfo,
            "camera_info",
            self._on_camera_info,
            sensor_data_qos(),
            qos_overriding_options=overridable,
        )
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self._diagnostics_timer = self.create_timer(1.0, self._publish_diagnostics)
        self._worker = threading.Thread(target=self._run_worker, name="depth-worker", daemon=True)
        self._worker.start()
        self.get_logger().info(
            f"listening on {self._image_sub.topic_name} and {self._camera_info_sub.topic_name}"
        )

    # -- parameters ---------------------------------------------------------------------------

    def _parameter_values(self) -> dict[str, Any]:
        return {name: self.get_parameter(name).value for name in SPECS}

    def _on_set_parameters(self, changes: list[Parameter]) -> SetParametersResult:
        """Validate the whole new parameter set; build a new model or scaler when their settings
        change; commit only when everything succeeded (a failed reload keeps the old model)."""
        values = self._parameter_values()
        values.update({p.name: p.value for p in changes if p.name in SPECS})
        current = self._pipeline
        try:
            settings = settings_from_values(values)
            estimator = old_estimator = current.depth.estimator
            if settings.model != current.settings.model:
                estimator = load_estimator(settings.model)
            scaler = current.depth.scaler
            if settings.scale != current.settings.scale or estimator is not old_estimator:
                scaler = make_scaler(settings.scale, estimator)
        except (ParameterError, ModelLoadError, ValueError) as err:
            self.get_logger().warning(f"rejected parameter change: {err}")
            return SetParametersResult(successful=False, reason=str(err))
        self._pipeline = Pipeline.build(settings, estimator, scaler)
        if estimator is not old_estimator:
            self._log_model("reloaded")
        return SetParametersResult(successful=True)

    def _log_model(self, verb: str) -> None:
        estimator = self._pipeline.depth.estimator
        contract = estimator.contract
        width, height = estimator.input_size
        self.get_logger().info(
            f"{verb} model {estimator.model_path} ({contract.architecture}, {width}x{height}, "
            f"{contract.units} units, {contract.metres_per_unit} m/unit); ONNX Runtime providers "
            f"in use: {estimator.providers} (requested {estimator.requested_providers}); "
            f"scale mode {self._pipeline.settings.scale.mode.value}"
        )

    # -- callbacks (executor thread) ----------------------------------------------------------

    def _on_image(self, msg: Image | CompressedImage) -> None:
        self._frames_received += 1
        self._input_rate.tick()
        if isinstance(msg, Image):
            try:
                colour_image_view(msg)  # vetted here, a bad image never displaces a good one
            except ImageFormatError as err:
                self._reject(problem_kind(str(err)), f"dropped image: {err}")
                return
        self._slot.put(msg)

    def _on_camera_info(self, msg: CameraInfo) -> None:
        try:
            intrinsics = PinholeIntrinsics.from_camera_info(msg)
        except (CameraInfoError, ValueError, TypeError) as err:
            self._camera = CameraState(None, f"camera_info rejected: {err}")
            self._warnings.warn(
                problem_kind(str(err)),
                f"ignoring camera_info: {err}; the point cloud is skipped until a valid one "
                "arrives",
            )
            return
        self._camera = CameraState(intrinsics, "")

    def _publish_diagnostics(self) -> None:
        pipeline = self._pipeline
        estimator, scaler = pipeline.depth.estimator, pipeline.depth.scaler
        estimate = scaler.estimate
        ground = estimate.status if scaler.mode is ScaleMode.GROUND_PLANE else ""
        report = HealthReport(
            input_rate_hz=self._input_rate.rate_hz(),
            output_rate_hz=self._output_rate.rate_hz(),
            inference=self._inference_latency.summary(),
            end_to_end=self._end_to_end_latency.summary(),
            frames_received=self._frames_received,
            frames_published=self._frames_published,
            frames_dropped=self._slot.dropped,
            frames_rejected=self._frames_rejected,
            model=str(estimator.model_path),
            providers=tuple(estimator.providers),
            scale_mode=scaler.mode.value,
            scale_factor=estimate.factor,
            ground_plane=ground,
            camera_info=self._camera_status,
        )
        self._diagnostics_pub.publish(
            to_diagnostic_array(
                report,
                status_name=f"{self.get_fully_qualified_name()}: monocular depth",
                hardware_id=estimator.model_path.name,
                stamp=self.get_clock().now().to_msg(),
            )
        )

    # -- worker thread ------------------------------------------------------------------------

    def _run_worker(self) -> None:
        while True:
            frame = self._slot.take(timeout=0.5)
            if frame is None:
                if self._slot.closed:
                    return
                continue
            try:
                self._process(frame)
            except ImageFormatError as err:
                self._reject(problem_kind(str(err)), f"dropped image: {err}")
            except Exception as err:  # never die on input: one bad frame must not stop the node
                if self._slot.closed or not self.context.ok():
                    return  # shutting down: publishers are gone, nothing to report
                self._reject(
                    "unexpected", f"dropped image: unexpected {type(err).__name__}: {err}"
                )

    def _reject(self, kind: str, message: str) -> None:
        with self._counter_lock:  # both the callback and the worker reject frames
            self._frames_rejected += 1
        self._warnings.warn(kind, message)

    def _camera_for(self, width: int, height: int) -> tuple[PinholeIntrinsics | None, str]:
        """The camera_info intrinsics if they describe a width x height image, else why not."""
        camera = self._camera
        if camera.intrinsics is None:
            return None, camera.problem
        if (camera.intrinsics.width, camera.intrinsics.height) != (width, height):
            return None, (
                f"camera_info is {camera.intrinsics.width}x{camera.intrinsics.height} but the "
                f"image is {width}x{height}"
            )
        return camera.intrinsics, ""

    def _process(self, frame: ReceivedFrame[Image | CompressedImage]) -> None:
        """Decode, infer, scale, mask, publish: one frame, all outputs with its header."""
        msg = frame.message
        header = msg.header
        rgb = message_to_rgb8(msg)
        pipeline = self._pipeline
        output = pipeline.settings.output
        image_height, image_width = rgb.shape[:2]
        camera, problem = self._camera_for(image_width, image_height)
        result = pipeline.depth.process(rgb, camera)
        self._inference_latency.add(result.inference_s)
        depth, depth_camera = result.depth, result.camera

        self._depth_pub.publish(array_to_image(depth, "32FC1", header))
        if depth_camera is not None:
            self._depth_info_pub.publish(depth_camera.to_camera_info(header))
        if self._points_pub.get_subscription_count() > 0:
            if depth_camera is None:
                self._warnings.warn("cloud", f"point cloud skipped: {problem}")
            else:
                self._points_pub.publish(self._cloud(result, rgb, header, output))
        if self._colorized_pub.get_subscription_count() > 0:
            preview = colorize_depth(
                depth, output.range_min, output.range_max, output.colormap, output.colour_scale
            )
            self._colorized_pub.publish(array_to_image(preview, "bgr8", header))

        self._camera_status = "ok" if depth_camera is not None else problem
        self._frames_published += 1
        self._output_rate.tick()
        self._end_to_end_latency.add(time.monotonic() - frame.received_at)

    def _cloud(
        self, result: DepthFrame, rgb: np.ndarray, header: Any, output: OutputSettings
    ) -> PointCloud2:
        points, colours = cloud_points(result, rgb if output.cloud_rgb else None, output.decimation)
        return points_to_pointcloud2(points, header, colours)

    # -- shutdown -----------------------------------------------------------------------------

    def stop(self) -> None:
        """Stop the worker (it finishes the frame in hand) and detach the logging bridge."""
        self._slot.close()
        self._worker.join(timeout=5.0)
        self._detach_logging()

    def _detach_logging(self) -> None:
        library_log = logging.getLogger("depth_ros")
        library_log.removeHandler(self._log_handler)
        library_log.propagate = True


def main(args: list[str] | None = None) -> int:
    """Console entry point `monodepth_node`: 0 after a clean shutdown, 1 when it cannot start."""
    rclpy.init(args=args)
    try:
        node = MonodepthNode()
    except StartupError as err:
        get_logger(NODE_NAME).error(f"cannot start: {err}")
        rclpy.try_shutdown()
        return 1
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    try:
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.stop()
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
