"""sensor_msgs/Image and CompressedImage <-> numpy, without cv_bridge.

Why our own: the real cv_bridge is a C++ package that cannot be installed from PyPI, and the
`cv-bridge` port on PyPI calls `ndarray.tostring`, which numpy 2 removed. The conversion is small:
an Image is `height` rows of `step` bytes, each row holding `width` pixels of the encoding's
channels x bytes, in the byte order that `is_bigendian` names.

Reading is zero-copy: rclpy delivers `msg.data` of a `uint8[]` field as an `array.array('B')`
(measured with the Kilted wheels; rosidl_generator_py has used array.array for numeric sequences
since before Humble), which exports the buffer protocol, so `image_to_array` returns a numpy view
on it (any other bytes-like `data` works too); padded rows become a strided view. The only copy
made is a byte swap, when the message's byte order differs from the host's. Encodings follow
REP 118 for depth: `32FC1` is metres with NaN where unknown, `16UC1` is millimetres, 0 unknown.

Writing copies the array's bytes once into the message (`byte_array`, `message_with_data`).

The ROS message packages are imported only inside the functions that build messages, so this
module imports without a ROS installation.
"""

from __future__ import annotations

import array
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import cv2
import numpy as np

MAX_SIDE = 16384  # pixels; larger images are treated as corrupt headers, not as real frames


@dataclass(frozen=True)
class Encoding:
    """How one `encoding` string lays out a pixel."""

    dtype: np.dtype  # one channel, native byte order
    channels: int

    @property
    def pixel_bytes(self) -> int:
        return self.dtype.itemsize * self.channels


ENCODINGS: dict[str, Encoding] = {
    "rgb8": Encoding(np.dtype(np.uint8), 3),
    "bgr8": Encoding(np.dtype(np.uint8), 3),
    "rgba8": Encoding(np.dtype(np.uint8), 4),
    "bgra8": Encoding(np.dtype(np.uint8), 4),
    "mono8": Encoding(np.dtype(np.uint8), 1),
    "32FC1": Encoding(np.dtype(np.float32), 1),  # REP 118: metres, NaN = unknown
    "16UC1": Encoding(np.dtype(np.uint16), 1),  # REP 118: millimetres, 0 = unknown
}
COLOR_ENCODINGS = ("rgb8", "bgr8", "rgba8", "bgra8", "mono8")
_TO_RGB = {
    "bgr8": cv2.COLOR_BGR2RGB,
    "rgba8": cv2.COLOR_RGBA2RGB,
    "bgra8": cv2.COLOR_BGRA2RGB,
    "mono8": cv2.COLOR_GRAY2RGB,
}
_HOST_IS_BIGENDIAN = sys.byteorder == "big"

MessageT = TypeVar("MessageT")


class ImageFormatError(ValueError):
    """An image message that cannot be read: the message names the field, the value and the rule."""


def _check_size(what: str, width: int, height: int) -> None:
    if not (0 < width <= MAX_SIDE and 0 < height <= MAX_SIDE):
        raise ImageFormatError(
            f"{what} size {width}x{height} is zero or absurd; "
            f"expected 1..{MAX_SIDE} pixels per side"
        )


def image_to_array(msg: Any) -> np.ndarray:
    """View a sensor_msgs/Image as an array: H x W for one channel, else H x W x C.

    Channels stay in the encoding's order (bgr8 stays BGR). The result shares memory with
    `msg.data` unless a byte swap was needed; it is writable when `msg.data` is (array.array).
    Raises ImageFormatError for an unknown encoding or a size/step/length that do not agree.
    """
    encoding = ENCODINGS.get(msg.encoding)
    if encoding is None:
        raise ImageFormatError(
            f"image encoding {msg.encoding!r} is not supported; expected one of {list(ENCODINGS)}"
        )
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    _check_size("image", width, height)
    row_bytes = width * encoding.pixel_bytes
    if step < row_bytes:
        raise ImageFormatError(
            f"image step {step} is shorter than a row: width {width} x {encoding.channels} "
            f"channel(s) x {encoding.dtype.itemsize} byte(s) = {row_bytes} ({msg.encoding})"
        )
    size = len(msg.data)
    if size != step * height:
        raise ImageFormatError(
            f"image data length {size} != step {step} x height {height} = {step * height}"
        )
    big_endian = bool(msg.is_bigendian)
    dtype = encoding.dtype.newbyteorder(">" if big_endian else "<")
    shape: tuple[int, ...] = (height, width)
    strides: tuple[int, ...] = (step, encoding.pixel_bytes)
    if encoding.channels > 1:
        shape += (encoding.channels,)
        strides += (encoding.dtype.itemsize,)
    view = np.ndarray(shape, dtype=dtype, buffer=msg.data, strides=strides)
    if encoding.dtype.itemsize > 1 and big_endian != _HOST_IS_BIGENDIAN:
        return view.astype(encoding.dtype)  # the one copy: swap into host byte order
    return view


def colour_image_view(msg: Any) -> np.ndarray:
    """Check that an Image is a well-formed colour image and view its pixels, in the encoding's
    channel order, without copying: cheap enough to vet every message as it arrives."""
    if msg.encoding not in COLOR_ENCODINGS:
        raise ImageFormatError(
            f"image encoding {msg.encoding!r} is not a colour encoding; "
            f"expected one of {list(COLOR_ENCODINGS)}"
        )
    return image_to_array(msg)


def to_rgb8(msg: Any) -> np.ndarray:
    """A colour Image as H x W x 3 uint8 RGB: a view for rgb8, one conversion otherwise."""
    pixels = colour_image_view(msg)
    if msg.encoding == "rgb8":
        return pixels
    return cv2.cvtColor(pixels, _TO_RGB[msg.encoding])


def compressed_to_rgb8(msg: Any) -> np.ndarray:
    """Decode a sensor_msgs/CompressedImage (jpeg, png, anything OpenCV reads) to H x W x 3 RGB."""
    data = np.frombuffer(msg.data, dtype=np.uint8)
    if data.size == 0:
        raise ImageFormatError(f"compressed image (format {msg.format!r}) has no data")
    bgr = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if bgr is None:
        raise ImageFormatError(
            f"compressed image (format {msg.format!r}, {data.size} bytes) could not be decoded"
        )
    _check_size("decoded compressed image", bgr.shape[1], bgr.shape[0])
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def message_to_rgb8(msg: Any) -> np.ndarray:
    """An Image or a CompressedImage as H x W x 3 uint8 RGB (see `to_rgb8`, `compressed_to_rgb8`).

    Told apart by field, not by class, so that rclpy messages and the rosbags library's own
    message classes both work: only a CompressedImage has `format`.
    """
    if hasattr(msg, "format"):
        return compressed_to_rgb8(msg)
    return to_rgb8(msg)


def copy_header(header: Any | None) -> Any:
    """A new std_msgs/Header with the same stamp and frame_id (None -> an empty header)."""
    from builtin_interfaces.msg import Time
    from std_msgs.msg import Header

    if header is None:
        return Header()
    stamp = Time(sec=header.stamp.sec, nanosec=header.stamp.nanosec)
    return Header(stamp=stamp, frame_id=header.frame_id)


def byte_array(values: np.ndarray) -> array.array:
    """The bytes of `values` (C order) as the array.array('B') rclpy uses for uint8[]: one copy."""
    data = array.array("B")
    data.frombytes(np.ascontiguousarray(values).reshape(-1).view(np.uint8).data)
    return data


def message_with_data(
    message_type: Callable[..., MessageT], data: array.array, **fields: Any
) -> MessageT:
    """Build a message whose uint8[] `data` field is `data` itself, not a copy of it.

    Kilted's setter copies any value unless the message was made with `check_fields=True`, in
    which case it keeps an array.array('B') as given; Humble's setter always keeps it and has no
    such keyword. The other fields must have the message's Python types (int, bool, str, ...).
    """
    msg: Any  # generated message classes are untyped
    try:
        msg = message_type(check_fields=True)
    except AssertionError:  # Humble: unknown keyword; its setter keeps array.array anyway
        msg = message_type()
    for name, value in fields.items():
        setattr(msg, name, value)
    msg.data = data
    return msg


def array_to_image(pixels: np.ndarray, encoding: str, header: Any | None = None) -> Any:
    """Pack an array into a sensor_msgs/Image (host byte order, no row padding).

    `pixels` is H x W (mono8, 32FC1 metres, 16UC1 millimetres) or H x W x C in the encoding's
    channel order; its dtype must match the encoding. The header is copied.
    """
    from sensor_msgs.msg import Image

    spec = ENCODINGS.get(encoding)
    if spec is None:
        raise ImageFormatError(
            f"image encoding {encoding!r} is not supported; expected one of {list(ENCODINGS)}"
        )
    expected_ndim = 2 if spec.channels == 1 else 3
    if (
        pixels.ndim != expected_ndim
        or (spec.channels > 1 and pixels.shape[2] != spec.channels)
        or pixels.dtype.newbyteorder("=") != spec.dtype
    ):
        expected_shape = "H x W" if spec.channels == 1 else f"H x W x {spec.channels}"
        raise ImageFormatError(
            f"array {pixels.shape} {pixels.dtype} does not fit encoding {encoding}; "
            f"expected {expected_shape} {spec.dtype}"
        )
    height, width = pixels.shape[:2]
    _check_size("array", width, height)
    native = pixels.astype(spec.dtype, copy=False)  # swaps only a foreign-order array
    return message_with_data(
        Image,
        byte_array(native),
        header=copy_header(header),
        height=int(height),
        width=int(width),
        encoding=encoding,
        is_bigendian=int(_HOST_IS_BIGENDIAN),
        step=int(width * spec.pixel_bytes),
    )
