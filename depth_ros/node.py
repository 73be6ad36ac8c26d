"""ROS 2 node: metric depth, its camera_info, a point cloud and a laser scan from one camera.

    ros2 run depth_ros monodepth_node --ros-args -p model:=/path/model.onnx \
        -r image:=/camera/image_raw -r camera_info:=/camera/camera_info
    ros2 launch depth_ros monodepth.launch.py model:=/path/model.onnx image:=/camera/image_raw

Topics are relative, so a namespace or a remapping moves them:
  in   image              sensor_msgs/Image rgb8, bgr8, rgba8, bgra8 or mono8, or
       image/compressed   sensor_msgs/CompressedImage with image_transport:=compressed
                          (subscribed once its publishers are known: reliable when every one is
                          reliable, else best effort; see depth_ros.input_qos)
       camera_info        intrinsics of `image`: the pinhole is P (the rectified image), or K
                          when the driver leaves P zero (best effort, keep last 5)
  out  depth/image_rect   32FC1 metres (REP 118), NaN where unknown or outside range.min..max,
                          at the model's size or, with output_resolution:=input, the image's
       depth/camera_info  the intrinsics of depth/image_rect: with depth_image_proc's
                          point_cloud_xyz and depthimage_to_laserscan these two names are what
                          they expect under the `depth` namespace
       depth/points       organized PointCloud2, x y z [rgb] (depth_image_proc's layout),
                          optical frame (x right, y down, z forward), NaN = invalid
       depth/scan         LaserScan as depthimage_to_laserscan computes it (depth_ros.laser_scan),
                          in the optical frame's x-forward twin (scan.frame_id)
       depth/colorized    bgr8 preview for people
       /diagnostics       every second, statuses "<node name>: <task>" (depth_ros.diagnostics)
Outputs are reliable, keep last 2; start-up parameters qos_overrides./depth/<name>.publisher.*
change them, qos_overrides./camera_info.subscription.* the camera_info input.
Every output carries the input image's header: its stamp and its optical frame_id (the scan:
its stamp). The cloud, the scan and the preview are computed only while someone subscribes.

The model sees each image through a camera fit (depth_ros.camera_fit): a window of the training
aspect around the principal point, and depth corrected by the ratio of focal lengths.

Latest frame wins: the image callback checks a raw image's layout (no copy) and puts the
message into a one-frame slot (a frame still waiting there is overwritten and counted as
dropped, but never by a malformed image); one worker thread decodes, runs the model and
publishes. So at most one frame waits while one is processed, and latency stays
bounded when the camera is faster than the model. Nothing a publisher sends can stop the node:
a bad frame is dropped with a throttled warning that names the problem. Without a usable model
the node still runs, reports ERROR in /diagnostics, and loads one when `model` is set.
SIGINT (Ctrl-C, also to a whole `ros2 launch` process group) and SIGTERM stop it cleanly, exit 0.
"""

from __future__ import annotations

import logging
import math
import re
import signal
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
from rclpy.qos import QoSProfile, ReliabilityPolicy
from rclpy.qos_overriding_options import QoSOverridingOptions
from rclpy.signals import SignalHandlerOptions
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, LaserScan, PointCloud2

from depth_ros.camera import CameraInfoError, PinholeIntrinsics
from depth_ros.camera_fit import CameraFit
from depth_ros.colorize import colorize_depth
from depth_ros.depth_pipeline import DepthFrame, DepthPipeline, cloud_points
from depth_ros.diagnostics import (
    FRAME_STAGES,
    CameraReport,
    HealthReport,
    LatencySummary,
    LatencyWindow,
    RateBounds,
    RateMeter,
    camera_status,
    depth_status,
    rate_status,
    to_diagnostic_array,
)
from depth_ros.frame_slot import LatestFrameSlot, ReceivedFrame
from depth_ros.image_codec import (
    ImageFormatError,
    array_to_image,
    colour_image_view,
    message_to_rgb8,
)
from depth_ros.inference import DepthEstimator, ModelLoadError
from depth_ros.input_qos import AdaptiveSubscription, camera_qos
from depth_ros.laser_scan import depth_to_scan, scan_frame_id, to_laser_scan
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
OUTPUT_DEPTH = 2  # outputs: reliable, volatile, keep last 2 (RViz, Nav2, recorders accept it)
SPIN_PERIOD_S = 0.1  # the main loop looks at the stop request this often
INPUT_QOS_PERIOD_S = 0.5  # how often the image subscription is matched to its publishers


class StartupError(RuntimeError):
    """The node cannot start (bad parameters); the message says why."""


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
    parameter changes, so a frame never mixes old and new settings. `depth` is None while the
    node has no usable model."""

    settings: NodeSettings
    depth: DepthPipeline | None  # the estimator, the scaler and settings.output, built once

    @classmethod
    def build(
        cls, settings: NodeSettings, estimator: DepthEstimator | None, scaler: MetricScaler | None
    ) -> Pipeline:
        """Built once per parameter set, not per frame: the worker only reads it."""
        if estimator is None or scaler is None:
            return cls(settings, None)
        output = settings.output
        depth = DepthPipeline(
            estimator, scaler, output.range_min, output.range_max, output.upsample_to_input,
            output.camera_fit,
        )  # fmt: skip
        return cls(settings, depth)


@dataclass(frozen=True)
class CameraState:
    """The latest camera_info: intrinsics when valid, else why not (for the cloud warning)."""

    intrinsics: PinholeIntrinsics | None
    problem: str


def output_qos() -> QoSProfile:
    """A fresh profile per publisher: rclpy writes a publisher's QoS overrides into it."""
    return QoSProfile(depth=OUTPUT_DEPTH)


def _descriptor(spec: ParameterSpec) -> ParameterDescriptor:
    descriptor = ParameterDescriptor(
        description=spec.description,
        additional_constraints=spec.constraints,
        read_only=spec.read_only,
    )
    if spec.minimum is None:
        return descriptor
    assert spec.maximum is not None  # a range has both ends
    if isinstance(spec.default, float):
        descriptor.floating_point_range = [
            FloatingPointRange(
                from_value=float(spec.minimum), to_value=float(spec.maximum), step=0.0
            )
        ]
    elif isinstance(spec.default, int):
        descriptor.integer_range = [
            IntegerRange(from_value=int(spec.minimum), to_value=int(spec.maximum), step=1)
        ]
    return descriptor


def load_estimator(model: ModelSettings) -> DepthEstimator:
    """Open the model and run it once (warm-up), so a model that loads but cannot run is caught
    here, at start or at a reload, and the first camera frame does not pay lazy set-up."""
    if not model.path:
        raise ModelLoadError(
            "parameter model is empty; expected the path of an ONNX depth model "
            "(e.g. --ros-args -p model:=/path/model.onnx)"
        )
    estimator = DepthEstimator(
        model.path,
        providers=list(model.providers),
        trt_cache_dir=model.trt_cache_dir,
        trt_fp16=model.trt_fp16,
        intra_op_threads=model.intra_op_threads,
        intra_op_spinning=model.intra_op_spinning,
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
        except (ParameterException, ParameterError, ValueError) as err:
            self._detach_logging()
            self.destroy_node()
            raise StartupError(str(err)) from err
        self._model_problem = ""
        try:
            estimator = load_estimator(settings.model)
            scaler = make_scaler(settings.scale, estimator)
            self._pipeline = Pipeline.build(settings, estimator, scaler)
            self._log_model("loaded")
        except (ModelLoadError, ValueError) as err:
            self._pipeline = Pipeline.build(settings, None, None)
            self._model_problem = str(err)
            self.get_logger().error(
                f"no model: {err}; running without one (ERROR in /diagnostics) until parameter "
                "model names a loadable one"
            )

        self._warnings = ThrottledWarnings(self.get_logger())
        self._slot: LatestFrameSlot[Image | CompressedImage] = LatestFrameSlot()
        self._camera = CameraState(None, "no camera_info received yet")
        self._camera_at = time.monotonic()  # when the last usable camera_info came (or start)
        self._camera_status = "no image yet"
        self._last_fit: CameraFit | None = None
        self._logged_fit = ""
        self._input_rate = RateMeter()
        self._output_rate = RateMeter()
        self._inference_latency = LatencyWindow()
        self._end_to_end_latency = LatencyWindow()
        self._stage_latency = {stage: LatencyWindow() for stage in FRAME_STAGES}
        self._frames_received = 0
        self._frames_published = 0
        self._frames_rejected = 0
        self._counter_lock = threading.Lock()

        self._depth_pub = self._publisher(Image, "depth/image_rect")
        self._depth_info_pub = self._publisher(CameraInfo, "depth/camera_info")
        self._points_pub = self._publisher(PointCloud2, "depth/points")
        self._scan_pub = self._publisher(LaserScan, "depth/scan")
        self._colorized_pub = self._publisher(Image, "depth/colorized")
        self._diagnostics_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        image_type, image_topic = (
            (CompressedImage, "image/compressed")
            if settings.image_transport == "compressed"
            else (Image, "image")
        )
        try:
            self._image_sub = AdaptiveSubscription(self, image_type, image_topic, self._on_image)
        except ValueError as err:
            self._detach_logging()
            self.destroy_node()
            raise StartupError(str(err)) from err
        self._camera_info_sub = self.create_subscription(
            CameraInfo,
            "camera_info",
            self._on_camera_info,
            camera_qos(ReliabilityPolicy.BEST_EFFORT),  # matches any publisher; small messages
            qos_overriding_options=QoSOverridingOptions.with_default_policies(),
        )
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self._diagnostics_timer = self.create_timer(1.0, self._publish_diagnostics)
        self._image_sub.update()
        self._input_qos_timer = self.create_timer(INPUT_QOS_PERIOD_S, self._image_sub.update)
        self._worker = threading.Thread(target=self._run_worker, name="depth-worker", daemon=True)
        self._worker.start()
        self.get_logger().info(
            f"listening on {self._image_sub.topic_name} and {self._camera_info_sub.topic_name}"
        )

    def _publisher(self, message_type: type, topic: str) -> Any:
        return self.create_publisher(
            message_type, topic, output_qos(),
            qos_overriding_options=QoSOverridingOptions.with_default_policies(),
        )  # fmt: skip

    # -- parameters ---------------------------------------------------------------------------

    def _parameter_values(self) -> dict[str, Any]:
        return {name: self.get_parameter(name).value for name in SPECS}

    def _on_set_parameters(self, changes: list[Parameter]) -> SetParametersResult:
        """Validate the whole new parameter set; build a new model or scaler when their settings
        change; commit only when everything succeeded (a failed reload keeps the old model)."""
        values = self._parameter_values()
        values.update({p.name: p.value for p in changes if p.name in SPECS})
        current = self._pipeline
        old_estimator = current.depth.estimator if current.depth is not None else None
        try:
            settings = settings_from_values(values)
            estimator = old_estimator
            if settings.model != current.settings.model:
                estimator = load_estimator(settings.model)
            scaler = current.depth.scaler if current.depth is not None else None
            if estimator is not None and (
                settings.scale != current.settings.scale or estimator is not old_estimator
            ):
                scaler = make_scaler(settings.scale, estimator)
        except (ParameterError, ModelLoadError, ValueError) as err:
            self.get_logger().warning(f"rejected parameter change: {err}")
            return SetParametersResult(successful=False, reason=str(err))
        self._pipeline = Pipeline.build(settings, estimator, scaler)
        if estimator is not old_estimator:
            self._model_problem = ""
            self._log_model("reloaded" if old_estimator is not None else "loaded")
        return SetParametersResult(successful=True)

    def _log_model(self, verb: str) -> None:
        depth = self._pipeline.depth
        assert depth is not None
        estimator = depth.estimator
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
        if self._pipeline.depth is None:
            return  # no model: counted (the rate is still reported), nothing to do
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
        self._camera_at = time.monotonic()

    def _publish_diagnostics(self) -> None:
        pipeline = self._pipeline
        name = self.get_name()
        hardware_id = pipeline.settings.model.path.rsplit("/", 1)[-1] or "no model"
        bounds = RateBounds(
            pipeline.settings.diagnostics.min_rate_hz,
            pipeline.settings.diagnostics.max_rate_hz,
            pipeline.settings.diagnostics.timeout_s,
        )
        input_rate = self._input_rate.rate_hz()
        statuses = [
            depth_status(self._health(pipeline), f"{name}: monocular depth", hardware_id),
            rate_status(
                f"{name}: image rate", "images", input_rate,
                self._input_rate.seconds_since_last(), bounds, hardware_id,
            ),
            rate_status(
                f"{name}: depth rate", "depth images", self._output_rate.rate_hz(),
                self._output_rate.seconds_since_last(), bounds, hardware_id,
                silence_is_error=input_rate > 0.0,
            ),
            camera_status(self._camera_report(pipeline), f"{name}: camera", hardware_id,
                          bounds.timeout_s),
        ]  # fmt: skip
        self._diagnostics_pub.publish(
            to_diagnostic_array(statuses, stamp=self.get_clock().now().to_msg())
        )

    def _health(self, pipeline: Pipeline) -> HealthReport:
        depth = pipeline.depth
        idle = LatencySummary(0, 0.0, 0.0, 0.0)
        scaler = depth.scaler if depth is not None else None
        estimate = scaler.estimate if scaler is not None else None
        ground = (
            estimate.status
            if scaler is not None and estimate is not None
            and scaler.mode is ScaleMode.GROUND_PLANE
            else ""
        )  # fmt: skip
        return HealthReport(
            input_rate_hz=self._input_rate.rate_hz(),
            output_rate_hz=self._output_rate.rate_hz(),
            inference=self._inference_latency.summary() if depth is not None else idle,
            end_to_end=self._end_to_end_latency.summary() if depth is not None else idle,
            frames_received=self._frames_received,
            frames_published=self._frames_published,
            frames_dropped=self._slot.dropped,
            frames_rejected=self._frames_rejected,
            model=str(depth.estimator.model_path) if depth is not None else "",
            model_problem=self._model_problem if depth is None else "",
            providers=tuple(depth.estimator.providers) if depth is not None else (),
            scale_mode=pipeline.settings.scale.mode.value,
            scale_factor=estimate.factor if estimate is not None else math.nan,
            ground_plane=ground,
            camera_info=self._camera_status,
            stages_p50_ms=tuple(
                (stage, window.summary().p50_ms) for stage, window in self._stage_latency.items()
            ) if depth is not None else (),
        )  # fmt: skip

    def _camera_report(self, pipeline: Pipeline) -> CameraReport:
        fit = self._last_fit
        camera = self._camera
        wanted = (
            self._points_pub.get_subscription_count() + self._scan_pub.get_subscription_count()
        ) > 0
        return CameraReport(
            fit_mode=pipeline.settings.output.camera_fit,
            focal_ratio=fit.focal_ratio if fit is not None else math.nan,
            focal_known=fit.focal_known if fit is not None else False,
            window=(f"{fit.width}x{fit.height}+{fit.x0}+{fit.y0}" if fit is not None else ""),
            window_change=fit.window_change if fit is not None else 0.0,
            fit_problems=tuple(fit.problems()) if fit is not None else (),
            camera_info="ok" if camera.intrinsics is not None else camera.problem,
            camera_info_silent_s=time.monotonic() - self._camera_at,
            geometry_wanted=wanted,
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
        pipeline = self._pipeline
        if pipeline.depth is None:
            return  # the model was unloaded while the frame waited
        msg = frame.message
        header = msg.header
        stages = self._stage_latency
        started = time.monotonic()
        stages["wait"].add(started - frame.received_at)
        rgb = message_to_rgb8(msg)
        output = pipeline.settings.output
        image_height, image_width = rgb.shape[:2]
        camera, problem = self._camera_for(image_width, image_height)
        decoded = time.monotonic()
        stages["decode"].add(decoded - started)
        result = pipeline.depth.process(rgb, camera)
        processed = time.monotonic()
        self._inference_latency.add(result.inference_s)
        stages["inference"].add(result.inference_s)
        stages["preprocess"].add(result.preprocess_s)
        stages["scale"].add(processed - decoded - result.preprocess_s - result.inference_s)
        if result.fit is not None:
            self._note_fit(result.fit)
        depth, depth_camera = result.depth, result.camera

        self._depth_pub.publish(array_to_image(depth, "32FC1", header))
        if depth_camera is not None:
            self._depth_info_pub.publish(depth_camera.to_camera_info(header))
        published = time.monotonic()
        stages["publish"].add(published - processed)
        if self._points_pub.get_subscription_count() > 0:
            if depth_camera is None:
                self._warnings.warn("cloud", f"point cloud skipped: {problem}")
            else:
                self._points_pub.publish(self._cloud(result, rgb, header, output))
                stages["cloud"].add(time.monotonic() - published)
        if self._scan_pub.get_subscription_count() > 0:
            if depth_camera is None:
                self._warnings.warn("scan", f"laser scan skipped: {problem}")
            else:
                self._scan_pub.publish(self._scan(depth, depth_camera, header, output))
        if self._colorized_pub.get_subscription_count() > 0:
            preview = colorize_depth(
                depth, output.range_min, output.range_max, output.colormap, output.colour_scale
            )
            self._colorized_pub.publish(array_to_image(preview, "bgr8", header))

        self._camera_status = "ok" if depth_camera is not None else problem
        self._frames_published += 1
        self._output_rate.tick()
        self._end_to_end_latency.add(time.monotonic() - frame.received_at)

    def _note_fit(self, fit: CameraFit) -> None:
        """Keep the fit for diagnostics; log it once whenever it changes."""
        self._last_fit = fit
        key = f"{fit.mode} {fit.width}x{fit.height}+{fit.x0}+{fit.y0} {fit.focal_ratio:.4f}"
        if key == self._logged_fit:
            return
        self._logged_fit = key
        summary = (
            f"camera fit: the model sees a {fit.width}x{fit.height} window at ({fit.x0}, "
            f"{fit.y0}) of the {fit.image_width}x{fit.image_height} image ({fit.mode}); depth "
            f"x {fit.focal_ratio:.4f} for the focal length"
            + ("" if fit.focal_known else " (no camera_info: not corrected)")
        )
        problems = fit.problems()
        if problems:
            self.get_logger().warning(f"{summary}; {'; '.join(problems)}")
        else:
            self.get_logger().info(summary)

    def _cloud(
        self, result: DepthFrame, rgb: np.ndarray, header: Any, output: OutputSettings
    ) -> PointCloud2:
        points, colours = cloud_points(result, rgb if output.cloud_rgb else None, output.decimation)
        return points_to_pointcloud2(points, header, colours)

    def _scan(
        self, depth: np.ndarray, camera: PinholeIntrinsics, header: Any, output: OutputSettings
    ) -> LaserScan:
        scan = depth_to_scan(depth, camera, output.scan_rows, output.range_min,
                             output.scan_range_max)  # fmt: skip
        rate = self._output_rate.rate_hz()
        frame_id = scan_frame_id(header.frame_id, output.scan_frame_id)
        return to_laser_scan(scan, header, frame_id, 1.0 / rate if rate > 0.0 else 0.0)

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


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopRequest:
    """SIGINT and SIGTERM set a flag that the main loop polls, instead of raising
    KeyboardInterrupt wherever Python happens to be. Under `ros2 launch`, Ctrl-C sends SIGINT
    to the whole process group and launch sends another: after the first, both signals are
    ignored, so the second can neither land in destroy_node() as a traceback nor kill the
    process while Python finalizes (which restores default handlers, not ignored ones)."""

    def __init__(self) -> None:
        self._event = threading.Event()
        for signum in STOP_SIGNALS:
            signal.signal(signum, self._on_signal)

    def _on_signal(self, signum: int, frame: Any) -> None:
        for ignored in STOP_SIGNALS:
            signal.signal(ignored, signal.SIG_IGN)
        self._event.set()

    @property
    def requested(self) -> bool:
        return self._event.is_set()


def main(args: list[str] | None = None) -> int:
    """Console entry point `monodepth_node`: 0 after a clean shutdown (SIGINT, SIGTERM), 1 when
    the parameters do not allow a start."""
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    stop = StopRequest()
    try:
        node = MonodepthNode()
    except StartupError as err:
        get_logger(NODE_NAME).error(f"cannot start: {err}")
        rclpy.try_shutdown()
        return 1
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    try:
        while not stop.requested and rclpy.ok():
            executor.spin_once(timeout_sec=SPIN_PERIOD_S)
    except ExternalShutdownException:
        pass
    finally:
        node.stop()
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
