"""image_codec against hand-built REP 118 style messages, through real rclpy serialization."""

from __future__ import annotations

import array
import math
import struct
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
from rclpy.serialization import deserialize_message, serialize_message
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header

from depth_ros.image_codec import (
    ENCODINGS,
    ImageFormatError,
    array_to_image,
    compressed_to_rgb8,
    image_to_array,
    message_to_rgb8,
    message_with_data,
    to_rgb8,
)

PAD = b"\xee"  # row padding byte: must never show up in a decoded pixel


def hand_built(encoding: str, rows: list[bytes], pad: int = 0, bigendian: bool = False) -> Image:
    """An Image whose data is the given rows, each followed by `pad` padding bytes."""
    width_bytes = len(rows[0])
    pixel_bytes = ENCODINGS[encoding].pixel_bytes
    msg = Image()
    msg.header.frame_id = "camera_optical"
    msg.height = len(rows)
    msg.width = width_bytes // pixel_bytes
    msg.encoding = encoding
    msg.is_bigendian = int(bigendian)
    msg.step = width_bytes + pad
    msg.data = array.array("B", b"".join(row + PAD * pad for row in rows))
    return msg


def received(msg: Image) -> Image:
    """The message as a subscriber gets it: serialized to CDR and deserialized by rclpy."""
    return deserialize_message(serialize_message(msg), Image)


# 2 rows x 3 pixels; pixel (r, c) has colour (10r + c, 100 + c, 200 - r) in RGB.
RGB = [[(10 * r + c, 100 + c, 200 - r) for c in range(3)] for r in range(2)]
EXPECTED_RGB = np.array(RGB, dtype=np.uint8)


@pytest.mark.parametrize("pad", [0, 5])
@pytest.mark.parametrize(
    ("encoding", "order"),
    [
        ("rgb8", (0, 1, 2)),
        ("bgr8", (2, 1, 0)),
        ("rgba8", (0, 1, 2, None)),
        ("bgra8", (2, 1, 0, None)),
    ],
)
def test_colour_encodings_match_rep_layout(encoding: str, order: tuple, pad: int) -> None:
    rows = [
        bytes(v for px in row for v in (px[i] if i is not None else 255 for i in order))
        for row in RGB
    ]
    msg = received(hand_built(encoding, rows, pad))
    pixels = image_to_array(msg)
    assert pixels.shape == (2, 3, len(order))
    assert pixels.dtype == np.uint8
    expected_native = np.stack(
        [EXPECTED_RGB[..., i] if i is not None else np.full((2, 3), 255) for i in order], axis=-1
    )
    np.testing.assert_array_equal(pixels, expected_native)
    np.testing.assert_array_equal(to_rgb8(msg), EXPECTED_RGB)


@pytest.mark.parametrize("pad", [0, 3])
def test_mono8(pad: int) -> None:
    msg = received(hand_built("mono8", [bytes([0, 7, 255]), bytes([1, 2, 3])], pad))
    np.testing.assert_array_equal(image_to_array(msg), [[0, 7, 255], [1, 2, 3]])
    rgb = to_rgb8(msg)
    assert rgb.shape == (2, 3, 3)
    np.testing.assert_array_equal(rgb[..., 0], rgb[..., 2])
    np.testing.assert_array_equal(rgb[..., 1], [[0, 7, 255], [1, 2, 3]])


DEPTH_M = [[0.5, float("nan"), 12.25], [1e-3, 80.0, float("nan")]]  # REP 118: NaN = unknown
DEPTH_MM = [[0, 1500, 65535], [1, 300, 0]]  # REP 118: 0 = unknown


@pytest.mark.parametrize("bigendian", [False, True])
@pytest.mark.parametrize("pad", [0, 4, 6])  # 6: rows not aligned to the 4-byte float
def test_32fc1_metres_with_nan(bigendian: bool, pad: int) -> None:
    fmt = ">f" if bigendian else "<f"
    rows = [b"".join(struct.pack(fmt, v) for v in row) for row in DEPTH_M]
    depth = image_to_array(received(hand_built("32FC1", rows, pad, bigendian)))
    assert depth.shape == (2, 3)
    assert depth.dtype == np.float32 and depth.dtype.isnative
    np.testing.assert_array_equal(depth, np.array(DEPTH_M, np.float32))  # NaN == NaN here
    assert math.isnan(depth[0, 1]) and math.isnan(depth[1, 2])


@pytest.mark.parametrize("bigendian", [False, True])
@pytest.mark.parametrize("pad", [0, 2, 1])
def test_16uc1_millimetres(bigendian: bool, pad: int) -> None:
    fmt = ">H" if bigendian else "<H"
    rows = [b"".join(struct.pack(fmt, v) for v in row) for row in DEPTH_MM]
    depth = image_to_array(received(hand_built("16UC1", rows, pad, bigendian)))
    assert depth.dtype == np.uint16 and depth.dtype.isnative
    np.testing.assert_array_equal(depth, DEPTH_MM)


def test_received_data_is_viewed_without_copy() -> None:
    """rclpy hands uint8[] over as array.array; the array must be a view on it (no copy),
    including a strided view over padded rows."""
    rows = [bytes(range(i, i + 9)) for i in range(4)]
    msg = received(hand_built("rgb8", rows, pad=7))
    assert isinstance(msg.data, array.array)
    pixels = image_to_array(msg)
    raw = np.frombuffer(msg.data, dtype=np.uint8)
    assert np.shares_memory(pixels, raw)
    assert pixels.strides == (16, 3, 1)
    msg.data[16 + 3 + 1] = 99  # row 1, pixel 1, green: a write through the message shows up
    assert pixels[1, 1, 1] == 99
    assert np.shares_memory(to_rgb8(msg), raw)

    depth = image_to_array(received(array_to_image(np.ones((4, 5), np.float32), "32FC1")))
    assert depth.flags.writeable and depth.base is not None


def test_built_messages_keep_their_data_array() -> None:
    """rclpy's uint8[] setter copies unless check_fields is on; message_with_data avoids that
    second copy, so a published image or cloud costs one copy of its bytes."""
    data = array.array("B", bytes(range(6)))
    msg = message_with_data(Image, data, height=1, width=2, encoding="rgb8", step=6)
    assert msg.data is data
    assert bytes(received(msg).data) == bytes(range(6))


def test_bytes_data_gives_read_only_view() -> None:
    """Any bytes-like `data` works (e.g. a message from another library); bytes are immutable."""
    msg = SimpleNamespace(
        height=1, width=2, encoding="mono8", is_bigendian=0, step=2, data=bytes([1, 2])
    )
    view = image_to_array(msg)
    assert not view.flags.writeable
    np.testing.assert_array_equal(view, [[1, 2]])


@pytest.mark.parametrize("encoding", list(ENCODINGS))
def test_round_trip_through_serialization(encoding: str) -> None:
    spec = ENCODINGS[encoding]
    rng = np.random.default_rng(7)
    shape = (5, 7) if spec.channels == 1 else (5, 7, spec.channels)
    if spec.dtype == np.float32:
        pixels = rng.uniform(0.1, 80.0, shape).astype(np.float32)
        pixels[2, 3] = np.nan
    else:
        pixels = rng.integers(0, np.iinfo(spec.dtype).max, shape, endpoint=True).astype(spec.dtype)
    header = Header(frame_id="cam")
    header.stamp.sec, header.stamp.nanosec = 1712, 345
    msg = array_to_image(pixels, encoding, header)
    assert msg.header is not header and msg.header.stamp is not header.stamp
    assert (msg.header.frame_id, msg.header.stamp.sec, msg.header.stamp.nanosec) == (
        "cam",
        1712,
        345,
    )
    assert (msg.height, msg.width, msg.encoding) == (5, 7, encoding)
    assert msg.step == 7 * spec.pixel_bytes and msg.is_bigendian == 0
    np.testing.assert_array_equal(image_to_array(received(msg)), pixels)


def test_array_to_image_accepts_foreign_byte_order_and_strided_input() -> None:
    depth = np.arange(12, dtype=">f4").reshape(3, 4)
    np.testing.assert_array_equal(image_to_array(array_to_image(depth, "32FC1")), depth)
    bgr = np.arange(2 * 6 * 3, dtype=np.uint8).reshape(2, 6, 3)[:, ::2]
    np.testing.assert_array_equal(image_to_array(array_to_image(bgr, "bgr8")), bgr)


@pytest.mark.parametrize(
    ("pixels", "encoding", "match"),
    [
        (np.zeros((2, 3), np.float64), "32FC1", r"float64.*expected H x W float32"),
        (np.zeros((2, 3, 3), np.uint8), "mono8", r"\(2, 3, 3\).*expected H x W uint8"),
        (np.zeros((2, 3), np.uint8), "bgr8", r"expected H x W x 3 uint8"),
        (np.zeros((2, 3), np.uint8), "yuv422", r"'yuv422' is not supported"),
        (np.zeros((0, 3), np.float32), "32FC1", r"size 3x0 is zero or absurd"),
    ],
)
def test_array_to_image_rejects_mismatches(pixels: np.ndarray, encoding: str, match: str) -> None:
    with pytest.raises(ImageFormatError, match=match):
        array_to_image(pixels, encoding)


def good_message() -> Image:
    return hand_built("rgb8", [bytes(12), bytes(12)], pad=4)  # 2 x 4 pixels, step 16


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("encoding", "yuv422", r"encoding 'yuv422' is not supported; expected one of \['rgb8'"),
        ("encoding", "", r"encoding '' is not supported"),
        ("step", 11, r"step 11 is shorter than a row: width 4 x 3 channel\(s\) x 1 byte\(s\) = 12"),
        ("height", 3, r"data length 32 != step 16 x height 3 = 48"),
        ("data", array.array("B", bytes(31)), r"data length 31 != step 16 x height 2 = 32"),
        ("width", 0, r"size 0x2 is zero or absurd; expected 1..16384"),
        ("height", 0, r"size 4x0 is zero or absurd"),
        ("width", 20000, r"size 20000x2 is zero or absurd"),
        ("height", 2**31, r"size 4x2147483648 is zero or absurd"),
    ],
)
def test_malformed_messages_raise_naming_the_problem(field: str, value: object, match: str) -> None:
    msg = good_message()
    image_to_array(msg)  # the unmodified message is fine
    setattr(msg, field, value)
    with pytest.raises(ImageFormatError, match=match):
        image_to_array(msg)
    with pytest.raises(ImageFormatError):
        to_rgb8(msg)


def test_depth_encoding_is_not_a_colour_image() -> None:
    msg = array_to_image(np.ones((2, 2), np.float32), "32FC1")
    with pytest.raises(ImageFormatError, match=r"'32FC1' is not a colour encoding"):
        to_rgb8(msg)


def test_compressed_png_and_jpeg_decode_to_rgb() -> None:
    rgb = np.zeros((16, 24, 3), np.uint8)
    rgb[..., 0] = 200  # red everywhere
    rgb[8:, :, 2] = 120  # bottom half also blue
    for fmt, mean_error in (("png", 0.0), ("jpeg", 2.0)):  # jpeg is lossy: mean |error|
        ok, encoded = cv2.imencode("." + fmt, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        assert ok
        msg = CompressedImage(format=fmt)
        msg.data = array.array("B", encoded.tobytes())
        decoded = compressed_to_rgb8(deserialize_message(serialize_message(msg), CompressedImage))
        assert decoded.shape == rgb.shape and decoded.dtype == np.uint8
        assert np.abs(decoded.astype(int) - rgb).mean() <= mean_error, fmt
        assert decoded[2, 2, 0] > 190 and decoded[12, 2, 2] > 110, "channels must be RGB"


def test_undecodable_compressed_image_raises() -> None:
    msg = CompressedImage(format="jpeg")
    msg.data = array.array("B", b"\xff\xd8 certainly not a jpeg")
    with pytest.raises(ImageFormatError, match=r"format 'jpeg', 23 bytes\) could not be decoded"):
        compressed_to_rgb8(msg)
    with pytest.raises(ImageFormatError, match=r"format 'png'\) has no data"):
        compressed_to_rgb8(CompressedImage(format="png"))


def test_message_to_rgb8_tells_raw_from_compressed_for_rclpy_and_rosbags_messages() -> None:
    """The node gets rclpy messages, the offline tool the rosbags library's own classes: both
    kinds go through the one function, raw images still as views."""
    from rosbags.typesys import Stores, get_typestore

    types = get_typestore(Stores.LATEST).types
    raw = received(hand_built("bgr8", [bytes(v for px in row for v in px[::-1]) for row in RGB]))
    ok, encoded = cv2.imencode(".png", cv2.cvtColor(EXPECTED_RGB, cv2.COLOR_RGB2BGR))
    assert ok
    compressed = CompressedImage(format="png")
    compressed.data = array.array("B", encoded.tobytes())
    bag_raw = types["sensor_msgs/msg/Image"](
        header=None, height=2, width=3, encoding="rgb8", is_bigendian=0, step=9,
        data=EXPECTED_RGB.ravel(),
    )  # fmt: skip
    bag_compressed = types["sensor_msgs/msg/CompressedImage"](
        header=None, format="png", data=encoded.ravel()
    )
    for msg in (raw, compressed, bag_raw, bag_compressed):
        np.testing.assert_array_equal(message_to_rgb8(msg), EXPECTED_RGB, type(msg).__name__)
    assert np.shares_memory(message_to_rgb8(bag_raw), bag_raw.data)
    with pytest.raises(ImageFormatError, match=r"'32FC1' is not a colour encoding"):
        message_to_rgb8(array_to_image(np.ones((2, 2), np.float32), "32FC1"))
