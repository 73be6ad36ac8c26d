"""Frames from files for offline inference: images, image folders, videos and rosbag2 recordings.

Every source yields `Frame`s in recording order. A source that cannot be read raises
`SourceError` naming the file, so the caller can report it and go on with the next input.
Bags are read with the `rosbags` library (sqlite3 and MCAP storage, no ROS installation needed);
their Image/CompressedImage messages go through the same `image_codec` as the node's.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from depth_ros.camera import CameraInfoError, PinholeIntrinsics
from depth_ros.image_codec import ImageFormatError, compressed_to_rgb8, to_rgb8

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".mov", ".webm", ".m4v")
BAG_SUFFIXES = (".db3", ".mcap")


class SourceError(ValueError):
    """An input file or recording that cannot be read; the message names it."""


@dataclass(frozen=True)
class Frame:
    """One RGB frame and where it came from."""

    name: str  # unique, file-name safe: used to name the outputs
    rgb: np.ndarray  # H x W x 3 uint8, RGB
    intrinsics: PinholeIntrinsics | None = None  # from the recording, when it has camera_info


def is_bag(path: Path) -> bool:
    """A rosbag2 folder (holds metadata.yaml) or a single .db3/.mcap storage file."""
    return (path.is_dir() and (path / "metadata.yaml").is_file()) or path.suffix in BAG_SUFFIXES


def expand_inputs(paths: list[Path]) -> list[Path]:
    """Folders of images become their sorted image files; files, videos and bags stay as given."""
    expanded: list[Path] = []
    for path in paths:
        if path.is_dir() and not is_bag(path):
            images = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            if not images:
                raise SourceError(f"folder {path} holds no images ({', '.join(IMAGE_SUFFIXES)})")
            expanded.extend(images)
        else:
            expanded.append(path)
    return expanded


def read_frames(
    path: Path, image_topic: str = "", camera_info_topic: str = ""
) -> Iterator[Frame]:
    """Frames of one input: an image file, a video file or a rosbag2 (with `image_topic`)."""
    if not path.exists():
        raise SourceError(f"input {path} does not exist")
    if is_bag(path):
        yield from _bag_frames(path, image_topic, camera_info_topic)
    elif path.suffix.lower() in VIDEO_SUFFIXES:
        yield from _video_frames(path)
    elif path.suffix.lower() in IMAGE_SUFFIXES:
        yield Frame(path.stem, _read_image(path))
    else:
        raise SourceError(
            f"input {path} is neither an image ({', '.join(IMAGE_SUFFIXES)}), a video "
            f"({', '.join(VIDEO_SUFFIXES)}) nor a rosbag2 (folder with metadata.yaml, .db3, .mcap)"
        )


def _read_image(path: Path) -> np.ndarray:
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise SourceError(f"image {path} could not be decoded")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _video_frames(path: Path) -> Iterator[Frame]:
    capture = cv2.VideoCapture(str(path))
    try:
        if not capture.isOpened():
            raise SourceError(f"video {path} could not be opened")
        index = 0
        while True:
            ok, bgr = capture.read()
            if not ok:
                break
            yield Frame(f"{path.stem}_{index:06d}", cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
            index += 1
        if index == 0:
            raise SourceError(f"video {path} holds no decodable frames")
    finally:
        capture.release()


def _bag_frames(path: Path, image_topic: str, camera_info_topic: str) -> Iterator[Frame]:
    from rosbags.rosbag2 import Reader
    from rosbags.typesys import Stores, get_typestore

    if not image_topic:
        raise SourceError(f"rosbag2 {path} needs an image topic (--topic)")
    typestore = get_typestore(Stores.LATEST)
    bag_path = path.parent if path.is_file() and (path.parent / "metadata.yaml").is_file() else path
    try:
        reader = Reader(bag_path)
        reader.open()
    except Exception as err:  # rosbags raises several unrelated classes for unreadable bags
        raise SourceError(f"rosbag2 {bag_path} could not be opened: {err}") from err
    try:
        topics = {c.topic: c.msgtype for c in reader.connections}
        if image_topic not in topics:
            raise SourceError(
                f"rosbag2 {bag_path} has no topic {image_topic!r}; topics: {sorted(topics)}"
            )
        info_topic = camera_info_topic or image_topic.rsplit("/", 1)[0] + "/camera_info"
        wanted = [c for c in reader.connections if c.topic in (image_topic, info_topic)]
        intrinsics: PinholeIntrinsics | None = None
        for connection, stamp_ns, raw in reader.messages(connections=wanted):
            msg = typestore.deserialize_cdr(raw, connection.msgtype)
            if connection.topic == info_topic:
                try:
                    intrinsics = PinholeIntrinsics.from_camera_info(msg)
                except CameraInfoError:
                    intrinsics = None  # an unusable camera_info is no worse than none
                continue
            try:
                if connection.msgtype.endswith("CompressedImage"):
                    rgb = compressed_to_rgb8(msg)
                else:
                    rgb = np.ascontiguousarray(to_rgb8(msg))
            except ImageFormatError as err:
                raise SourceError(f"rosbag2 {bag_path} {image_topic} at {stamp_ns}: {err}") from err
            yield Frame(f"{bag_path.stem}_{stamp_ns}", rgb, intrinsics)
    finally:
        reader.close()
