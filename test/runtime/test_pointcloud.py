"""depth -> points against analytic geometry; PointCloud2 bytes parsed back by hand; PLY."""

from __future__ import annotations

import math
import struct
from pathlib import Path

import numpy as np
import pytest
from rclpy.serialization import deserialize_message, serialize_message
from sensor_msgs.msg import PointCloud2
from std_msgs.msg import Header

from depth_ros.camera import PinholeIntrinsics
from depth_ros.inference import DepthEstimator
from depth_ros.pointcloud import (
    _ray_factors,
    depth_to_points,
    pointcloud2_to_array,
    points_to_pointcloud2,
    read_ply,
    unpack_rgb,
    write_ply,
)
from harness.onnx_models import (
    contract_intrinsics,
    make_contract,
    plane_depth,
    plane_depth_model,
)

CAMERA = PinholeIntrinsics(fx=50.0, fy=40.0, cx=31.5, cy=12.0, width=64, height=24)
NORMAL = np.array([0.2, -0.3, 1.0]) / np.linalg.norm([0.2, -0.3, 1.0])


def test_points_are_the_analytic_back_projection() -> None:
    depth = plane_depth(CAMERA, tuple(NORMAL), 4.0)
    points = depth_to_points(depth, CAMERA)
    assert points.shape == (24, 64, 3) and points.dtype == np.float32
    np.testing.assert_allclose(points @ NORMAL, 4.0, rtol=1e-5)  # every point on the plane
    for v, u in ((0, 0), (12, 31), (23, 63), (5, 40)):
        z = float(depth[v, u])
        expected = (z * (u - 31.5) / 50.0, z * (v - 12.0) / 40.0, z)
        np.testing.assert_allclose(points[v, u], expected, rtol=1e-6)


def test_invalid_and_out_of_range_depth_become_nan_points() -> None:
    depth = np.full((24, 64), 5.0, np.float32)
    depth[0, 0] = np.nan
    depth[1, 1] = 0.0
    depth[2, 2] = -3.0
    depth[3, 3] = 0.4  # below min
    depth[4, 4] = 60.0  # above max
    depth[5, 5] = np.inf
    depth[6, 6] = 0.5  # exactly min: kept
    points = depth_to_points(depth, CAMERA, min_depth=0.5, max_depth=50.0)
    invalid = np.isnan(points).all(axis=2)
    assert set(zip(*np.nonzero(invalid), strict=True)) == {(i, i) for i in range(6)}
    assert not np.isnan(points).any(axis=2)[~invalid].any()
    assert points[6, 6, 2] == 0.5
    assert np.isnan(depth_to_points(depth, CAMERA)[5, 5]).all()  # inf is never a point


def test_decimation_keeps_the_cloud_organized() -> None:
    depth = plane_depth(CAMERA, tuple(NORMAL), 4.0)
    full = depth_to_points(depth, CAMERA)
    for step in (2, 3, 5):
        points = depth_to_points(depth, CAMERA, step=step)
        assert points.shape == (math.ceil(24 / step), math.ceil(64 / step), 3)
        np.testing.assert_array_equal(points, full[::step, ::step])


def test_ray_factors_are_cached_per_camera_and_step() -> None:
    depth = np.ones((24, 64), np.float32)
    depth_to_points(depth, CAMERA)
    before = _ray_factors.cache_info()
    depth_to_points(depth, CAMERA)
    after = _ray_factors.cache_info()
    assert after.hits == before.hits + 1 and after.misses == before.misses
    assert not _ray_factors(CAMERA, 1)[0].flags.writeable


def test_depth_to_points_rejects_mismatches() -> None:
    with pytest.raises(ValueError, match=r"depth is \(24, 63\); intrinsics are for 24 x 64"):
        depth_to_points(np.ones((24, 63), np.float32), CAMERA)
    with pytest.raises(ValueError, match=r"decimation step 0 must be an integer >= 1"):
        depth_to_points(np.ones((24, 64), np.float32), CAMERA, step=0)


def header() -> Header:
    msg = Header(frame_id="camera_optical")
    msg.stamp.sec, msg.stamp.nanosec = 42, 7
    return msg


def received(cloud: PointCloud2) -> PointCloud2:
    return deserialize_message(serialize_message(cloud), PointCloud2)


def test_xyz_cloud_has_the_point_cloud_xyz_layout() -> None:
    points = depth_to_points(plane_depth(CAMERA, tuple(NORMAL), 4.0), CAMERA, step=2)
    points[3, 4] = np.nan
    cloud = received(points_to_pointcloud2(points, header()))
    assert (cloud.height, cloud.width) == (12, 32)
    assert [(f.name, f.offset, f.datatype, f.count) for f in cloud.fields] == [
        ("x", 0, 7, 1),
        ("y", 4, 7, 1),
        ("z", 8, 7, 1),
    ]
    assert cloud.point_step == 16 and cloud.row_step == 32 * 16
    assert cloud.is_dense is False and cloud.is_bigendian is False
    assert (cloud.header.frame_id, cloud.header.stamp.sec, cloud.header.stamp.nanosec) == (
        "camera_optical",
        42,
        7,
    )
    data = bytes(cloud.data)
    assert len(data) == 12 * cloud.row_step
    for row, col in ((0, 0), (3, 4), (11, 31), (5, 17)):
        offset = row * cloud.row_step + col * cloud.point_step
        x, y, z, pad = struct.unpack_from("<fffI", data, offset)
        np.testing.assert_array_equal([x, y, z], points[row, col])
        assert pad == 0
    assert all(math.isnan(v) for v in struct.unpack_from("<fff", data, 3 * 512 + 4 * 16))


def test_xyzrgb_cloud_packs_rgb_like_point_cloud_xyzrgb() -> None:
    points = depth_to_points(np.full((24, 64), 2.0, np.float32), CAMERA)
    rgb = np.random.default_rng(5).integers(0, 256, (24, 64, 3), dtype=np.uint8)
    cloud = received(points_to_pointcloud2(points, header(), rgb))
    assert [(f.name, f.offset, f.datatype) for f in cloud.fields][3] == ("rgb", 16, 7)
    assert cloud.point_step == 32 and cloud.row_step == 64 * 32
    data = bytes(cloud.data)
    for row, col in ((0, 0), (7, 9), (23, 63)):
        offset = row * cloud.row_step + col * 32
        np.testing.assert_array_equal(struct.unpack_from("<fff", data, offset), points[row, col])
        (packed,) = struct.unpack_from("<I", data, offset + 16)
        r, g, b = (int(c) for c in rgb[row, col])
        assert packed == (r << 16) | (g << 8) | b  # 0x00RRGGBB in the float field's bits
        assert data[offset + 12 : offset + 16] == bytes(4)
        assert data[offset + 20 : offset + 32] == bytes(12)
    parsed = pointcloud2_to_array(cloud)
    np.testing.assert_array_equal(unpack_rgb(parsed["rgb"]), rgb)
    np.testing.assert_array_equal(parsed["z"], 2.0)


def test_pointcloud2_to_array_checks_the_layout() -> None:
    cloud = points_to_pointcloud2(np.zeros((2, 3, 3), np.float32))
    assert pointcloud2_to_array(cloud).shape == (2, 3)
    cloud.fields[1].offset = 8
    with pytest.raises(ValueError, match=r"point cloud layout"):
        pointcloud2_to_array(cloud)


def test_points_to_pointcloud2_rejects_bad_shapes() -> None:
    with pytest.raises(ValueError, match=r"points are \(4, 3\); expected h x w x 3"):
        points_to_pointcloud2(np.zeros((4, 3), np.float32))
    with pytest.raises(ValueError, match=r"rgb is uint8 \(2, 2, 3\); expected uint8 2 x 3 x 3"):
        points_to_pointcloud2(np.zeros((2, 3, 3), np.float32), rgb=np.zeros((2, 2, 3), np.uint8))


def test_known_answer_model_gives_the_analytic_cloud(tmp_path: Path) -> None:
    """ONNX plane model -> DepthEstimator -> points -> PointCloud2 bytes: on the plane."""
    contract = make_contract()
    normal = (0.1, -0.2, 1.0)
    estimator = DepthEstimator(
        plane_depth_model(tmp_path / "plane.onnx", normal, 5.0), ["CPUExecutionProvider"]
    )
    camera = contract_intrinsics(contract)
    depth = estimator.predict(np.zeros((96, 192, 3), np.uint8))
    cloud = pointcloud2_to_array(received(points_to_pointcloud2(depth_to_points(depth, camera))))
    xyz = np.stack([cloud["x"], cloud["y"], cloud["z"]], axis=-1).astype(np.float64)
    unit = np.array(normal) / np.linalg.norm(normal)
    np.testing.assert_allclose(xyz @ unit, 5.0, rtol=1e-5)
    v, u = np.mgrid[0:32, 0:64]
    np.testing.assert_allclose(xyz[..., 0], xyz[..., 2] * (u - camera.cx) / camera.fx, atol=1e-5)
    np.testing.assert_allclose(xyz[..., 1], xyz[..., 2] * (v - camera.cy) / camera.fy, atol=1e-5)


@pytest.mark.parametrize("with_rgb", [False, True])
def test_ply_round_trip_skips_nan_points(tmp_path: Path, with_rgb: bool) -> None:
    points = depth_to_points(plane_depth(CAMERA, tuple(NORMAL), 4.0), CAMERA)
    points[0, :10] = np.nan
    rgb = (
        np.random.default_rng(6).integers(0, 256, points.shape, dtype=np.uint8)
        if with_rgb
        else None
    )
    path = tmp_path / "cloud.ply"
    assert write_ply(path, points, rgb) == 24 * 64 - 10
    header = path.read_bytes().split(b"end_header\n")[0].decode()
    assert "format binary_little_endian 1.0" in header and "element vertex 1526" in header
    assert ("property uchar red" in header) == with_rgb
    xyz, colours = read_ply(path)
    np.testing.assert_array_equal(xyz, points.reshape(-1, 3)[10:])
    if with_rgb:
        np.testing.assert_array_equal(colours, rgb.reshape(-1, 3)[10:])
    else:
        assert colours is None


def test_read_ply_rejects_what_it_does_not_read(tmp_path: Path) -> None:
    path = tmp_path / "ascii.ply"
    path.write_text("ply\nformat ascii 1.0\nelement vertex 0\nend_header\n")
    with pytest.raises(ValueError, match=r"PLY format ascii 1.0 is not supported"):
        read_ply(path)
    path.write_text("solid cube\n")
    with pytest.raises(ValueError, match=r"not a PLY file"):
        read_ply(path)
