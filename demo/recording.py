"""The held-out frames of a robot recording as its camera saw them, for streaming to the node.

Which frames: the rosbag2 dataset's validation block (the last `data.val_fraction` of the moving
frames, by time), the frames the trainer scored as `val_final` and that training never saw.
How: at the camera's own resolution (what a camera driver publishes), with the ground-truth
depth topic at that resolution, and the camera from the bag's camera_info.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from rosbags.rosbag2 import Reader
from rosbags.typesys import Stores, get_typestore

from depth_ros.camera import PinholeIntrinsics
from training.config import DataConfig
from training.datasets import DatasetError
from training.datasets.rosbag2 import RosbagDataset, camera_info_topic, read_recording


@dataclass(frozen=True)
class HeldOutFrame:
    stamp: float  # seconds, the image's header stamp in the bag
    rgb: np.ndarray  # H x W x 3 uint8, camera resolution
    gt: np.ndarray  # H x W float32 metres, 0 = unknown


@dataclass(frozen=True)
class HeldOut:
    frames: list[HeldOutFrame]  # in time order
    camera: PinholeIntrinsics  # from the bag's camera_info, at the camera's resolution
    frame_id: str  # the camera's optical frame, camera_info's header.frame_id
    bag: Path


def bag_camera(bag: Path, data: DataConfig) -> tuple[PinholeIntrinsics, str]:
    """The camera of the first camera_info message of `bag` (pixels, its own resolution) and
    its frame id."""
    topic = camera_info_topic(data)
    typestore = get_typestore(Stores.LATEST)
    with Reader(bag) as reader:
        wanted = [c for c in reader.connections if c.topic == topic]
        for connection, _, raw in reader.messages(connections=wanted):
            message: Any = typestore.deserialize_cdr(raw, connection.msgtype)
            return PinholeIntrinsics.from_camera_info(message), message.header.frame_id
    raise DatasetError(f"rosbag2 {bag} has no message on camera_info topic {topic!r}")


def held_out_frames(data: DataConfig) -> HeldOut:
    """The validation block of the first recording under `data.root` (a training config's data
    section, depth topic included) at camera resolution."""
    validation = RosbagDataset(data, data.val_split, train=False)
    recording = validation.recordings[0]
    entries = [entry for entry in validation.entries if entry.folder == recording.name]
    camera, frame_id = bag_camera(recording.path, data)
    full_size = dataclasses.replace(data, width=camera.width, height=camera.height,
                                    odometry=False, frame_cache="")
    full = read_recording(recording.path, full_size, recording.name)
    frames = []
    for entry in entries:
        index = entry.frame_index
        if index not in full.depth:
            raise DatasetError(f"rosbag2 {recording.path}: no {data.depth_topic} image stamped "
                               f"{full.stamps[index]:.3f} s; the demo scores against it")
        frames.append(HeldOutFrame(float(full.stamps[index]), np.asarray(full.frames[index]),
                                   full.depth[index]))
    return HeldOut(frames, camera, frame_id, recording.path)
