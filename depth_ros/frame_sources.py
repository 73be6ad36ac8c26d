"""Frames from files for offline inference: images, image folders, videos and rosbag2 recordings.

Every source yields `Frame`s in recording order. A source that cannot be read raises
`SourceError` naming the file, so the caller can report it and go on with the next input.
Frames are named after their input; `input_names` keeps those names apart even where two inputs
share a file name, so that no output overwrites another.
Bags are read with the `rosbags` library (sqlite3 and MCAP storage, no ROS installation needed);
their Image/CompressedImage messages go through the same `image_codec` as the node's.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from depth_ros.camera import CameraInfoError, PinholeIntrinsics, camera_info_topic_for
from depth_ros.image_codec import ImageFormatError, message_to_rgb8

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".mov", ".webm", ".m4v")
BAG_SUFFIXES = (".db3", ".mcap")


class SourceError(ValueError):
    """An input file or recording that cannot be read; the message names it."""


@dataclass(frozen=True)
class Frame:
    """One RGB frame and where it came from."""

    name: str  # file-name safe, unique across inputs named by `input_names`: names the outputs
    rgb: np.ndarray  # H x W x 3 uint8, RGB
    intrinsics: PinholeIntrinsics | None = None  # from the recording, when it has camera_info


def is_bag(path: Path) -> bool:
    """A rosbag2 folder (holds metadata.yaml) or a single .db3/.mcap storage file."""
    return (path.is_dir() and (path / "metadata.yaml").is_file()) or path.suffix in BAG_SUFFIXES


def _bag_root(path: Path) -> Path:
    """The bag folder of a storage file inside one (it holds the metadata), else `path`."""
    return path.parent if path.is_file() and (path.parent / "metadata.yaml").is_file() else path


def _named_path(path: Path) -> Path:
    """What an input's outputs are named after: the file, or a bag's folder."""
    return (_bag_root(path) if is_bag(path) else path).absolute()


def _name_candidates(path: Path) -> list[str]:
    """Names for outputs of `_named_path` `path`, shortest first, each telling more of the path:
    x, x_png, a_x_png, b_a_x_png, ..."""
    name = path.stem
    candidates = [name]
    if path.suffix:
        name = f"{name}_{path.suffix[1:]}"
        candidates.append(name)
    for folder in path.parents:
        if folder.name:
            name = f"{folder.name}_{name}"
            candidates.append(name)
    return candidates


def input_names(paths: list[Path]) -> list[str]:
    """One name per input for its outputs (video and bag frames add an index or a stamp).

    The file's stem when no other input has it, so common runs keep plain names; inputs whose
    stems repeat get their extension, then as many parent folders as tell them apart
    (x.png, x.jpg -> x_png, x_jpg; a/1.png, b/1.png -> a_1_png, b_1_png). Deterministic: it
    depends on the paths only. The same file (or bag) given twice gets one name.
    """
    named = [_named_path(path) for path in paths]
    candidates = {path: _name_candidates(path) for path in named}
    level = dict.fromkeys(candidates, 0)
    while True:
        names = {path: options[level[path]] for path, options in candidates.items()}
        counts = Counter(names.values())
        clashing = [path for path, name in names.items() if counts[name] > 1]
        longer = [path for path in clashing if level[path] + 1 < len(candidates[path])]
        if not longer:
            break
        for path in longer:
            level[path] += 1
    for index, path in enumerate(clashing):  # only when even the whole paths read alike
        names[path] = f"{names[path]}_{index}"
    return [names[path] for path in named]


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
    path: Path, image_topic: str = "", camera_info_topic: str = "", name: str = ""
) -> Iterator[Frame]:
    """Frames of one input: an image file, a video file or a rosbag2 (with `image_topic`).

    `name` (from `input_names`) names the frames; by default the file's (or bag folder's) stem.
    """
    if not path.exists():
        raise SourceError(f"input {path} does not exist")
    if is_bag(path):
        yield from _bag_frames(path, image_topic, camera_info_topic, name)
    elif path.suffix.lower() in VIDEO_SUFFIXES:
        yield from _video_frames(path, name or path.stem)
    elif path.suffix.lower() in IMAGE_SUFFIXES:
        yield Frame(name or path.stem, _read_image(path))
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


def _video_frames(path: Path, name: str) -> Iterator[Frame]:
    capture = cv2.VideoCapture(str(path))
    try:
        if not capture.isOpened():
            raise SourceError(f"video {path} could not be opened")
        index = 0
        while True:
            ok, bgr = capture.read()
            if not ok:
                break
            yield Frame(f"{name}_{index:06d}", cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
            index += 1
        if index == 0:
            raise SourceError(f"video {path} holds no decodable frames")
    finally:
        capture.release()


def _bag_frames(
    path: Path, image_topic: str, camera_info_topic: str, name: str
) -> Iterator[Frame]:
    from rosbags.rosbag2 import Reader
    from rosbags.typesys import Stores, get_typestore

    if not image_topic:
        raise SourceError(f"rosbag2 {path} needs an image topic (--topic)")
    typestore = get_typestore(Stores.LATEST)
    bag_path = _bag_root(path)
    name = name or bag_path.stem
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
        info_topic = camera_info_topic or camera_info_topic_for(image_topic)
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
            try:  # rgb8 stays a view on this message's own bytes (read-only, never reused)
                rgb = message_to_rgb8(msg)
            except ImageFormatError as err:
                raise SourceError(f"rosbag2 {bag_path} {image_topic} at {stamp_ns}: {err}") from err
            yield Frame(f"{name}_{stamp_ns}", rgb, intrinsics)
    finally:
        reader.close()
