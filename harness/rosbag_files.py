"""Small hand-made rosbag2 recordings for tests, written with the generator's message builder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import Stores, get_typestore

from training.synthetic.rosbag2 import ROBOT_EPOCH_NS, RecordingMessages, camera_matrix


def write_bag(path: Path, images: list[np.ndarray], *, info_size: tuple[int, int] | None = None,
              distortion: np.ndarray | None = None, image_topic: str = "/camera/image_raw",
              info_topic: str | None = "/camera/camera_info", info_messages: bool = True,
              period_ns: int = 100_000_000) -> Path:
    """A sqlite3 bag of rgb8 `images` (H x W x 3 uint8) `period_ns` apart, with camera_info.

    info_size: (width, height) the camera_info claims (default: the images'); info_topic None
    leaves camera_info out, info_messages False declares its topic but writes no message.
    """
    messages = RecordingMessages(get_typestore(Stores.ROS2_KILTED))
    height, width = images[0].shape[:2]
    info_width, info_height = info_size or (width, height)
    k = camera_matrix(info_width, info_height)
    with Writer(path, version=9, storage_plugin=StoragePlugin.SQLITE3) as writer:
        image = writer.add_connection(image_topic, "sensor_msgs/msg/Image",
                                      typestore=messages.store)
        info = None
        if info_topic is not None:
            info = writer.add_connection(info_topic, "sensor_msgs/msg/CameraInfo",
                                         typestore=messages.store)
        for index, rgb in enumerate(images):
            stamp = ROBOT_EPOCH_NS + index * period_ns
            if info is not None and info_messages:
                message = messages.camera_info(stamp, k, info_width, info_height, distortion)
                writer.write(info, stamp, messages.store.serialize_cdr(message,
                                                                       message.__msgtype__))
            message = messages.image(stamp, rgb, "rgb8")
            writer.write(image, stamp, messages.store.serialize_cdr(message, message.__msgtype__))
    return path
