"""Offline inference (`python -m depth_ros.offline`) on images, a video and rosbag2 recordings that
the tests write themselves; outputs are read back and checked for units, sizes and geometry."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import Stores, get_typestore

from depth_ros.frame_sources import input_names, read_frames
from depth_ros.offline import depth_to_png16, main
from depth_ros.pointcloud import read_ply
from harness.onnx_models import constant_depth_model, make_contract, plane_depth_model

DEPTH_M = 2.5  # what the constant model answers, metres
WIDTH, HEIGHT = 128, 64  # camera frames, twice the model's 64 x 32


def write_images(folder: Path, count: int = 3) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    paths = []
    for index in range(count):
        path = folder / f"frame_{index:03d}.png"
        cv2.imwrite(str(path), rng.integers(0, 255, (HEIGHT, WIDTH, 3), dtype=np.uint8))
        paths.append(path)
    return paths


def write_intrinsics(path: Path) -> Path:
    contract = make_contract()
    path.write_text(
        f"fx: {contract.fx * WIDTH}\nfy: {contract.fy * HEIGHT}\n"
        f"cx: {contract.cx * WIDTH}\ncy: {contract.cy * HEIGHT}\nwidth: {WIDTH}\nheight: {HEIGHT}\n"
    )
    return path


@pytest.fixture
def constant_model(tmp_path: Path) -> Path:
    return constant_depth_model(tmp_path / "constant.onnx", DEPTH_M)


def test_images_and_folder_give_png16_npy_preview_and_ply(tmp_path: Path, constant_model: Path):
    images = write_images(tmp_path / "frames")
    out = tmp_path / "out"
    code = main([str(constant_model), str(tmp_path / "frames"), "--out", str(out), "--npy",
                 "--ply", "--intrinsics", str(write_intrinsics(tmp_path / "cam.yaml"))])
    assert code == 0
    for image in images:
        millimetres = cv2.imread(str(out / f"{image.stem}_depth.png"), cv2.IMREAD_UNCHANGED)
        assert millimetres.dtype == np.uint16 and millimetres.shape == (32, 64)
        assert np.all(millimetres == round(DEPTH_M * 1000))
        metres = np.load(out / f"{image.stem}.npy")
        assert metres.dtype == np.float32 and np.allclose(metres, DEPTH_M)
        preview = cv2.imread(str(out / f"{image.stem}_color.png"))
        assert preview.shape == (32, 64, 3)
        points, colours = read_ply(out / f"{image.stem}.ply")
        assert points.shape == (32 * 64, 3) and colours is not None
        assert np.allclose(points[:, 2], DEPTH_M)


def test_point_cloud_matches_analytic_plane(tmp_path: Path):
    """A tilted plane n.X = d seen through the model: every written point lies on it."""
    normal, distance = np.array([0.1, -0.2, 1.0]), 5.0
    model = plane_depth_model(tmp_path / "plane.onnx", tuple(normal), distance)
    normal /= np.linalg.norm(normal)  # the model's plane is n.X = d with n of unit length
    write_images(tmp_path / "frames", count=1)
    out = tmp_path / "out"
    assert main([str(model), str(tmp_path / "frames"), "--out", str(out), "--ply",
                 "--no-png16", "--no-color", "--range-max", "1000",
                 "--intrinsics", str(write_intrinsics(tmp_path / "cam.yaml"))]) == 0
    points, _ = read_ply(out / "frame_000.ply")
    assert len(points) == 32 * 64
    residual = points.astype(np.float64) @ normal - distance
    assert np.max(np.abs(residual)) < 1e-3 * distance


def test_video_frames_are_numbered(tmp_path: Path, constant_model: Path):
    video = tmp_path / "drive.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (WIDTH, HEIGHT))
    for value in range(5):
        writer.write(np.full((HEIGHT, WIDTH, 3), 40 * value, np.uint8))
    writer.release()
    out = tmp_path / "out"
    assert main([str(constant_model), str(video), "--out", str(out)]) == 0
    written = sorted(p.name for p in out.glob("*_depth.png"))
    assert written == [f"drive_{i:06d}_depth.png" for i in range(5)]


@pytest.mark.parametrize("storage", [StoragePlugin.SQLITE3, StoragePlugin.MCAP])
@pytest.mark.parametrize(("encoding", "pad"), [("bgr8", 0), ("rgb8", 5)])
def test_rosbag2_images_with_camera_info(tmp_path: Path, constant_model: Path, storage,
                                         encoding: str, pad: int):
    """Padded rgb8 rows reach the pipeline as a strided, read-only view on the message (no
    copy), as in the node: depth, cloud and colours must not care."""
    typestore = get_typestore(Stores.LATEST)
    types = typestore.types
    bag = tmp_path / f"bag_{storage.name.lower()}"
    contract = make_contract()
    k = [contract.fx * WIDTH, 0.0, contract.cx * WIDTH,
         0.0, contract.fy * HEIGHT, contract.cy * HEIGHT, 0.0, 0.0, 1.0]  # fmt: skip
    rgb = np.random.default_rng(1).integers(0, 255, (HEIGHT, WIDTH, 3), dtype=np.uint8)
    pixels = rgb if encoding == "rgb8" else rgb[..., ::-1]
    rows = np.pad(pixels.reshape(HEIGHT, WIDTH * 3), ((0, 0), (0, pad)), constant_values=0xEE)
    with Writer(bag, version=9, storage_plugin=storage) as writer:
        image_conn = writer.add_connection("/cam/image_raw", "sensor_msgs/msg/Image",
                                           typestore=typestore)
        info_conn = writer.add_connection("/cam/camera_info", "sensor_msgs/msg/CameraInfo",
                                          typestore=typestore)
        for index in range(3):
            stamp_ns = 1_000_000_000 + index * 100_000_000
            header = types["std_msgs/msg/Header"](
                stamp=types["builtin_interfaces/msg/Time"](sec=1, nanosec=index * 100_000_000),
                frame_id="cam_optical",
            )
            info = types["sensor_msgs/msg/CameraInfo"](
                header=header, height=HEIGHT, width=WIDTH, distortion_model="plumb_bob",
                d=np.zeros(5), k=np.array(k), r=np.eye(3).ravel(),
                p=np.array([k[0], 0, k[2], 0, 0, k[4], k[5], 0, 0, 0, 1, 0], float),
                binning_x=0, binning_y=0,
                roi=types["sensor_msgs/msg/RegionOfInterest"](
                    x_offset=0, y_offset=0, height=0, width=0, do_rectify=False),
            )  # fmt: skip
            image = types["sensor_msgs/msg/Image"](
                header=header, height=HEIGHT, width=WIDTH, encoding=encoding, is_bigendian=0,
                step=WIDTH * 3 + pad, data=rows.ravel(),
            )  # fmt: skip
            writer.write(info_conn, stamp_ns, typestore.serialize_cdr(info, info.__msgtype__))
            writer.write(image_conn, stamp_ns, typestore.serialize_cdr(image, image.__msgtype__))
    frames = list(read_frames(bag, "/cam/image_raw"))  # views stay valid after the bag is read
    assert len(frames) == 3 and all(np.array_equal(frame.rgb, rgb) for frame in frames)
    assert frames[0].rgb.flags.c_contiguous == (pad == 0)
    out = tmp_path / "out"
    assert main([str(constant_model), str(bag), "--topic", "/cam/image_raw", "--out", str(out),
                 "--ply", "--npy"]) == 0
    clouds = sorted(out.glob("*.ply"))
    assert len(clouds) == 3, "camera_info from the bag gives every frame a cloud"
    points, colours = read_ply(clouds[0])
    assert np.allclose(points[:, 2], DEPTH_M)
    small = cv2.resize(rgb, (64, 32), interpolation=cv2.INTER_AREA)
    assert np.array_equal(colours, small.reshape(-1, 3)), f"colours stay RGB through {encoding}"


def test_bad_inputs_are_named_skipped_and_fail_the_run(tmp_path: Path, constant_model: Path,
                                                       capsys):
    good = write_images(tmp_path / "frames", count=1)[0]
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"not a png at all")
    out = tmp_path / "out"
    code = main([str(constant_model), str(corrupt), str(good), str(tmp_path / "missing.jpg"),
                 "--out", str(out)])
    assert code == 1
    err = capsys.readouterr().err
    assert "corrupt.png" in err and "missing.jpg" in err
    assert (out / f"{good.stem}_depth.png").is_file(), "good inputs are still processed"


def test_missing_model_is_one_clear_error(tmp_path: Path, capsys):
    write_images(tmp_path / "frames", count=1)
    assert main([str(tmp_path / "nope.onnx"), str(tmp_path / "frames")]) == 2
    assert "nope.onnx" in capsys.readouterr().err


def test_png16_encoding_is_millimetres_with_zero_unknown():
    depth = np.array([[1.2345, np.nan], [70.0, 0.0]], np.float32)
    assert depth_to_png16(depth).tolist() == [[1234, 0], [0, 0]]


def test_inputs_with_the_same_stem_all_get_their_own_outputs(tmp_path: Path,
                                                             constant_model: Path, capsys):
    """a/0001.png and b/0001.png, x.png beside x.jpg: each input writes its own outputs (its
    colours in its cloud) instead of overwriting another's; a name that does not clash stays."""
    colours = {"a/0001.png": (200, 0, 0), "b/0001.png": (0, 200, 0), "x.png": (0, 0, 200),
               "x.jpg": (200, 200, 0), "solo.png": (0, 200, 200)}  # fmt: skip
    for relative, colour in colours.items():
        path = tmp_path / relative
        path.parent.mkdir(exist_ok=True)
        cv2.imwrite(str(path), np.full((HEIGHT, WIDTH, 3), colour[::-1], np.uint8))
    out = tmp_path / "out"
    code = main([str(constant_model), str(tmp_path / "a"), str(tmp_path / "b"),
                 str(tmp_path / "x.png"), str(tmp_path / "x.jpg"), str(tmp_path / "solo.png"),
                 "--out", str(out), "--ply", "--intrinsics",
                 str(write_intrinsics(tmp_path / "cam.yaml"))])  # fmt: skip
    assert code == 0
    assert "5 frame(s) from 5 input(s)" in capsys.readouterr().out
    names = {"a/0001.png": "a_0001_png", "b/0001.png": "b_0001_png", "x.png": "x_png",
             "x.jpg": "x_jpg", "solo.png": "solo"}  # fmt: skip
    assert sorted(p.name for p in out.glob("*_depth.png")) == sorted(
        f"{name}_depth.png" for name in names.values()
    )
    for relative, name in names.items():
        _, cloud_colours = read_ply(out / f"{name}.ply")
        assert np.abs(cloud_colours.astype(int) - colours[relative]).max() <= 3, relative


def test_input_names_are_stems_unless_they_clash(tmp_path: Path):
    bag = tmp_path / "run" / "bag"
    bag.mkdir(parents=True)
    (bag / "metadata.yaml").write_text("")
    (bag / "bag_0.db3").write_bytes(b"")
    a, b, c, x = (tmp_path / folder for folder in "abcx")
    inputs = [a / "1.png", b / "1.png", c / "1.png", a / "1.png", tmp_path / "drive.mp4",
              x / "drive.mp4", bag, bag / "bag_0.db3", x / "frame.tif"]  # fmt: skip
    assert input_names(inputs) == ["a_1_png", "b_1_png", "c_1_png", "a_1_png",
                                   f"{tmp_path.name}_drive_mp4", "x_drive_mp4", "bag", "bag",
                                   "frame"]  # fmt: skip
    assert input_names([a / "x.png", a / "x.jpg", b / "x.png"]) == ["a_x_png", "x_jpg", "b_x_png"]
