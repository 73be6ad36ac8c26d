"""Monodepth2 samples from a robot's own rosbag2 recordings (sqlite3 or MCAP, read with rosbags).

`data.root` is one bag (a folder with metadata.yaml, or its .db3/.mcap file) or a folder of bags.
Per bag:

- images from `data.image_topic` (sensor_msgs/Image or CompressedImage), ordered by header
  stamp; temporal neighbours (`data.frame_offsets`) are the neighbouring images of that order,
  and a target whose neighbour is more than MAX_PERIODS_APART frame periods away is dropped;
- intrinsics from the first message of `data.camera_info_topic` (default: camera_info next to
  the image topic): P for rectified images, K when P is zero. Images whose camera_info has
  non-zero distortion D and whose topic does not say `rect` are distorted raw images: refused,
  or undistorted onto P (K when P is zero) with `data.undistort: true` (plumb_bob and
  rational_polynomial models);
- frames resized to data.width x data.height (area averaging), K scaled with them; decoded once,
  kept in memory or memory-mapped from `data.frame_cache`;
- odometry from `data.odometry_topic` (nav_msgs/Odometry, header stamps, pose of child_frame_id
  in the odometry frame), the camera's mounting from /tf_static (the chain from the odometry's
  child frame to camera_info's frame_id); with `data.odometry` samples carry odom_T / odom_valid
  (training/datasets/odometry.py), with gaps where odometry samples are more than
  data.odometry_max_gap apart;
- ground truth from `data.depth_topic` (32FC1 metres or 16UC1 millimetres, REP 118), matched to
  images by stamp, for evaluation only.

Static frames are skipped: a target counts as moving only if it moved, towards every temporal
neighbour, at least `data.min_translation` metres or `data.min_rotation` degrees according to the
odometry, or, where no odometry covers the pair, if the mean absolute grey-level difference
(0-255, at the model size) reaches `data.min_image_change`. A parked robot teaches nothing.

Splits are blocks of time, never interleaved: `val` is the last `data.val_fraction` of each bag's
moving targets, `train` the rest before it, with a gap of the largest frame offset between them so
no validation frame is a training frame's neighbour; `all` is every moving target (evaluation).
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from rosbags.rosbag2 import Reader
from rosbags.typesys import Stores, get_typestore

from depth_ros.camera import CameraInfoError, PinholeIntrinsics, camera_info_topic_for
from depth_ros.image_codec import ImageFormatError, image_to_array, message_to_rgb8
from training.config import DataConfig
from training.datasets import TIME_SPLITS, DatasetError, NormalizedIntrinsics, SplitEntry
from training.datasets.odometry import OdometryTrack, rotation_degrees
from training.datasets.sequence import SequenceDataset

logger = logging.getLogger(__name__)

IMAGE_TYPES = ("sensor_msgs/msg/Image", "sensor_msgs/msg/CompressedImage")
CAMERA_INFO_TYPE = "sensor_msgs/msg/CameraInfo"
ODOMETRY_TYPE = "nav_msgs/msg/Odometry"
TF_STATIC_TOPIC = "/tf_static"
MIN_MOVING_FRAMES = 10  # fewer moving targets in a recording cannot train anything
MAX_PERIODS_APART = 1.5  # a neighbour this many median frame periods per offset away is lost
STAMP_MATCH = 1e-3  # seconds: depth belongs to the image with the same stamp
UNDISTORTABLE = ("plumb_bob", "rational_polynomial")


@dataclass
class Recording:
    """One bag, decoded: frames at the model size, their stamps and what goes with them."""

    name: str  # the split entries' folder
    path: Path
    stamps: np.ndarray  # F seconds, increasing (header stamps)
    frames: np.ndarray  # F x H x W x 3 uint8 RGB at the model size (maybe memory-mapped)
    depth: dict[int, np.ndarray]  # frame -> H x W float32 metres, 0 unknown, at the model size
    intrinsics: NormalizedIntrinsics
    track: OdometryTrack | None  # base poses in the odometry frame, or None without odometry
    camera_to_base: np.ndarray | None  # 4 x 4 camera optical frame in the odometry's base frame


class RosbagDataset(SequenceDataset):
    """Monodepth2 samples (see SequenceDataset) from rosbag2 recordings; split: TIME_SPLITS."""

    has_odometry = True

    def __init__(self, cfg: DataConfig, split: str | Path, train: bool):
        split = str(split)
        if split not in TIME_SPLITS:
            raise DatasetError(f"rosbag2 split {split!r} is invalid; expected one of "
                               f"{TIME_SPLITS} (recordings are split by time, not by files)")
        self.recordings = [read_recording(path, cfg, f"{i:03d}_{path.name}")
                           for i, path in enumerate(find_bags(Path(cfg.root)))]
        if cfg.odometry:
            for recording in self.recordings:
                if recording.track is None:
                    raise DatasetError(
                        f"data.odometry is true but rosbag2 {recording.path} has no odometry "
                        f"on {cfg.odometry_topic!r}; set data.odometry_topic or data.odometry")
        self._by_name = {recording.name: recording for recording in self.recordings}
        entries = []
        for recording in self.recordings:
            entries += time_split(recording, moving_targets(recording, cfg), cfg, split)
        if not entries:
            raise DatasetError(f"rosbag2 {cfg.root}: the {split!r} block has no frames "
                               f"(data.val_fraction={cfg.val_fraction})")
        super().__init__(cfg, entries, train, source=f"rosbag2 {cfg.root} ({split})")

    # SequenceDataset hooks ------------------------------------------------------------------

    def read_frame(self, entry: SplitEntry, frame_index: int) -> np.ndarray:
        return np.asarray(self._by_name[entry.folder].frames[frame_index])

    def intrinsics(self, entry: SplitEntry) -> NormalizedIntrinsics:
        return self._by_name[entry.folder].intrinsics

    def ground_truth_depth(self, index: int) -> np.ndarray | None:
        """H x W float32 metres (0 unknown) of sample `index`'s target from the depth topic,
        at the dataset's size; None where the recording has none for it."""
        entry = self.entries[index]
        return self._by_name[entry.folder].depth.get(entry.frame_index)

    def odometry_track(self, entry: SplitEntry) -> OdometryTrack:
        track = self._by_name[entry.folder].track
        assert track is not None  # checked at construction when data.odometry is set
        return track

    def frame_stamp(self, entry: SplitEntry, frame_index: int) -> float:
        return float(self._by_name[entry.folder].stamps[frame_index])

    def camera_to_base(self, entry: SplitEntry) -> np.ndarray:
        mounting = self._by_name[entry.folder].camera_to_base
        assert mounting is not None
        return mounting

    def _check_files(self) -> None:
        """Nothing to check: every target and neighbour was decoded at construction."""

    def _depth_available(self) -> bool:
        return all(self.ground_truth_depth(i) is not None for i in range(len(self.entries)))


# Bags --------------------------------------------------------------------------------------

def find_bags(root: Path) -> list[Path]:
    """`root` itself when it is a bag (holds metadata.yaml), the bag of a storage file inside
    one (.db3, .mcap), else the bags directly inside `root`."""
    if (root / "metadata.yaml").is_file():
        return [root]
    if root.is_file() and (root.parent / "metadata.yaml").is_file():
        return [root.parent]
    bags = sorted(path for path in root.iterdir() if (path / "metadata.yaml").is_file()) \
        if root.is_dir() else []
    if not bags:
        raise DatasetError(f"data.root={str(root)!r} is neither a rosbag2 folder (with "
                           "metadata.yaml) nor a folder holding any")
    return bags


def camera_info_topic(cfg: DataConfig) -> str:
    """The configured camera_info topic, or the one next to the image topic."""
    return cfg.camera_info_topic or camera_info_topic_for(cfg.image_topic)


def read_recording(path: Path, cfg: DataConfig, name: str) -> Recording:
    """Decode one bag (see the module docstring); DatasetError names what is wrong with it."""
    typestore = get_typestore(Stores.LATEST)
    try:
        reader = Reader(path)
        reader.open()
    except Exception as error:  # rosbags raises several unrelated classes for unreadable bags
        raise DatasetError(f"rosbag2 {path} could not be opened: {error}") from error
    try:
        topics = {c.topic: c.msgtype for c in reader.connections}
        info_topic = camera_info_topic(cfg)
        _require_topic(path, topics, cfg.image_topic, IMAGE_TYPES, "data.image_topic")
        _require_topic(path, topics, info_topic, (CAMERA_INFO_TYPE,), "data.camera_info_topic")
        has_odometry = topics.get(cfg.odometry_topic) == ODOMETRY_TYPE
        has_depth = bool(cfg.depth_topic)
        if has_depth:
            _require_topic(path, topics, cfg.depth_topic, ("sensor_msgs/msg/Image",),
                           "data.depth_topic")
        wanted = {cfg.image_topic, TF_STATIC_TOPIC}
        if has_odometry:
            wanted.add(cfg.odometry_topic)
        if has_depth:
            wanted.add(cfg.depth_topic)
        decoder = _Decoder(path, cfg)
        info_connections = [c for c in reader.connections if c.topic == info_topic]
        for connection, _, raw in reader.messages(connections=info_connections):
            decoder.camera_info(typestore.deserialize_cdr(raw, connection.msgtype), info_topic)
            break  # the first camera_info describes the recording
        if decoder.info is None:
            raise DatasetError(f"rosbag2 {path} has no message on camera_info topic "
                               f"{info_topic!r}")
        cache = _cache_path(path, cfg)
        cached = cache is not None and cache.is_file()
        odometry: dict[float, np.ndarray] = {}
        base_frame = ""
        transforms: dict[str, tuple[str, np.ndarray]] = {}
        images: list[tuple[float, np.ndarray | None]] = []
        depths: list[tuple[float, np.ndarray]] = []
        connections = [c for c in reader.connections if c.topic in wanted]
        for connection, _, raw in reader.messages(connections=connections):
            topic = connection.topic
            message: Any = typestore.deserialize_cdr(raw, connection.msgtype)
            if topic == cfg.image_topic:
                decoded = None if cached else decoder.image(message, topic)
                images.append((_stamp(message.header), decoded))
            elif topic == cfg.depth_topic:
                depths.append((_stamp(message.header), decoder.depth(message, topic)))
            elif topic == cfg.odometry_topic:
                odometry[_stamp(message.header)] = _pose(message.pose.pose)
                base_frame = message.child_frame_id
            elif topic == TF_STATIC_TOPIC:
                for transform in message.transforms:
                    transforms[transform.child_frame_id] = (transform.header.frame_id,
                                                            _transform(transform.transform))
    finally:
        reader.close()
    if not images:
        raise DatasetError(f"rosbag2 {path} has no message on image topic {cfg.image_topic!r}")

    order = np.argsort([stamp for stamp, _ in images], kind="stable")
    stamps = np.array([images[i][0] for i in order])
    if cached:
        assert cache is not None
        frames = np.load(cache, mmap_mode="r")
    else:
        frames = np.stack([images[i][1] for i in order])
        if cache is not None:
            frames = _write_cache(cache, frames)
    depth = _match_depth(stamps, depths)
    track = camera_to_base = None
    if has_odometry and odometry:
        times = sorted(odometry)
        track = OdometryTrack(np.array(times), np.stack([odometry[t] for t in times]))
        if cfg.odometry:  # the mounting matters only to motions handed to training
            camera_to_base = _chain(path, transforms, base_frame, decoder.camera_frame)
    return Recording(name, path, stamps, frames, depth, decoder.normalized(), track,
                     camera_to_base)


def recording_intrinsics(data: DataConfig) -> NormalizedIntrinsics:
    """The camera (normalised intrinsics) of the first recording under data.root: what a model
    trained on it expects. Reads one camera_info message, no images."""
    path, topic = find_bags(Path(data.root))[0], camera_info_topic(data)
    typestore = get_typestore(Stores.LATEST)
    with Reader(path) as reader:
        topics = {c.topic: c.msgtype for c in reader.connections}
        _require_topic(path, topics, topic, (CAMERA_INFO_TYPE,), "data.camera_info_topic")
        wanted = [c for c in reader.connections if c.topic == topic]
        for connection, _, raw in reader.messages(connections=wanted):
            message = typestore.deserialize_cdr(raw, connection.msgtype)
            try:
                return NormalizedIntrinsics(*PinholeIntrinsics.from_camera_info(message)
                                            .normalized())
            except CameraInfoError as error:
                raise DatasetError(f"rosbag2 {path} {topic}: {error}") from None
    raise DatasetError(f"rosbag2 {path} has no message on camera_info topic {topic!r}")


def _require_topic(path: Path, topics: dict[str, str], topic: str, types: tuple[str, ...],
                   key: str) -> None:
    if topics.get(topic) in types:
        return
    present = sorted(t for t, kind in topics.items() if kind in types)
    what = " or ".join(kind.rsplit("/", 1)[1] for kind in types)
    found = f" (it is {topics[topic]})" if topic in topics else ""
    raise DatasetError(f"rosbag2 {path} has no {what} topic {topic!r}{found}; {key} should be "
                       f"one of the {what} topics present: {present}")


class _Decoder:
    """Turns one bag's messages into model-size arrays, checking them against camera_info."""

    def __init__(self, path: Path, cfg: DataConfig) -> None:
        self.path, self.cfg = path, cfg
        self.info: PinholeIntrinsics | None = None
        self.camera_frame = ""
        self.maps: tuple[np.ndarray, np.ndarray] | None = None  # undistortion, at full size

    def camera_info(self, message: Any, topic: str) -> None:
        if self.info is not None:
            return
        try:
            self.info = PinholeIntrinsics.from_camera_info(message)
        except CameraInfoError as error:
            raise DatasetError(f"rosbag2 {self.path} {topic}: {error}") from None
        self.camera_frame = message.header.frame_id
        distortion = np.asarray(message.d, np.float64)
        if distortion.size and np.any(distortion != 0.0) and "rect" not in self.cfg.image_topic:
            if not self.cfg.undistort:
                raise DatasetError(
                    f"rosbag2 {self.path}: {self.cfg.image_topic} holds distorted raw images "
                    f"({message.distortion_model} D={distortion.round(4).tolist()} on {topic}); "
                    "record rectified images (an image_rect topic) or set data.undistort: true")
            self.maps = self._undistortion(message, distortion, topic)

    def _undistortion(self, message: Any, distortion: np.ndarray,
                      topic: str) -> tuple[np.ndarray, np.ndarray]:
        if message.distortion_model not in UNDISTORTABLE:
            raise DatasetError(f"rosbag2 {self.path} {topic}: distortion model "
                               f"{message.distortion_model!r} cannot be undistorted; expected "
                               f"one of {UNDISTORTABLE}")
        assert self.info is not None
        k = np.asarray(message.k, np.float64).reshape(3, 3)
        target = np.array([[self.info.fx, 0.0, self.info.cx], [0.0, self.info.fy, self.info.cy],
                           [0.0, 0.0, 1.0]])
        return cv2.initUndistortRectifyMap(k, distortion, np.eye(3), target,
                                           (self.info.width, self.info.height), cv2.CV_32FC1)

    def image(self, message: Any, topic: str) -> np.ndarray:
        stamp = _stamp(message.header)
        try:
            rgb = message_to_rgb8(message)
        except ImageFormatError as error:
            raise DatasetError(f"rosbag2 {self.path} {topic} at {stamp:.3f} s: {error}") from None
        self._check_size(rgb.shape[1], rgb.shape[0], topic, stamp)
        if self.maps is not None:
            rgb = cv2.remap(rgb, *self.maps, cv2.INTER_LINEAR)
        size = (self.cfg.width, self.cfg.height)
        if rgb.shape[1::-1] != size:
            rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
        return np.ascontiguousarray(rgb)

    def depth(self, message: Any, topic: str) -> np.ndarray:
        stamp = _stamp(message.header)
        try:
            values = image_to_array(message)
        except ImageFormatError as error:
            raise DatasetError(f"rosbag2 {self.path} {topic} at {stamp:.3f} s: {error}") from None
        metres: np.ndarray
        if message.encoding == "16UC1":
            metres = values.astype(np.float32) / 1000.0
        elif message.encoding == "32FC1":
            metres = np.nan_to_num(values.astype(np.float32), nan=0.0, posinf=0.0, neginf=0.0)
        else:
            raise DatasetError(f"rosbag2 {self.path} {topic}: depth encoding "
                               f"{message.encoding!r}; expected 32FC1 (metres) or 16UC1 (mm)")
        size = (self.cfg.width, self.cfg.height)
        if metres.shape[1::-1] != size:  # nearest: never blend depths across object edges
            metres = cv2.resize(metres, size, interpolation=cv2.INTER_NEAREST_EXACT)
        return metres

    def _check_size(self, width: int, height: int, topic: str, stamp: float) -> None:
        assert self.info is not None  # read before any image
        if (width, height) != (self.info.width, self.info.height):
            raise DatasetError(
                f"rosbag2 {self.path}: image {width}x{height} on {topic} at {stamp:.3f} s, but "
                f"camera_info says {self.info.width}x{self.info.height}; expected the same size")

    def normalized(self) -> NormalizedIntrinsics:
        assert self.info is not None
        return NormalizedIntrinsics(*self.info.normalized())


def _stamp(header: Any) -> float:
    return header.stamp.sec + header.stamp.nanosec * 1e-9


def _rotation(q: Any) -> np.ndarray:
    """3 x 3 rotation of a geometry_msgs Quaternion (normalised first)."""
    x, y, z, w = (float(v) for v in (q.x, q.y, q.z, q.w))
    norm = math.sqrt(x * x + y * y + z * z + w * w) or 1.0
    x, y, z, w = x / norm, y / norm, z / norm, w / norm
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ])


def _pose(pose: Any) -> np.ndarray:
    """4 x 4 of a geometry_msgs Pose."""
    matrix = np.eye(4)
    matrix[:3, :3] = _rotation(pose.orientation)
    matrix[:3, 3] = [pose.position.x, pose.position.y, pose.position.z]
    return matrix


def _transform(transform: Any) -> np.ndarray:
    """4 x 4 of a geometry_msgs Transform: the child frame's pose in its parent."""
    matrix = np.eye(4)
    matrix[:3, :3] = _rotation(transform.rotation)
    matrix[:3, 3] = [transform.translation.x, transform.translation.y, transform.translation.z]
    return matrix


def _chain(path: Path, transforms: dict[str, tuple[str, np.ndarray]], base: str,
           camera: str) -> np.ndarray:
    """4 x 4 pose of frame `camera` in frame `base` through the /tf_static tree."""
    def in_root(frame: str) -> tuple[str, np.ndarray]:
        pose, seen = np.eye(4), {frame}
        while frame in transforms:
            parent, local = transforms[frame]
            pose, frame = local @ pose, parent
            if frame in seen:
                raise DatasetError(f"rosbag2 {path}: /tf_static has a loop through {frame!r}")
            seen.add(frame)
        return frame, pose

    base_root, base_pose = in_root(base)
    camera_root, camera_pose = in_root(camera)
    if base_root != camera_root:
        frames = sorted(set(transforms) | {parent for parent, _ in transforms.values()})
        raise DatasetError(
            f"rosbag2 {path}: /tf_static links no path from the odometry's frame {base!r} to "
            f"the camera's {camera!r}; frames present: {frames}")
    return np.linalg.inv(base_pose) @ camera_pose


def _match_depth(stamps: np.ndarray, depths: list[tuple[float, np.ndarray]]
                 ) -> dict[int, np.ndarray]:
    matched = {}
    for stamp, depth in depths:
        frame = int(np.argmin(np.abs(stamps - stamp)))
        if abs(stamps[frame] - stamp) <= STAMP_MATCH:
            matched[frame] = depth
    return matched


def _cache_path(path: Path, cfg: DataConfig) -> Path | None:
    """The frame cache of a bag for this topic, size and undistortion (None: no cache)."""
    if not cfg.frame_cache:
        return None
    metadata = path / "metadata.yaml"
    key = f"{path.resolve()}|{metadata.stat().st_mtime_ns}|{cfg.image_topic}|" \
          f"{cfg.width}x{cfg.height}|{cfg.undistort}"
    digest = hashlib.sha1(key.encode()).hexdigest()[:12]
    return Path(cfg.frame_cache) / f"{path.name}_{cfg.width}x{cfg.height}_{digest}.npy"


def _write_cache(cache: Path, frames: np.ndarray) -> np.ndarray:
    """Save frames to `cache` (complete or not at all: written aside, then renamed); map it."""
    cache.parent.mkdir(parents=True, exist_ok=True)
    temporary = cache.with_name(cache.stem + ".partial.npy")
    np.save(temporary, frames)
    temporary.replace(cache)
    return np.load(cache, mmap_mode="r")


# Which frames train --------------------------------------------------------------------------

def moving_targets(recording: Recording, cfg: DataConfig) -> list[int]:
    """Frames whose neighbours at every temporal offset exist, are near in time and differ by
    motion (see the module docstring); DatasetError when fewer than MIN_MOVING_FRAMES remain."""
    offsets = [offset for offset in cfg.frame_offsets if offset != 0]
    count = len(recording.stamps)
    period = float(np.median(np.diff(recording.stamps))) if count > 1 else 0.0
    grey = None
    poses = valid = None
    if recording.track is not None:
        poses, valid = recording.track.at(recording.stamps, cfg.odometry_max_gap)
    targets, static = [], 0
    for frame in range(count):
        neighbours = [frame + offset for offset in offsets]
        if any(n < 0 or n >= count for n in neighbours):
            continue
        if any(abs(recording.stamps[n] - recording.stamps[frame])
               > MAX_PERIODS_APART * abs(n - frame) * period for n in neighbours):
            continue
        moved = []
        for n in neighbours:
            if valid is not None and poses is not None and valid[frame] and valid[n]:
                step = np.linalg.inv(poses[n]) @ poses[frame]
                turn = rotation_degrees(step[:3, :3])
                moved.append(np.linalg.norm(step[:3, 3]) >= cfg.min_translation
                             or turn >= cfg.min_rotation)
            else:
                if grey is None:
                    grey = _grey(recording.frames)
                change = float(np.abs(grey[frame] - grey[n]).mean())
                moved.append(change >= cfg.min_image_change)
        if all(moved):
            targets.append(frame)
        else:
            static += 1
    if offsets and len(targets) < MIN_MOVING_FRAMES:
        raise DatasetError(
            f"rosbag2 {recording.path}: {len(targets)} moving frames of {count} ({static} "
            f"static); expected at least {MIN_MOVING_FRAMES}. Thresholds: data.min_translation="
            f"{cfg.min_translation} m, data.min_rotation={cfg.min_rotation} deg, "
            f"data.min_image_change={cfg.min_image_change} (without odometry)")
    if static:
        logger.info("rosbag2 %s: %d static frames skipped, %d moving", recording.path, static,
                    len(targets))
    return targets


def _grey(frames: np.ndarray) -> np.ndarray:
    """F x H x W float32 grey levels (0-255) of F x H x W x 3 RGB frames."""
    return np.asarray(frames, np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)


def time_split(recording: Recording, targets: list[int], cfg: DataConfig,
               split: str) -> list[SplitEntry]:
    """The `split` block of a recording's moving targets as split entries (side l)."""
    if split != "all" and cfg.val_fraction > 0.0:
        first_val = len(targets) - max(1, round(cfg.val_fraction * len(targets)))
        margin = max((abs(offset) for offset in cfg.frame_offsets), default=0)
        if split == "val":
            chosen = targets[first_val:]
        else:
            boundary = targets[first_val] - margin if first_val < len(targets) else math.inf
            chosen = [frame for frame in targets[:first_val] if frame + margin < boundary]
    elif split == "val":
        chosen = []
    else:
        chosen = targets
    return [SplitEntry(recording.name, frame, "l") for frame in chosen]


def evaluation_data(data: DataConfig, bag: str, depth_topic: str) -> DataConfig:
    """`data` pointed at every frame of recording(s) `bag` with ground truth on `depth_topic`."""
    return dataclasses.replace(data, dataset="rosbag2", root=bag, depth_topic=depth_topic,
                               odometry=False, use_stereo=False, frame_cache="")
