"""Depth image -> 3-D points -> sensor_msgs/PointCloud2 (and PLY files).

Frames and units: points are in the camera's optical frame (REP 103: x right, y down, z forward),
in the depth's units (metres for the node). A pixel (u, v) with depth z is the point
z * ((u - cx) / fx, (v - cy) / fy, 1); pixel centres sit at integer (u, v) as in image_geometry.

The cloud's byte layout is depth_image_proc's: organized (height x width), little endian,
x, y, z FLOAT32 at offsets 0, 4, 8 padded to point_step 16 (point_cloud_xyz), plus `rgb` at
offset 16 padded to point_step 32 (point_cloud_xyzrgb), where `rgb` is a FLOAT32 field whose four
bytes hold the uint32 0x00RRGGBB (so bytes 16, 17, 18 are blue, green, red). Invalid points are
NaN and `is_dense` is false.
"""

from __future__ import annotations

import array
import functools
import math
from pathlib import Path
from typing import Any

import numpy as np

from depth_ros.atomic_files import atomic_write
from depth_ros.camera import PinholeIntrinsics
from depth_ros.image_codec import copy_header, message_with_data

XYZ_DTYPE = np.dtype(
    {"names": ["x", "y", "z"], "formats": ["<f4"] * 3, "offsets": [0, 4, 8], "itemsize": 16}
)
XYZRGB_DTYPE = np.dtype(
    {
        "names": ["x", "y", "z", "rgb"],
        "formats": ["<f4", "<f4", "<f4", "<u4"],  # rgb: declared FLOAT32, holds 0x00RRGGBB bits
        "offsets": [0, 4, 8, 16],
        "itemsize": 32,
    }
)
FLOAT32 = 7  # sensor_msgs/PointField.FLOAT32


@functools.lru_cache(maxsize=16)
def _ray_factors(intrinsics: PinholeIntrinsics, step: int) -> tuple[np.ndarray, np.ndarray]:
    """x/z for every kept column and y/z for every kept row (read-only, cached per camera)."""
    u = np.arange(0, intrinsics.width, step, dtype=np.float64)
    v = np.arange(0, intrinsics.height, step, dtype=np.float64)
    x_over_z = ((u - intrinsics.cx) / intrinsics.fx).astype(np.float32)
    y_over_z = ((v - intrinsics.cy) / intrinsics.fy).astype(np.float32)
    x_over_z.flags.writeable = False
    y_over_z.flags.writeable = False
    return x_over_z, y_over_z


def depth_to_points(
    depth: np.ndarray,
    intrinsics: PinholeIntrinsics,
    min_depth: float = 0.0,
    max_depth: float = math.inf,
    step: int = 1,
) -> np.ndarray:
    """Back-project an H x W depth image (NaN = unknown) to h x w x 3 float32 points.

    `intrinsics` must describe the depth image's H x W. Depth outside [min_depth, max_depth], not
    positive or not finite becomes a NaN point. `step` > 1 keeps every step-th row and column,
    so the result stays organized: h = ceil(H / step), w = ceil(W / step).
    """
    if depth.shape != (intrinsics.height, intrinsics.width):
        raise ValueError(
            f"depth is {depth.shape}; intrinsics are for "
            f"{intrinsics.height} x {intrinsics.width} (rows x columns)"
        )
    if not (isinstance(step, int) and step >= 1):
        raise ValueError(f"decimation step {step!r} must be an integer >= 1")
    x_over_z, y_over_z = _ray_factors(intrinsics, step)
    z = np.array(depth[::step, ::step], dtype=np.float32)  # a copy: invalid pixels become NaN
    with np.errstate(invalid="ignore"):
        z[~((z > 0.0) & (z >= min_depth) & (z <= max_depth) & np.isfinite(z))] = np.nan
    points = np.empty((*z.shape, 3), np.float32)
    np.multiply(z, x_over_z[None, :], out=points[..., 0])
    np.multiply(z, y_over_z[:, None], out=points[..., 1])
    points[..., 2] = z
    return points


def _point_field(name: str, offset: int) -> Any:
    from sensor_msgs.msg import PointField

    return PointField(name=name, offset=offset, datatype=FLOAT32, count=1)


def points_to_pointcloud2(
    points: np.ndarray, header: Any | None = None, rgb: np.ndarray | None = None
) -> Any:
    """Pack h x w x 3 points (NaN = invalid) into an organized PointCloud2.

    `rgb` (optional) is h x w x 3 uint8 in RGB order, one colour per point. The header is
    copied. The points are written once, straight into the message's buffer.
    """
    from sensor_msgs.msg import PointCloud2

    if points.ndim != 3 or points.shape[2] != 3:
        raise ValueError(f"points are {points.shape}; expected h x w x 3")
    height, width = points.shape[:2]
    if rgb is not None and (rgb.shape != points.shape or rgb.dtype != np.uint8):
        raise ValueError(
            f"rgb is {rgb.dtype} {rgb.shape}; expected uint8 {height} x {width} x 3 like the points"
        )
    dtype = XYZ_DTYPE if rgb is None else XYZRGB_DTYPE
    # The message's own buffer, zeroed (padding bytes are 0 as in depth_image_proc), filled
    # through a structured numpy view: no copy after the points are written.
    data = array.array("B", [0]) * (height * width * dtype.itemsize)
    cloud = np.frombuffer(data, dtype).reshape(height, width)
    # One assignment per field: numpy copies long strided rows fast, short inner axes slowly.
    for axis, name in enumerate("xyz"):
        cloud[name] = points[..., axis]
    fields = [_point_field("x", 0), _point_field("y", 4), _point_field("z", 8)]
    if rgb is not None:
        raw = cloud.view(np.uint8).reshape(height, width, dtype.itemsize)
        for byte, channel in ((16, 2), (17, 1), (18, 0)):  # little-endian 0x00RRGGBB: B, G, R
            raw[..., byte] = rgb[..., channel]
        fields.append(_point_field("rgb", 16))
    return message_with_data(
        PointCloud2,
        data,
        header=copy_header(header),
        height=int(height),
        width=int(width),
        fields=fields,
        is_bigendian=False,
        point_step=int(dtype.itemsize),
        row_step=int(width * dtype.itemsize),
        is_dense=False,
    )


def pointcloud2_to_array(msg: Any) -> np.ndarray:
    """View a cloud made by `points_to_pointcloud2` as an h x w structured array (x, y, z[, rgb]).

    For tests and tools; it checks the layout instead of interpreting arbitrary clouds.
    """
    dtype = XYZRGB_DTYPE if msg.point_step == XYZRGB_DTYPE.itemsize else XYZ_DTYPE
    layout = [(f.name, f.offset, f.datatype, f.count) for f in msg.fields]
    fields, names = dtype.fields, dtype.names
    assert fields is not None and names is not None  # both dtypes are structured
    expected = [(name, fields[name][1], FLOAT32, 1) for name in names]
    if layout != expected or msg.is_bigendian or msg.row_step != msg.width * dtype.itemsize:
        raise ValueError(
            f"point cloud layout {layout} (point_step {msg.point_step}, row_step {msg.row_step}, "
            f"big-endian {msg.is_bigendian}) is not {expected}"
        )
    return np.frombuffer(msg.data, dtype).reshape(msg.height, msg.width)


def unpack_rgb(packed: np.ndarray) -> np.ndarray:
    """uint32 0x00RRGGBB (the `rgb` field's bits) -> ... x 3 uint8 RGB."""
    packed = packed.astype(np.uint32, copy=False)
    return np.stack([(packed >> 16) & 255, (packed >> 8) & 255, packed & 255], -1).astype(np.uint8)


_PLY_TYPES = {
    "float": "<f4", "float32": "<f4", "double": "<f8", "float64": "<f8",
    "uchar": "u1", "uint8": "u1", "char": "i1", "int8": "i1",
    "ushort": "<u2", "uint16": "<u2", "short": "<i2", "int16": "<i2",
    "uint": "<u4", "uint32": "<u4", "int": "<i4", "int32": "<i4",
}  # fmt: skip


def write_ply(path: str | Path, points: np.ndarray, rgb: np.ndarray | None = None) -> int:
    """Write the finite points (... x 3, metres, optical frame) as a binary little-endian PLY,
    with uchar red/green/blue when `rgb` (same shape, uint8 RGB) is given. Returns the count."""
    points = np.asarray(points, np.float32).reshape(-1, 3)
    keep = np.isfinite(points).all(axis=1)
    fields = [("x", "<f4"), ("y", "<f4"), ("z", "<f4")]
    if rgb is not None:
        if rgb.dtype != np.uint8 or rgb.size != points.size:
            raise ValueError(f"rgb is {rgb.dtype} {rgb.shape}; expected uint8 like the points")
        fields += [("red", "u1"), ("green", "u1"), ("blue", "u1")]
    vertices = np.empty(int(keep.sum()), fields)
    for axis, name in enumerate("xyz"):
        vertices[name] = points[keep, axis]
    if rgb is not None:
        colours = rgb.reshape(-1, 3)[keep]
        for channel, name in enumerate(("red", "green", "blue")):
            vertices[name] = colours[:, channel]
    names = {"<f4": "float", "u1": "uchar"}
    header = [
        "ply",
        "format binary_little_endian 1.0",
        "comment depth_ros: camera optical frame (x right, y down, z forward), metres",
        f"element vertex {len(vertices)}",
        *(f"property {names[kind]} {name}" for name, kind in fields),
        "end_header",
    ]
    with atomic_write(path) as stream:  # whole or not at all; FileWriteError names the file
        stream.write(("\n".join(header) + "\n").encode("ascii"))
        stream.write(vertices.tobytes())
    return len(vertices)


def read_ply(path: str | Path) -> tuple[np.ndarray, np.ndarray | None]:
    """Read a binary little-endian PLY vertex list: (N x 3 float32 xyz, N x 3 uint8 RGB or None).

    Supports one `vertex` element with scalar properties (what `write_ply` and most point cloud
    tools write); anything else raises ValueError naming it.
    """
    with open(path, "rb") as stream:
        if stream.readline().strip() != b"ply":
            raise ValueError(f"{path} is not a PLY file (no 'ply' magic line)")
        count, fields = None, []
        while True:
            line = stream.readline()
            if not line:
                raise ValueError(f"{path}: PLY header has no end_header")
            words = line.decode("ascii").split()
            if not words or words[0] in ("comment", "obj_info"):
                continue
            if words[0] == "end_header":
                break
            if words[0] == "format" and words[1:] != ["binary_little_endian", "1.0"]:
                raise ValueError(f"{path}: PLY format {' '.join(words[1:])} is not supported")
            if words[0] == "element":
                if words[1] != "vertex" or count is not None:
                    raise ValueError(f"{path}: PLY element {words[1]!r} is not supported")
                count = int(words[2])
            if words[0] == "property":
                if words[1] not in _PLY_TYPES:
                    raise ValueError(f"{path}: PLY property type {words[1]!r} is not supported")
                fields.append((words[2], _PLY_TYPES[words[1]]))
        vertices = np.frombuffer(stream.read(), np.dtype(fields), count=count or 0)
    points = np.stack([vertices[name] for name in "xyz"], axis=1).astype(np.float32)
    names = set(vertices.dtype.names or ())
    if not {"red", "green", "blue"} <= names:
        return points, None
    rgb = np.stack([vertices[name] for name in ("red", "green", "blue")], axis=1)
    return points, rgb.astype(np.uint8)
