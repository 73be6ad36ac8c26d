"""A ground robot's recording as a rosbag2 (sqlite3 or MCAP), written with `rosbags`.

    python -m training generate --kind robot --out data/robot
    python -m training generate --kind robot --out data/robot --width 640 --height 480 \\
        --compressed --storage mcap

A small robot drives a figure of eight through a furnished room (stopping once on the way), its
camera 0.3 m above the floor, 0.1 m ahead of the base, pitched 5 degrees down, ~70 degrees
horizontal field of view. Per sequence one bag `robot_%04d/` with:

    /camera/image_raw            sensor_msgs/Image rgb8 (or /camera/image_raw/compressed, jpeg)
    /camera/camera_info          sensor_msgs/CameraInfo, K and P = [K | 0], no distortion
    /odom                        nav_msgs/Odometry odom -> base_link, noisy, with gaps
    /tf_static                   base_link -> camera_link -> camera_optical_frame
    /ground_truth/depth          sensor_msgs/Image 32FC1 metres (REP 118), evaluation only
    /ground_truth/odom           nav_msgs/Odometry, the true base motion

The camera runs at CAMERA_RATE, odometry at ODOMETRY_RATE; both start at ROBOT_EPOCH_NS. Both
odometry topics start at the identity (the base at the first sample).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from tqdm import tqdm

from training.synthetic.odometry import ROBOT_ODOMETRY_NOISE, OdometryNoise, noisy_odometry
from training.synthetic.rendering import render_view
from training.synthetic.scene import indoor_scene
from training.synthetic.sequence_files import GenerationSummary, check_arguments
from training.synthetic.trajectories import WORLD_FROM_FLOOR, robot_path

CAMERA_RATE = 10.0  # Hz
ODOMETRY_RATE = 20.0  # Hz
ROBOT_EPOCH_NS = 1_767_225_600 * 10**9  # 2026-01-01 00:00:00 UTC, first message of every bag
HORIZONTAL_FOV = math.radians(70.0)
CAMERA_HEIGHT = 0.3  # metres above the floor
CAMERA_FORWARD = 0.1  # metres ahead of base_link
CAMERA_PITCH = math.radians(5.0)  # downwards
ROBOT_SEQUENCE = "robot_{:04d}"
STORAGES = ("sqlite3", "mcap")
JPEG_QUALITY = 90


@dataclass(frozen=True)
class Topics:
    """Topic and frame names of the recording."""

    image: str = "/camera/image_raw"
    compressed: str = "/camera/image_raw/compressed"
    camera_info: str = "/camera/camera_info"
    odometry: str = "/odom"
    tf_static: str = "/tf_static"
    depth: str = "/ground_truth/depth"
    true_odometry: str = "/ground_truth/odom"
    odometry_frame: str = "odom"
    base_frame: str = "base_link"
    camera_link: str = "camera_link"
    optical_frame: str = "camera_optical_frame"


TOPICS = Topics()
# base_link (x forward, y left, z up) -> camera optical (x right, y down, z forward) rotation.
BASE_TO_OPTICAL = np.array([[0.0, -1.0, 0.0], [0.0, 0.0, -1.0], [1.0, 0.0, 0.0]])


def camera_link_pose() -> np.ndarray:
    """4 x 4 pose of camera_link (REP 103 axes, pitched down) in base_link."""
    pose = np.eye(4)
    c, s = math.cos(CAMERA_PITCH), math.sin(CAMERA_PITCH)
    pose[:3, :3] = [[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]]  # + about y (left): nose down
    pose[:3, 3] = [CAMERA_FORWARD, 0.0, CAMERA_HEIGHT]
    return pose


def optical_pose() -> np.ndarray:
    """4 x 4 pose of the optical frame in camera_link: axes only, no offset."""
    pose = np.eye(4)
    pose[:3, :3] = BASE_TO_OPTICAL.T
    return pose


def camera_matrix(width: int, height: int) -> np.ndarray:
    """3 x 3 pixel intrinsics: HORIZONTAL_FOV across the width, square pixels, centred."""
    focal = width / 2.0 / math.tan(HORIZONTAL_FOV / 2.0)
    return np.array([[focal, 0.0, width / 2.0], [0.0, focal, height / 2.0], [0.0, 0.0, 1.0]])


def generate_robot(out_dir: str | Path, sequences: int = 1, frames: int = 300,
                   width: int = 320, height: int = 240, seed: int = 0, progress: bool = False,
                   compressed: bool = False, storage: str = "sqlite3",
                   odometry_noise: OdometryNoise | None = None) -> GenerationSummary:
    """Write `sequences` robot bags under `out_dir` (see the module docstring)."""
    from rosbags.rosbag2 import StoragePlugin, Writer
    from rosbags.typesys import Stores, get_typestore

    start, out = time.perf_counter(), Path(out_dir)
    check_arguments(sequences, frames, width, height)
    if storage not in STORAGES:
        raise ValueError(f"storage={storage!r} is invalid; expected one of {STORAGES}")
    noise = ROBOT_ODOMETRY_NOISE if odometry_noise is None else odometry_noise
    plugin = StoragePlugin.MCAP if storage == "mcap" else StoragePlugin.SQLITE3
    messages = _Messages(get_typestore(Stores.ROS2_KILTED))
    k = camera_matrix(width, height)
    out.mkdir(parents=True, exist_ok=True)
    with tqdm(total=sequences * frames, desc="robot", unit="frame", disable=not progress) as bar:
        for sequence in range(sequences):
            rng = np.random.default_rng([seed, 3, sequence])
            bag = out / ROBOT_SEQUENCE.format(sequence)
            if bag.exists():
                raise ValueError(f"{bag} exists already; choose an empty --out")
            with Writer(bag, version=9, storage_plugin=plugin) as writer:
                _write_recording(writer, messages, rng, noise, k, frames, width, height,
                                 compressed, bar.update)
    return GenerationSummary("robot", out, sequences, frames, width, height, {},
                             time.perf_counter() - start)


def _write_recording(writer: Any, messages: _Messages, rng: np.random.Generator,
                     noise: OdometryNoise, k: np.ndarray, frames: int, width: int, height: int,
                     compressed: bool, advance: Any) -> None:
    scene, _ = indoor_scene(rng, camera_height=CAMERA_HEIGHT)
    room_lo, room_hi = scene.lo[0], scene.hi[0]
    clear = 0.5 * (room_hi - room_lo) - 1.0  # furniture reaches 0.62 m from the walls
    duration = (frames - 1) / CAMERA_RATE
    path = robot_path(rng, float(clear[0]), float(clear[2]) / 2.0, duration)
    world_from_floor = np.eye(4)
    world_from_floor[:3, :3] = WORLD_FROM_FLOOR
    world_from_floor[1, 3] = scene.floor_y
    camera_in_base = camera_link_pose() @ optical_pose()

    samples = round(duration * ODOMETRY_RATE) + 1
    truth = [path.base_pose(i / ODOMETRY_RATE) for i in range(samples)]
    origin = np.linalg.inv(truth[0])
    truth = [origin @ pose for pose in truth]
    start = ROBOT_EPOCH_NS / 1e9
    recorded = noisy_odometry(truth, start, ODOMETRY_RATE, rng, noise)
    recorded_at = {round(stamp * ODOMETRY_RATE): pose
                   for stamp, pose in zip(recorded.stamps - start, recorded.poses, strict=True)}

    topics = TOPICS
    image_topic = topics.compressed if compressed else topics.image
    image_type = "sensor_msgs/msg/CompressedImage" if compressed else "sensor_msgs/msg/Image"
    connections = {
        name: writer.add_connection(topic, msgtype, typestore=messages.store)
        for name, topic, msgtype in (
            ("tf", topics.tf_static, "tf2_msgs/msg/TFMessage"),
            ("info", topics.camera_info, "sensor_msgs/msg/CameraInfo"),
            ("image", image_topic, image_type),
            ("depth", topics.depth, "sensor_msgs/msg/Image"),
            ("odom", topics.odometry, "nav_msgs/msg/Odometry"),
            ("truth", topics.true_odometry, "nav_msgs/msg/Odometry"),
        )
    }

    def write(name: str, stamp_ns: int, message: Any) -> None:
        writer.write(connections[name], stamp_ns,
                     messages.store.serialize_cdr(message, message.__msgtype__))

    write("tf", ROBOT_EPOCH_NS, messages.tf_static(ROBOT_EPOCH_NS))
    next_sample = 0
    for frame in range(frames):
        stamp_ns = ROBOT_EPOCH_NS + round(frame * 1e9 / CAMERA_RATE)
        while next_sample < samples and _sample_ns(next_sample) <= stamp_ns:
            sample_ns = _sample_ns(next_sample)
            previous = truth[max(next_sample - 1, 0)]
            write("truth", sample_ns, messages.odometry(sample_ns, truth[next_sample], previous))
            if next_sample in recorded_at:
                before = recorded_at.get(next_sample - 1, recorded_at[next_sample])
                write("odom", sample_ns,
                      messages.odometry(sample_ns, recorded_at[next_sample], before))
            next_sample += 1
        base = truth[round(frame * ODOMETRY_RATE / CAMERA_RATE)]
        camera_to_world = world_from_floor @ np.linalg.inv(origin) @ base @ camera_in_base
        rgb, depth = render_view(scene, camera_to_world, k, width, height)
        write("info", stamp_ns, messages.camera_info(stamp_ns, k, width, height))
        write("image", stamp_ns, messages.compressed(stamp_ns, rgb) if compressed
              else messages.image(stamp_ns, rgb, "rgb8"))
        write("depth", stamp_ns, messages.image(stamp_ns, np.where(depth > 0, depth, np.nan)
                                                .astype(np.float32), "32FC1"))
        advance()


def _sample_ns(sample: int) -> int:
    return ROBOT_EPOCH_NS + round(sample * 1e9 / ODOMETRY_RATE)


class _Messages:
    """The recording's messages as rosbags message objects of `store`."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.types = store.types

    def header(self, stamp_ns: int, frame_id: str) -> Any:
        stamp = self.types["builtin_interfaces/msg/Time"](sec=stamp_ns // 10**9,
                                                          nanosec=stamp_ns % 10**9)
        return self.types["std_msgs/msg/Header"](stamp=stamp, frame_id=frame_id)

    def image(self, stamp_ns: int, pixels: np.ndarray, encoding: str) -> Any:
        height, width = pixels.shape[:2]
        data = np.ascontiguousarray(pixels).view(np.uint8).reshape(-1)
        return self.types["sensor_msgs/msg/Image"](
            header=self.header(stamp_ns, TOPICS.optical_frame), height=height, width=width,
            encoding=encoding, is_bigendian=0, step=data.size // height, data=data)

    def compressed(self, stamp_ns: int, rgb: np.ndarray) -> Any:
        ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR),
                                [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
        if not ok:
            raise OSError("OpenCV could not encode a JPEG")
        return self.types["sensor_msgs/msg/CompressedImage"](
            header=self.header(stamp_ns, TOPICS.optical_frame),
            format="rgb8; jpeg compressed bgr8", data=jpeg.reshape(-1))

    def camera_info(self, stamp_ns: int, k: np.ndarray, width: int, height: int) -> Any:
        roi = self.types["sensor_msgs/msg/RegionOfInterest"](
            x_offset=0, y_offset=0, height=0, width=0, do_rectify=False)
        projection = np.hstack([k, np.zeros((3, 1))])
        return self.types["sensor_msgs/msg/CameraInfo"](
            header=self.header(stamp_ns, TOPICS.optical_frame), height=height, width=width,
            distortion_model="plumb_bob", d=np.zeros(5), k=k.reshape(-1), r=np.eye(3).reshape(-1),
            p=projection.reshape(-1), binning_x=0, binning_y=0, roi=roi)

    def transform(self, stamp_ns: int, parent: str, child: str, pose: np.ndarray) -> Any:
        types = self.types
        qx, qy, qz, qw = quaternion(pose[:3, :3])
        return types["geometry_msgs/msg/TransformStamped"](
            header=self.header(stamp_ns, parent), child_frame_id=child,
            transform=types["geometry_msgs/msg/Transform"](
                translation=types["geometry_msgs/msg/Vector3"](*pose[:3, 3]),
                rotation=types["geometry_msgs/msg/Quaternion"](x=qx, y=qy, z=qz, w=qw)))

    def tf_static(self, stamp_ns: int) -> Any:
        return self.types["tf2_msgs/msg/TFMessage"](transforms=[
            self.transform(stamp_ns, TOPICS.base_frame, TOPICS.camera_link, camera_link_pose()),
            self.transform(stamp_ns, TOPICS.camera_link, TOPICS.optical_frame, optical_pose()),
        ])

    def odometry(self, stamp_ns: int, pose: np.ndarray, previous: np.ndarray) -> Any:
        """Odometry with the twist (base frame) of the step from `previous`, one sample back."""
        types = self.types
        step = np.linalg.inv(previous) @ pose
        turn = math.atan2(step[1, 0], step[0, 0])
        qx, qy, qz, qw = quaternion(pose[:3, :3])
        vector = types["geometry_msgs/msg/Vector3"]
        return types["nav_msgs/msg/Odometry"](
            header=self.header(stamp_ns, TOPICS.odometry_frame),
            child_frame_id=TOPICS.base_frame,
            pose=types["geometry_msgs/msg/PoseWithCovariance"](
                pose=types["geometry_msgs/msg/Pose"](
                    position=types["geometry_msgs/msg/Point"](*pose[:3, 3]),
                    orientation=types["geometry_msgs/msg/Quaternion"](x=qx, y=qy, z=qz, w=qw)),
                covariance=np.zeros(36)),
            twist=types["geometry_msgs/msg/TwistWithCovariance"](
                twist=types["geometry_msgs/msg/Twist"](
                    linear=vector(*(step[:3, 3] * ODOMETRY_RATE)),
                    angular=vector(0.0, 0.0, turn * ODOMETRY_RATE)),
                covariance=np.zeros(36)))


def quaternion(rotation: np.ndarray) -> tuple[float, float, float, float]:
    """(x, y, z, w) unit quaternion of a 3 x 3 rotation matrix."""
    angle_axis = cv2.Rodrigues(np.asarray(rotation, np.float64))[0].reshape(3)
    angle = float(np.linalg.norm(angle_axis))
    if angle < 1e-12:
        return 0.0, 0.0, 0.0, 1.0
    axis = angle_axis / angle * math.sin(angle / 2.0)
    return float(axis[0]), float(axis[1]), float(axis[2]), math.cos(angle / 2.0)
